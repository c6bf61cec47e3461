//! Authentication of webhook deliveries: shared tokens and HMAC-SHA256 signatures, all
//! compared in constant time. Error reasons name what was wrong, never a secret value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{HeaderLookup, WebhookError};

type HmacSha256 = Hmac<Sha256>;

/// How far a Standard Webhooks `webhook-timestamp` may be from our clock.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(5 * 60);

fn unauthorized(reason: &str) -> WebhookError {
    WebhookError::Unauthorized {
        reason: reason.to_owned(),
    }
}

/// Whether `given` equals the secret, in time independent of where they differ. Both sides
/// are hashed first so the comparison does not even reveal the secret's length.
pub fn token_matches(secret: &SecretString, given: &[u8]) -> bool {
    let expected = Sha256::digest(secret.expose_secret().as_bytes());
    let given = Sha256::digest(given);
    bool::from(expected.ct_eq(&given))
}

/// A keyed HMAC-SHA256 over `key`, ready for input.
fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of every length; `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// Verifies GitHub's `X-Hub-Signature-256: sha256=<hex>` over the raw body.
///
/// # Errors
/// [`WebhookError::Unauthorized`] when the header is missing, malformed or does not match.
pub fn verify_github(
    secret: &SecretString,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let header = header.ok_or_else(|| unauthorized("missing X-Hub-Signature-256 header"))?;
    let hex = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| unauthorized("X-Hub-Signature-256 is not `sha256=<hex>`"))?;
    let given =
        decode_hex(hex).ok_or_else(|| unauthorized("X-Hub-Signature-256 is not hexadecimal"))?;
    let mut mac = mac(secret.expose_secret().as_bytes());
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| unauthorized("X-Hub-Signature-256 does not match the body"))
}

/// Verifies a Standard Webhooks signature as GitLab sends it: `webhook-signature` holds one
/// or more space-separated `v1,<base64 HMAC-SHA256>` over `"{webhook-id}.{webhook-timestamp}.{body}"`;
/// any valid one passes. The timestamp must be within [`TIMESTAMP_TOLERANCE`] of `now`.
///
/// The signing token is `whsec_<base64 key>` as GitLab issues it; a token without that prefix
/// is used as raw key bytes.
///
/// # Errors
/// [`WebhookError::Unauthorized`] when a header is missing or malformed, the timestamp is too
/// old or too far ahead, or no signature matches.
pub fn verify_standard_webhook(
    signing_token: &SecretString,
    headers: &dyn HeaderLookup,
    body: &[u8],
    now: SystemTime,
) -> Result<(), WebhookError> {
    let id = headers
        .header("webhook-id")
        .ok_or_else(|| unauthorized("missing webhook-id header"))?;
    let timestamp = headers
        .header("webhook-timestamp")
        .ok_or_else(|| unauthorized("missing webhook-timestamp header"))?;
    let signatures = headers
        .header("webhook-signature")
        .ok_or_else(|| unauthorized("missing webhook-signature header"))?;
    let seconds: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| unauthorized("webhook-timestamp is not a number of seconds"))?;
    let sent = UNIX_EPOCH + Duration::from_secs(seconds);
    let skew = match now.duration_since(sent) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > TIMESTAMP_TOLERANCE {
        return Err(unauthorized(
            "webhook-timestamp is more than 5 minutes away from now",
        ));
    }
    let key = signing_key(signing_token)?;
    let mut mac = mac(&key);
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let valid = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| BASE64.decode(b64).ok())
        .any(|given| mac.clone().verify_slice(&given).is_ok());
    if valid {
        Ok(())
    } else {
        Err(unauthorized("no webhook-signature matches the body"))
    }
}

fn signing_key(token: &SecretString) -> Result<Vec<u8>, WebhookError> {
    let token = token.expose_secret();
    match token.strip_prefix("whsec_") {
        // A misconfigured token is our fault, but every delivery must still be refused.
        Some(b64) => BASE64
            .decode(b64)
            .map_err(|_| unauthorized("the configured signing token is not `whsec_<base64>`")),
        None => Ok(token.as_bytes().to_vec()),
    }
}

/// Decodes lower- or upper-case hexadecimal.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
pub(super) mod testing {
    //! Signing helpers for tests: what the forges compute.
    use super::*;

    /// `sha256=<hex>` as GitHub sends it.
    pub fn github_signature(secret: &str, body: &[u8]) -> String {
        let mut mac = mac(secret.as_bytes());
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    /// `v1,<base64>` as GitLab's signing token produces it.
    pub fn standard_signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = mac(key);
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00ffA0"), Some(vec![0, 255, 160]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é0"), None);
    }

    #[test]
    fn tokens_compare_whole() {
        let secret = SecretString::from("s3cret");
        assert!(token_matches(&secret, b"s3cret"));
        assert!(!token_matches(&secret, b"s3cre"));
        assert!(!token_matches(&secret, b""));
    }

    #[test]
    fn github_signature_round_trip() {
        let secret = SecretString::from("It's a Secret to Everybody");
        // GitHub's documented test vector ("Validating webhook deliveries").
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_github(&secret, Some(header), b"Hello, World!").is_ok());
        assert!(verify_github(&secret, Some(header), b"Hello, World?").is_err());
    }
}
