//! Replays the forges' published example deliveries (`tests/fixtures/webhooks/`), signed with
//! a test secret, and checks the parsed events field by field.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use regex::Regex;
use secrecy::SecretString;

use super::signature::testing::{github_signature, standard_signature};
use super::*;
use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
use crate::trigger::event::{EventKind, Forge};

const SECRET: &str = "test-secret-0b1f5e";
/// A `whsec_` signing token and the key it encodes.
const SIGNING_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const SIGNING_TOKEN: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const NOW: u64 = 1_760_000_000;

macro_rules! fixture {
    ($forge:literal, $name:literal) => {
        (
            include_str!(concat!("../../../tests/fixtures/webhooks/", $forge, "/", $name, ".json")),
            include_str!(concat!("../../../tests/fixtures/webhooks/", $forge, "/", $name, ".headers")),
        )
    };
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn endpoint() -> Endpoint {
    Endpoint::new("demo", Some(SecretString::from(SECRET)))
}

fn run(source: WebhookSource, endpoint: &Endpoint, headers: &Headers, query: &str, body: &str) -> Result<Outcome, WebhookError> {
    let delivery = Delivery { headers, query, body: body.as_bytes() };
    source.receive(endpoint, &delivery, now())
}

fn expect_event(outcome: Result<Outcome, WebhookError>) -> (Event, DedupKey) {
    match outcome {
        Ok(Outcome::Event(event, key)) => (event, key),
        other => panic!("expected an event, got {other:?}"),
    }
}

fn ignored(outcome: Result<Outcome, WebhookError>) -> String {
    match outcome {
        Ok(Outcome::Ignored { reason }) => reason,
        other => panic!("expected Ignored, got {other:?}"),
    }
}

fn unauthorized(outcome: Result<Outcome, WebhookError>) -> String {
    match outcome {
        Err(e @ WebhookError::Unauthorized { .. }) => {
            assert_eq!(e.status_code(), 401);
            e.to_string()
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// ---------------------------------------------------------------- GitLab

fn gitlab_headers(recorded: &str) -> Headers {
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
    let mut expected = Event::new(Forge::GitLab, "demo", EventKind::Push, GitRef::Branch("master".into()), PipelineSource::Push);
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
    let mut expected = Event::new(Forge::GitLab, "demo", EventKind::TagPush, GitRef::Tag("v1.0.0".into()), PipelineSource::Push);
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
    let body = body.replace(r#""checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7""#, r#""checkout_sha": null"#);
    assert_eq!(ignored(gitlab(&gitlab_headers(recorded), &body)), "branch `master` was deleted");
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
    expected.merge_request = Some(gitlab_mr(1, "MS-Viewport", "ms-viewport", "master", &["API"]));
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
    assert_eq!(ignored(gitlab(&headers, &update)), "merge request updated without new commits");
    let pushed = update.replace(r#""action": "update""#, r#""action": "update", "oldrev": "95790bf891e76fee5e1747ab589903a6a1f80f22""#);
    let (event, _) = expect_event(gitlab(&headers, &pushed));
    assert_eq!(event.kind, EventKind::MergeRequest);
    let closed = body.replace(r#""action": "open""#, r#""action": "close""#);
    assert_eq!(ignored(gitlab(&headers, &closed)), "merge request action `close` is not acted on");
}

#[test]
fn gitlab_note_recheck_and_non_match() {
    let (body, recorded) = fixture!("gitlab", "note_merge_request");
    let headers = gitlab_headers(recorded);
    assert_eq!(ignored(gitlab(&headers, body)), "comment does not match the recheck pattern");

    let recheck = body.replace("This MR needs work.", "/recheck");
    let (event, _) = expect_event(gitlab(&headers, &recheck));
    let mut expected =
        Event::new(Forge::GitLab, "demo", EventKind::Recheck, GitRef::Branch("master".into()), PipelineSource::MergeRequestEvent);
    expected.sha = Some("562e173be03b8ff2efb05345d12df18815438a4b".into());
    expected.fetch_ref = Some("refs/merge-requests/1/head".into());
    expected.merge_request = Some(gitlab_mr(
        1,
        "Tempora et eos debitis quae laborum et.",
        "master",
        "markdown",
        &["Afterpod", "Element"],
    ));
    expected.commit_message = Some("Merge branch 'another-branch' into 'master'\n\nCheck in this test\n".into());
    expected.commit_title = Some("Merge branch 'another-branch' into 'master'".into());
    expected.author = Some("John Smith <john@example.com>".into());
    assert_eq!(event, expected);

    // A project's own pattern replaces the default.
    let mut custom = endpoint();
    custom.recheck = Regex::new(r"^retest please$").unwrap();
    let retest = body.replace("This MR needs work.", "retest please");
    let delivery = Delivery { headers: &headers, query: "", body: retest.as_bytes() };
    assert!(matches!(gitlab::receive(&custom, &delivery, now()), Ok(Outcome::Event(..))));
    let delivery = Delivery { headers: &headers, query: "", body: recheck.as_bytes() };
    assert!(matches!(gitlab::receive(&custom, &delivery, now()), Ok(Outcome::Ignored { .. })));
}

#[test]
fn gitlab_unhandled_events_are_ignored_with_the_reason() {
    let (body, recorded) = fixture!("gitlab", "pipeline");
    assert_eq!(ignored(gitlab(&gitlab_headers(recorded), body)), "GitLab event `Pipeline Hook` is not acted on");
    let mut headers = Headers::from_lines("X-Gitlab-Event: Job Hook");
    headers.insert("X-Gitlab-Token", SECRET);
    assert_eq!(ignored(gitlab(&headers, "not even json")), "GitLab event `Job Hook` is not acted on");
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
    assert!(err.to_string().starts_with("malformed webhook delivery: Push Hook: "), "{err}");
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

fn signed_gitlab(body: &str, recorded: &str, timestamp: u64) -> Headers {
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

fn signing_endpoint() -> Endpoint {
    let mut endpoint = endpoint();
    endpoint.signing_token = Some(SecretString::from(SIGNING_TOKEN));
    endpoint
}

#[test]
fn gitlab_signing_token_accepts_any_valid_signature() {
    let (body, recorded) = fixture!("gitlab", "push");
    let headers = signed_gitlab(body, recorded, NOW - 60);
    let (event, _) = expect_event(run(WebhookSource::GitLab, &signing_endpoint(), &headers, "", body));
    assert_eq!(event.sha.as_deref(), Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7"));
}

#[test]
fn gitlab_signature_rejects_tampering_staleness_and_absence() {
    let (body, recorded) = fixture!("gitlab", "push");
    let endpoint = signing_endpoint();
    let headers = signed_gitlab(body, recorded, NOW);
    let tampered = body.replace("fixed readme", "fixed readme; curl evil | sh");
    assert!(unauthorized(run(WebhookSource::GitLab, &endpoint, &headers, "", &tampered)).contains("no webhook-signature matches"));

    let stale = signed_gitlab(body, recorded, NOW - 301);
    assert!(unauthorized(run(WebhookSource::GitLab, &endpoint, &stale, "", body)).contains("more than 5 minutes"));
    let future = signed_gitlab(body, recorded, NOW + 301);
    assert!(unauthorized(run(WebhookSource::GitLab, &endpoint, &future, "", body)).contains("more than 5 minutes"));

    let unsigned = gitlab_headers(recorded);
    assert!(unauthorized(run(WebhookSource::GitLab, &endpoint, &unsigned, "", body)).contains("missing webhook-id"));
}

// ---------------------------------------------------------------- GitHub

fn github_headers(recorded: &str, body: &str) -> Headers {
    let mut headers = Headers::from_lines(recorded);
    headers.insert("X-Hub-Signature-256", &github_signature(SECRET, body.as_bytes()));
    headers
}

fn github(headers: &Headers, body: &str) -> Result<Outcome, WebhookError> {
    run(WebhookSource::GitHub, &endpoint(), headers, "", body)
}

fn github_push_event() -> Event {
    let mut expected = Event::new(Forge::GitHub, "demo", EventKind::Push, GitRef::Branch("master".into()), PipelineSource::Push);
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
    let form: String = form_urlencoded::Serializer::new(String::new()).append_pair("payload", json).finish();
    let mut headers = Headers::from_lines(&recorded.replace("Content-Type: application/json", ""));
    headers.insert("Content-Type", "application/x-www-form-urlencoded");
    headers.insert("X-Hub-Signature-256", &github_signature(SECRET, form.as_bytes()));
    let (event, _) = expect_event(github(&headers, &form));
    assert_eq!(event, github_push_event());

    // The signature covers the form body, not the JSON inside it.
    let mut json_signed = Headers::from_lines(&recorded.replace("Content-Type: application/json", ""));
    json_signed.insert("Content-Type", "application/x-www-form-urlencoded");
    json_signed.insert("X-Hub-Signature-256", &github_signature(SECRET, json.as_bytes()));
    unauthorized(github(&json_signed, &form));
}

#[test]
fn github_deleted_ref_is_ignored() {
    let (body, recorded) = fixture!("github", "push_deleted");
    assert_eq!(ignored(github(&github_headers(recorded, body), body)), "`refs/tags/simple-tag` was deleted");
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
        ("CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY", "Codertocat/Hello-World"),
        ("CI_EXTERNAL_PULL_REQUEST_TARGET_REPOSITORY", "Codertocat/Hello-World"),
        ("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME", "changes"),
        ("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA", "ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
        ("CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME", "master"),
        ("CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_SHA", "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"),
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
    assert_eq!(ignored(github(&github_headers(recorded, body), body)), "comment does not match the recheck pattern");

    let recheck = body.replace("You are totally right! I'll get this fixed right away.", "recheck");
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
    assert_eq!(ignored(github(&github_headers(recorded, &on_issue), &on_issue)), "comment on an issue, not a pull request");
}

#[test]
fn github_ping_and_unknown_events_are_ignored() {
    let (body, recorded) = fixture!("github", "ping");
    assert_eq!(ignored(github(&github_headers(recorded, body), body)), "ping");
    let headers = github_headers("X-GitHub-Event: check_run", "{}");
    assert_eq!(ignored(github(&headers, "{}")), "GitHub event `check_run` is not acted on");
}

#[test]
fn github_bad_missing_and_tampered_signatures() {
    let (body, recorded) = fixture!("github", "push");
    let mut bad = Headers::from_lines(recorded);
    bad.insert("X-Hub-Signature-256", &github_signature("another secret", body.as_bytes()));
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
    assert!(err.to_string().contains("missing field `pull_request`"), "{err}");
}

// ---------------------------------------------------------------- Gerrit

fn gerrit(query: &str, body: &str) -> Result<Outcome, WebhookError> {
    let headers = Headers::from_lines("Content-Type: application/json; charset=utf-8");
    run(WebhookSource::Gerrit, &endpoint(), &headers, query, body)
}

const GERRIT_QUERY: &str = "token=test-secret-0b1f5e";

fn gerrit_change_vars(event_type: &str) -> Vec<(String, String)> {
    vars(&[
        ("GERRIT_EVENT_TYPE", event_type),
        ("GERRIT_PROJECT", "TestRepo1"),
        ("GERRIT_BRANCH", "master"),
        ("GERRIT_CHANGE_NUMBER", "2"),
        ("GERRIT_CHANGE_ID", "Ie10fd901201c53e9fe3b9766343060763ac81dc6"),
        ("GERRIT_CHANGE_SUBJECT", "test.file added"),
        ("GERRIT_CHANGE_URL", "http://gerrit.example.com/c/TestRepo1/+/2"),
        ("GERRIT_CHANGE_OWNER_NAME", "Administrator"),
        ("GERRIT_CHANGE_OWNER_EMAIL", "admin@example.com"),
        ("GERRIT_PATCHSET_NUMBER", "1"),
        ("GERRIT_PATCHSET_REVISION", "b59138869113bfd9d3e7fbf9439d74e1ae6c54b8"),
        ("GERRIT_REFSPEC", "refs/changes/02/2/1"),
        ("GERRIT_PATCHSET_UPLOADER_NAME", "Administrator"),
        ("GERRIT_PATCHSET_UPLOADER_EMAIL", "admin@example.com"),
    ])
}

fn gerrit_patch_set_event(kind: EventKind, event_type: &str) -> Event {
    let mut expected = Event::new(Forge::Gerrit, "demo", kind, GitRef::Branch("master".into()), PipelineSource::MergeRequestEvent);
    expected.sha = Some("b59138869113bfd9d3e7fbf9439d74e1ae6c54b8".into());
    expected.fetch_ref = Some("refs/changes/02/2/1".into());
    expected.merge_request = Some(MergeRequest {
        iid: 2,
        title: "test.file added".into(),
        source_branch: "refs/changes/02/2/1".into(),
        target_branch: "master".into(),
        diff_base_sha: None,
        labels: vec![],
    });
    expected.variables = gerrit_change_vars(event_type);
    expected.commit_message = Some("test.file added\n\nChange-Id: Ie10fd901201c53e9fe3b9766343060763ac81dc6\n".into());
    expected.commit_title = Some("test.file added".into());
    expected.author = Some("Administrator <admin@example.com>".into());
    expected
}

#[test]
fn gerrit_patchset_created() {
    let (body, _) = fixture!("gerrit", "patchset_created");
    let (event, key) = expect_event(gerrit(GERRIT_QUERY, body));
    assert_eq!(key, DedupKey::body_hash(body.as_bytes()));
    assert_eq!(event, gerrit_patch_set_event(EventKind::MergeRequest, "patchset-created"));
}

#[test]
fn gerrit_change_merged() {
    let (body, _) = fixture!("gerrit", "change_merged");
    let (event, _) = expect_event(gerrit(GERRIT_QUERY, body));
    let mut expected = Event::new(Forge::Gerrit, "demo", EventKind::Push, GitRef::Branch("master".into()), PipelineSource::Push);
    expected.sha = Some("c0ffee51ab2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f".into());
    expected.variables = gerrit_change_vars("change-merged");
    expected.variables.extend(vars(&[
        ("GERRIT_NEWREV", "c0ffee51ab2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"),
        ("GERRIT_SUBMITTER_NAME", "Administrator"),
        ("GERRIT_SUBMITTER_EMAIL", "admin@example.com"),
    ]));
    expected.commit_message = Some("test.file added\n\nChange-Id: Ie10fd901201c53e9fe3b9766343060763ac81dc6\n".into());
    expected.commit_title = Some("test.file added".into());
    expected.author = Some("Administrator <admin@example.com>".into());
    assert_eq!(event, expected);
}

#[test]
fn gerrit_comment_added_recheck_and_non_match() {
    let (body, _) = fixture!("gerrit", "comment_added");
    let (event, _) = expect_event(gerrit(GERRIT_QUERY, body));
    let mut expected = gerrit_patch_set_event(EventKind::Recheck, "comment-added");
    expected.variables.extend(vars(&[("GERRIT_EVENT_ACCOUNT_NAME", "Jane Reviewer"), ("GERRIT_EVENT_ACCOUNT_EMAIL", "jane@example.com")]));
    assert_eq!(event, expected);

    let chat = body.replace(r#"Patch Set 1:\n\nrecheck"#, r#"Patch Set 1: Code-Review+1\n\nLooks good, recheck later"#);
    assert_eq!(ignored(gerrit(GERRIT_QUERY, &chat)), "comment does not match the recheck pattern");
}

#[test]
fn gerrit_ref_updated() {
    let (body, _) = fixture!("gerrit", "ref_updated");
    let (event, _) = expect_event(gerrit(GERRIT_QUERY, body));
    let mut expected = Event::new(Forge::Gerrit, "demo", EventKind::Push, GitRef::Branch("master".into()), PipelineSource::Push);
    expected.sha = Some("c0ffee51ab2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f".into());
    expected.before_sha = Some("4e27cf4d8a5a1fba3e0d8c0a2f0f6f5b9c1d2e3f".into());
    expected.variables = vars(&[
        ("GERRIT_EVENT_TYPE", "ref-updated"),
        ("GERRIT_PROJECT", "TestRepo1"),
        ("GERRIT_REFNAME", "refs/heads/master"),
        ("GERRIT_OLDREV", "4e27cf4d8a5a1fba3e0d8c0a2f0f6f5b9c1d2e3f"),
        ("GERRIT_NEWREV", "c0ffee51ab2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"),
        ("GERRIT_SUBMITTER_NAME", "Administrator"),
        ("GERRIT_SUBMITTER_EMAIL", "admin@example.com"),
    ]);
    assert_eq!(event, expected);

    let tag = body.replace("refs/heads/master", "refs/tags/v2.0.0");
    let (event, _) = expect_event(gerrit(GERRIT_QUERY, &tag));
    assert_eq!((event.kind, event.git_ref), (EventKind::TagPush, GitRef::Tag("v2.0.0".into())));

    let change_ref = body.replace("refs/heads/master", "refs/changes/02/2/1");
    assert_eq!(ignored(gerrit(GERRIT_QUERY, &change_ref)), "update of `refs/changes/02/2/1`, neither a branch nor a tag");

    let deleted = body.replace("c0ffee51ab2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f", "0000000000000000000000000000000000000000");
    assert_eq!(ignored(gerrit(GERRIT_QUERY, &deleted)), "`refs/heads/master` was deleted");
}

#[test]
fn gerrit_other_events_are_ignored() {
    let (body, _) = fixture!("gerrit", "reviewer_added");
    assert_eq!(ignored(gerrit(GERRIT_QUERY, body)), "Gerrit event `reviewer-added` is not acted on");
}

#[test]
fn gerrit_token_is_checked_first() {
    let (body, _) = fixture!("gerrit", "patchset_created");
    assert!(unauthorized(gerrit("", body)).contains("missing `token`"));
    assert!(unauthorized(gerrit("token=test-secret-0b1f5f", body)).contains("does not match"));
    // Authentication comes before parsing: garbage with a wrong token is 401, not 400.
    unauthorized(gerrit("token=nope", "not json"));
    // Percent-encoding in the URL is decoded before comparing.
    let encoded = format!("other=1&token={}", SECRET.replace('-', "%2D"));
    expect_event(gerrit(&encoded, body));
}

#[test]
fn gerrit_malformed_body_is_bad_request() {
    assert_eq!(gerrit(GERRIT_QUERY, "[1, 2").unwrap_err().status_code(), 400);
    let err = gerrit(GERRIT_QUERY, r#"{"type": "patchset-created", "change": {}}"#).unwrap_err();
    assert!(err.to_string().contains("patchset-created: missing field"), "{err}");
}

// ---------------------------------------------------------------- all forges

#[test]
fn unset_secret_disables_every_forge() {
    let disabled = Endpoint::new("demo", None);
    let (body, recorded) = fixture!("github", "push");
    let headers = github_headers(recorded, body);
    for source in [WebhookSource::GitLab, WebhookSource::GitHub, WebhookSource::Gerrit] {
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
    for source in [WebhookSource::GitLab, WebhookSource::GitHub, WebhookSource::Gerrit] {
        let err = run(source, &small, &headers, "", "{\"seventeen\": 1 }").unwrap_err();
        assert_eq!(err, WebhookError::TooLarge { limit: 16 });
        assert_eq!(err.status_code(), 413);
    }
    assert!(run(WebhookSource::GitHub, &small, &headers, "", "{\"sixteen\": 1  }").unwrap_err() != WebhookError::TooLarge { limit: 16 });
}

#[test]
fn no_secret_in_errors_or_debug_output() {
    let (body, recorded) = fixture!("gitlab", "push");
    let endpoint = signing_endpoint();
    let mut outputs = vec![format!("{endpoint:?}")];
    let headers = gitlab_headers(recorded);
    let query = GERRIT_QUERY;
    let delivery = Delivery { headers: &headers, query, body: body.as_bytes() };
    outputs.push(format!("{delivery:?}"));
    let mut wrong = Headers::from_lines(recorded);
    wrong.insert("X-Gitlab-Token", &format!("{SECRET}x"));
    let mut failures = vec![
        run(WebhookSource::GitLab, &endpoint, &wrong, "", body),
        run(WebhookSource::GitLab, &endpoint, &headers, "", body),
        run(WebhookSource::GitHub, &endpoint, &headers, "", body),
        run(WebhookSource::Gerrit, &endpoint, &headers, &format!("token={SECRET}x"), body),
        run(WebhookSource::Gerrit, &Endpoint::new("demo", None), &headers, query, body),
    ];
    let mut bad_token = self::endpoint();
    bad_token.signing_token = Some(SecretString::from("whsec_not base64!"));
    failures.push(run(WebhookSource::GitLab, &bad_token, &signed_gitlab(body, recorded, NOW), "", body));
    for failure in failures {
        let err = failure.unwrap_err();
        outputs.push(err.to_string());
        outputs.push(format!("{err:?}"));
    }
    for output in &outputs {
        for secret in [SECRET, SIGNING_TOKEN, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", "0123456789abcdef"] {
            assert!(!output.contains(secret), "{output} contains a secret");
        }
    }
}

#[test]
fn webhook_source_from_url_segment() {
    assert_eq!("gitlab".parse::<WebhookSource>(), Ok(WebhookSource::GitLab));
    assert_eq!("gerrit".parse::<WebhookSource>().map(WebhookSource::forge), Ok(Forge::Gerrit));
    assert!("bitbucket".parse::<WebhookSource>().is_err());
}
