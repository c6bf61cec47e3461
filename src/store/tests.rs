//! Store tests on real SQLite files in temporary directories.

use std::path::PathBuf;

use serde_json::json;
use tempfile::TempDir;

use super::*;

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

/// A store on a fresh file; keep the `TempDir` alive as long as the store.
fn temp_store() -> (TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sluice.db");
    let store = Store::open(&path).expect("open store");
    (dir, path, store)
}

pub(super) fn new_pipeline(project_id: ProjectId, created_at: i64) -> NewPipeline {
    NewPipeline {
        project_id,
        git_ref: "main".to_owned(),
        tag: false,
        sha: "0123456789abcdef0123456789abcdef01234567".to_owned(),
        before_sha: None,
        source: "push".to_owned(),
        status: PipelineStatus::Created,
        plan: json!({ "stages": ["build", "test"], "jobs": { "build": { "script": ["make"] } } }),
        variables: vec![
            PipelineVariable::new("CI_DEBUG", "false", false),
            PipelineVariable::new("DEPLOY_TOKEN", "glpat-s3cr3t-v4lue", true),
        ],
        created_at: at(created_at),
    }
}

pub(super) fn new_job(pipeline_id: PipelineId, name: &str) -> NewJob {
    NewJob {
        pipeline_id,
        name: name.to_owned(),
        stage: "build".to_owned(),
        status: JobStatus::Created,
        when: JobWhen::OnSuccess,
        allow_failure: false,
        attempt: 1,
        retry_of: None,
        resource_group: None,
        log_path: None,
        created_at: at(1_000),
    }
}

/// A store with one project, one pipeline and one `created` job.
fn with_job() -> (TempDir, PathBuf, Store, PipelineId, JobId) {
    let (dir, path, store) = temp_store();
    let project = store.ensure_project("acme/web", at(1)).expect("project");
    let pipeline = store
        .create_pipeline(&new_pipeline(project, 10))
        .expect("pipeline");
    let job = store.create_job(&new_job(pipeline, "build")).expect("job");
    (dir, path, store, pipeline, job)
}

fn status_of(store: &Store, job: JobId) -> JobStatus {
    store.get_job(job).expect("job").status
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn migrations_apply_on_a_fresh_file_and_are_idempotent_on_reopen() {
    let (_dir, path, store) = temp_store();
    let version = |store: &Store| -> i64 {
        store
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version")
    };
    assert_eq!(
        version(&store),
        i64::from(sqlite::migrate::latest_version())
    );
    let project = store.ensure_project("acme/web", at(1)).expect("project");
    drop(store);
    let store = Store::open(&path).expect("reopen");
    let store = {
        drop(store);
        Store::open(&path).expect("reopen twice")
    };
    assert_eq!(
        version(&store),
        i64::from(sqlite::migrate::latest_version())
    );
    assert_eq!(
        store
            .ensure_project("acme/web", at(2))
            .expect("same project"),
        project
    );
}

#[test]
fn wal_and_pragmas_are_on() {
    let (_dir, _path, store) = temp_store();
    let conn = store.conn();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let fk: i64 = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .expect("fk");
    assert_eq!(fk, 1);
    // 1 = NORMAL
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .expect("sync");
    assert_eq!(sync, 1);
}

#[test]
fn open_failure_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing-dir").join("sluice.db");
    let err = Store::open(&path).expect_err("parent does not exist");
    assert_eq!(
        err.to_string(),
        format!("cannot open store `{}`", path.display())
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn reopen_after_drop_sees_committed_data() {
    let (_dir, path, store, pipeline, job) = with_job();
    store
        .transition_job(job, JobStatus::Running, None, at(2_000))
        .expect("run");
    drop(store);
    let store = Store::open(&path).expect("reopen");
    let row = store.get_pipeline(pipeline).expect("pipeline");
    assert_eq!(row.project, "acme/web");
    assert_eq!(row.jobs.len(), 1);
    assert_eq!(row.jobs[0].status, JobStatus::Running);
    assert_eq!(row.jobs[0].started_at, Some(at(2_000)));
}

/// Every legal `from -> to`, written out independently of `JobStatus::can_transition_to`.
const ALLOWED: &[&str] = &[
    "created -> waiting_for_resource",
    "created -> preparing",
    "created -> pending",
    "created -> running",
    "created -> manual",
    "created -> scheduled",
    "created -> skipped",
    "created -> canceled",
    "created -> failed",
    "manual -> waiting_for_resource",
    "manual -> preparing",
    "manual -> pending",
    "manual -> running",
    "manual -> canceled",
    "scheduled -> waiting_for_resource",
    "scheduled -> preparing",
    "scheduled -> pending",
    "scheduled -> manual",
    "scheduled -> skipped",
    "scheduled -> canceled",
    "waiting_for_resource -> preparing",
    "waiting_for_resource -> pending",
    "waiting_for_resource -> running",
    "waiting_for_resource -> skipped",
    "waiting_for_resource -> canceled",
    "waiting_for_resource -> failed",
    "preparing -> pending",
    "preparing -> running",
    "preparing -> canceled",
    "preparing -> failed",
    "pending -> preparing",
    "pending -> running",
    "pending -> canceled",
    "pending -> failed",
    "running -> success",
    "running -> failed",
    "running -> canceled",
    // A retry re-opens the jobs a failure skipped (GitLab's `process` event).
    "skipped -> created",
];

/// Transitions that bring a new `created` job to `status`.
fn path_to(status: JobStatus) -> Vec<JobStatus> {
    match status {
        JobStatus::Created => vec![],
        JobStatus::Success => vec![JobStatus::Running, JobStatus::Success],
        other => vec![other],
    }
}

#[test]
fn every_transition_is_allowed_or_refused_by_the_state_machine() {
    let (_dir, _path, store, pipeline, _) = with_job();
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            let job = store.create_job(&new_job(pipeline, "probe")).expect("job");
            for step in path_to(*from) {
                store
                    .transition_job(job, step, None, at(2_000))
                    .expect("path to `from`");
            }
            let allowed = ALLOWED.contains(&format!("{from} -> {to}").as_str());
            let result = store.transition_job(job, *to, Some("probe"), at(3_000));
            match (allowed, result) {
                (true, Ok(())) => assert_eq!(status_of(&store, job), *to),
                (
                    false,
                    Err(StoreError::InvalidTransition {
                        job: j,
                        from: f,
                        to: t,
                    }),
                ) => {
                    assert_eq!((j, f, t), (job, *from, *to));
                    assert_eq!(
                        status_of(&store, job),
                        *from,
                        "refused change left no trace"
                    );
                }
                (allowed, result) => panic!("{from} -> {to}: allowed={allowed}, got {result:?}"),
            }
        }
    }
}

#[test]
fn a_refused_transition_names_both_states() {
    let (_dir, _path, store, _, job) = with_job();
    store
        .transition_job(job, JobStatus::Running, None, at(2_000))
        .expect("run");
    store
        .finish_job(job, JobStatus::Success, Some(0), None, at(3_000))
        .expect("finish");
    let err = store
        .transition_job(job, JobStatus::Running, None, at(4_000))
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!("job {job} cannot go from `success` to `running`")
    );
}

#[test]
fn transitions_are_recorded_in_order() {
    let (_dir, _path, store, _, job) = with_job();
    store
        .transition_job(job, JobStatus::Pending, None, at(2_000))
        .expect("pending");
    store
        .transition_job(job, JobStatus::Running, Some("slot free"), at(3_000))
        .expect("run");
    store
        .finish_job(
            job,
            JobStatus::Failed,
            Some(2),
            Some(FailureReason::ScriptFailure),
            at(4_500),
        )
        .expect("finish");
    let log: Vec<_> = store
        .transitions_of(job)
        .expect("transitions")
        .into_iter()
        .map(|t| (t.from, t.to, t.at.as_unix_millis(), t.reason))
        .collect();
    use JobStatus::{Created, Failed, Pending, Running};
    assert_eq!(
        log,
        vec![
            (None, Created, 1_000, Some("created".to_owned())),
            (Some(Created), Pending, 2_000, None),
            (Some(Pending), Running, 3_000, Some("slot free".to_owned())),
            (
                Some(Running),
                Failed,
                4_500,
                Some("script_failure".to_owned())
            ),
        ]
    );
    let row = store.get_job(job).expect("job");
    assert_eq!(row.exit_code, Some(2));
    assert_eq!(row.failure_reason, Some(FailureReason::ScriptFailure));
    assert_eq!(
        (row.started_at, row.finished_at),
        (Some(at(3_000)), Some(at(4_500)))
    );
    assert_eq!(row.duration_ms, Some(1_500));
}

#[test]
fn finish_job_refuses_a_status_that_is_not_final() {
    let (_dir, _path, store, _, job) = with_job();
    let err = store
        .finish_job(job, JobStatus::Running, None, None, at(2_000))
        .expect_err("no");
    assert!(matches!(err, StoreError::NotFinal { .. }), "{err}");
    assert_eq!(status_of(&store, job), JobStatus::Created);
}

/// Makes every insert into `job_transitions` fail, as a crash or error between the two
/// writes of a transition would.
fn break_transition_log(store: &Store) {
    store
        .conn()
        .execute_batch(
            "CREATE TRIGGER fail_transition BEFORE INSERT ON job_transitions
             BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
        )
        .expect("create trigger");
}

#[test]
fn an_interrupted_transition_leaves_nothing() {
    let (_dir, path, store, pipeline, job) = with_job();
    break_transition_log(&store);
    let err = store
        .transition_job(job, JobStatus::Running, None, at(2_000))
        .expect_err("fails");
    assert!(
        matches!(
            err,
            StoreError::Sqlite {
                action: "record job transition",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .create_job(&new_job(pipeline, "second"))
        .expect_err("fails");
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
    drop(store);
    // Reopen: what is on disk is what was committed.
    let store = Store::open(&path).expect("reopen");
    let row = store.get_job(job).expect("job");
    assert_eq!((row.status, row.started_at), (JobStatus::Created, None));
    assert_eq!(
        store.transitions_of(job).expect("log").len(),
        1,
        "only the creation record"
    );
    assert_eq!(
        store.jobs_of(pipeline).expect("jobs").len(),
        1,
        "the second job was not kept"
    );
}

#[test]
fn the_transition_log_is_append_only() {
    let (_dir, _path, store, _, job) = with_job();
    let result = store.conn().execute(
        "UPDATE job_transitions SET to_status = 'success' WHERE job_id = ?1",
        [job],
    );
    let err = result.expect_err("refused").to_string();
    assert!(err.contains("append-only"), "{err}");
}

#[test]
fn list_pipelines_is_newest_first_filtered_and_limited() {
    let (_dir, _path, store) = temp_store();
    let web = store.ensure_project("acme/web", at(1)).expect("project");
    let api = store.ensure_project("acme/api", at(1)).expect("project");
    let first = store.create_pipeline(&new_pipeline(web, 100)).expect("p1");
    let second = store.create_pipeline(&new_pipeline(api, 200)).expect("p2");
    let third = store.create_pipeline(&new_pipeline(web, 300)).expect("p3");
    // Same creation time as `third`: the later id is newer.
    let fourth = store.create_pipeline(&new_pipeline(web, 300)).expect("p4");
    store.create_job(&new_job(third, "build")).expect("job");
    store.create_job(&new_job(third, "test")).expect("job");

    let ids = |rows: Vec<PipelineRow>| rows.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_pipelines(None, 10).expect("all")),
        [fourth, third, second, first]
    );
    assert_eq!(
        ids(store.list_pipelines(Some("acme/web"), 10).expect("web")),
        [fourth, third, first]
    );
    assert_eq!(
        ids(store.list_pipelines(Some("acme/web"), 2).expect("limit")),
        [fourth, third]
    );
    assert!(
        store
            .list_pipelines(Some("nobody"), 10)
            .expect("none")
            .is_empty()
    );
    let listed = store
        .list_pipelines(Some("acme/web"), 2)
        .expect("with jobs");
    let names: Vec<_> = listed[1].jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["build", "test"]);
}

#[test]
fn plan_snapshot_and_variables_round_trip_without_masked_values() {
    let (_dir, _path, store) = temp_store();
    let project = store.ensure_project("acme/web", at(1)).expect("project");
    let mut new = new_pipeline(project, 10);
    new.plan = json!({
        "z_first": 1, "a_second": [true, null, 1.5, "x"],
        "nested": { "needs": [{ "job": "build", "artifacts": false }] }
    });
    new.before_sha = Some("fedcba".to_owned());
    new.tag = true;
    let id = store.create_pipeline(&new).expect("pipeline");
    let row = store.get_pipeline(id).expect("read");
    assert_eq!(row.plan, new.plan);
    // Key order is kept (serde_json's `preserve_order`), so snapshots diff cleanly.
    assert_eq!(row.plan.to_string(), new.plan.to_string());
    assert_eq!(row.variables, new.variables);
    assert_eq!(row.variables[1].value(), None);
    assert_eq!((row.tag, row.before_sha.as_deref()), (true, Some("fedcba")));
    let raw: String = store
        .conn()
        .query_row("SELECT variables FROM pipelines WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .expect("raw");
    assert!(!raw.contains("s3cr3t"), "{raw}");
}

#[test]
fn pipeline_status_stamps_start_finish_and_duration() {
    let (_dir, _path, store, pipeline, _) = with_job();
    store
        .set_pipeline_status(pipeline, PipelineStatus::Running, at(2_000))
        .expect("running");
    store
        .set_pipeline_status(pipeline, PipelineStatus::Failed, at(5_000))
        .expect("failed");
    let row = store.get_pipeline(pipeline).expect("read");
    assert_eq!(row.status, PipelineStatus::Failed);
    assert_eq!(
        (row.started_at, row.finished_at, row.duration_ms),
        (Some(at(2_000)), Some(at(5_000)), Some(3_000))
    );
    // A retry brings it back to running: the start stays, the finish is cleared.
    store
        .set_pipeline_status(pipeline, PipelineStatus::Running, at(6_000))
        .expect("retry");
    let row = store.get_pipeline(pipeline).expect("read");
    assert_eq!(
        (row.started_at, row.finished_at, row.duration_ms),
        (Some(at(2_000)), None, None)
    );
}

#[test]
fn running_jobs_carry_their_process_for_recovery() {
    let (_dir, _path, store, pipeline, job) = with_job();
    let idle = store.create_job(&new_job(pipeline, "idle")).expect("job");
    let done = store.create_job(&new_job(pipeline, "done")).expect("job");
    store
        .transition_job(job, JobStatus::Running, None, at(2_000))
        .expect("run");
    let process = ProcessRecord {
        pid: 4242,
        pgid: 4242,
        start_time: 987_654_321,
    };
    store.record_process(job, process).expect("process");
    store
        .set_log_path(job, std::path::Path::new("/data/logs/1/1.log"))
        .expect("log path");
    store
        .transition_job(done, JobStatus::Running, None, at(2_000))
        .expect("run");
    store
        .finish_job(done, JobStatus::Canceled, None, None, at(2_500))
        .expect("cancel");

    let running = store.running_jobs().expect("running");
    assert_eq!(running.iter().map(|j| j.id).collect::<Vec<_>>(), [job]);
    assert_eq!(running[0].process, Some(process));
    assert_eq!(
        running[0].log_path.as_deref(),
        Some(std::path::Path::new("/data/logs/1/1.log"))
    );
    assert_eq!(status_of(&store, idle), JobStatus::Created);
}

#[test]
fn retries_are_new_jobs_linked_to_the_previous_attempt() {
    let (_dir, _path, store, pipeline, job) = with_job();
    store
        .transition_job(job, JobStatus::Running, None, at(2_000))
        .expect("run");
    store
        .finish_job(
            job,
            JobStatus::Failed,
            None,
            Some(FailureReason::RunnerSystemFailure),
            at(3_000),
        )
        .expect("fail");
    let retry = NewJob {
        attempt: 2,
        retry_of: Some(job),
        ..new_job(pipeline, "build")
    };
    let second = store.create_job(&retry).expect("retry");
    let row = store.get_job(second).expect("read");
    assert_eq!(
        (row.attempt, row.retry_of, row.status),
        (2, Some(job), JobStatus::Created)
    );
}

#[test]
fn missing_rows_and_bad_initial_statuses_are_clear_errors() {
    let (_dir, _path, store, pipeline, _) = with_job();
    let ghost = JobId::new(9_999);
    let err = store
        .transition_job(ghost, JobStatus::Running, None, at(1))
        .expect_err("missing");
    assert_eq!(err.to_string(), "job 9999 not found");
    let err = store
        .get_pipeline(PipelineId::new(77))
        .expect_err("missing");
    assert_eq!(err.to_string(), "pipeline 77 not found");
    let err = store
        .create_job(&new_job(PipelineId::new(77), "x"))
        .expect_err("missing");
    assert_eq!(err.to_string(), "pipeline 77 not found");
    let err = store
        .create_pipeline(&new_pipeline(ProjectId::new(55), 1))
        .expect_err("missing project");
    assert_eq!(err.to_string(), "project 55 not found");
    let bad = NewJob {
        status: JobStatus::Running,
        ..new_job(pipeline, "x")
    };
    let err = store.create_job(&bad).expect_err("not initial");
    assert_eq!(err.to_string(), "a job cannot be created as `running`");
    assert!(
        store
            .record_process(
                ghost,
                ProcessRecord {
                    pid: 1,
                    pgid: 1,
                    start_time: 1
                }
            )
            .is_err()
    );
}

#[test]
fn in_memory_store_works_for_tests() {
    let store = Store::open_in_memory().expect("memory");
    let project = store.ensure_project("p", at(1)).expect("project");
    let id = store
        .create_pipeline(&new_pipeline(project, 1))
        .expect("pipeline");
    assert_eq!(store.get_pipeline(id).expect("read").id, id);
    assert_eq!(store.location(), std::path::Path::new(":memory:"));
}

#[test]
fn two_handles_on_one_file_write_concurrently_without_losing_anything() {
    // Two `Store`s on one file behave like two processes: BEGIN IMMEDIATE plus the busy
    // timeout serialise their writers instead of failing with "database is locked".
    let (_dir, path, store, pipeline, _) = with_job();
    let other = std::sync::Arc::new(Store::open(&path).expect("second handle"));
    let store = std::sync::Arc::new(store);
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let handle = if worker % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            std::thread::spawn(move || {
                for n in 0..10 {
                    let job = handle
                        .create_job(&new_job(pipeline, &format!("w{worker}-{n}")))
                        .expect("create");
                    handle
                        .transition_job(job, JobStatus::Running, None, at(2_000))
                        .expect("run");
                    handle
                        .finish_job(job, JobStatus::Success, Some(0), None, at(3_000))
                        .expect("finish");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    let jobs = other.jobs_of(pipeline).expect("jobs");
    assert_eq!(jobs.len(), 41);
    let finished = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Success)
        .count();
    assert_eq!(finished, 40);
    for job in jobs.iter().filter(|j| j.status == JobStatus::Success) {
        assert_eq!(store.transitions_of(job.id).expect("log").len(), 3);
    }
}
