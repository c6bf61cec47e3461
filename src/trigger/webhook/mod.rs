//! Webhook deliveries from GitLab, GitHub and Gerrit, verified and turned into [`Event`]s.
//!
//! Pure functions from a delivery (headers, query string, raw body, the endpoint's secrets and
//! the current time) to an [`Outcome`] or a [`WebhookError`]. The order is fixed: the size
//! limit first, then authentication (before any byte of the body is parsed), then parsing.
//! No HTTP server, no store: the daemon records an [`Outcome::Event`] under its [`DedupKey`]
//! and only then answers `202`.

pub mod gerrit;
pub mod github;
pub mod gitlab;
pub mod signature;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use regex::Regex;
use secrecy::SecretString;

use super::comment::default_recheck;
use super::event::{DedupKey, Event, Forge};

/// Default body size limit: 25 MB, as GitLab caps its own webhook payloads.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Case-insensitive access to a delivery's headers. The daemon implements it for its HTTP
/// framework's header map; [`Headers`] is a plain implementation.
pub trait HeaderLookup {
    /// The first value of header `name` (any case), if present and valid UTF-8.
    fn header(&self, name: &str) -> Option<&str>;
}

/// Headers as name/value pairs, looked up without regard to case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Adds a header (several with the same name may exist; the first wins on lookup).
    pub fn insert(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }

    /// Parses `Name: value` lines, as in the recorded fixtures; blank lines and lines starting
    /// with `#` are skipped, lines without a colon are ignored.
    pub fn from_lines(text: &str) -> Self {
        let mut headers = Headers::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim(), value.trim());
            }
        }
        headers
    }
}

impl HeaderLookup for Headers {
    fn header(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP delivery, independent of the server that received it.
#[derive(Clone, Copy)]
pub struct Delivery<'a> {
    /// The request headers.
    pub headers: &'a dyn HeaderLookup,
    /// The raw query string without `?` (empty when none). It may hold a secret (Gerrit's
    /// `token=`): never log or echo it.
    pub query: &'a str,
    /// The raw body, exactly as received (signatures cover these bytes).
    pub body: &'a [u8],
}

impl fmt::Debug for Delivery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The query string may carry a token: show only its length.
        f.debug_struct("Delivery")
            .field("query_len", &self.query.len())
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// One project's webhook endpoint for one forge: its secrets and settings.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The Sluice project this endpoint belongs to (copied into every [`Event`]).
    pub project: String,
    /// The shared secret: GitLab's `X-Gitlab-Token`, GitHub's HMAC secret, Gerrit's URL
    /// `token`. `None` (its environment variable is unset) disables the endpoint.
    pub secret: Option<SecretString>,
    /// GitLab only: the signing token (`whsec_…`); when set, `webhook-signature` is required
    /// in addition to `X-Gitlab-Token`.
    pub signing_token: Option<SecretString>,
    /// Which comments ask for a recheck.
    pub recheck: Regex,
    /// Bodies longer than this are refused with [`WebhookError::TooLarge`].
    pub max_body_bytes: usize,
}

impl Endpoint {
    /// An endpoint with the default recheck pattern and size limit and no signing token.
    pub fn new(project: &str, secret: Option<SecretString>) -> Self {
        Endpoint {
            project: project.to_owned(),
            secret,
            signing_token: None,
            recheck: default_recheck(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// The size check and the "is the endpoint enabled" check every forge starts with.
    fn admit(&self, delivery: &Delivery<'_>) -> Result<&SecretString, WebhookError> {
        if delivery.body.len() > self.max_body_bytes {
            return Err(WebhookError::TooLarge {
                limit: self.max_body_bytes,
            });
        }
        self.secret.as_ref().ok_or(WebhookError::Disabled)
    }
}

/// What a verified delivery asks for.
// One value per delivery, moved once into the store: boxing the event would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Start a pipeline for this event; record it under the key first (`202`; a duplicate
    /// key means a redelivery: `200` with the original event).
    Event(Event, DedupKey),
    /// A known event type, or an action of one, that Sluice does not act on (`202` with
    /// `{"ignored": reason}`; never a 4xx, because forges disable hooks that keep failing).
    Ignored {
        /// Why, for the response body and the log.
        reason: String,
    },
}

impl Outcome {
    fn ignored(reason: impl Into<String>) -> Self {
        Outcome::Ignored {
            reason: reason.into(),
        }
    }
}

/// Why a delivery was refused. Messages never contain a secret, a token or the query string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong token or signature, or a stale timestamp (`401`).
    #[error("webhook not authenticated: {reason}")]
    Unauthorized {
        /// What was wrong, without any secret.
        reason: String,
    },
    /// The endpoint's secret is not configured (its environment variable is unset), so every
    /// delivery is refused (`401`).
    #[error("webhook endpoint disabled: its secret is not configured")]
    Disabled,
    /// The body of a supported event is malformed (`400`).
    #[error("malformed webhook delivery: {reason}")]
    BadRequest {
        /// What could not be read.
        reason: String,
    },
    /// The body exceeds the configured limit (`413`).
    #[error("webhook body larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl WebhookError {
    /// The HTTP status to answer with.
    pub fn status_code(&self) -> u16 {
        match self {
            WebhookError::Unauthorized { .. } | WebhookError::Disabled => 401,
            WebhookError::BadRequest { .. } => 400,
            WebhookError::TooLarge { .. } => 413,
        }
    }

    fn bad_request(reason: impl Into<String>) -> Self {
        WebhookError::BadRequest {
            reason: reason.into(),
        }
    }
}

/// Which forge's webhook format a URL (`/hooks/{gitlab|github|gerrit}/{project}`) receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookSource {
    /// `POST /hooks/gitlab/{project}`.
    GitLab,
    /// `POST /hooks/github/{project}`.
    GitHub,
    /// `POST /hooks/gerrit/{project}`.
    Gerrit,
}

impl WebhookSource {
    /// The forge recorded in events from this source.
    pub fn forge(self) -> Forge {
        match self {
            WebhookSource::GitLab => Forge::GitLab,
            WebhookSource::GitHub => Forge::GitHub,
            WebhookSource::Gerrit => Forge::Gerrit,
        }
    }

    /// Verifies and parses a delivery with this forge's rules.
    ///
    /// # Errors
    /// See [`WebhookError`]: size first, then authentication, then parsing.
    pub fn receive(
        self,
        endpoint: &Endpoint,
        delivery: &Delivery<'_>,
        now: SystemTime,
    ) -> Result<Outcome, WebhookError> {
        match self {
            WebhookSource::GitLab => gitlab::receive(endpoint, delivery, now),
            WebhookSource::GitHub => github::receive(endpoint, delivery),
            WebhookSource::Gerrit => gerrit::receive(endpoint, delivery),
        }
    }
}

impl FromStr for WebhookSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gitlab" => Ok(WebhookSource::GitLab),
            "github" => Ok(WebhookSource::GitHub),
            "gerrit" => Ok(WebhookSource::Gerrit),
            _ => Err(format!(
                "unknown webhook source `{s}`; expected one of: gitlab, github, gerrit"
            )),
        }
    }
}

/// Parses a JSON body into a forge payload type, as a `BadRequest` on failure.
fn parse_json<'de, T: serde::Deserialize<'de>>(
    body: &'de [u8],
    what: &str,
) -> Result<T, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::bad_request(format!("{what}: {e}")))
}

/// A header value shortened for a message (header values are sender-controlled).
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

/// Whether a sha is Git's "no object" (all zeros), which forges send for deleted refs.
fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// `Name <email>`, or whichever of the two is present.
fn person(name: Option<&str>, email: Option<&str>) -> Option<String> {
    let name = name.filter(|n| !n.is_empty());
    let email = email.filter(|e| !e.is_empty());
    match (name, email) {
        (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
        (Some(n), None) => Some(n.to_owned()),
        (None, Some(e)) => Some(format!("<{e}>")),
        (None, None) => None,
    }
}
