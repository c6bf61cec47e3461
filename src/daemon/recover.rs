//! Crash recovery at start-up: pipelines a previous process left unfinished, and their jobs
//! left `preparing` or `running`.
//!
//! For each such job, its recorded process group is killed, but only if the recorded
//! leader is still the same process (its start time in `/proc/<pid>/stat` matches the
//! stored one), so a reused pid is never hit; a job that ran in a container also has its
//! container removed by name. The job is marked `failed` with the failure
//! reason `runner_system_failure` and the message "controller restarted". Then every
//! pipeline that has neither ended nor rests on a manual job (`created`, `pending`,
//! `running`, …: the process died during its run, whether a job ran or not) is resumed by
//! one `retry` event ([`Store::enqueue_resume`], which marks the event that started it, or a
//! re-run the crash interrupted, `done`): the interrupted jobs whose `retry:` (from the
//! pipeline's plan snapshot) allows `runner_system_failure` (a bare `retry: N` does) get a
//! new attempt that starts, the jobs that ended keep their results, artifacts and dotenv
//! variables, and the jobs that waited (`created`, `pending`, …) run as their results allow,
//! as if the controller had never stopped; an interrupted job that may not be retried stays
//! `failed` and the pipeline goes on as after any failure. A pipeline whose cancel the API
//! recorded before the restart is `canceled` instead, and none of its jobs is retried. A
//! child pipeline (`trigger: include`) cannot be reattached to its parent's trigger job: it
//! ends `failed` (the trigger job, interrupted too, is retried as its `retry:` allows).

use std::collections::BTreeMap;

use super::cancel::cancel_in_store;
use crate::ci::context::PipelineSource;
use crate::ci::pipeline::Retry;
use crate::executor::container::{container_name, remove_containers};
use crate::executor::process_group::start_time;
use crate::run::log::file_name;
use crate::run::retry::should_retry;
use crate::store::{
    FailureReason, JobRow, JobStatus, PipelineId, PipelineStatus, Store, StoreError, Timestamp,
};

/// The message recorded with every job failed by recovery.
pub const RESTART_MESSAGE: &str = "controller restarted";

/// Settles every job a previous process left running, and queues one event per pipeline it
/// left unfinished that resumes it with the retries its jobs' `retry:` allows; a pipeline
/// whose cancel was requested is canceled instead. Ends the leases of the publication
/// claims that process held, so a retried publish job resumes at once. Returns how many
/// jobs it settled.
///
/// # Guarantees
///
/// Afterwards no job is `running` or `preparing`, and every unfinished pipeline has exactly
/// one `pending` event that resumes it. Running it again (a crash during recovery) settles
/// what is left the same way.
///
/// # Errors
///
/// [`StoreError`] when the store cannot be read or written.
pub fn settle_interrupted_jobs(store: &Store) -> Result<usize, StoreError> {
    let jobs = store.running_jobs()?;
    let now = Timestamp::now();
    let mut retried: BTreeMap<PipelineId, Vec<&JobRow>> = BTreeMap::new();
    for job in &jobs {
        if let Some(process) = job.process
            && process.start_time != 0
            && start_time(process.pid) == Some(process.start_time)
        {
            kill_group(process.pgid);
            tracing::warn!(
                job = job.id.get(),
                pgid = process.pgid,
                "killed the process group of an interrupted job"
            );
        }
        remove_container(store, job)?;
        if store.cancel_requested(job.pipeline_id)? {
            // Its cancel was recorded before the restart: it ends as asked, not as a failure.
            continue;
        }
        store.fail_job(job.id, FailureReason::RunnerSystemFailure, RESTART_MESSAGE, now)?;
        tracing::warn!(job = job.id.get(), name = %job.name, "job interrupted by a restart marked failed");
        if retry_allowed(store, job)? {
            retried.entry(job.pipeline_id).or_default().push(job);
        }
    }
    for pipeline in store.unfinished_pipelines()? {
        if store.cancel_requested(pipeline)? {
            cancel_in_store(store, pipeline)?;
            tracing::warn!(pipeline = pipeline.get(), "pipeline whose cancel was requested before the restart canceled");
        } else if store.get_pipeline(pipeline)?.source == PipelineSource::ParentPipeline.as_str() {
            fail_pipeline(store, pipeline, now)?;
            tracing::warn!(pipeline = pipeline.get(), "child pipeline interrupted by a restart failed");
        } else {
            queue_resume(store, pipeline, retried.get(&pipeline).map_or(&[][..], Vec::as_slice), now)?;
        }
    }
    let freed = store.end_publication_leases(now)?;
    if freed > 0 {
        tracing::warn!(claims = freed, "publications a previous process left unfinished may be taken over by a retry at once");
    }
    Ok(jobs.len())
}

/// Whether `job`'s `retry:` in its pipeline's plan snapshot allows another attempt after a
/// `runner_system_failure`.
fn retry_allowed(store: &Store, job: &JobRow) -> Result<bool, StoreError> {
    let plan = store.get_pipeline(job.pipeline_id)?.plan;
    let retry = plan["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["name"].as_str() == Some(job.name.as_str())))
        .and_then(|planned| retry_of(&planned["retry"]));
    Ok(should_retry(retry.as_ref(), job.attempt, FailureReason::RunnerSystemFailure, None))
}

/// A `retry:` read back from a plan snapshot; `None` when the job has none.
fn retry_of(value: &serde_json::Value) -> Option<Retry> {
    let strings = |key: &str| -> Vec<String> {
        value[key].as_array().map_or_else(Vec::new, |items| items.iter().filter_map(|w| w.as_str().map(str::to_owned)).collect())
    };
    let exit_codes = value["exit_codes"].as_array().map_or_else(Vec::new, |codes| {
        codes.iter().filter_map(|c| c.as_i64().and_then(|c| i32::try_from(c).ok())).collect()
    });
    Some(Retry {
        max: u32::try_from(value["max"].as_u64()?).ok()?,
        when: strings("when"),
        exit_codes,
    })
}

/// Queues the event that resumes `pipeline`, with new attempts of its interrupted `jobs`.
fn queue_resume(store: &Store, pipeline: PipelineId, jobs: &[&JobRow], now: Timestamp) -> Result<(), StoreError> {
    let log_paths: Vec<Option<std::path::PathBuf>> = jobs
        .iter()
        .map(|job| {
            let dir = job.log_path.as_deref().and_then(std::path::Path::parent)?;
            Some(dir.join(file_name(&job.name, job.attempt + 1)))
        })
        .collect();
    let attempts: Vec<_> = jobs.iter().zip(&log_paths).map(|(job, path)| (job.id, path.as_deref())).collect();
    let event = store.enqueue_resume(pipeline, &attempts, now)?;
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    tracing::info!(pipeline = pipeline.get(), event = event.get(), retried = ?names, "pipeline interrupted by a restart resumes; interrupted jobs retried as their `retry:` allows");
    Ok(())
}

/// Ends a pipeline that cannot go on: its unfinished jobs are `canceled` (with the restart
/// noted) and the pipeline is `failed`.
pub(super) fn fail_pipeline(store: &Store, pipeline: PipelineId, now: Timestamp) -> Result<(), StoreError> {
    for job in store.jobs_of(pipeline)? {
        if !job.status.is_final() && job.status.can_transition_to(JobStatus::Canceled) {
            store.transition_job(job.id, JobStatus::Canceled, Some(RESTART_MESSAGE), now)?;
        }
    }
    store.set_pipeline_status(pipeline, PipelineStatus::Failed, now)
}

/// Removes the containers of an interrupted job that ran in one (its `image:` in the plan
/// snapshot), with those of its `services:`: they outlive the engine's CLI, which
/// [`kill_group`] ended.
fn remove_container(store: &Store, job: &JobRow) -> Result<(), StoreError> {
    let plan = store.get_pipeline(job.pipeline_id)?.plan;
    let planned = plan["jobs"].as_array().and_then(|jobs| jobs.iter().find(|j| j["name"].as_str() == Some(job.name.as_str())));
    if let Some(planned) = planned.filter(|planned| !planned["image"].is_null()) {
        let services = planned["services"].as_array().map_or(0, Vec::len);
        let name = container_name(store.location(), job.pipeline_id.get(), job.id.get(), job.attempt);
        remove_containers(&name, services);
    }
    Ok(())
}

/// SIGKILL to a whole process group; a group that is gone already is fine.
fn kill_group(pgid: u32) {
    let Some(pgid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) else {
        return;
    };
    let _gone_is_fine = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventState, JobId, ProcessRecord};

    /// A running pipeline with one `created` job per name.
    fn running_pipeline(store: &Store, names: &[&str]) -> (PipelineId, Vec<JobId>) {
        planned_pipeline(store, names, serde_json::json!({}))
    }

    /// A running pipeline planned as `plan`, with one `created` job per name.
    fn planned_pipeline(
        store: &Store,
        names: &[&str],
        plan: serde_json::Value,
    ) -> (PipelineId, Vec<JobId>) {
        crate::daemon::test_pipeline::running_pipeline(store, "main", "a", plan, names)
    }

    #[test]
    fn our_own_start_time_is_readable() {
        assert!(start_time(std::process::id()).is_some_and(|t| t > 0));
    }

    #[test]
    fn a_publication_claim_left_by_the_previous_process_can_be_taken_over_at_once() {
        use crate::store::{Claim, NewPublication};
        let store = Store::open_in_memory().expect("store");
        let new = NewPublication {
            app: "hello".to_owned(),
            version: "1.2.3".to_owned(),
            sha: "a".repeat(40),
            image: "127.0.0.1:5000/hello:1.2.3".to_owned(),
            pipeline_id: None,
        };
        let lease = std::time::Duration::from_secs(900);
        let claim = |store: &Store| store.claim_publication(&new, lease, Timestamp::now()).expect("claim");
        assert!(matches!(claim(&store), Claim::Won(_)));
        assert!(matches!(claim(&store), Claim::Held(_)), "a live lease holds the claim");
        settle_interrupted_jobs(&store).expect("recovery");
        match claim(&store) {
            Claim::Won(row) => assert_eq!(row.attempt, 2),
            Claim::Held(row) => panic!("recovery left the claim held: {row:?}"),
        }
    }

    /// The event that started `pipeline`, linked to it and still `pending` (the process died
    /// during its run).
    fn started_by_an_event(store: &Store, pipeline: PipelineId) -> crate::store::EventId {
        use crate::store::NewEvent;
        let project = store.ensure_project("demo", Timestamp::from_unix_millis(1)).expect("project");
        let new = NewEvent {
            dedup_key: format!("push-{}", pipeline.get()),
            source: "poll".into(),
            kind: "push".into(),
            git_ref: "refs/heads/main".into(),
            // One tip per pipeline: a second push of the same tip would be a duplicate.
            sha: Some(format!("{:040}", pipeline.get())),
            before_sha: None,
            fetch_ref: None,
            payload: serde_json::json!({}),
            received_at: Timestamp::from_unix_millis(1),
            ref_head: None,
        };
        let id = store.insert_event(project, &new).expect("event").id();
        store.mark_event(id, EventState::Pending, Some(pipeline), None).expect("link");
        id
    }

    /// The `pending` events that would run `pipeline` again (not cancels).
    fn resumes(store: &Store, pipeline: PipelineId) -> Vec<crate::store::EventRow> {
        let pending = store.pending_events(100).expect("events");
        pending.into_iter().filter(|e| e.pipeline_id == Some(pipeline) && e.kind != "cancel").collect()
    }

    #[test]
    fn a_running_job_is_failed_and_its_pipeline_resumes_without_it() {
        let store = Store::open_in_memory().expect("store");
        let at = Timestamp::from_unix_millis;
        let (pipeline, jobs) = running_pipeline(&store, &["a", "b"]);
        let origin = started_by_an_event(&store, pipeline);
        let (running, waiting) = (jobs[0], jobs[1]);
        store
            .transition_job(running, JobStatus::Running, None, at(4))
            .expect("running");
        // A pid that cannot be ours with a start time that cannot match: nothing is killed.
        let process = ProcessRecord {
            pid: 999_999_999,
            pgid: 999_999_999,
            start_time: 1,
        };
        store.record_process(running, process).expect("process");
        assert_eq!(settle_interrupted_jobs(&store).expect("settle"), 1);
        let failed = store.get_job(running).expect("job");
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.failure_reason, Some(FailureReason::RunnerSystemFailure));
        let last = store.transitions_of(running).expect("transitions").pop().expect("one");
        assert_eq!(last.reason.as_deref(), Some(RESTART_MESSAGE));
        // Not retried (no `retry:`), the failure is the pipeline's to decide when it resumes.
        assert_eq!(store.get_job(waiting).expect("job").status, JobStatus::Created);
        let resumes = resumes(&store, pipeline);
        assert_eq!(resumes.len(), 1, "{resumes:?}");
        assert_eq!(resumes[0].payload, serde_json::json!({ "pipeline": pipeline.get(), "jobs": [] }));
        assert_ne!(resumes[0].id, origin, "the event that started it is done: {resumes:?}");
        assert_eq!(store.get_event(origin).expect("event").state, EventState::Done);
    }

    #[test]
    fn a_pipeline_interrupted_between_two_jobs_resumes_from_where_it_was() {
        let store = Store::open_in_memory().expect("store");
        let at = Timestamp::from_unix_millis;
        let (pipeline, jobs) = running_pipeline(&store, &["a", "b", "c"]);
        let origin = started_by_an_event(&store, pipeline);
        let (done, next) = (jobs[0], jobs[1]);
        store.transition_job(done, JobStatus::Running, None, at(4)).expect("running");
        store.finish_job(done, JobStatus::Success, Some(0), None, at(5)).expect("success");
        store.transition_job(next, JobStatus::Pending, None, at(6)).expect("pending");
        // Nothing was running when the process died: no job is settled …
        assert_eq!(settle_interrupted_jobs(&store).expect("settle"), 0);
        // … and every job stays as recorded, for one event that resumes the pipeline.
        let statuses: Vec<JobStatus> = store.jobs_of(pipeline).expect("jobs").iter().map(|j| j.status).collect();
        assert_eq!(statuses, [JobStatus::Success, JobStatus::Pending, JobStatus::Created]);
        assert_eq!(store.get_pipeline(pipeline).expect("pipeline").status, PipelineStatus::Running);
        let first = resumes(&store, pipeline);
        assert_eq!(first.len(), 1, "{first:?}");
        assert_eq!(store.get_event(origin).expect("event").state, EventState::Done);
        // A crash before the worker took it: recovery again leaves one event, a new one.
        settle_interrupted_jobs(&store).expect("again");
        let second = resumes(&store, pipeline);
        assert_eq!(second.len(), 1, "{second:?}");
        assert_ne!(second[0].id, first[0].id);
    }

    #[test]
    fn a_play_the_crash_caught_before_its_job_started_is_carried_by_the_resuming_event() {
        use crate::store::RerunKind;
        let store = Store::open_in_memory().expect("store");
        let at = Timestamp::from_unix_millis;
        let (pipeline, jobs) = running_pipeline(&store, &["build", "deploy"]);
        started_by_an_event(&store, pipeline);
        store.transition_job(jobs[0], JobStatus::Running, None, at(4)).expect("running");
        store.finish_job(jobs[0], JobStatus::Success, Some(0), None, at(5)).expect("success");
        store.transition_job(jobs[1], JobStatus::Manual, None, at(5)).expect("manual");
        store.set_pipeline_status(pipeline, PipelineStatus::Manual, at(6)).expect("blocked");
        let play = store.enqueue_rerun(RerunKind::Play, jobs[1], None, at(7)).expect("play").event;
        // The worker set the pipeline running, and the process died before `deploy` started.
        store.set_pipeline_status(pipeline, PipelineStatus::Running, at(8)).expect("running");
        settle_interrupted_jobs(&store).expect("settle");
        let resumes = resumes(&store, pipeline);
        assert_eq!(resumes.len(), 1, "{resumes:?}");
        assert_eq!(resumes[0].payload["jobs"], serde_json::json!([jobs[1].get()]));
        assert_eq!(store.get_event(play).expect("event").state, EventState::Done);
    }

    #[test]
    fn ended_and_resting_pipelines_are_left_as_they_are() {
        let store = Store::open_in_memory().expect("store");
        for status in [PipelineStatus::Success, PipelineStatus::Canceled, PipelineStatus::Manual] {
            let (pipeline, _) = running_pipeline(&store, &["a"]);
            store.set_pipeline_status(pipeline, status, Timestamp::from_unix_millis(5)).expect("status");
            started_by_an_event(&store, pipeline);
            settle_interrupted_jobs(&store).expect("settle");
            assert_eq!(store.get_pipeline(pipeline).expect("pipeline").status, status);
            let pending = resumes(&store, pipeline);
            assert!(pending.iter().all(|e| e.kind == "push"), "{status}: only its own event, for the worker to mark: {pending:?}");
        }
    }

    #[test]
    fn a_pipeline_whose_cancel_was_requested_is_canceled_even_between_two_jobs() {
        let store = Store::open_in_memory().expect("store");
        let (pipeline, jobs) = running_pipeline(&store, &["a", "b"]);
        started_by_an_event(&store, pipeline);
        let at = Timestamp::from_unix_millis;
        store.transition_job(jobs[0], JobStatus::Running, None, at(4)).expect("running");
        store.finish_job(jobs[0], JobStatus::Success, Some(0), None, at(5)).expect("success");
        store.request_cancel(pipeline, at(6)).expect("cancel");
        settle_interrupted_jobs(&store).expect("settle");
        assert_eq!(store.get_pipeline(pipeline).expect("pipeline").status, PipelineStatus::Canceled);
        assert_eq!(store.get_job(jobs[1]).expect("job").status, JobStatus::Canceled);
        assert!(resumes(&store, pipeline).iter().all(|e| e.kind == "push"), "nothing resumes it");
    }

    #[test]
    fn a_cancel_of_an_earlier_run_does_not_cancel_a_retried_pipeline() {
        use crate::store::RerunKind;
        let store = Store::open_in_memory().expect("store");
        let at = Timestamp::from_unix_millis;
        let (pipeline, jobs) = running_pipeline(&store, &["a"]);
        started_by_an_event(&store, pipeline);
        let cancel = store.request_cancel(pipeline, at(4)).expect("cancel").id();
        store.mark_event(cancel, EventState::Done, Some(pipeline), None).expect("carried out");
        store.transition_job(jobs[0], JobStatus::Canceled, None, at(5)).expect("canceled");
        store.set_pipeline_status(pipeline, PipelineStatus::Canceled, at(5)).expect("canceled");
        let retry = store.enqueue_rerun(RerunKind::Retry, jobs[0], None, at(6)).expect("retry");
        store.set_pipeline_status(pipeline, PipelineStatus::Running, at(7)).expect("running");
        store.transition_job(retry.job, JobStatus::Running, None, at(8)).expect("running");
        settle_interrupted_jobs(&store).expect("settle");
        assert_eq!(store.get_job(retry.job).expect("job").status, JobStatus::Failed);
        assert_eq!(store.get_pipeline(pipeline).expect("pipeline").status, PipelineStatus::Running);
        assert_eq!(resumes(&store, pipeline).len(), 1, "it resumes");
    }

    #[test]
    fn a_child_pipeline_is_failed_not_resumed() {
        use crate::store::{NewPipeline, ProjectId};
        let store = Store::open_in_memory().expect("store");
        let project: ProjectId = store.ensure_project("demo", Timestamp::from_unix_millis(1)).expect("project");
        let child = store
            .create_pipeline(&NewPipeline {
                project_id: project,
                git_ref: "main".into(),
                tag: false,
                sha: "a".into(),
                before_sha: None,
                source: "parent_pipeline".into(),
                status: PipelineStatus::Running,
                plan: serde_json::json!({}),
                variables: Vec::new(),
                created_at: Timestamp::from_unix_millis(2),
            })
            .expect("child");
        settle_interrupted_jobs(&store).expect("settle");
        assert_eq!(store.get_pipeline(child).expect("pipeline").status, PipelineStatus::Failed);
        assert!(resumes(&store, child).is_empty());
    }

    #[test]
    fn only_jobs_whose_retry_allows_a_runner_failure_are_retried() {
        let store = Store::open_in_memory().expect("store");
        let at = Timestamp::from_unix_millis;
        let plan = |retry: serde_json::Value| serde_json::json!({ "jobs": [{ "name": "a", "retry": retry }] });
        let cases = [
            (plan(serde_json::json!({ "max": 1 })), true),
            (plan(serde_json::json!({ "max": 2, "when": ["runner_system_failure"] })), true),
            (plan(serde_json::json!({ "max": 2, "when": ["script_failure"] })), false),
            (plan(serde_json::json!({ "max": 2, "exit_codes": [137] })), false),
            (serde_json::json!({ "jobs": [{ "name": "a" }] }), false),
        ];
        for (plan, retried) in cases {
            let shown = plan.to_string();
            let (pipeline, jobs) = planned_pipeline(&store, &["a"], plan);
            store.transition_job(jobs[0], JobStatus::Running, None, at(4)).expect("running");
            settle_interrupted_jobs(&store).expect("settle");
            let attempts: Vec<(u32, JobStatus)> = store.jobs_of(pipeline).expect("jobs").iter().map(|j| (j.attempt, j.status)).collect();
            let expected = if retried {
                vec![(1, JobStatus::Failed), (2, JobStatus::Created)]
            } else {
                vec![(1, JobStatus::Failed)]
            };
            assert_eq!(attempts, expected, "{shown}");
        }
    }

    #[test]
    fn every_interrupted_job_of_a_pipeline_is_retried_by_one_event_and_the_waiting_jobs_stay() {
        let store = Store::open_in_memory().expect("store");
        let at = Timestamp::from_unix_millis;
        let plan = serde_json::json!({ "jobs": [
            { "name": "a", "retry": { "max": 1 } },
            { "name": "b", "retry": { "max": 1 } },
            { "name": "c" },
        ] });
        let (pipeline, jobs) = planned_pipeline(&store, &["a", "b", "c"], plan);
        for &job in &jobs[..2] {
            store.transition_job(job, JobStatus::Running, None, at(4)).expect("running");
        }
        assert_eq!(settle_interrupted_jobs(&store).expect("settle"), 2);
        let rows: Vec<(String, u32, JobStatus)> =
            store.jobs_of(pipeline).expect("jobs").into_iter().map(|j| (j.name, j.attempt, j.status)).collect();
        let expected = [("a", 1, JobStatus::Failed), ("b", 1, JobStatus::Failed), ("c", 1, JobStatus::Created), ("a", 2, JobStatus::Created), ("b", 2, JobStatus::Created)];
        let expected: Vec<(String, u32, JobStatus)> = expected.iter().map(|(n, a, s)| ((*n).to_owned(), *a, *s)).collect();
        assert_eq!(rows, expected);
        let reruns = resumes(&store, pipeline);
        assert_eq!(reruns.len(), 1, "{reruns:?}");
        assert_eq!(reruns[0].kind, "retry");
        let attempts: Vec<i64> = store.jobs_of(pipeline).expect("jobs").iter().filter(|j| j.attempt == 2).map(|j| j.id.get()).collect();
        assert_eq!(reruns[0].payload["jobs"], serde_json::json!(attempts));
        assert_eq!(reruns[0].payload["pipeline"], serde_json::json!(pipeline.get()));
    }
}
