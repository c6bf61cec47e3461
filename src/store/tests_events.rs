//! Tests of the event queue and the watched refs' tips, on real SQLite files.

use serde_json::json;
use tempfile::TempDir;

use super::*;

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

fn store_with_project() -> (TempDir, std::path::PathBuf, Store, ProjectId) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sluice.db");
    let store = Store::open(&path).expect("open store");
    let project = store.ensure_project("demo", at(1)).expect("project");
    (dir, path, store, project)
}

fn push(key: &str, sha: &str) -> NewEvent {
    NewEvent {
        dedup_key: key.to_owned(),
        source: "gitlab".to_owned(),
        kind: "push".to_owned(),
        git_ref: "refs/heads/main".to_owned(),
        sha: Some(sha.to_owned()),
        before_sha: None,
        fetch_ref: None,
        payload: json!({ "kind": "push", "sha": sha }),
        received_at: at(100),
        ref_head: None,
    }
}

#[test]
fn a_new_event_is_pending_and_survives_reopening() {
    let (_dir, path, store, project) = store_with_project();
    let inserted = store
        .insert_event(project, &push("gitlab:1", "aaa"))
        .expect("insert");
    let Inserted::New(id) = inserted else {
        panic!("expected a new event, got {inserted:?}")
    };
    drop(store);
    let store = Store::open(&path).expect("reopen");
    let row = store.get_event(id).expect("event");
    assert_eq!(row.state, EventState::Pending);
    assert_eq!(row.project, "demo");
    assert_eq!(row.sha.as_deref(), Some("aaa"));
    assert_eq!(row.payload, json!({ "kind": "push", "sha": "aaa" }));
    assert_eq!(row.received_at, at(100));
}

#[test]
fn the_same_dedup_key_is_a_duplicate_of_the_original() {
    let (_dir, _path, store, project) = store_with_project();
    let first = store
        .insert_event(project, &push("gitlab:1", "aaa"))
        .expect("insert");
    let again = store
        .insert_event(project, &push("gitlab:1", "bbb"))
        .expect("insert again");
    assert_eq!(again, Inserted::Duplicate(first.id()));
    assert_eq!(store.pending_events(10).expect("pending").len(), 1);
    assert_eq!(
        store.get_event(first.id()).expect("event").sha.as_deref(),
        Some("aaa")
    );
}

#[test]
fn dedup_keys_are_per_project() {
    let (_dir, _path, store, project) = store_with_project();
    let other = store.ensure_project("other", at(1)).expect("project");
    let a = store
        .insert_event(project, &push("k", "aaa"))
        .expect("insert");
    let b = store
        .insert_event(other, &push("k", "aaa"))
        .expect("insert");
    assert!(matches!((a, b), (Inserted::New(_), Inserted::New(_))));
    assert_ne!(a.id(), b.id());
}

#[test]
fn an_unknown_project_is_not_found() {
    let (_dir, _path, store, _project) = store_with_project();
    let err = store
        .insert_event(ProjectId::new(99), &push("k", "aaa"))
        .expect_err("no project");
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                kind: "project",
                id: 99
            }
        ),
        "{err}"
    );
}

#[test]
fn a_push_of_a_tip_already_recorded_is_a_duplicate_whatever_its_key() {
    let (_dir, _path, store, project) = store_with_project();
    let webhook = store.insert_event(project, &push("github:1", "aaa")).expect("insert");
    let mut polled = push("poll:refs/heads/main:aaa", "aaa");
    polled.ref_head = Some(RefHead { git_ref: "refs/heads/main".to_owned(), sha: "aaa".to_owned() });
    assert_eq!(store.insert_event(project, &polled).expect("poll"), Inserted::Duplicate(webhook.id()));
    assert_eq!(store.ref_head(project, "refs/heads/main").expect("head").as_deref(), Some("aaa"), "the head still moves");
    let mut tag = push("gitlab:2", "aaa");
    tag.kind = "tag_push".to_owned();
    tag.git_ref = "refs/tags/v1".to_owned();
    let mut other_ref = push("gitlab:3", "aaa");
    other_ref.git_ref = "refs/heads/next".to_owned();
    let mut recheck = push("gitlab:4", "aaa");
    recheck.kind = "recheck".to_owned();
    for new in [tag, other_ref, recheck] {
        assert!(matches!(store.insert_event(project, &new).expect("insert"), Inserted::New(_)), "{new:?}");
    }
}

#[test]
fn pending_events_are_oldest_first_and_marked_ones_leave_the_queue() {
    let (_dir, _path, store, project) = store_with_project();
    let ids: Vec<EventId> = ["a", "b", "c"]
        .iter()
        .map(|k| {
            store
                .insert_event(project, &push(k, k))
                .expect("insert")
                .id()
        })
        .collect();
    let pending: Vec<EventId> = store
        .pending_events(2)
        .expect("pending")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(pending, ids[..2]);
    store
        .mark_event(ids[0], EventState::Failed, None, Some("no such commit"))
        .expect("mark");
    store
        .mark_event(ids[1], EventState::Ignored, None, None)
        .expect("mark");
    let pending: Vec<EventId> = store
        .pending_events(10)
        .expect("pending")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(pending, [ids[2]]);
    let failed = store.get_event(ids[0]).expect("event");
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (EventState::Failed, Some("no such commit"))
    );
    let listed: Vec<EventId> = store
        .list_events(Some("demo"), 10)
        .expect("list")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, [ids[2], ids[1], ids[0]]);
}

#[test]
fn a_done_event_names_its_pipeline() {
    let (_dir, _path, store, project) = store_with_project();
    let id = store
        .insert_event(project, &push("k", "aaa"))
        .expect("insert")
        .id();
    let pipeline = store
        .create_pipeline(&NewPipeline {
            project_id: project,
            git_ref: "main".to_owned(),
            tag: false,
            sha: "aaa".to_owned(),
            before_sha: None,
            source: "push".to_owned(),
            status: PipelineStatus::Created,
            plan: json!({}),
            variables: Vec::new(),
            created_at: at(5),
        })
        .expect("pipeline");
    store
        .mark_event(id, EventState::Done, Some(pipeline), None)
        .expect("mark");
    assert_eq!(
        store.get_event(id).expect("event").pipeline_id,
        Some(pipeline)
    );
    let err = store
        .mark_event(EventId::new(77), EventState::Done, None, None)
        .expect_err("unknown");
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                kind: "event",
                id: 77
            }
        ),
        "{err}"
    );
}

#[test]
fn ref_heads_move_with_the_event_that_saw_them() {
    let (_dir, _path, store, project) = store_with_project();
    assert_eq!(
        store.ref_head(project, "refs/heads/main").expect("head"),
        None
    );
    let mut event = push("poll:refs/heads/main:aaa", "aaa");
    event.ref_head = Some(RefHead {
        git_ref: "refs/heads/main".to_owned(),
        sha: "aaa".to_owned(),
    });
    store.insert_event(project, &event).expect("insert");
    assert_eq!(
        store
            .ref_head(project, "refs/heads/main")
            .expect("head")
            .as_deref(),
        Some("aaa")
    );
    store
        .set_ref_head(project, "refs/heads/main", "bbb")
        .expect("set");
    assert_eq!(
        store
            .ref_head(project, "refs/heads/main")
            .expect("head")
            .as_deref(),
        Some("bbb")
    );
}

#[test]
fn a_failed_insert_moves_no_ref_head() {
    let (_dir, _path, store, project) = store_with_project();
    let mut event = push("k", "aaa");
    event.payload = json!("fine");
    event.ref_head = Some(RefHead {
        git_ref: "refs/heads/main".to_owned(),
        sha: "aaa".to_owned(),
    });
    // A payload SQLite's json_valid refuses cannot be built from a `Value`; use an unknown
    // project instead to make the transaction fail after the lookup.
    assert!(store.insert_event(ProjectId::new(42), &event).is_err());
    assert_eq!(
        store
            .ref_head(ProjectId::new(42), "refs/heads/main")
            .expect("head"),
        None
    );
    assert_eq!(
        store.ref_head(project, "refs/heads/main").expect("head"),
        None
    );
}

#[test]
fn a_pipeline_its_jobs_and_its_events_link_are_recorded_together_or_not_at_all() {
    use super::tests::{new_job, new_pipeline};
    let (_dir, _path, store, project) = store_with_project();
    let event = store.insert_event(project, &push("gitlab:1", "aaa")).expect("insert").id();
    let new = new_pipeline(project, 200);
    let jobs = |pipeline: PipelineId| vec![new_job(pipeline, "build"), new_job(pipeline, "test")];
    let unknown = store.create_pipeline_with_jobs(&new, Some(EventId::new(999)), &jobs);
    assert!(matches!(unknown, Err(StoreError::NotFound { kind: "event", .. })), "{unknown:?}");
    assert!(store.list_pipelines(None, 10).expect("pipelines").is_empty(), "nothing of it is left");

    let (pipeline, ids) = store.create_pipeline_with_jobs(&new, Some(event), &jobs).expect("create");
    let names: Vec<String> = store.jobs_of(pipeline).expect("jobs").into_iter().map(|j| j.name).collect();
    assert_eq!((ids.len(), names), (2, vec!["build".to_owned(), "test".to_owned()]));
    let linked = store.get_event(event).expect("event");
    assert_eq!((linked.state, linked.pipeline_id), (EventState::Pending, Some(pipeline)));
}
