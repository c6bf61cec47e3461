//! Sending a [`Call`] with its credentials and reading what the forge answered, in the three
//! outcomes the outbox acts on: done, try again later, or refused for good.
//!
//! Why plain `reqwest` rather than the `gitlab` and `octocrab` crates: the outbox needs the
//! raw status code and `Retry-After` of every answer, and the three calls are small JSON
//! posts; the crates' cost is measured in the README.

use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};

use super::backoff::parse_retry_after;
use super::report::{Call, Method};

/// How long one request may take before it counts as a network failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a refusal's body goes into the log.
const SHOWN_BODY: usize = 300;

/// How a call authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// GitLab: `PRIVATE-TOKEN: <token>`.
    PrivateToken(&'a SecretString),
    /// GitHub: `Authorization: Bearer <token>`.
    Bearer(&'a SecretString),
    /// Gerrit: HTTP basic auth.
    Basic {
        /// The account.
        user: &'a str,
        /// Its HTTP password.
        password: &'a SecretString,
    },
}

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A network error, a timeout, a `5xx` or a `429` (or a `403` with `Retry-After`, GitHub's
    /// secondary rate limit): worth trying again, after `retry_after` when the forge said.
    #[error("{reason}")]
    Retry {
        /// What happened (never a credential).
        reason: String,
        /// The forge's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Any other `4xx`: the same call would be refused again.
    #[error("refused with {status}: {body}")]
    Refused {
        /// The status code.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
}

/// The HTTP client every report goes through (connection reuse, one timeout).
///
/// # Errors
///
/// When the TLS backend cannot start.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends `call` with `auth` and `headers`; returns the answer's body on a `2xx`, without
/// Gerrit's `)]}'` prefix.
///
/// # Errors
///
/// [`SendError`], classified for retrying.
pub async fn send(
    client: &reqwest::Client,
    call: &Call,
    auth: Auth<'_>,
    headers: &[(&str, &str)],
) -> Result<String, SendError> {
    let method = match call.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Patch => reqwest::Method::PATCH,
    };
    let mut request = client.request(method, &call.url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request = match auth {
        Auth::PrivateToken(token) => request.header("PRIVATE-TOKEN", token.expose_secret()),
        Auth::Bearer(token) => request.bearer_auth(token.expose_secret()),
        Auth::Basic { user, password } => request.basic_auth(user, Some(password.expose_secret())),
    };
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|error| SendError::Retry {
        reason: format!("cannot reach {}: {}", call.url, crate::diagnostic::error_chain(&error)),
        retry_after: None,
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, SystemTime::now()));
    let body = response.text().await.map_err(|error| SendError::Retry {
        reason: format!("reading the answer of {} failed: {error}", call.url),
        retry_after,
    })?;
    if status.is_success() {
        return Ok(body.strip_prefix(")]}'").unwrap_or(&body).trim_start().to_owned());
    }
    let shown: String = body.chars().take(SHOWN_BODY).collect();
    let code = status.as_u16();
    if status.is_server_error() || code == 429 || (code == 403 && retry_after.is_some()) {
        return Err(SendError::Retry { reason: format!("{} answered {code}: {shown}", call.url), retry_after });
    }
    Err(SendError::Refused { status: code, body: shown })
}
