//! Gerrit deliveries.

use super::*;
use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
use crate::trigger::event::{EventKind, Forge};

fn gerrit(query: &str, body: &str) -> Result<Outcome, WebhookError> {
    let headers = Headers::from_lines("Content-Type: application/json; charset=utf-8");
    run(WebhookSource::Gerrit, &endpoint(), &headers, query, body)
}

pub(super) const GERRIT_QUERY: &str = "token=test-secret-0b1f5e";

fn gerrit_change_vars(event_type: &str) -> Vec<(String, String)> {
    vars(&[
        ("GERRIT_EVENT_TYPE", event_type),
        ("GERRIT_PROJECT", "TestRepo1"),
        ("GERRIT_BRANCH", "master"),
        ("GERRIT_CHANGE_NUMBER", "2"),
        (
            "GERRIT_CHANGE_ID",
            "Ie10fd901201c53e9fe3b9766343060763ac81dc6",
        ),
        ("GERRIT_CHANGE_SUBJECT", "test.file added"),
        (
            "GERRIT_CHANGE_URL",
            "http://gerrit.example.com/c/TestRepo1/+/2",
        ),
        ("GERRIT_CHANGE_OWNER_NAME", "Administrator"),
        ("GERRIT_CHANGE_OWNER_EMAIL", "admin@example.com"),
        ("GERRIT_PATCHSET_NUMBER", "1"),
        (
            "GERRIT_PATCHSET_REVISION",
            "b59138869113bfd9d3e7fbf9439d74e1ae6c54b8",
        ),
        ("GERRIT_REFSPEC", "refs/changes/02/2/1"),
        ("GERRIT_PATCHSET_UPLOADER_NAME", "Administrator"),
        ("GERRIT_PATCHSET_UPLOADER_EMAIL", "admin@example.com"),
    ])
}

fn gerrit_patch_set_event(kind: EventKind, event_type: &str) -> Event {
    let mut expected = Event::new(
        Forge::Gerrit,
        "demo",
        kind,
        GitRef::Branch("master".into()),
        PipelineSource::MergeRequestEvent,
    );
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
    expected.commit_message =
        Some("test.file added\n\nChange-Id: Ie10fd901201c53e9fe3b9766343060763ac81dc6\n".into());
    expected.commit_title = Some("test.file added".into());
    expected.author = Some("Administrator <admin@example.com>".into());
    expected
}

#[test]
fn gerrit_patchset_created() {
    let (body, _) = fixture!("gerrit", "patchset_created");
    let (event, key) = expect_event(gerrit(GERRIT_QUERY, body));
    assert_eq!(key, DedupKey::body_hash(body.as_bytes()));
    assert_eq!(
        event,
        gerrit_patch_set_event(EventKind::MergeRequest, "patchset-created")
    );
}

#[test]
fn gerrit_change_merged() {
    let (body, _) = fixture!("gerrit", "change_merged");
    let (event, _) = expect_event(gerrit(GERRIT_QUERY, body));
    let mut expected = Event::new(
        Forge::Gerrit,
        "demo",
        EventKind::Push,
        GitRef::Branch("master".into()),
        PipelineSource::Push,
    );
    expected.sha = Some("c0ffee51ab2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f".into());
    expected.variables = gerrit_change_vars("change-merged");
    expected.variables.extend(vars(&[
        ("GERRIT_NEWREV", "c0ffee51ab2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"),
        ("GERRIT_SUBMITTER_NAME", "Administrator"),
        ("GERRIT_SUBMITTER_EMAIL", "admin@example.com"),
    ]));
    expected.commit_message =
        Some("test.file added\n\nChange-Id: Ie10fd901201c53e9fe3b9766343060763ac81dc6\n".into());
    expected.commit_title = Some("test.file added".into());
    expected.author = Some("Administrator <admin@example.com>".into());
    assert_eq!(event, expected);
}

#[test]
fn gerrit_comment_added_recheck_and_non_match() {
    let (body, _) = fixture!("gerrit", "comment_added");
    let (event, _) = expect_event(gerrit(GERRIT_QUERY, body));
    let mut expected = gerrit_patch_set_event(EventKind::Recheck, "comment-added");
    expected.variables.extend(vars(&[
        ("GERRIT_EVENT_ACCOUNT_NAME", "Jane Reviewer"),
        ("GERRIT_EVENT_ACCOUNT_EMAIL", "jane@example.com"),
    ]));
    assert_eq!(event, expected);

    let chat = body.replace(
        r#"Patch Set 1:\n\nrecheck"#,
        r#"Patch Set 1: Code-Review+1\n\nLooks good, recheck later"#,
    );
    assert_eq!(
        ignored(gerrit(GERRIT_QUERY, &chat)),
        "comment does not match the recheck pattern"
    );
}

#[test]
fn gerrit_ref_updated() {
    let (body, _) = fixture!("gerrit", "ref_updated");
    let (event, _) = expect_event(gerrit(GERRIT_QUERY, body));
    let mut expected = Event::new(
        Forge::Gerrit,
        "demo",
        EventKind::Push,
        GitRef::Branch("master".into()),
        PipelineSource::Push,
    );
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
    assert_eq!(
        (event.kind, event.git_ref),
        (EventKind::TagPush, GitRef::Tag("v2.0.0".into()))
    );

    let change_ref = body.replace("refs/heads/master", "refs/changes/02/2/1");
    assert_eq!(
        ignored(gerrit(GERRIT_QUERY, &change_ref)),
        "update of `refs/changes/02/2/1`, neither a branch nor a tag"
    );

    let deleted = body.replace(
        "c0ffee51ab2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f",
        "0000000000000000000000000000000000000000",
    );
    assert_eq!(
        ignored(gerrit(GERRIT_QUERY, &deleted)),
        "`refs/heads/master` was deleted"
    );
}

#[test]
fn gerrit_other_events_are_ignored() {
    let (body, _) = fixture!("gerrit", "reviewer_added");
    assert_eq!(
        ignored(gerrit(GERRIT_QUERY, body)),
        "Gerrit event `reviewer-added` is not acted on"
    );
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
    assert_eq!(
        gerrit(GERRIT_QUERY, "[1, 2").unwrap_err().status_code(),
        400
    );
    let err = gerrit(
        GERRIT_QUERY,
        r#"{"type": "patchset-created", "change": {}}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("patchset-created: missing field"),
        "{err}"
    );
}
