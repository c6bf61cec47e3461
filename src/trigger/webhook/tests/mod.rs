//! Replays the forges' published example deliveries (`tests/fixtures/webhooks/`), signed with
//! a test secret, and checks the parsed events field by field.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use regex::Regex;
use secrecy::SecretString;

use super::signature::testing::{github_signature, standard_signature};
use super::*;
use crate::trigger::event::Forge;

pub(super) const SECRET: &str = "test-secret-0b1f5e";
/// A `whsec_` signing token and the key it encodes.
pub(super) const SIGNING_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
pub(super) const SIGNING_TOKEN: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub(super) const NOW: u64 = 1_760_000_000;

macro_rules! fixture {
    ($forge:literal, $name:literal) => {
        (
            include_str!(concat!(
                "../../../../tests/fixtures/webhooks/",
                $forge,
                "/",
                $name,
                ".json"
            )),
            include_str!(concat!(
                "../../../../tests/fixtures/webhooks/",
                $forge,
                "/",
                $name,
                ".headers"
            )),
        )
    };
}

pub(super) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

pub(super) fn endpoint() -> Endpoint {
    Endpoint::new("demo", Some(SecretString::from(SECRET)))
}

pub(super) fn run(
    source: WebhookSource,
    endpoint: &Endpoint,
    headers: &Headers,
    query: &str,
    body: &str,
) -> Result<Outcome, WebhookError> {
    let delivery = Delivery {
        headers,
        query,
        body: body.as_bytes(),
    };
    source.receive(endpoint, &delivery, now())
}

pub(super) fn expect_event(outcome: Result<Outcome, WebhookError>) -> (Event, DedupKey) {
    match outcome {
        Ok(Outcome::Event(event, key)) => (event, key),
        other => panic!("expected an event, got {other:?}"),
    }
}

pub(super) fn ignored(outcome: Result<Outcome, WebhookError>) -> String {
    match outcome {
        Ok(Outcome::Ignored { reason }) => reason,
        other => panic!("expected Ignored, got {other:?}"),
    }
}

pub(super) fn unauthorized(outcome: Result<Outcome, WebhookError>) -> String {
    match outcome {
        Err(e @ WebhookError::Unauthorized { .. }) => {
            assert_eq!(e.status_code(), 401);
            e.to_string()
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

pub(super) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

mod gerrit;
mod github;
mod gitlab;

use gerrit::GERRIT_QUERY;
use github::github_headers;
use gitlab::{gitlab_headers, signed_gitlab, signing_endpoint};

// ---------------------------------------------------------------- all forges

#[test]
fn unset_secret_disables_every_forge() {
    let disabled = Endpoint::new("demo", None);
    let (body, recorded) = fixture!("github", "push");
    let headers = github_headers(recorded, body);
    for source in [
        WebhookSource::GitLab,
        WebhookSource::GitHub,
        WebhookSource::Gerrit,
    ] {
        let err = run(source, &disabled, &headers, GERRIT_QUERY, body).unwrap_err();
        assert_eq!(err, WebhookError::Disabled);
        assert_eq!(err.status_code(), 401);
    }
}

#[test]
fn too_large_is_checked_before_anything_else() {
    let mut small = Endpoint::new("demo", None);
    small.max_body_bytes = 16;
    let headers = Headers::new();
    for source in [
        WebhookSource::GitLab,
        WebhookSource::GitHub,
        WebhookSource::Gerrit,
    ] {
        let err = run(source, &small, &headers, "", "{\"seventeen\": 1 }").unwrap_err();
        assert_eq!(err, WebhookError::TooLarge { limit: 16 });
        assert_eq!(err.status_code(), 413);
    }
    assert!(
        run(
            WebhookSource::GitHub,
            &small,
            &headers,
            "",
            "{\"sixteen\": 1  }"
        )
        .unwrap_err()
            != WebhookError::TooLarge { limit: 16 }
    );
}

#[test]
fn no_secret_in_errors_or_debug_output() {
    let (body, recorded) = fixture!("gitlab", "push");
    let endpoint = signing_endpoint();
    let mut outputs = vec![format!("{endpoint:?}")];
    let headers = gitlab_headers(recorded);
    let query = GERRIT_QUERY;
    let delivery = Delivery {
        headers: &headers,
        query,
        body: body.as_bytes(),
    };
    outputs.push(format!("{delivery:?}"));
    let mut wrong = Headers::from_lines(recorded);
    wrong.insert("X-Gitlab-Token", &format!("{SECRET}x"));
    let mut failures = vec![
        run(WebhookSource::GitLab, &endpoint, &wrong, "", body),
        run(WebhookSource::GitLab, &endpoint, &headers, "", body),
        run(WebhookSource::GitHub, &endpoint, &headers, "", body),
        run(
            WebhookSource::Gerrit,
            &endpoint,
            &headers,
            &format!("token={SECRET}x"),
            body,
        ),
        run(
            WebhookSource::Gerrit,
            &Endpoint::new("demo", None),
            &headers,
            query,
            body,
        ),
    ];
    let mut bad_token = self::endpoint();
    bad_token.signing_token = Some(SecretString::from("whsec_not base64!"));
    failures.push(run(
        WebhookSource::GitLab,
        &bad_token,
        &signed_gitlab(body, recorded, NOW),
        "",
        body,
    ));
    for failure in failures {
        let err = failure.unwrap_err();
        outputs.push(err.to_string());
        outputs.push(format!("{err:?}"));
    }
    for output in &outputs {
        for secret in [
            SECRET,
            SIGNING_TOKEN,
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",
            "0123456789abcdef",
        ] {
            assert!(!output.contains(secret), "{output} contains a secret");
        }
    }
}

#[test]
fn webhook_source_from_url_segment() {
    assert_eq!("gitlab".parse::<WebhookSource>(), Ok(WebhookSource::GitLab));
    assert_eq!(
        "gerrit".parse::<WebhookSource>().map(WebhookSource::forge),
        Ok(Forge::Gerrit)
    );
    assert!("bitbucket".parse::<WebhookSource>().is_err());
}
