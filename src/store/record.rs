//! What the store takes in and gives back: ids, timestamps, new rows and read rows.
//!
//! These types are backend-neutral: nothing here knows SQLite.

use std::fmt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::{FailureReason, JobStatus, JobWhen, PipelineStatus};

macro_rules! row_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a raw id (from a URL or the CLI, say); the store checks it exists.
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// The raw id.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "#{}", self.0)
            }
        }
    };
}

row_id! {
    /// A project's id in the store.
    ProjectId
}
row_id! {
    /// A pipeline's id in the store; ids are never reused.
    PipelineId
}
row_id! {
    /// A job's id in the store; a retry gets a new id.
    JobId
}

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// The store never reads the clock: callers pass `now` (STYLE habit 13), so tests are
/// deterministic; the daemon reads the clock once at its edge with [`Timestamp::now`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The time `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_unix_millis(self) -> i64 {
        self.0
    }

    /// The system clock, now. Times before 1970 (a broken clock) read as the epoch.
    pub fn now() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
            });
        Self(millis)
    }

    /// Milliseconds from `earlier` to `self` (negative if the clock went backwards).
    pub const fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A pipeline variable as recorded with the pipeline.
///
/// # Guarantees
///
/// A masked variable never carries its value: [`PipelineVariable::new`] drops it, so no
/// path can write a secret into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineVariable {
    name: String,
    value: Option<String>,
    masked: bool,
}

impl PipelineVariable {
    /// A variable named `name`; its `value` is kept only if it is not `masked`.
    pub fn new(name: impl Into<String>, value: impl Into<String>, masked: bool) -> Self {
        let value = if masked { None } else { Some(value.into()) };
        Self {
            name: name.into(),
            value,
            masked,
        }
    }

    /// The variable's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value; `None` for a masked variable.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Whether the variable is masked.
    pub fn masked(&self) -> bool {
        self.masked
    }
}

/// A pipeline to record, before any of its jobs starts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPipeline {
    /// The project, from [`crate::store::Store::ensure_project`].
    pub project_id: ProjectId,
    /// The branch or tag name (without `refs/heads/`).
    pub git_ref: String,
    /// Whether `git_ref` is a tag.
    pub tag: bool,
    /// The commit the pipeline runs on.
    pub sha: String,
    /// The previous tip of the ref, for `changes:` and `CI_COMMIT_BEFORE_SHA`; `None` if new.
    pub before_sha: Option<String>,
    /// GitLab's pipeline source word (`push`, `web`, `schedule`, `api`, `trigger`, …).
    pub source: String,
    /// The status to start in, usually [`PipelineStatus::Created`].
    pub status: PipelineStatus,
    /// The plan the pipeline runs, as a JSON snapshot.
    pub plan: serde_json::Value,
    /// The pipeline's variables (masked ones without their values).
    pub variables: Vec<PipelineVariable>,
    /// When the pipeline was created.
    pub created_at: Timestamp,
}

/// A job to record, before it may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The pipeline it belongs to.
    pub pipeline_id: PipelineId,
    /// The job's name (after `parallel` expansion).
    pub name: String,
    /// Its stage.
    pub stage: String,
    /// Its first status; must be [`JobStatus::is_initial`].
    pub status: JobStatus,
    /// Its `when:`.
    pub when: JobWhen,
    /// Whether its failure leaves the pipeline green (`allow_failure`).
    pub allow_failure: bool,
    /// 1 for a first run; `retry_of`'s attempt + 1 for a retry.
    pub attempt: u32,
    /// The job this one retries.
    pub retry_of: Option<JobId>,
    /// Its `resource_group`, if any.
    pub resource_group: Option<String>,
    /// Where its log will be written, if already known (UTF-8 paths only).
    pub log_path: Option<PathBuf>,
    /// When the job was created.
    pub created_at: Timestamp,
}

/// The process running a job, recorded so that after a crash we can find it again and
/// never signal an unrelated process that reused its pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRecord {
    /// The process id.
    pub pid: u32,
    /// Its process group id (the executor signals the whole group).
    pub pgid: u32,
    /// The process's start time as the OS reports it (on Linux, `starttime` from
    /// `/proc/<pid>/stat`, in clock ticks since boot): compared for equality only.
    pub start_time: u64,
}

/// A pipeline as stored, with its jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRow {
    /// Its id.
    pub id: PipelineId,
    /// Its project's id.
    pub project_id: ProjectId,
    /// Its project's name.
    pub project: String,
    /// The branch or tag name.
    pub git_ref: String,
    /// Whether `git_ref` is a tag.
    pub tag: bool,
    /// The commit.
    pub sha: String,
    /// The previous tip of the ref.
    pub before_sha: Option<String>,
    /// GitLab's pipeline source word.
    pub source: String,
    /// Its current status.
    pub status: PipelineStatus,
    /// The plan snapshot.
    pub plan: serde_json::Value,
    /// Its variables (masked ones without values).
    pub variables: Vec<PipelineVariable>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it first started running.
    pub started_at: Option<Timestamp>,
    /// When it last finished.
    pub finished_at: Option<Timestamp>,
    /// `finished_at − started_at`.
    pub duration_ms: Option<i64>,
    /// Its jobs, in creation order.
    pub jobs: Vec<JobRow>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Its id.
    pub id: JobId,
    /// Its pipeline.
    pub pipeline_id: PipelineId,
    /// Its name.
    pub name: String,
    /// Its stage.
    pub stage: String,
    /// Its current status.
    pub status: JobStatus,
    /// Its `when:`.
    pub when: JobWhen,
    /// Its `allow_failure`.
    pub allow_failure: bool,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The job this one retries.
    pub retry_of: Option<JobId>,
    /// The script's exit code, once finished (if it ran).
    pub exit_code: Option<i32>,
    /// Why it failed, if it did.
    pub failure_reason: Option<FailureReason>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it entered `running`.
    pub started_at: Option<Timestamp>,
    /// When it reached a final status.
    pub finished_at: Option<Timestamp>,
    /// `finished_at − started_at`, if it ran.
    pub duration_ms: Option<i64>,
    /// Its process, once spawned.
    pub process: Option<ProcessRecord>,
    /// Where its log is.
    pub log_path: Option<PathBuf>,
    /// Its `resource_group`.
    pub resource_group: Option<String>,
}

/// One entry of a job's append-only transition log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTransition {
    /// The job.
    pub job_id: JobId,
    /// The status before; `None` for the record of the job's creation.
    pub from: Option<JobStatus>,
    /// The status after.
    pub to: JobStatus,
    /// When.
    pub at: Timestamp,
    /// Why, in words (a failure reason, "canceled by alice", …).
    pub reason: Option<String>,
}
