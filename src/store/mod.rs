//! The store of record: projects, pipelines, jobs and each job's transition log.
//!
//! Everything the runner and (later) the daemon must not forget goes here *before* it takes
//! effect: a job is marked `running` before its process is spawned, the process is recorded
//! right after, and on start the daemon re-reads [`Store::running_jobs`] to recover. The
//! store holds history only; it does not decide scheduling. It must not depend on any other
//! module of the crate: every module may use it.
//!
//! Backend: SQLite today (one embedded file, WAL; see [`Store::open`] for durability),
//! PostgreSQL later behind this same API. Statuses and failure reasons are stored as
//! GitLab's words; times are unix milliseconds, always passed in by the caller.
//!
//! Concurrency: one connection behind a `Mutex`. Every call is a short transaction, so
//! callers on the async runtime may call it directly for small writes and use
//! `spawn_blocking` for listings. Concurrent readers would need a pool of read-only
//! connections (WAL allows them); not needed yet.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

mod deployment;
mod error;
mod event;
mod promotion;
mod publication;
mod record;
mod report;
mod sqlite;
mod status;
mod token;

pub use deployment::{DeploymentDetails, HealthRow};
pub use error::StoreError;
pub use promotion::{
    ApprovalRow, AuditRow, DeploymentRow, NewAuditEntry, NewDeployment, NewPromotion, PromotionRow,
};
pub use publication::{Claim, NewPublication, PublicationRow, PublicationState, ReleaseRow};
pub use event::{EventId, EventRow, EventState, Inserted, NewEvent, RefHead, RerunKind, RerunQueued};
pub use record::{
    JobId, JobRow, JobTransition, NewJob, NewPipeline, PipelineId, PipelineRow, PipelineVariable,
    ProcessRecord, ProjectId, Timestamp,
};
pub use report::ReportRow;
pub use status::{
    AuditOutcome, DeploymentHealth, DeploymentStatus, FailureReason, JobStatus, JobWhen, ParseWordError, PipelineStatus, PromotionKind,
    Verdict,
};
pub use token::{TokenRow, TokenScope};

use sqlite::{cancel, deployments, events, promotions, publications, read, rerun, tokens, write};

/// The store of record. `Send + Sync`: share it in an `Arc`.
pub struct Store {
    conn: Mutex<Connection>,
    /// The database file, or `:memory:`.
    location: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the SQLite database at `path`, creating it if needed, and migrates its schema.
    ///
    /// # Guarantees
    ///
    /// WAL journaling with `synchronous=NORMAL`, `foreign_keys=ON` and a 5 s busy timeout.
    /// A committed write survives the process being killed; a power loss or OS crash may
    /// lose the last few committed transactions, never corrupt the file.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`] naming the path; [`StoreError::NoWal`] on a filesystem without
    /// WAL support; [`StoreError::Migration`] or [`StoreError::SchemaTooNew`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        let conn = sqlite::open(path)?;
        Ok(Store {
            conn: Mutex::new(conn),
            location: path.to_owned(),
        })
    }

    /// Opens a private, empty in-memory store (for tests; nothing is written to disk).
    ///
    /// # Errors
    ///
    /// As [`Store::open`], which in practice means none.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = sqlite::open_in_memory()?;
        Ok(Store {
            conn: Mutex::new(conn),
            location: PathBuf::from(":memory:"),
        })
    }

    /// The database file this store was opened on (`:memory:` for an in-memory store).
    pub fn location(&self) -> &Path {
        &self.location
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written transaction: dropping
        // the `Transaction` rolled it back. So the connection is sound and we keep using it.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns the id of the project named `name`, creating it (at `now`) if new.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn ensure_project(&self, name: &str, now: Timestamp) -> Result<ProjectId, StoreError> {
        write::ensure_project(&mut self.conn(), name, now)
    }

    /// Records a new pipeline with its plan snapshot and variables.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if the project does not exist.
    pub fn create_pipeline(&self, new: &NewPipeline) -> Result<PipelineId, StoreError> {
        write::create_pipeline(&mut self.conn(), new)
    }

    /// Records a pipeline with the jobs `jobs` makes for it (given the new pipeline's id)
    /// and, with `event`, links that event to it.
    ///
    /// # Guarantees
    ///
    /// One transaction: the pipeline (with its first status report), every job and the link,
    /// or nothing; so a crash never leaves a pipeline without its jobs, nor one its event does
    /// not know (the event would start another after a restart).
    ///
    /// # Errors
    ///
    /// As [`Store::create_pipeline`] and [`Store::create_job`]; [`StoreError::NotFound`] for
    /// an unknown event.
    pub fn create_pipeline_with_jobs(
        &self,
        new: &NewPipeline,
        event: Option<EventId>,
        jobs: &dyn Fn(PipelineId) -> Vec<NewJob>,
    ) -> Result<(PipelineId, Vec<JobId>), StoreError> {
        write::create_pipeline_with_jobs(&mut self.conn(), new, event, jobs)
    }

    /// Sets a pipeline's status (pipelines have no state machine: a retried job may bring a
    /// finished pipeline back to `running`).
    ///
    /// # Guarantees
    ///
    /// `started_at` is set the first time the pipeline becomes `running`; entering a final
    /// status sets `finished_at` and `duration_ms`, leaving one clears them. For a project
    /// that reports to its forge ([`Store::set_report_contexts`]), the status report is
    /// written in the same transaction (so is the first one, by [`Store::create_pipeline`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`].
    pub fn set_pipeline_status(
        &self,
        id: PipelineId,
        status: PipelineStatus,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write::set_pipeline_status(&mut self.conn(), id, status, now)
    }

    /// Records a new job in its first status, and that first status in its transition log.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidInitialStatus`] unless [`JobStatus::is_initial`];
    /// [`StoreError::NotFound`] for a missing pipeline or `retry_of` job;
    /// [`StoreError::Unstorable`] for a non-UTF-8 log path.
    pub fn create_job(&self, new: &NewJob) -> Result<JobId, StoreError> {
        write::create_job(&mut self.conn(), new)
    }

    /// Moves a job to status `to`, if the state machine allows it.
    ///
    /// # Guarantees
    ///
    /// The job's row and its transition record are written in one transaction: both or
    /// neither. Entering `running` sets `started_at`; entering a final status sets
    /// `finished_at` and `duration_ms`.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidTransition`] naming both statuses (see
    /// [`JobStatus::can_transition_to`]); [`StoreError::NotFound`].
    pub fn transition_job(
        &self,
        id: JobId,
        to: JobStatus,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write::transition_job(&mut self.conn(), id, to, reason, None, now)
    }

    /// Moves a job to a final status with its exit code and failure reason, which is also
    /// the transition's recorded reason. Same guarantees as [`Store::transition_job`].
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFinal`] unless `status` [`is_final`](JobStatus::is_final); then as
    /// [`Store::transition_job`].
    pub fn finish_job(
        &self,
        id: JobId,
        status: JobStatus,
        exit_code: Option<i32>,
        failure_reason: Option<FailureReason>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if !status.is_final() {
            return Err(StoreError::NotFinal { job: id, status });
        }
        let outcome = write::Outcome {
            exit_code,
            failure_reason,
        };
        write::transition_job(&mut self.conn(), id, status, None, Some(outcome), now)
    }

    /// Moves a job to `failed` with `reason` as its failure reason and `message` as the
    /// transition's recorded reason ("controller restarted"). Same guarantees as
    /// [`Store::transition_job`].
    ///
    /// # Errors
    ///
    /// As [`Store::transition_job`].
    pub fn fail_job(
        &self,
        id: JobId,
        reason: FailureReason,
        message: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let outcome = write::Outcome {
            exit_code: None,
            failure_reason: Some(reason),
        };
        write::transition_job(
            &mut self.conn(),
            id,
            JobStatus::Failed,
            Some(message),
            Some(outcome),
            now,
        )
    }

    /// Records the process running a job, right after it is spawned.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Unstorable`] for a start time above `i64::MAX`.
    pub fn record_process(&self, id: JobId, process: ProcessRecord) -> Result<(), StoreError> {
        write::record_process(&mut self.conn(), id, process)
    }

    /// Records where a job's log is written.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Unstorable`] for a non-UTF-8 path.
    pub fn set_log_path(&self, id: JobId, path: &Path) -> Result<(), StoreError> {
        write::set_log_path(&mut self.conn(), id, path)
    }

    /// A pipeline with its jobs.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Corrupt`] for a row this binary cannot read.
    pub fn get_pipeline(&self, id: PipelineId) -> Result<PipelineRow, StoreError> {
        read::get_pipeline(&mut self.conn(), id)
    }

    /// At most `limit` pipelines, newest first (by creation time, then id), each with its
    /// jobs; only `project`'s if given.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn list_pipelines(
        &self,
        project: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PipelineRow>, StoreError> {
        read::list_pipelines(&mut self.conn(), project, limit)
    }

    /// A pipeline's jobs in creation order (empty for an unknown pipeline).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn jobs_of(&self, pipeline: PipelineId) -> Result<Vec<JobRow>, StoreError> {
        read::jobs_of(&self.conn(), pipeline)
    }

    /// One job.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Corrupt`].
    pub fn get_job(&self, id: JobId) -> Result<JobRow, StoreError> {
        read::get_job(&self.conn(), id)
    }

    /// A job's transition log, oldest first; the first entry is its creation.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn transitions_of(&self, job: JobId) -> Result<Vec<JobTransition>, StoreError> {
        read::transitions_of(&self.conn(), job)
    }

    /// Jobs that may still have a live process (`preparing` or `running`), for crash
    /// recovery: compare each [`ProcessRecord`]'s start time before signalling its pid.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn running_jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        read::running_jobs(&self.conn())
    }

    /// Records an event under its dedup key, `pending`; with `new.ref_head`, also moves that
    /// watched ref's last seen tip.
    ///
    /// # Guarantees
    ///
    /// One transaction: the event and the ref head are both written or neither is. When the
    /// project already has an event with the same dedup key, or the new event is a `push` or
    /// `tag_push` of a ref to a tip already recorded as one (a webhook and polling seeing the
    /// same push), nothing new is recorded and the original's id is returned as
    /// [`Inserted::Duplicate`] (the ref head still moves). On
    /// `Ok`, the event survives the process being killed.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for an unknown project; [`StoreError::Sqlite`].
    pub fn insert_event(&self, project: ProjectId, new: &NewEvent) -> Result<Inserted, StoreError> {
        events::insert_event(&mut self.conn(), project, new)
    }

    /// Records a batch of events as [`Store::insert_event`] records one, all in one
    /// transaction (group commit: one commit for deliveries that arrived together), and
    /// returns each event's outcome in order.
    ///
    /// # Guarantees
    ///
    /// Each event is recorded, or refused, as if alone (in a savepoint of its own: an unknown
    /// project refuses that event only; a later event sees an earlier one of the batch, so a
    /// duplicate within the batch is [`Inserted::Duplicate`]). Nothing is returned before the
    /// transaction committed: on `Ok`, every recorded event survives the process being killed.
    ///
    /// # Errors
    ///
    /// The outer [`StoreError::Sqlite`] when the transaction could not be begun or committed:
    /// then none of the batch was recorded.
    pub fn insert_events(&self, batch: &[(ProjectId, &NewEvent)]) -> Result<Vec<Result<Inserted, StoreError>>, StoreError> {
        events::insert_events(&mut self.conn(), batch)
    }

    /// One event.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Corrupt`].
    pub fn get_event(&self, id: EventId) -> Result<EventRow, StoreError> {
        events::get_event(&self.conn(), id)
    }

    /// At most `limit` `pending` events, oldest first: the worker's queue.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn pending_events(&self, limit: u32) -> Result<Vec<EventRow>, StoreError> {
        events::pending_events(&self.conn(), limit)
    }

    /// At most `limit` events of any state, newest first; only `project`'s if given.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn list_events(
        &self,
        project: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        events::list_events(&self.conn(), project, limit)
    }

    /// Sets an event's state, with the pipeline it started and the error that stopped it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Sqlite`] (an unknown pipeline too).
    pub fn mark_event(
        &self,
        id: EventId,
        state: EventState,
        pipeline: Option<PipelineId>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        events::mark_event(&mut self.conn(), id, state, pipeline, error)
    }

    /// The last seen tip of watched ref `git_ref` (full name) of `project`, if any. The same
    /// table keeps other trigger positions under names that are not refs (a cron schedule's
    /// last fire time under `schedule:<key>`, see [`crate::trigger::cron`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn ref_head(
        &self,
        project: ProjectId,
        git_ref: &str,
    ) -> Result<Option<String>, StoreError> {
        events::ref_head(&self.conn(), project, git_ref)
    }

    /// Sets the last seen tip of a watched ref (without recording an event).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] (an unknown project too).
    pub fn set_ref_head(
        &self,
        project: ProjectId,
        git_ref: &str,
        sha: &str,
    ) -> Result<(), StoreError> {
        events::set_ref_head(&mut self.conn(), project, git_ref, sha)
    }

    /// Records an API token by its `hash` (never the token itself).
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] when a token with that name exists; [`StoreError::Sqlite`].
    pub fn create_token(&self, name: &str, scope: TokenScope, hash: &str, now: Timestamp) -> Result<i64, StoreError> {
        tokens::create_token(&mut self.conn(), name, scope, hash, now)
    }

    /// Every API token, by name. Callers must never show [`TokenRow::hash`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        tokens::list_tokens(&self.conn())
    }

    /// Deletes the token named `name`; `false` when there is none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        tokens::revoke_token(&mut self.conn(), name)
    }

    /// Records that token `id` was used at `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn touch_token(&self, id: i64, now: Timestamp) -> Result<(), StoreError> {
        tokens::touch_token(&mut self.conn(), id, now)
    }

    /// Queues a re-run of `job`: for [`RerunKind::Retry`] a new `created` attempt of a
    /// finished job (its log at `log_path`), for [`RerunKind::Play`] the `manual` job itself;
    /// and a `pending` event of that kind (payload `{"job": id}`, linked to the pipeline)
    /// for the worker.
    ///
    /// # Guarantees
    ///
    /// One transaction: the job row and the event are both written or neither is.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Refused`] when the job is not finished
    /// (retry) or not `manual` (play), was already retried, or its pipeline is still running
    /// or has a re-run queued.
    pub fn enqueue_rerun(
        &self,
        kind: RerunKind,
        job: JobId,
        log_path: Option<&Path>,
        now: Timestamp,
    ) -> Result<RerunQueued, StoreError> {
        let log_path = match log_path {
            Some(path) => Some(path.to_str().ok_or_else(|| StoreError::Unstorable {
                what: format!("non-UTF-8 path `{}`", path.display()),
            })?),
            None => None,
        };
        rerun::enqueue_rerun(&mut self.conn(), kind, job, log_path, now)
    }

    /// Queues new attempts of interrupted jobs of `pipeline` (each with its log path) and one
    /// `retry` event that resumes the pipeline from its recorded state with them (payload
    /// `{"pipeline": id, "jobs": [ids]}`, plus `"job": first` when `jobs` is not empty): what
    /// crash recovery does for every pipeline a restart interrupted. Every other `pending`
    /// event that would run the pipeline (not a `cancel`) is marked `done`, and the jobs such
    /// a re-run had not started yet (`created` attempts, a `manual` job to play) are named by
    /// the new event as well. Unlike
    /// [`Store::enqueue_rerun`] it refuses neither a pipeline left `running` nor a re-run the
    /// crash left queued.
    ///
    /// # Guarantees
    ///
    /// One transaction: every attempt, the event and the superseded events, or nothing; after
    /// it, exactly one `pending` event resumes the pipeline.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Unstorable`] for a non-UTF-8 log path.
    pub fn enqueue_resume(
        &self,
        pipeline: PipelineId,
        jobs: &[(JobId, Option<&Path>)],
        now: Timestamp,
    ) -> Result<EventId, StoreError> {
        let jobs = jobs
            .iter()
            .map(|&(job, path)| match path {
                Some(path) => path
                    .to_str()
                    .map(|path| (job, Some(path)))
                    .ok_or_else(|| StoreError::Unstorable { what: format!("non-UTF-8 path `{}`", path.display()) }),
                None => Ok((job, None)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        rerun::enqueue_resume(&mut self.conn(), pipeline, &jobs, now)
    }

    /// The pipelines that have neither ended nor rest on a manual job (`created`, `pending`,
    /// `running`, …), oldest first: after a restart, those a previous process left unfinished.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn unfinished_pipelines(&self) -> Result<Vec<PipelineId>, StoreError> {
        rerun::unfinished_pipelines(&self.conn())
    }

    /// Records a request to cancel `pipeline` as a `pending` `cancel` event linked to it
    /// (payload `{"pipeline": id}`), for the worker; a second request is a duplicate, unless
    /// the pipeline was re-run (retried, played) since.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Refused`] when the pipeline has ended.
    pub fn request_cancel(&self, pipeline: PipelineId, now: Timestamp) -> Result<Inserted, StoreError> {
        cancel::request_cancel(&mut self.conn(), pipeline, now)
    }

    /// Whether a cancel of `pipeline` was requested since it last started: since its newest
    /// re-run (`retry`, `play`), or ever when it has none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn cancel_requested(&self, pipeline: PipelineId) -> Result<bool, StoreError> {
        cancel::cancel_requested(&self.conn(), pipeline)
    }

    /// The event that started `pipeline` (not a retry or play), if it was started by one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn event_of_pipeline(&self, pipeline: PipelineId) -> Result<Option<EventRow>, StoreError> {
        rerun::event_of_pipeline(&self.conn(), pipeline)
    }

    /// How many events are `pending` (the queue depth).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn pending_event_count(&self) -> Result<u64, StoreError> {
        rerun::pending_count(&self.conn())
    }

    /// How many pipelines have each status (statuses without pipelines are left out).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn pipelines_by_status(&self) -> Result<Vec<(PipelineStatus, u64)>, StoreError> {
        rerun::pipelines_by_status(&self.conn())
    }
}

/// Publication claims and releases (see [`publication`](mod@publication)).
impl Store {
    /// Claims the publication of `new.app` `new.version` for `lease`, or takes over a claim
    /// whose holder failed or whose lease ran out.
    ///
    /// # Guarantees
    ///
    /// At most one caller holds a given (app, version) at a time: the row is unique and the
    /// check and write are one `BEGIN IMMEDIATE` transaction, across processes too. A
    /// released publication is never claimed again; a claim of another commit is taken over
    /// only while nothing of it was pushed (no digest recorded). Takeover increments
    /// [`PublicationRow::attempt`], which later calls must name.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn claim_publication(
        &self,
        new: &NewPublication,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        publications::claim(&mut self.conn(), new, lease_millis(lease), now)
    }

    /// Records that publication `id` (held by `attempt`) reached `to`
    /// ([`PublicationState::ImagePushed`] with its `digest`, or
    /// [`PublicationState::TagPushed`]) and renews the lease. Repeating a step is allowed (a
    /// resumed publication redoes them all); the state never goes backwards.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] when `attempt` no longer holds the claim, it is finished, or
    /// the step is out of order; [`StoreError::NotFound`].
    pub fn advance_publication(
        &self,
        id: i64,
        attempt: i64,
        to: PublicationState,
        digest: Option<&str>,
        lease: Duration,
        now: Timestamp,
    ) -> Result<PublicationRow, StoreError> {
        publications::advance(&mut self.conn(), id, attempt, to, digest, lease_millis(lease), now)
    }

    /// Marks publication `id` released and records its [`ReleaseRow`], in one transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] when `attempt` no longer holds it or no digest is recorded;
    /// [`StoreError::NotFound`].
    pub fn release_publication(
        &self,
        id: i64,
        attempt: i64,
        now: Timestamp,
    ) -> Result<ReleaseRow, StoreError> {
        publications::release(&mut self.conn(), id, attempt, now)
    }

    /// Marks publication `id` failed with `error`, so the next claim may take it over.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] when `attempt` no longer holds it; [`StoreError::NotFound`].
    pub fn fail_publication(
        &self,
        id: i64,
        attempt: i64,
        error: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        publications::fail(&mut self.conn(), id, attempt, error, now)
    }

    /// Ends the lease of every unfinished publication claim, so that a retried job can take
    /// its claim over at once instead of waiting for the lease to run out. Only for start-up:
    /// the embedded store belongs to one process, so no holder of a claim made before the
    /// start can still be pushing. Returns how many claims were freed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn end_publication_leases(&self, now: Timestamp) -> Result<usize, StoreError> {
        publications::end_leases(&mut self.conn(), now)
    }

    /// The publication of `app` `version`, if one was ever claimed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`]; [`StoreError::Corrupt`].
    pub fn get_publication(
        &self,
        app: &str,
        version: &str,
    ) -> Result<Option<PublicationRow>, StoreError> {
        publications::get_publication(&self.conn(), app, version)
    }

    /// The release of `app` `version`, if it was published.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn get_release(&self, app: &str, version: &str) -> Result<Option<ReleaseRow>, StoreError> {
        publications::get_release(&self.conn(), app, version)
    }

    /// At most `limit` releases, newest first; only `app`'s if given.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn list_releases(&self, app: Option<&str>, limit: u32) -> Result<Vec<ReleaseRow>, StoreError> {
        publications::list_releases(&self.conn(), app, limit)
    }
}

/// A lease as stored milliseconds (saturating: a lease of centuries is still a lease).
fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_events;

#[cfg(test)]
mod tests_api;

#[cfg(test)]
mod tests_publications;

/// Promotion records (see [`promotion`](mod@promotion)).
impl Store {
    /// Records a deployment of a release to an environment (deploy calls this).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn insert_deployment(&self, new: &NewDeployment, now: Timestamp) -> Result<i64, StoreError> {
        promotions::insert_deployment(&self.conn(), new, now)
    }

    /// Moves deployment `id` to `status`: `healthy` keeps the first time it became healthy
    /// (`healthy_since`), `failed` and `rolled_back` clear it. `false` when there is no such row.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn set_deployment_status(
        &self,
        id: i64,
        status: DeploymentStatus,
        message: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        promotions::set_deployment_status(&self.conn(), id, status, message, now)
    }

    /// The latest attempt to deploy `app` to `env`, whatever its status (see
    /// [`Store::current_deployment`] for what the environment runs).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn latest_deployment(&self, app: &str, env: &str) -> Result<Option<DeploymentRow>, StoreError> {
        promotions::latest_deployment(&self.conn(), app, env)
    }

    /// Records an approval or rejection by `identity` of `release` (app, env, version).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn record_approval(
        &self,
        release: (&str, &str, &str),
        identity: &str,
        verdict: Verdict,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        promotions::record_approval(&self.conn(), release, identity, verdict, comment, now)
    }

    /// Every approval and rejection of `app` `version` for `env`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn approvals_of(&self, app: &str, env: &str, version: &str) -> Result<Vec<ApprovalRow>, StoreError> {
        promotions::approvals_of(&self.conn(), app, env, version)
    }

    /// Records a pin commit pushed to the config repo.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn record_promotion(&self, new: &NewPromotion, now: Timestamp) -> Result<i64, StoreError> {
        promotions::record_promotion(&self.conn(), new, now)
    }

    /// The newest `limit` pin commits of `app` in `env`, newest first.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn promotions_of(&self, app: &str, env: &str, limit: u32) -> Result<Vec<PromotionRow>, StoreError> {
        promotions::promotions_of(&self.conn(), app, env, limit)
    }

    /// Appends to the audit log (which refuses updates and deletes).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn append_audit(&self, entry: &NewAuditEntry, now: Timestamp) -> Result<i64, StoreError> {
        promotions::append_audit(&self.conn(), entry, now)
    }

    /// The newest `limit` audit entries, newest first.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn list_audit(&self, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        promotions::list_audit(&self.conn(), limit)
    }

    /// Names that passed for commit `sha`: jobs that succeeded (any attempt) and the sources
    /// (`schedule`, `push`, …) of pipelines that succeeded. The `pipelines` gate reads them.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn passed_names(&self, sha: &str) -> Result<Vec<String>, StoreError> {
        promotions::passed_names(&self.conn(), sha)
    }
}

#[cfg(test)]
mod tests_promotions;

/// What deployments rendered and reported (see [`DeploymentDetails`]).
impl Store {
    /// Stores (or replaces) the render and report of deployment `id`.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`], also when there is no deployment `id`.
    pub fn record_deployment_details(&self, id: i64, details: &DeploymentDetails) -> Result<(), StoreError> {
        deployments::record_details(&self.conn(), id, details)
    }

    /// The render and report of deployment `id`, if recorded.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn deployment_details(&self, id: i64) -> Result<Option<DeploymentDetails>, StoreError> {
        deployments::details(&self.conn(), id)
    }

    /// The environment's current deployment of `app`: the latest `healthy` one. A failed
    /// attempt after it does not replace it (the release it deployed still runs); deploy
    /// marks it `failed` when a later attempt left it running on only some targets. The
    /// `from` and `soak` gates read this row.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn current_deployment(&self, app: &str, env: &str) -> Result<Option<DeploymentRow>, StoreError> {
        deployments::current(&self.conn(), app, env)
    }

    /// Sets when deployment `id` counts as healthy since, before it is marked `healthy` (which
    /// keeps a time already set): a new deployment of the release that was already current
    /// keeps that release's time. Nothing changes when it has one.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn keep_healthy_since(&self, id: i64, since: Timestamp) -> Result<(), StoreError> {
        deployments::keep_healthy_since(&self.conn(), id, since)
    }

    /// The latest `limit` deployments (attempts) of `app` to `env`, newest first.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn deployments_of(&self, app: &str, env: &str, limit: u32) -> Result<Vec<DeploymentRow>, StoreError> {
        deployments::list(&self.conn(), app, env, limit)
    }

    /// Records that the release of healthy deployment `id` became `health` at `now`
    /// (`message` says why), when that changes anything: `unhealthy` sets `unhealthy_since`;
    /// `healthy` after an unhealthy period clears it and moves `healthy_since` to `now` (the
    /// `soak` gate counts again from there). `true` when it was a transition; a deployment
    /// that is not `healthy` (failed, displaced) is left alone.
    ///
    /// # Guarantees
    ///
    /// The row and its entry in the health transitions are written in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn record_health(&self, id: i64, health: DeploymentHealth, message: &str, now: Timestamp) -> Result<bool, StoreError> {
        deployments::record_health(&mut self.conn(), id, health, message, now)
    }

    /// The image digests still in use: of each (app, environment), those of its latest
    /// `per_environment` distinct releases deployed `healthy` (the current one and the ones a
    /// rollback returns to), and those of deployments pending or in progress; sorted.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn digests_in_use(&self, per_environment: u32) -> Result<Vec<String>, StoreError> {
        deployments::digests_in_use(&self.conn(), per_environment)
    }

    /// The health transitions of deployment `id`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn health_of(&self, id: i64) -> Result<Vec<HealthRow>, StoreError> {
        deployments::health_of(&self.conn(), id)
    }
}
