//! The outbox: written with the status change, coalesced, versioned.

use serde_json::json;

use crate::store::{NewPipeline, PipelineId, PipelineStatus, ProjectId, Store, Timestamp};

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

fn pipeline(store: &Store, project: ProjectId, sha: &str, source: &str) -> PipelineId {
    let new = NewPipeline {
        project_id: project,
        git_ref: "main".to_owned(),
        tag: false,
        sha: sha.to_owned(),
        before_sha: None,
        source: source.to_owned(),
        status: PipelineStatus::Pending,
        plan: json!({}),
        variables: Vec::new(),
        created_at: at(10),
    };
    store.create_pipeline(&new).expect("pipeline")
}

fn statuses(store: &Store, now: i64) -> Vec<(String, String, PipelineStatus)> {
    let due = store.due_reports(at(now), 100).expect("due");
    due.into_iter().map(|r| (r.sha, r.context, r.status)).collect()
}

#[test]
fn only_reporting_projects_write_reports_and_only_the_newest_state_is_pending() {
    let store = Store::open_in_memory().expect("store");
    let reporting = store.ensure_project("acme/web", at(1)).expect("project");
    let silent = store.ensure_project("acme/quiet", at(1)).expect("project");
    store.set_report_contexts(&[(reporting, "sluice".to_owned())]).expect("contexts");
    let first = pipeline(&store, reporting, "aaa", "push");
    pipeline(&store, silent, "aaa", "push");
    assert_eq!(statuses(&store, 10), [("aaa".to_owned(), "sluice/push".to_owned(), PipelineStatus::Pending)]);
    store.set_pipeline_status(first, PipelineStatus::Running, at(20)).expect("running");
    store.set_pipeline_status(first, PipelineStatus::Success, at(30)).expect("success");
    assert_eq!(statuses(&store, 30), [("aaa".to_owned(), "sluice/push".to_owned(), PipelineStatus::Success)]);
    pipeline(&store, reporting, "aaa", "merge_request_event");
    assert_eq!(statuses(&store, 30).len(), 2, "another source is another status name");
    // An older pipeline never overwrites a newer one's report.
    let newer = pipeline(&store, reporting, "aaa", "push");
    store.set_pipeline_status(first, PipelineStatus::Failed, at(40)).expect("failed");
    let due = store.due_reports(at(40), 100).expect("due");
    let push = due.iter().find(|r| r.context == "sluice/push").expect("push report");
    assert_eq!((push.pipeline_id, push.status), (newer, PipelineStatus::Pending));
}

#[test]
fn a_change_during_a_send_stays_pending_and_failures_back_off() {
    let store = Store::open_in_memory().expect("store");
    let project = store.ensure_project("acme/web", at(1)).expect("project");
    store.set_report_contexts(&[(project, "ci".to_owned())]).expect("contexts");
    let id = pipeline(&store, project, "bbb", "push");
    let taken = store.due_reports(at(10), 10).expect("due").remove(0);
    store.set_pipeline_status(id, PipelineStatus::Running, at(11)).expect("running");
    store.report_done(taken.id, taken.version, Some(("77", id))).expect("done");
    let again = store.due_reports(at(11), 10).expect("due").remove(0);
    assert_eq!((again.status, again.remote_id.as_deref()), (PipelineStatus::Running, Some("77")));
    store.report_failed(again.id, again.version, at(5_000), at(12)).expect("failed");
    assert!(store.due_reports(at(4_999), 10).expect("due").is_empty(), "not before its next attempt");
    assert_eq!(store.next_report_due().expect("next"), Some(at(5_000)));
    let retried = store.due_reports(at(5_000), 10).expect("due").remove(0);
    assert_eq!((retried.attempts, retried.failing_since), (1, Some(at(12))));
    store.report_done(retried.id, retried.version, None).expect("done");
    assert_eq!(store.next_report_due().expect("next"), None);
    store.set_report_contexts(&[]).expect("no contexts");
    store.set_pipeline_status(id, PipelineStatus::Success, at(20)).expect("success");
    assert!(store.due_reports(at(20), 10).expect("due").is_empty(), "a project that stopped reporting writes none");
}
