//! Crash recovery at start-up: jobs a previous process left `preparing` or `running`.
//!
//! For each such job, its recorded process group is killed, but only if the recorded
//! leader is still the same process (its start time in `/proc/<pid>/stat` matches the
//! stored one), so a reused pid is never hit. The job is marked `failed` with the failure
//! reason `runner_system_failure` and the message "controller restarted"; jobs of the same
//! pipeline that had not started are `canceled`, and the pipeline is `failed`. Retrying per
//! the job's `retry:` is not done yet.

use std::collections::BTreeSet;

use crate::executor::process_group::start_time;
use crate::store::{FailureReason, JobStatus, PipelineId, PipelineStatus, Store, StoreError, Timestamp};

/// The message recorded with every job failed by recovery.
pub const RESTART_MESSAGE: &str = "controller restarted";

/// Settles every job a previous process left running; returns how many it failed.
///
/// # Errors
///
/// [`StoreError`] when the store cannot be read or written.
pub fn settle_interrupted_jobs(store: &Store) -> Result<usize, StoreError> {
    let jobs = store.running_jobs()?;
    let now = Timestamp::now();
    let mut pipelines = BTreeSet::new();
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
        store.fail_job(job.id, FailureReason::RunnerSystemFailure, RESTART_MESSAGE, now)?;
        tracing::warn!(job = job.id.get(), name = %job.name, "job interrupted by a restart marked failed");
        pipelines.insert(job.pipeline_id);
    }
    for pipeline in pipelines {
        fail_pipeline(store, pipeline, now)?;
    }
    Ok(jobs.len())
}

/// Settles a pipeline that a previous process was running when it died, even between two
/// jobs (no job running, later ones not started): its unfinished jobs are `canceled` and the
/// pipeline `failed`, with the restart noted. A pipeline that already ended, or rests as
/// `manual` (blocked), is left as it is. Returns whether it was settled.
///
/// # Errors
///
/// [`StoreError`] when the store cannot be read or written.
pub fn settle_pipeline(store: &Store, pipeline: PipelineId) -> Result<bool, StoreError> {
    use PipelineStatus as P;
    let unfinished = matches!(
        store.get_pipeline(pipeline)?.status,
        P::Created | P::WaitingForResource | P::Preparing | P::Pending | P::Running | P::Scheduled
    );
    if unfinished {
        fail_pipeline(store, pipeline, Timestamp::now())?;
    }
    Ok(unfinished)
}

fn fail_pipeline(store: &Store, pipeline: PipelineId, now: Timestamp) -> Result<(), StoreError> {
    for job in store.jobs_of(pipeline)? {
        if !job.status.is_final() && job.status.can_transition_to(JobStatus::Canceled) {
            store.transition_job(job.id, JobStatus::Canceled, Some(RESTART_MESSAGE), now)?;
        }
    }
    store.set_pipeline_status(pipeline, PipelineStatus::Failed, now)
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
    use crate::store::{JobWhen, NewJob, NewPipeline, ProcessRecord};

    /// A running pipeline with one `created` job per name.
    fn running_pipeline(store: &Store, names: &[&str]) -> (crate::store::PipelineId, Vec<crate::store::JobId>) {
        let at = Timestamp::from_unix_millis;
        let project = store.ensure_project("demo", at(1)).expect("project");
        let pipeline = store
            .create_pipeline(&NewPipeline {
                project_id: project,
                git_ref: "main".into(),
                tag: false,
                sha: "a".into(),
                before_sha: None,
                source: "push".into(),
                status: PipelineStatus::Running,
                plan: serde_json::json!({}),
                variables: Vec::new(),
                created_at: at(2),
            })
            .expect("pipeline");
        let jobs = names
            .iter()
            .map(|name| {
                let job = NewJob {
                    pipeline_id: pipeline,
                    name: (*name).into(),
                    stage: "test".into(),
                    status: JobStatus::Created,
                    when: JobWhen::OnSuccess,
                    allow_failure: false,
                    attempt: 1,
                    retry_of: None,
                    resource_group: None,
                    log_path: None,
                    created_at: at(3),
                };
                store.create_job(&job).expect("job")
            })
            .collect();
        (pipeline, jobs)
    }

    #[test]
    fn our_own_start_time_is_readable() {
        assert!(start_time(std::process::id()).is_some_and(|t| t > 0));
    }

    #[test]
    fn running_jobs_are_failed_and_their_pipeline_too() {
        let store = Store::open_in_memory().expect("store");
        let at = Timestamp::from_unix_millis;
        let (pipeline, jobs) = running_pipeline(&store, &["a", "b"]);
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
        assert_eq!(store.get_job(waiting).expect("job").status, JobStatus::Canceled);
        assert_eq!(
            store.get_pipeline(pipeline).expect("pipeline").status,
            PipelineStatus::Failed
        );
        assert_eq!(settle_interrupted_jobs(&store).expect("again"), 0);
    }

    #[test]
    fn a_pipeline_interrupted_between_two_jobs_is_settled() {
        let store = Store::open_in_memory().expect("store");
        let at = Timestamp::from_unix_millis;
        let (pipeline, jobs) = running_pipeline(&store, &["a", "b"]);
        let (done, next) = (jobs[0], jobs[1]);
        store.transition_job(done, JobStatus::Running, None, at(4)).expect("running");
        store.finish_job(done, JobStatus::Success, Some(0), None, at(5)).expect("success");
        // Nothing was running when the process died: job recovery has nothing to do …
        assert_eq!(settle_interrupted_jobs(&store).expect("settle"), 0);
        // … and the pipeline is settled when its event comes back.
        assert!(settle_pipeline(&store, pipeline).expect("settle pipeline"));
        assert_eq!(store.get_job(done).expect("job").status, JobStatus::Success);
        assert_eq!(store.get_job(next).expect("job").status, JobStatus::Canceled);
        assert_eq!(store.get_pipeline(pipeline).expect("pipeline").status, PipelineStatus::Failed);
        assert!(!settle_pipeline(&store, pipeline).expect("again"), "an ended pipeline is left as it is");
    }
}
