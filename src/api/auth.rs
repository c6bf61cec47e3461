//! API tokens: how they are made, hashed and checked.
//!
//! A token is `sluice_` followed by 32 random bytes from the OS in unpadded base64url
//! (43 characters). Only its SHA-256 is stored: with 256 bits of entropy a slow password
//! hash buys nothing. A presented token is hashed and compared with every stored hash in
//! constant time ([`subtle`]), and the scan does not stop at the first match, so the time
//! taken says nothing about which hash matched or how much of it.

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::store::{TokenRow, TokenScope};

/// The prefix of every token (lets secret scanners recognise a leaked one).
pub const TOKEN_PREFIX: &str = "sluice_";

/// The OS random generator failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read random bytes from the operating system: {0}")]
pub struct RandomError(String);

/// A new random token.
///
/// # Errors
///
/// [`RandomError`] when the OS generator fails.
pub fn generate_token() -> Result<SecretString, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(SecretString::from(format!("{TOKEN_PREFIX}{encoded}")))
}

/// Lowercase hex SHA-256 of the token text, as stored.
pub fn hash_token(token: &SecretString) -> String {
    let digest = Sha256::digest(token.expose_secret().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored token whose hash matches `presented`, compared in constant time.
pub fn find_token<'a>(presented: &SecretString, tokens: &'a [TokenRow]) -> Option<&'a TokenRow> {
    let hash = hash_token(presented);
    let mut found = None;
    for token in tokens {
        if bool::from(token.hash.as_bytes().ct_eq(hash.as_bytes())) {
            found = Some(token);
        }
    }
    found
}

/// Why a request is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header, or not a well-formed one.
    #[error("missing API token: send `Authorization: Bearer <token>` (create one with `sluice token create`)")]
    Missing,
    /// The token is not (or no longer) known.
    #[error("unknown or revoked API token")]
    Unknown,
    /// The token's scope is too weak.
    #[error("this endpoint needs a `{needed}` token; this one is `{has}`")]
    Forbidden {
        /// The scope the endpoint needs.
        needed: TokenScope,
        /// The token's scope.
        has: TokenScope,
    },
}

/// The token a request carries in `Authorization: Bearer …` (scheme case-insensitive).
pub fn bearer(header: Option<&str>) -> Result<SecretString, AuthError> {
    let value = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(SecretString::from(token.to_owned()))
}

/// Checks that `token` (looked up among `tokens`) may do what `needed` allows.
///
/// # Errors
///
/// [`AuthError::Unknown`] or [`AuthError::Forbidden`].
pub fn authorize<'a>(
    token: &SecretString,
    tokens: &'a [TokenRow],
    needed: TokenScope,
) -> Result<&'a TokenRow, AuthError> {
    let row = find_token(token, tokens).ok_or(AuthError::Unknown)?;
    if row.scope.allows(needed) {
        Ok(row)
    } else {
        Err(AuthError::Forbidden { needed, has: row.scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Timestamp;

    fn row(name: &str, scope: TokenScope, token: &SecretString) -> TokenRow {
        TokenRow {
            id: 1,
            name: name.to_owned(),
            scope,
            hash: hash_token(token),
            created_at: Timestamp::from_unix_millis(0),
            last_used_at: None,
        }
    }

    #[test]
    fn tokens_are_prefixed_random_base64url() {
        let a = generate_token().expect("random");
        let b = generate_token().expect("random");
        let text = a.expose_secret();
        assert!(text.starts_with(TOKEN_PREFIX), "{text}");
        assert_eq!(text.len(), TOKEN_PREFIX.len() + 43);
        assert!(
            text[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn the_hash_is_sha256_hex_and_never_the_token() {
        let token = SecretString::from("sluice_abc".to_owned());
        let hash = hash_token(&token);
        // sha256("sluice_abc")
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("sluice_abc"));
        assert_eq!(hash, hash_token(&SecretString::from("sluice_abc".to_owned())));
        assert_ne!(hash, hash_token(&SecretString::from("sluice_abd".to_owned())));
    }

    #[test]
    fn lookup_finds_only_the_matching_token() {
        let read = generate_token().expect("random");
        let write = generate_token().expect("random");
        let other = generate_token().expect("random");
        let rows = vec![row("r", TokenScope::Read, &read), row("w", TokenScope::Write, &write)];
        assert_eq!(find_token(&read, &rows).map(|r| r.name.as_str()), Some("r"));
        assert_eq!(find_token(&write, &rows).map(|r| r.name.as_str()), Some("w"));
        assert!(find_token(&other, &rows).is_none());
    }

    #[test]
    fn scopes_include_the_weaker_ones() {
        use TokenScope::{Admin, Read, Write};
        assert!(Read.allows(Read) && !Read.allows(Write) && !Read.allows(Admin));
        assert!(Write.allows(Read) && Write.allows(Write) && !Write.allows(Admin));
        assert!(Admin.allows(Read) && Admin.allows(Write) && Admin.allows(Admin));
        for scope in TokenScope::ALL {
            assert_eq!(scope.as_str().parse::<TokenScope>(), Ok(*scope));
        }
    }

    #[test]
    fn authorize_answers_unknown_and_forbidden() {
        let read = generate_token().expect("random");
        let rows = vec![row("r", TokenScope::Read, &read)];
        assert!(authorize(&read, &rows, TokenScope::Read).is_ok());
        assert_eq!(
            authorize(&read, &rows, TokenScope::Write),
            Err(AuthError::Forbidden {
                needed: TokenScope::Write,
                has: TokenScope::Read
            })
        );
        let unknown = SecretString::from("sluice_nope".to_owned());
        assert_eq!(
            authorize(&unknown, &rows, TokenScope::Read).err(),
            Some(AuthError::Unknown)
        );
    }

    #[test]
    fn bearer_parses_the_header() {
        assert_eq!(
            bearer(Some("Bearer abc")).map(|t| t.expose_secret().to_owned()),
            Ok("abc".to_owned())
        );
        assert_eq!(
            bearer(Some("bearer  abc ")).map(|t| t.expose_secret().to_owned()),
            Ok("abc".to_owned())
        );
        assert_eq!(bearer(None).err(), Some(AuthError::Missing));
        assert_eq!(bearer(Some("Basic abc")).err(), Some(AuthError::Missing));
        assert_eq!(bearer(Some("Bearer ")).err(), Some(AuthError::Missing));
    }
}
