//! Running a planned pipeline locally: the public entry point [`run_pipeline`], its options
//! and its summary, and the creation of the pipeline's record in the store.
//!
//! The flow: check the caller's variables (masking rules) and the job selection before
//! anything is written; record the pipeline (with its plan snapshot) and every job it will
//! consider (`created`; jobs with `when: never` are not created at all, as in GitLab); then
//! [`super::dag`] runs the jobs as their prerequisites finish, each through
//! [`super::job`]; finally the pipeline's status is recorded and summarised.
//!
//! Pipeline statuses, in GitLab's words: `success` (allowed failures included), `failed`,
//! `canceled` (the cancellation token fired), `manual` (GitLab shows it as *blocked*: an
//! unplayed manual job with `allow_failure: false` kept jobs from running, or no job ran and
//! some are manual), `skipped` (every job was skipped).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::log;
use super::mask::{MaskError, Masker};
use super::slots::Slots;
use super::observer::{JobSummary, RunObserver};
use super::variables::{RunVariable, masker_for};
use super::workspace::SourceTree;
use crate::ci::context::{GitRef, PipelineContext};
use crate::ci::pipeline::{Job, Pipeline, When};
use crate::ci::source::FileReader;
use crate::executor::Executor;
use crate::store::{
    EventId, JobId, JobStatus, JobWhen, NewJob, NewPipeline, PipelineId, PipelineStatus, PipelineVariable,
    Store, StoreError, Timestamp,
};

/// How to run a pipeline.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Most jobs running at once (at least 1), shared with child pipelines. Trigger jobs do not
    /// take a slot (they only wait for their child pipeline).
    pub concurrency: usize,
    /// Manual jobs to play (by name; a `parallel` job's name plays all its instances).
    pub manual: Vec<String>,
    /// Run only these jobs (names as for `manual`); `None` runs the whole pipeline.
    pub only_jobs: Option<Vec<String>>,
    /// With `only_jobs`: also run what they need, transitively (a job without `needs` needs
    /// every job of the earlier stages).
    pub with_needs: bool,
    /// Run only the jobs of this stage (combined with `only_jobs` if both are given).
    pub stage: Option<String>,
    /// Where runs, logs, artifacts and caches are kept (`.sluice/` of the repository by default).
    pub state_dir: PathBuf,
    /// Timeout of jobs without `timeout:` (GitLab's default project timeout: 1 hour).
    pub default_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when a job times out or is canceled.
    pub grace: Duration,
    /// The caller's variables (`--var`, `--variables-file`), highest precedence.
    pub variables: Vec<RunVariable>,
    /// Slots shared with other runs (the daemon's global and per-project limits), taken
    /// instead of `concurrency` slots of the run's own.
    pub slots: Option<Slots>,
    /// Keep each job's workspace after it finished (under `<state>/runs/<pipeline>/builds/`),
    /// for debugging; they are removed by default.
    pub keep_workspaces: bool,
    /// Keep finished jobs' workspaces under `<state>/workspaces/` when the run ends, for the
    /// next run to reset instead of copying ([`super::pool`]); they are removed by default.
    pub pool_workspaces: bool,
    /// A step after each successful script of the jobs it applies to (publication).
    pub after_success: Option<std::sync::Arc<dyn super::hook::AfterSuccess>>,
    /// Fires when a newer pipeline makes this one redundant under
    /// `workflow:auto_cancel:on_new_commit: interruptible`: its `interruptible: true` jobs
    /// are canceled and the others go on (child pipelines are not affected).
    pub interrupt: Option<CancellationToken>,
    /// The queued event this run carries out (the daemon's): linked to the pipeline in the
    /// transaction that records it, so a crash cannot leave a pipeline its event does not
    /// know (the event would start a second one after a restart).
    pub event: Option<EventId>,
}

impl RunOptions {
    /// Defaults: one job per core, nothing played, the whole pipeline, 1 h timeout, 10 s grace.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            concurrency: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            manual: Vec::new(),
            only_jobs: None,
            with_needs: false,
            stage: None,
            state_dir: state_dir.into(),
            default_timeout: Duration::from_secs(3600),
            grace: crate::executor::DEFAULT_GRACE,
            variables: Vec::new(),
            slots: None,
            keep_workspaces: false,
            pool_workspaces: false,
            after_success: None,
            interrupt: None,
            event: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The pipeline's row in the store.
    pub pipeline_id: PipelineId,
    /// Its final status (see the [module documentation](self)).
    pub status: PipelineStatus,
    /// Wall time of the run.
    pub duration: Duration,
    /// Every created job (not those with `when: never` or left out by the selection), in
    /// plan order; a retried job appears once, with its last attempt.
    pub jobs: Vec<JobSummary>,
}

/// Why a run could not be done. Failing jobs are not errors: they are in the [`RunSummary`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `workflow:rules` created no pipeline; nothing ran.
    #[error("no pipeline is created: {reason}")]
    NotCreated {
        /// Why, as the plan says.
        reason: String,
    },
    /// A masked variable does not meet GitLab's masking rules; nothing ran.
    #[error(transparent)]
    Mask(#[from] MaskError),
    /// A job named in the selection (`JOB...`, `--manual`) is not in the pipeline.
    #[error("job `{name}` is not in the pipeline{}", hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
    UnknownJob {
        /// The name given.
        name: String,
        /// The closest job name, if one is close.
        hint: Option<String>,
    },
    /// `--stage` names no stage with jobs.
    #[error("stage `{name}` has no jobs in the pipeline")]
    UnknownStage {
        /// The stage given.
        name: String,
    },
    /// The state directory could not be prepared.
    #[error("cannot prepare the state directory `{}`", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed; the run was stopped (running jobs were canceled) because it could no
    /// longer record what happens.
    #[error("the store failed; the run was stopped")]
    Store(#[from] StoreError),
}

/// What a run needs besides its options: the plan, where the files come from, where scripts
/// run, where the record goes, who watches.
pub struct PipelineRun<'a> {
    /// The planned pipeline ([`crate::ci::plan`]).
    pub pipeline: &'a Pipeline,
    /// The pipeline it was planned for.
    pub context: &'a PipelineContext,
    /// The repository files each job's workspace is made of.
    pub source: &'a SourceTree,
    /// Reads child pipeline configurations (`trigger: include`); the same reader the plan used.
    /// Wrap a reader that is not `Sync` in [`super::trigger::LockedReader`].
    pub reader: &'a (dyn FileReader + Sync),
    /// Where scripts run.
    pub executor: Arc<dyn Executor>,
    /// The record of pipelines, jobs and transitions.
    pub store: &'a Store,
    /// Receives job events (masked output lines included).
    pub observer: &'a dyn RunObserver,
}

/// Runs `run.pipeline` to the end, or until `cancel` fires: running jobs are then stopped
/// (SIGTERM, grace, SIGKILL, after_script), jobs not started are `canceled`, and the summary
/// says `canceled`.
///
/// Call [`crate::executor::process_group::become_subreaper`] once at start-up of the process
/// first, so the background processes of jobs can be reaped.
///
/// # Guarantees
///
/// Every status change is written to the store before the runner acts on it. On `Ok`, no
/// process started by a job is left running. Masked values never reach the store, a log file
/// or the observer.
///
/// # Errors
///
/// Before anything is recorded or run: [`RunError::NotCreated`], [`RunError::Mask`],
/// [`RunError::UnknownJob`], [`RunError::UnknownStage`], [`RunError::StateDir`]. During the
/// run: [`RunError::Store`] (the run stops, canceling its jobs).
pub async fn run_pipeline(
    run: &PipelineRun<'_>,
    options: &RunOptions,
    cancel: &CancellationToken,
) -> Result<RunSummary, RunError> {
    if !run.pipeline.created {
        let reason = run
            .pipeline
            .reason
            .clone()
            .unwrap_or_else(|| "workflow:rules did not match".to_owned());
        return Err(RunError::NotCreated { reason });
    }
    let masker = masker_for(&options.variables)?;
    for name in &options.manual {
        check_name(run.pipeline, name)?;
    }
    let selected = select(run.pipeline, options)?;
    std::fs::create_dir_all(&options.state_dir).map_err(|source| RunError::StateDir {
        path: options.state_dir.clone(),
        source,
    })?;
    let resources = Resources::new(masker, options);
    let shared = resources.shared(run, options);
    let created = create_records(shared, run.pipeline, run.context, &selected, options.event)?;
    run.observer.pipeline_created(created.pipeline_id);
    let summary = super::dag::drive(
        shared,
        run.pipeline,
        run.context,
        created,
        None,
        cancel.child_token(),
    )
    .await;
    resources.finish().await;
    summary
}

/// What one run owns for its pipelines (the masker, the concurrency slots and the pending
/// directory removals), from which each gets its [`Shared`] view.
pub(crate) struct Resources {
    masker: Masker,
    slots: Slots,
    cleanup: TaskTracker,
    workspaces: super::pool::Pool,
}

impl Resources {
    /// The resources of a run with `options` that masks with `masker`.
    pub(crate) fn new(masker: Masker, options: &RunOptions) -> Self {
        let slots = options.slots.clone().unwrap_or_else(|| Slots::new(options.concurrency));
        let workspaces = match options.pool_workspaces {
            true => super::pool::Pool::keeping(options.state_dir.join("workspaces")),
            false => super::pool::Pool::default(),
        };
        Self { masker, slots, cleanup: TaskTracker::new(), workspaces }
    }

    /// The view every pipeline of the run shares.
    pub(crate) fn shared<'a>(&'a self, run: &'a PipelineRun<'_>, options: &'a RunOptions) -> Shared<'a> {
        Shared {
            source: run.source,
            reader: run.reader,
            executor: &run.executor,
            store: run.store,
            observer: run.observer,
            options,
            masker: &self.masker,
            slots: &self.slots,
            cleanup: &self.cleanup,
            workspaces: &self.workspaces,
        }
    }

    /// Keeps the idle workspaces for the next run (or removes them) and waits for the
    /// removals of finished jobs' directories, so nothing is left behind.
    pub(crate) async fn finish(self) {
        let workspaces = self.workspaces;
        self.cleanup.spawn_blocking(move || {
            for workspace in workspaces.finish() {
                let _ = std::fs::remove_dir_all(workspace);
            }
        });
        self.cleanup.close();
        self.cleanup.wait().await;
    }
}

/// What every pipeline of a run shares, child pipelines included.
#[derive(Clone, Copy)]
pub(crate) struct Shared<'a> {
    pub source: &'a SourceTree,
    pub reader: &'a (dyn FileReader + Sync),
    pub executor: &'a Arc<dyn Executor>,
    pub store: &'a Store,
    pub observer: &'a dyn RunObserver,
    pub options: &'a RunOptions,
    pub masker: &'a Masker,
    pub slots: &'a Slots,
    /// Removals of finished jobs' directories, off the jobs' path; the run waits for them
    /// before it returns.
    pub cleanup: &'a TaskTracker,
    /// Workspaces of finished jobs, reset for later jobs instead of copied again.
    pub workspaces: &'a super::pool::Pool,
}

/// The records of a pipeline about to run: its row, and one row per selected job.
pub(crate) struct Created {
    pub pipeline_id: PipelineId,
    /// `<state>/runs/<pipeline id>`.
    pub run_dir: PathBuf,
    /// Selected job indices in the plan, with their row and first log path.
    pub jobs: Vec<(usize, JobId, PathBuf)>,
}

/// Records the pipeline and its selected jobs (all `created`), linked to `event` if given,
/// in one transaction.
pub(crate) fn create_records(
    shared: Shared<'_>,
    pipeline: &Pipeline,
    ctx: &PipelineContext,
    selected: &[usize],
    event: Option<EventId>,
) -> Result<Created, RunError> {
    let store = shared.store;
    let now = Timestamp::now();
    let project_id = store.ensure_project(&ctx.project_path, now)?;
    let plan = serde_json::to_value(pipeline).unwrap_or(serde_json::Value::Null);
    // The caller's run variables carry the `masked` flag; the context repeats some of them
    // (rules must see them), so those are recorded once, from the run variables.
    let run_variables = &shared.options.variables;
    let variables = ctx
        .variables
        .iter()
        .filter(|(name, _)| !run_variables.iter().any(|v| &v.name == name))
        .map(|(name, value)| PipelineVariable::new(name.clone(), value.clone(), false))
        .chain(run_variables.iter().map(|v| PipelineVariable::new(v.name.clone(), v.value.clone(), v.masked)))
        .collect();
    let new = NewPipeline {
        project_id,
        git_ref: ctx.git_ref.name().to_owned(),
        tag: matches!(ctx.git_ref, GitRef::Tag(_)),
        sha: ctx.sha.clone(),
        before_sha: ctx.before_sha.clone(),
        source: ctx.source.as_str().to_owned(),
        status: PipelineStatus::Created,
        plan,
        variables,
        created_at: now,
    };
    let state_dir = &shared.options.state_dir;
    let jobs = |pipeline_id: PipelineId| -> Vec<NewJob> {
        let run_dir = run_dir(state_dir, pipeline_id);
        let new_job_of = |&index: &usize| {
            let job = &pipeline.jobs[index];
            new_job(pipeline_id, job, 1, None, &log_path(&run_dir, &job.name, 1))
        };
        selected.iter().map(new_job_of).collect()
    };
    let (pipeline_id, ids) = store.create_pipeline_with_jobs(&new, event, &jobs)?;
    let run_dir = run_dir(state_dir, pipeline_id);
    let jobs = selected
        .iter()
        .zip(ids)
        .map(|(&index, id)| (index, id, log_path(&run_dir, &pipeline.jobs[index].name, 1)))
        .collect();
    Ok(Created {
        pipeline_id,
        run_dir,
        jobs,
    })
}

/// The row of a job's `attempt`.
pub(crate) fn new_job(
    pipeline_id: PipelineId,
    job: &Job,
    attempt: u32,
    retry_of: Option<JobId>,
    log_path: &Path,
) -> NewJob {
    NewJob {
        pipeline_id,
        name: job.name.clone(),
        stage: job.stage.clone(),
        status: JobStatus::Created,
        when: job_when(job.when),
        allow_failure: job.allow_failure,
        attempt,
        retry_of,
        resource_group: job.resource_group.clone(),
        log_path: Some(log_path.to_owned()),
        created_at: Timestamp::now(),
    }
}

fn job_when(when: When) -> JobWhen {
    match when {
        When::OnSuccess => JobWhen::OnSuccess,
        When::OnFailure => JobWhen::OnFailure,
        When::Always => JobWhen::Always,
        When::Manual => JobWhen::Manual,
        When::Delayed => JobWhen::Delayed,
        When::Never => JobWhen::Never,
    }
}

/// `<state>/runs/<pipeline id>`: logs, artifacts, workspaces of one pipeline.
pub fn run_dir(state_dir: &Path, pipeline_id: PipelineId) -> PathBuf {
    state_dir.join("runs").join(pipeline_id.get().to_string())
}

/// The log file of `attempt` of job `name` in `run_dir`.
pub(crate) fn log_path(run_dir: &Path, name: &str, attempt: u32) -> PathBuf {
    run_dir.join("logs").join(log::file_name(name, attempt))
}

/// Whether `job` is called `name`, or is an instance of the `parallel` job `name`.
pub(crate) fn job_matches(job: &Job, name: &str) -> bool {
    job.name == name
        || (job.parallel.is_some()
            && job
                .name
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ')))
        || (job.matrix.is_some()
            && job
                .name
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(": [")))
}

fn check_name(pipeline: &Pipeline, name: &str) -> Result<(), RunError> {
    if pipeline
        .jobs
        .iter()
        .any(|j| j.when != When::Never && job_matches(j, name))
    {
        return Ok(());
    }
    let names = pipeline
        .jobs
        .iter()
        .filter(|j| j.when != When::Never)
        .map(|j| j.name.as_str());
    let hint = crate::diagnostic::did_you_mean(name, names).map(str::to_owned);
    Err(RunError::UnknownJob {
        name: name.to_owned(),
        hint,
    })
}

/// The indices of the jobs to run, in plan order.
fn select(pipeline: &Pipeline, options: &RunOptions) -> Result<Vec<usize>, RunError> {
    let candidates: Vec<usize> = (0..pipeline.jobs.len())
        .filter(|&i| pipeline.jobs[i].when != When::Never)
        .collect();
    if let Some(stage) = &options.stage
        && !candidates.iter().any(|&i| &pipeline.jobs[i].stage == stage)
    {
        return Err(RunError::UnknownStage {
            name: stage.clone(),
        });
    }
    let in_stage = |i: &usize| {
        options
            .stage
            .as_ref()
            .is_none_or(|s| &pipeline.jobs[*i].stage == s)
    };
    let Some(names) = &options.only_jobs else {
        return Ok(candidates.into_iter().filter(in_stage).collect());
    };
    for name in names {
        check_name(pipeline, name)?;
    }
    let mut chosen: Vec<bool> = vec![false; pipeline.jobs.len()];
    let mut work: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| in_stage(&i) && names.iter().any(|n| job_matches(&pipeline.jobs[i], n)))
        .collect();
    while let Some(i) = work.pop() {
        if std::mem::replace(&mut chosen[i], true) || !options.with_needs {
            continue;
        }
        work.extend(super::dag::prerequisites(pipeline, &candidates, i));
    }
    Ok(candidates.into_iter().filter(|&i| chosen[i]).collect())
}
