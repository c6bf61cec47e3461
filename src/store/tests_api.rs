//! Store tests of API tokens and of queued re-runs (retry, play).

use std::path::Path;

use serde_json::json;

use super::*;

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

/// A store with a finished pipeline: `build` succeeded, `test` failed, `deploy` is manual.
fn finished() -> (Store, PipelineId, [JobId; 3]) {
    let store = Store::open_in_memory().expect("store");
    let project = store.ensure_project("demo", at(1)).expect("project");
    let pipeline = store
        .create_pipeline(&NewPipeline {
            project_id: project,
            git_ref: "main".to_owned(),
            tag: false,
            sha: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            before_sha: None,
            source: "api".to_owned(),
            status: PipelineStatus::Created,
            plan: json!({}),
            variables: Vec::new(),
            created_at: at(10),
        })
        .expect("pipeline");
    let job = |name: &str| {
        store
            .create_job(&NewJob {
                pipeline_id: pipeline,
                name: name.to_owned(),
                stage: "test".to_owned(),
                status: JobStatus::Created,
                when: JobWhen::OnSuccess,
                allow_failure: false,
                attempt: 1,
                retry_of: None,
                resource_group: None,
                log_path: Some(format!("/runs/1/logs/{name}.log").into()),
                created_at: at(20),
            })
            .expect("job")
    };
    let (build, test, deploy) = (job("build"), job("test"), job("deploy"));
    for (id, status) in [(build, JobStatus::Success), (test, JobStatus::Failed)] {
        store
            .transition_job(id, JobStatus::Running, None, at(30))
            .expect("running");
        store.finish_job(id, status, Some(0), None, at(40)).expect("finish");
    }
    store
        .transition_job(deploy, JobStatus::Manual, None, at(30))
        .expect("manual");
    store
        .set_pipeline_status(pipeline, PipelineStatus::Failed, at(50))
        .expect("status");
    (store, pipeline, [build, test, deploy])
}

#[test]
fn tokens_have_unique_names_and_can_be_revoked() {
    let store = Store::open_in_memory().expect("store");
    store
        .create_token("ci", TokenScope::Write, "aa", at(1))
        .expect("create");
    let duplicate = store.create_token("ci", TokenScope::Read, "bb", at(2));
    assert!(matches!(duplicate, Err(StoreError::Duplicate { .. })), "{duplicate:?}");
    let id = store
        .create_token("board", TokenScope::Read, "cc", at(3))
        .expect("create");
    store.touch_token(id, at(9)).expect("touch");
    let tokens = store.list_tokens().expect("list");
    let shown: Vec<(&str, TokenScope, Option<Timestamp>)> = tokens
        .iter()
        .map(|t| (t.name.as_str(), t.scope, t.last_used_at))
        .collect();
    assert_eq!(
        shown,
        [
            ("board", TokenScope::Read, Some(at(9))),
            ("ci", TokenScope::Write, None)
        ]
    );
    assert!(!format!("{tokens:?}").contains("cc"), "Debug must not show hashes");
    assert!(store.revoke_token("ci").expect("revoke"));
    assert!(!store.revoke_token("ci").expect("revoke"));
    assert_eq!(store.list_tokens().expect("list").len(), 1);
}

#[test]
fn a_retry_is_a_new_attempt_and_an_event_in_one_step() {
    let (store, pipeline, [_, test, _]) = finished();
    let log = Path::new("/runs/1/logs/test.attempt-2.log");
    let queued = store
        .enqueue_rerun(RerunKind::Retry, test, Some(log), at(60))
        .expect("retry");
    let attempt = store.get_job(queued.job).expect("job");
    assert_eq!(
        (
            attempt.status,
            attempt.attempt,
            attempt.retry_of,
            attempt.log_path.as_deref()
        ),
        (JobStatus::Created, 2, Some(test), Some(log))
    );
    let event = store.get_event(queued.event).expect("event");
    assert_eq!(
        (event.kind.as_str(), event.state, event.pipeline_id),
        ("retry", EventState::Pending, Some(pipeline))
    );
    assert_eq!(event.payload, json!({ "job": queued.job.get() }));
    assert_eq!(store.pending_event_count().expect("count"), 1);
    // The retried attempt cannot be retried again, nor can anything while one is queued.
    let again = store.enqueue_rerun(RerunKind::Retry, test, None, at(61));
    assert!(matches!(again, Err(StoreError::Refused { .. })), "{again:?}");
}

#[test]
fn reruns_are_refused_when_they_do_not_fit() {
    let (store, pipeline, [build, test, deploy]) = finished();
    let refused = |kind, job| {
        matches!(
            store.enqueue_rerun(kind, job, None, at(60)),
            Err(StoreError::Refused { .. })
        )
    };
    assert!(refused(RerunKind::Play, build), "only manual jobs are played");
    assert!(refused(RerunKind::Retry, deploy), "a manual job is not finished");
    assert!(matches!(
        store.enqueue_rerun(RerunKind::Retry, JobId::new(99), None, at(60)),
        Err(StoreError::NotFound { .. })
    ));
    store
        .set_pipeline_status(pipeline, PipelineStatus::Running, at(61))
        .expect("status");
    assert!(refused(RerunKind::Retry, test), "a running pipeline's jobs wait");
    store
        .set_pipeline_status(pipeline, PipelineStatus::Failed, at(62))
        .expect("status");
    let played = store
        .enqueue_rerun(RerunKind::Play, deploy, None, at(63))
        .expect("play");
    assert_eq!(played.job, deploy);
    assert!(
        store.event_of_pipeline(pipeline).expect("read").is_none(),
        "re-run events do not count"
    );
    let counts = store.pipelines_by_status().expect("counts");
    assert_eq!(counts, [(PipelineStatus::Failed, 1)]);
}

#[test]
fn a_cancel_holds_for_the_run_it_was_requested_in_and_a_rerun_can_be_canceled_again() {
    let (store, pipeline, [_, test, _]) = finished();
    store.set_pipeline_status(pipeline, PipelineStatus::Running, at(45)).expect("running");
    let first = store.request_cancel(pipeline, at(50)).expect("cancel");
    assert!(matches!(first, Inserted::New(_)), "{first:?}");
    assert!(matches!(store.request_cancel(pipeline, at(51)).expect("again"), Inserted::Duplicate(_)));
    assert!(store.cancel_requested(pipeline).expect("requested"));
    store.set_pipeline_status(pipeline, PipelineStatus::Canceled, at(52)).expect("canceled");
    store.enqueue_rerun(RerunKind::Retry, test, None, at(60)).expect("retry");
    assert!(!store.cancel_requested(pipeline).expect("requested"), "the retry is a new run");
    store.set_pipeline_status(pipeline, PipelineStatus::Running, at(61)).expect("running");
    let second = store.request_cancel(pipeline, at(62)).expect("cancel the retry");
    assert!(matches!(second, Inserted::New(_)), "{second:?}");
    assert!(store.cancel_requested(pipeline).expect("requested"));
}
