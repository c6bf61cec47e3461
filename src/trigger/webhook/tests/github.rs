//! GitHub deliveries.

use super::*;
use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
use crate::trigger::event::{EventKind, Forge};

pub(super) fn github_headers(recorded: &str, body: &str) -> Headers {
    let mut headers = Headers::from_lines(recorded);
    headers.insert(
        "X-Hub-Signature-256",
        &github_signature(SECRET, body.as_bytes()),
    );
    headers
}

fn github(headers: &Headers, body: &str) -> Result<Outcome, WebhookError> {
    run(WebhookSource::GitHub, &endpoint(), headers, "", body)
}

fn github_push_event() -> Event {
    let mut expected = Event::new(
        Forge::GitHub,
        "demo",
        EventKind::Push,
        GitRef::Branch("master".into()),
        PipelineSource::Push,
    );
    expected.sha = Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into());
    expected.before_sha = Some("0000000000000000000000000000000000000000".into());
    expected.commit_message = Some("Initial commit".into());
    expected.commit_title = Some("Initial commit".into());
    expected.author = Some("Codertocat <21031067+Codertocat@users.noreply.github.com>".into());
    expected
}

#[test]
fn github_push() {
    let (body, recorded) = fixture!("github", "push");
    let (event, key) = expect_event(github(&github_headers(recorded, body), body));
    assert_eq!(key.as_str(), "github:72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(event, github_push_event());
}

#[test]
fn github_form_encoded_delivery() {
    let (json, recorded) = fixture!("github", "push");
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", json)
        .finish();
    let mut headers = Headers::from_lines(&recorded.replace("Content-Type: application/json", ""));
    headers.insert("Content-Type", "application/x-www-form-urlencoded");
    headers.insert(
        "X-Hub-Signature-256",
        &github_signature(SECRET, form.as_bytes()),
    );
    let (event, _) = expect_event(github(&headers, &form));
    assert_eq!(event, github_push_event());

    // The signature covers the form body, not the JSON inside it.
    let mut json_signed =
        Headers::from_lines(&recorded.replace("Content-Type: application/json", ""));
    json_signed.insert("Content-Type", "application/x-www-form-urlencoded");
    json_signed.insert(
        "X-Hub-Signature-256",
        &github_signature(SECRET, json.as_bytes()),
    );
    unauthorized(github(&json_signed, &form));
}

#[test]
fn github_deleted_ref_is_ignored() {
    let (body, recorded) = fixture!("github", "push_deleted");
    assert_eq!(
        ignored(github(&github_headers(recorded, body), body)),
        "`refs/tags/simple-tag` was deleted"
    );
}

#[test]
fn github_pull_request_synchronize() {
    let (body, recorded) = fixture!("github", "pull_request_synchronize");
    let (event, _) = expect_event(github(&github_headers(recorded, body), body));
    let mut expected = Event::new(
        Forge::GitHub,
        "demo",
        EventKind::MergeRequest,
        GitRef::Branch("changes".into()),
        PipelineSource::MergeRequestEvent,
    );
    expected.sha = Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821".into());
    expected.fetch_ref = Some("refs/pull/2/head".into());
    expected.merge_request = Some(MergeRequest {
        iid: 2,
        title: "Update the README with new information.".into(),
        source_branch: "changes".into(),
        target_branch: "master".into(),
        diff_base_sha: None,
        labels: vec!["bug".into()],
    });
    expected.variables = vars(&[
        ("CI_EXTERNAL_PULL_REQUEST_IID", "2"),
        (
            "CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY",
            "Codertocat/Hello-World",
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_TARGET_REPOSITORY",
            "Codertocat/Hello-World",
        ),
        ("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME", "changes"),
        (
            "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA",
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ),
        ("CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME", "master"),
        (
            "CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_SHA",
            "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        ),
    ]);
    assert_eq!(event, expected);

    let labeled = body.replace(r#""action": "synchronize""#, r#""action": "labeled""#);
    assert_eq!(
        ignored(github(&github_headers(recorded, &labeled), &labeled)),
        "pull request action `labeled` is not acted on"
    );
}

#[test]
fn github_issue_comment_recheck_and_non_match() {
    let (body, recorded) = fixture!("github", "issue_comment");
    assert_eq!(
        ignored(github(&github_headers(recorded, body), body)),
        "comment does not match the recheck pattern"
    );

    let recheck = body.replace(
        "You are totally right! I'll get this fixed right away.",
        "recheck",
    );
    let (event, _) = expect_event(github(&github_headers(recorded, &recheck), &recheck));
    let mut expected = Event::new(
        Forge::GitHub,
        "demo",
        EventKind::Recheck,
        GitRef::Branch("pull/1/head".into()),
        PipelineSource::MergeRequestEvent,
    );
    expected.fetch_ref = Some("refs/pull/1/head".into());
    expected.merge_request = Some(MergeRequest {
        iid: 1,
        title: "Spelling error in the README file".into(),
        source_branch: String::new(),
        target_branch: String::new(),
        diff_base_sha: None,
        labels: vec!["bug".into()],
    });
    assert_eq!(event, expected);
    assert_eq!(event.sha, None);

    let on_issue = recheck.replace(r#""pull_request": {"#, r#""not_a_pull_request": {"#);
    assert_eq!(
        ignored(github(&github_headers(recorded, &on_issue), &on_issue)),
        "comment on an issue, not a pull request"
    );
}

#[test]
fn github_ping_and_unknown_events_are_ignored() {
    let (body, recorded) = fixture!("github", "ping");
    assert_eq!(
        ignored(github(&github_headers(recorded, body), body)),
        "ping"
    );
    let headers = github_headers("X-GitHub-Event: check_run", "{}");
    assert_eq!(
        ignored(github(&headers, "{}")),
        "GitHub event `check_run` is not acted on"
    );
}

#[test]
fn github_bad_missing_and_tampered_signatures() {
    let (body, recorded) = fixture!("github", "push");
    let mut bad = Headers::from_lines(recorded);
    bad.insert(
        "X-Hub-Signature-256",
        &github_signature("another secret", body.as_bytes()),
    );
    assert!(unauthorized(github(&bad, body)).contains("does not match"));

    let missing = Headers::from_lines(recorded);
    assert!(unauthorized(github(&missing, body)).contains("missing X-Hub-Signature-256"));

    let mut sha1 = Headers::from_lines(recorded);
    sha1.insert("X-Hub-Signature-256", "sha1=0123");
    assert!(unauthorized(github(&sha1, body)).contains("not `sha256=<hex>`"));

    let headers = github_headers(recorded, body);
    let tampered = body.replace("refs/heads/master", "refs/heads/mastered");
    assert!(unauthorized(github(&headers, &tampered)).contains("does not match"));
}

#[test]
fn github_malformed_payload_is_bad_request() {
    let (_, recorded) = fixture!("github", "pull_request_synchronize");
    let body = r#"{"action": "opened", "number": 3}"#;
    let err = github(&github_headers(recorded, body), body).unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert!(
        err.to_string().contains("missing field `pull_request`"),
        "{err}"
    );
}
