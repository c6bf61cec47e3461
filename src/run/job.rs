//! One attempt of one job, from `running` to its final status: log, workspace, artifacts and
//! cache restored, variables, `before_script` + `script`, `after_script`, artifacts, dotenv
//! report and cache saved, final status recorded.
//!
//! Outcomes, with GitLab's failure reasons: exit 0 is `success`; another exit code or a
//! signal is `failed`/`script_failure`; the job's `timeout` (or the run's default) is
//! `failed`/`job_execution_timeout`; a failure of the runner itself (workspace, executor) is
//! `failed`/`runner_system_failure`; cancellation is `canceled`. A failure is *allowed* with
//! `allow_failure: true` or an exit code in `allow_failure:exit_codes`. `after_script` runs
//! after the script whatever happened (success, failure, timeout, cancellation) in its own
//! shell with `CI_JOB_STATUS` (`success`, `failed`, `canceled`) and its own 5-minute timeout;
//! its failure does not change the job's status. Artifacts and caches are kept per their
//! `when` (`on_success` by default), never for a canceled job; dotenv reports are read
//! whenever the job ran its script to an end (GitLab uploads reports regardless of the
//! result).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::artifacts::{self};
use super::cache;
use super::dag::{Detached, Scope};
use super::log::JobLog;
use super::observer::JobInfo;
mod outputs;
mod placement;
mod process;

use super::reuse::Snapshot;
use super::variables::{JobEnvInput, environment, job_variables};
use super::workspace::SourceTree;
use crate::ci::pipeline::Job;
use crate::ci::variables::Variables;
use crate::executor::container::after_script_name;
use crate::executor::{AFTER_SCRIPT_TIMEOUT, ContainerSpec, Exit, ScriptRun};
use crate::store::{FailureReason, JobId, JobStatus, StoreError, Timestamp};
use outputs::keep_outputs;
use process::run_recorded;

/// Everything a job attempt gets from the scheduler.
pub(crate) struct Ticket {
    pub info: JobInfo,
    pub row: JobId,
    pub attempt: u32,
    pub log_path: PathBuf,
    pub played: bool,
    pub sources: Vec<ArtifactSource>,
    /// Cancels this attempt: fires with the run's token, or alone (an interruptible job
    /// auto-canceled while the rest of its pipeline goes on).
    pub cancel: CancellationToken,
    /// The concurrency slot, released when the attempt ends (`None` for trigger jobs).
    pub _permit: Option<super::slots::SlotPermit>,
}

/// A finished job whose artifacts a later job receives.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactSource {
    pub name: String,
    pub dir: Option<PathBuf>,
    pub dotenv: Vec<(String, String)>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    pub status: JobStatus,
    pub allowed: bool,
    pub exit_code: Option<i32>,
    pub failure_reason: Option<FailureReason>,
    pub message: Option<String>,
    pub duration: Option<Duration>,
    /// Where its artifacts were collected, if any were.
    pub artifacts: Option<PathBuf>,
    pub dotenv: Vec<(String, String)>,
    pub child: Option<Box<super::RunSummary>>,
}

impl Finished {
    /// A job that did not run.
    pub(crate) fn not_run(status: JobStatus, message: Option<String>) -> Self {
        Self {
            status,
            allowed: false,
            exit_code: None,
            failure_reason: None,
            message,
            duration: None,
            artifacts: None,
            dotenv: Vec::new(),
            child: None,
        }
    }

    fn failed(reason: FailureReason, message: String, allowed: bool) -> Self {
        Self {
            failure_reason: Some(reason),
            allowed,
            ..Self::not_run(JobStatus::Failed, Some(message))
        }
    }

    /// A failure of the runner itself, never allowed.
    pub(crate) fn failed_with(reason: FailureReason, message: String) -> Self {
        Self::failed(reason, message, false)
    }
}

/// What the scheduler gets back from an attempt.
pub(crate) struct JobOutcome<'s> {
    pub finished: Finished,
    /// The final status could not be recorded: the run must stop.
    pub store_error: Option<StoreError>,
    /// A child pipeline still running (trigger job without `strategy: depend`).
    pub detached: Option<Detached<'s>>,
}

/// Runs one attempt; its status is already `running` in the store.
pub(crate) async fn execute<'s>(
    scope: &'s Scope<'s>,
    job: &'s Job,
    ticket: Ticket,
) -> JobOutcome<'s> {
    let started = Instant::now();
    let mut log = match JobLog::create(
        &ticket.log_path,
        scope.shared.masker,
        scope.shared.observer,
        ticket.info.clone(),
    ) {
        Ok(log) => log,
        Err(error) => {
            let finished = Finished::failed(
                FailureReason::RunnerSystemFailure,
                format!("cannot create the job log: {error}"),
                job.allow_failure,
            );
            return record(scope, &ticket, finished, None, started);
        }
    };
    log.line(&format!(
        "Running with Sluice {} (pipeline {}, job {}, attempt {})",
        env!("CARGO_PKG_VERSION"),
        scope.pipeline_id.get(),
        ticket.row.get(),
        ticket.attempt
    ));
    let (finished, detached) = if job.trigger.is_some() {
        super::trigger::run(scope, job, &ticket, &mut log).await
    } else {
        (run_script_job(scope, job, &ticket, &mut log).await, None)
    };
    log.line(&final_line(&finished));
    let log_error = log.finish().err();
    let mut outcome = record(scope, &ticket, finished, detached, started);
    if let (Some(error), None) = (log_error, &outcome.finished.message) {
        outcome.finished.message = Some(format!("the job log is incomplete: {error}"));
    }
    outcome
}

fn final_line(finished: &Finished) -> String {
    match (finished.status, finished.exit_code, finished.failure_reason) {
        (JobStatus::Success, _, _) => "Job succeeded".to_owned(),
        (JobStatus::Canceled, _, _) => "Job canceled".to_owned(),
        (_, Some(code), _) => format!("ERROR: Job failed: exit code {code}"),
        (_, None, Some(FailureReason::JobExecutionTimeout)) => {
            "ERROR: Job failed: execution took longer than the timeout".to_owned()
        }
        (_, None, _) => format!(
            "ERROR: Job failed: {}",
            finished.message.as_deref().unwrap_or("system failure")
        ),
    }
}

/// Records the final status (before the scheduler acts on it) and builds the outcome.
fn record<'s>(
    scope: &Scope<'_>,
    ticket: &Ticket,
    mut finished: Finished,
    detached: Option<Detached<'s>>,
    started: Instant,
) -> JobOutcome<'s> {
    finished.duration = Some(started.elapsed());
    let store = scope.shared.store;
    let now = Timestamp::now();
    let result = if finished.failure_reason.is_none()
        && finished.status != JobStatus::Success
        && finished.message.is_some()
    {
        // Failures without a GitLab reason word (a trigger's downstream) keep their message.
        store.transition_job(
            ticket.row,
            finished.status,
            finished.message.as_deref(),
            now,
        )
    } else {
        store.finish_job(
            ticket.row,
            finished.status,
            finished.exit_code,
            finished.failure_reason,
            now,
        )
    };
    JobOutcome {
        finished,
        store_error: result.err(),
        detached,
    }
}

/// Directories of one attempt.
struct Dirs {
    workspace: PathBuf,
    scratch: PathBuf,
    builds: PathBuf,
}

impl Dirs {
    fn new(run_dir: &Path, row: JobId) -> Self {
        let builds = run_dir.join("builds");
        Self {
            workspace: builds.join(row.get().to_string()),
            scratch: run_dir.join("scratch").join(row.get().to_string()),
            builds,
        }
    }

    fn create(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::create_dir_all(&self.builds)?;
        if let Some(parent) = self.scratch.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::DirBuilder::new().mode(0o700).create(&self.scratch)
    }

    /// Removes the scratch directory on the blocking pool without waiting (the job's final
    /// status does not depend on it, and removing 100 files took 1.5 to 9 ms of every job's
    /// time; the run waits for `cleanup` before it returns), and offers the workspace for
    /// reuse when it has a `snapshot` (else removes it too, unless it is kept).
    fn remove(&self, shared: &super::scheduler::Shared<'_>, snapshot: Option<Snapshot>) {
        let scratch = self.scratch.clone();
        let workspace = match (shared.options.keep_workspaces, snapshot) {
            (true, _) => None,
            (false, Some(snapshot)) => {
                shared.workspaces.put(self.workspace.clone(), snapshot);
                None
            }
            (false, None) => Some(self.workspace.clone()),
        };
        shared.cleanup.spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(scratch);
            if let Some(workspace) = workspace {
                let _ = std::fs::remove_dir_all(workspace);
            }
        });
    }
}

/// Runs `f` on the blocking pool; a panic or cancellation of that task is an I/O error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|error| Err(format!("internal task failed: {error}")))
}

async fn run_script_job(
    scope: &Scope<'_>,
    job: &Job,
    ticket: &Ticket,
    log: &mut JobLog<'_>,
) -> Finished {
    let dirs = Dirs::new(&scope.run_dir, ticket.row);
    let mut snapshot = None;
    let finished = match prepare(scope, job, ticket, &dirs, log).await {
        Ok(mut prepared) => {
            snapshot = prepared.snapshot.take();
            run_prepared(scope, job, ticket, &dirs, prepared, log).await
        }
        Err(message) => {
            log.line(&format!("ERROR: {message}"));
            Finished::failed(
                FailureReason::RunnerSystemFailure,
                message,
                job.allow_failure,
            )
        }
    };
    // Only a workspace whose job ended on its own is reused: after a timeout or a
    // cancellation, removing it is the simpler promise.
    let reusable = finished.status != JobStatus::Canceled
        && finished.failure_reason != Some(FailureReason::JobExecutionTimeout);
    dirs.remove(&scope.shared, snapshot.filter(|_| reusable));
    finished
}

/// A job ready for its script.
struct Prepared {
    vars: Variables,
    env: Vec<(String, String)>,
    caches: Vec<cache::CachePlan>,
    timeout: Duration,
    /// The workspace as handed to the job, for its reuse by a later job.
    snapshot: Option<Snapshot>,
    /// The container its scripts run in, if any.
    container: Option<ContainerSpec>,
}

async fn prepare(
    scope: &Scope<'_>,
    job: &Job,
    ticket: &Ticket,
    dirs: &Dirs,
    log: &mut JobLog<'_>,
) -> Result<Prepared, String> {
    let shared = scope.shared;
    dirs.create()
        .map_err(|e| format!("cannot create the job's directories: {e}"))?;
    let timeout = Duration::from_secs(
        job.timeout
            .unwrap_or(shared.options.default_timeout.as_secs()),
    );
    let placement = placement::Placement::of(scope, job, dirs.workspace.clone(), dirs.builds.clone(), dirs.scratch.clone());
    let dotenv: Vec<(String, String)> = ticket
        .sources
        .iter()
        .flat_map(|s| s.dotenv.iter().cloned())
        .collect();
    let vars = job_variables(&JobEnvInput {
        ctx: scope.ctx,
        pipeline: scope.pipeline,
        job,
        pipeline_id: scope.pipeline_id.get(),
        job_id: ticket.row.get(),
        workspace: &placement.project_dir,
        builds_dir: &placement.builds_dir,
        timeout_secs: timeout.as_secs(),
        manual: ticket.played,
        dotenv: &dotenv,
        caller: &shared.options.variables,
    });
    // GitLab's GIT_STRATEGY: `none` leaves the workspace without the repository (only
    // artifacts and caches arrive); `fetch` and `clone` are the same here, every workspace
    // being new. GIT_DEPTH cuts the history of the workspace's `.git`.
    let strategy = vars.value("GIT_STRATEGY").unwrap_or_default();
    let mut snapshot = None;
    if strategy == "none" {
        log.line("Skipping the repository (GIT_STRATEGY is none)");
        std::fs::create_dir_all(&dirs.workspace).map_err(|e| format!("cannot create the workspace: {e}"))?;
    } else {
        log.line("Preparing the workspace (a copy of the working tree)");
        let source = shared.source.clone();
        let workspace = dirs.workspace.clone();
        let depth = git_depth(&vars, log);
        let reused = if shared.options.keep_workspaces { None } else { shared.workspaces.take() };
        let made = blocking(move || make_workspace(&source, &workspace, reused, depth)).await?;
        let stats = made.stats;
        log.line(&if made.reused {
            format!(
                "Reused a finished job's workspace, {} files written again ({} bytes) in {:.1} ms",
                stats.files + stats.symlinks,
                stats.bytes,
                stats.duration.as_secs_f64() * 1000.0
            )
        } else {
            format!(
                "Copied {} files ({} bytes) in {:.1} ms",
                stats.files + stats.symlinks,
                stats.bytes,
                stats.duration.as_secs_f64() * 1000.0
            )
        });
        snapshot = Some(made.snapshot);
    }
    for source in &ticket.sources {
        let Some(dir) = source.dir.clone().filter(|d| d.is_dir()) else {
            continue;
        };
        log.line(&format!("Restoring artifacts of `{}`", source.name));
        let workspace = dirs.workspace.clone();
        blocking(move || artifacts::restore(&dir, &workspace).map_err(|e| e.to_string())).await?;
    }
    let env = environment(vars.clone(), &shared.options.variables, &dirs.scratch, &placement.scratch_dir)
        .map_err(|e| format!("cannot write file variables: {e}"))?;
    let container = placement.container(scope, job, ticket, &vars);
    if let Some(container) = &container {
        log.line(&format!("Running in a container of image `{}` (`{}`)", container.image, container.name));
    }
    let mut caches = Vec::new();
    let cache_root = shared.options.state_dir.join("cache");
    for spec in &job.cache {
        let plan = cache::resolve(spec, &vars, &dirs.workspace).map_err(|e| e.to_string())?;
        if plan.pull {
            let (root, workspace, p) = (cache_root.clone(), dirs.workspace.clone(), plan.clone());
            match blocking(move || {
                cache::restore(&root, &p, &workspace).map_err(|e| format!("{e:#}"))
            })
            .await
            {
                Ok(Some(key)) => log.line(&format!("Restored cache `{key}`")),
                Ok(None) => log.line(&format!("No cache `{}` yet", plan.key)),
                Err(message) => log.line(&format!(
                    "WARNING: cannot restore cache `{}`: {message}",
                    plan.key
                )),
            }
        }
        caches.push(plan);
    }
    Ok(Prepared {
        vars,
        env,
        caches,
        timeout,
        snapshot,
        container,
    })
}

/// A workspace made for a job.
struct Made {
    stats: super::workspace::WorkspaceStats,
    /// Whether a finished job's workspace was reset rather than a new one copied.
    reused: bool,
    snapshot: Snapshot,
}

/// Makes `workspace` from `source`: by resetting `reused` (a finished job's workspace, moved
/// here) or, without one or when that fails, by copying; then writes its `.git` and records
/// it for the next reuse. The stats' duration covers all of it.
fn make_workspace(
    source: &SourceTree,
    workspace: &Path,
    reused: Option<(PathBuf, Snapshot)>,
    depth: Option<u32>,
) -> Result<Made, String> {
    let started = std::time::Instant::now();
    let mut made = None;
    if let Some((previous, snapshot)) = reused {
        match std::fs::rename(&previous, workspace) {
            Ok(()) => match super::reuse::reset(source, workspace, &snapshot) {
                Ok(reset) => made = Some(reset),
                // What cannot be reset may not be removable either (files a container's
                // user owns): then it is moved aside, so the copy starts from nothing.
                Err(_) => {
                    if std::fs::remove_dir_all(workspace).is_err() {
                        let _ = std::fs::rename(workspace, workspace.with_extension("unreset"));
                    }
                }
            },
            Err(_) => {
                let _ = std::fs::remove_dir_all(&previous);
            }
        }
    }
    let reused = made.is_some();
    let (mut stats, snapshot) = match made {
        Some(made) => made,
        None => super::reuse::prepare_recorded(source, workspace).map_err(|e| format!("{e:#}"))?,
    };
    if let Some(git) = &source.git {
        super::git_dir::write(git, workspace, depth).map_err(|e| format!("{e:#}"))?;
    }
    stats.duration = started.elapsed();
    Ok(Made { stats, reused, snapshot })
}

/// `GIT_DEPTH` as a number of commits; 0 or unset: the whole history. A value that is not a
/// number is reported in the log and ignored.
fn git_depth(vars: &crate::ci::variables::Variables, log: &mut JobLog<'_>) -> Option<u32> {
    let text = vars.value("GIT_DEPTH")?;
    match text.trim().parse::<u32>() {
        Ok(depth) => Some(depth),
        Err(_) => {
            log.line(&format!("WARNING: GIT_DEPTH `{text}` is not a number of commits; fetching the whole history"));
            None
        }
    }
}

async fn run_prepared(
    scope: &Scope<'_>,
    job: &Job,
    ticket: &Ticket,
    dirs: &Dirs,
    prepared: Prepared,
    log: &mut JobLog<'_>,
) -> Finished {
    if ticket.cancel.is_cancelled() {
        return Finished::not_run(JobStatus::Canceled, None);
    }
    let mut commands = job.before_script.clone();
    commands.extend(job.script.iter().cloned());
    let mut spec = ScriptRun::new(&dirs.workspace, &dirs.scratch, commands);
    spec.env = prepared.env.clone();
    spec.timeout = Some(prepared.timeout);
    spec.grace = scope.shared.options.grace;
    spec.container = prepared.container.clone();
    let mut finished = match run_recorded(scope, ticket.row, spec, &ticket.cancel, log).await {
        Ok(Exit::Code(0)) => Finished { exit_code: Some(0), ..Finished::not_run(JobStatus::Success, None) },
        Ok(Exit::Code(code)) => Finished {
            exit_code: Some(code),
            ..Finished::failed(
                FailureReason::ScriptFailure,
                format!("exit code {code}"),
                job.allow_failure || job.allow_failure_exit_codes.contains(&code),
            )
        },
        Ok(Exit::Signal(signal)) => Finished::failed(
            FailureReason::ScriptFailure,
            format!("killed by signal {signal}"),
            job.allow_failure,
        ),
        Ok(Exit::TimedOut) => {
            let message = format!(
                "execution took longer than {} seconds",
                prepared.timeout.as_secs()
            );
            Finished::failed(
                FailureReason::JobExecutionTimeout,
                message,
                job.allow_failure,
            )
        }
        Ok(Exit::Canceled) => Finished::not_run(JobStatus::Canceled, None),
        Err(message) => {
            log.line(&format!("ERROR: {message}"));
            Finished::failed(
                FailureReason::RunnerSystemFailure,
                message,
                job.allow_failure,
            )
        }
    };
    if finished.status == JobStatus::Success {
        after_success(scope, job, dirs, &prepared, &mut finished, log).await;
    }
    if finished.status == JobStatus::Success
        || finished.failure_reason != Some(FailureReason::RunnerSystemFailure)
    {
        run_after_script(scope, job, ticket, dirs, &prepared, finished.status, log).await;
    }
    if finished.status != JobStatus::Canceled {
        keep_outputs(scope, job, dirs, &prepared, &mut finished, log).await;
    }
    finished
}

/// The configured [`AfterSuccess`](super::hook::AfterSuccess) step, when the job opts in;
/// its failure fails the job (`script_failure`, with its message as the log's last line).
async fn after_success(
    scope: &Scope<'_>,
    job: &Job,
    dirs: &Dirs,
    prepared: &Prepared,
    finished: &mut Finished,
    log: &mut JobLog<'_>,
) {
    let Some(hook) = scope.shared.options.after_success.as_ref() else { return };
    if !hook.applies(&prepared.env) {
        return;
    }
    let input = super::hook::HookInput {
        job: &job.name,
        workspace: &dirs.workspace,
        env: &prepared.env,
        pipeline: scope.pipeline_id,
        store: scope.shared.store,
    };
    match hook.run(input).await {
        Ok(lines) => lines.iter().for_each(|line| log.line(line)),
        Err((lines, message)) => {
            lines.iter().for_each(|line| log.line(line));
            // No exit code: the final log line then shows the message.
            *finished = Finished::failed(FailureReason::ScriptFailure, message, job.allow_failure);
        }
    }
}

async fn run_after_script(
    scope: &Scope<'_>,
    job: &Job,
    ticket: &Ticket,
    dirs: &Dirs,
    prepared: &Prepared,
    status: JobStatus,
    log: &mut JobLog<'_>,
) {
    if job.after_script.is_empty() {
        return;
    }
    let word = match status {
        JobStatus::Success => "success",
        JobStatus::Canceled => "canceled",
        _ => "failed",
    };
    log.line("Running after_script");
    let mut spec = ScriptRun::new(&dirs.workspace, &dirs.scratch, job.after_script.clone());
    spec.env = prepared.env.clone();
    spec.env.push(("CI_JOB_STATUS".to_owned(), word.to_owned()));
    spec.timeout = Some(AFTER_SCRIPT_TIMEOUT);
    spec.grace = scope.shared.options.grace;
    spec.container = prepared.container.as_ref().map(|c| ContainerSpec { name: after_script_name(&c.name), ..c.clone() });
    // after_script must run even when the job was canceled: it gets a token of its own and
    // is bounded by its timeout.
    let never = tokio_util::sync::CancellationToken::new();
    match run_recorded(scope, ticket.row, spec, &never, log).await {
        Ok(Exit::Code(0)) => {}
        Ok(Exit::TimedOut) => log.line("WARNING: after_script timed out"),
        Ok(exit) => log.line(&format!("WARNING: after_script failed: {exit:?}")),
        Err(message) => log.line(&format!("WARNING: after_script could not run: {message}")),
    }
}
