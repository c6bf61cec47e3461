//! API tokens as the store keeps them: a name, a scope and the token's hash, never the
//! token itself (the API layer makes and hashes tokens; the store only compares nothing and
//! hands rows back).

use std::fmt;
use std::str::FromStr;

use crate::store::{ParseWordError, Timestamp};

/// What a token may do. Each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenScope {
    /// Read projects, pipelines, jobs and logs.
    Read,
    /// Also trigger pipelines, retry, cancel and play.
    Write,
    /// Everything (reserved for administration endpoints).
    Admin,
}

impl TokenScope {
    /// Every scope, weakest first.
    pub const ALL: &'static [TokenScope] = &[TokenScope::Read, TokenScope::Write, TokenScope::Admin];

    /// The word stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }

    /// Whether a token of this scope may do what `needed` allows.
    pub fn allows(self, needed: TokenScope) -> bool {
        self >= needed
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenScope {
    type Err = ParseWordError;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "read" => Ok(TokenScope::Read),
            "write" => Ok(TokenScope::Write),
            "admin" => Ok(TokenScope::Admin),
            _ => Err(ParseWordError {
                kind: "token scope",
                word: word.to_owned(),
            }),
        }
    }
}

/// A token as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Its id.
    pub id: i64,
    /// Its unique name.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// Lowercase hex SHA-256 of the token text. Not a secret on its own, but never shown.
    pub hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When a request last used it (updated at most once a minute).
    pub last_used_at: Option<Timestamp>,
}

impl fmt::Debug for TokenRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("hash", &"[REDACTED]")
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}
