//! What the runner reports while it works, for the CLI to print and (later) the daemon to
//! stream: a job started, printed a line, finished. Output lines are already masked.
//!
//! Calls come from the runner's task, in order per job; an implementation must return quickly
//! (print, or forward to a channel) and must not block on the runner.

use std::path::PathBuf;
use std::time::Duration;

use crate::store::{FailureReason, JobId, JobStatus, PipelineId};

/// Which job an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The pipeline the job belongs to (a child pipeline has its own).
    pub pipeline_id: PipelineId,
    /// The job's row in the store (a retry has a new one).
    pub job_id: JobId,
    /// The job's name in its pipeline.
    pub name: String,
    /// The name to show: for a job of a child pipeline, `trigger job > job`.
    pub display_name: String,
    /// Its stage.
    pub stage: String,
    /// 1-based attempt.
    pub attempt: u32,
}

/// How a job ended (or why it did not run), as reported to observers and in the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSummary {
    /// The job's name in its pipeline.
    pub name: String,
    /// Its stage.
    pub stage: String,
    /// Its status in the store: `success`, `failed`, `canceled`, `skipped`, `manual` (not
    /// played), or `created` (never reached: blocked behind an unplayed blocking manual job).
    pub status: JobStatus,
    /// Whether a failure is allowed (`allow_failure`, or the exit code is in
    /// `allow_failure:exit_codes`); false unless `status` is `failed`.
    pub allowed_failure: bool,
    /// The script's exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Why it failed.
    pub failure_reason: Option<FailureReason>,
    /// A one-line explanation when the status alone does not say it (skipped cross-project
    /// trigger, downstream pipeline failed, executor error …).
    pub message: Option<String>,
    /// How long it ran (all attempts: only the last one's).
    pub duration: Option<Duration>,
    /// Number of attempts made (0 if it never ran).
    pub attempts: u32,
    /// Its store row (the last attempt's).
    pub job_id: Option<JobId>,
    /// Its log file, if it ran.
    pub log_path: Option<PathBuf>,
    /// Whether another attempt follows (only in [`RunObserver::job_finished`]).
    pub will_retry: bool,
    /// The summary of the child pipeline a trigger job ran.
    pub child: Option<Box<crate::run::RunSummary>>,
}

/// Receives the runner's events. Every method has an empty default.
pub trait RunObserver: Send + Sync {
    /// The top-level pipeline was recorded with its jobs, before any job starts (child
    /// pipelines are not reported).
    fn pipeline_created(&self, _pipeline: PipelineId) {}

    /// A job's script is about to start (its status is `running` in the store).
    fn job_started(&self, _job: &JobInfo) {}

    /// One line of a job's log, masked, without its line break. Includes the runner's own
    /// lines (`$ command` echoes, artifact and cache messages).
    fn job_output(&self, _job: &JobInfo, _line: &str) {}

    /// A job reached a final status (or `manual`/`created` at the end of the run). For a job
    /// that never started, `job.job_id` is its row and `attempt` is 1.
    fn job_finished(&self, _job: &JobInfo, _summary: &JobSummary) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl RunObserver for NoObserver {}
