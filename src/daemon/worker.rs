//! The worker: turns recorded events into pipelines, oldest first, several at a time.
//!
//! It wakes on a [`Notify`] (a webhook or the poller recorded something), on start (events
//! left `pending` by a previous process are the queue: nothing is lost), and every
//! [`RECHECK`] in case a wake-up was missed after a store error. For each event: fetch the
//! commit into the mirror, check it out under `<data_dir>/checkouts/<project>/<event>/`,
//! plan it with [`crate::ci::plan`] (configuration read from the mirror at the sha, changed
//! paths from the real diff), run it with [`run_pipeline`] (state under `<data_dir>`), then
//! mark the event `done` with its pipeline, `ignored` when `workflow:rules` create none, or
//! `failed` with the reason (an invalid configuration: its diagnostics; nothing else is
//! recorded). The event is linked to its pipeline in the transaction that records the
//! pipeline and its jobs, so an event interrupted by a crash is not run a second time after
//! the restart: crash recovery ([`super::recover`]) resumes that pipeline instead.
//!
//! Events are handled concurrently, each pipeline in its own task: at most
//! [`PIPELINES_PER_SLOT`] times `concurrency` at once, and per project at most that many
//! times the project's own `concurrency` (or the global one), so a burst of events does not
//! check out hundreds of trees and one busy project does not hold every place. Jobs take
//! [`JobSlots`]: one of the global `concurrency` slots shared by every pipeline, and one of
//! their project's slots when it sets `concurrency`. On shutdown no new event is taken;
//! running pipelines get the grace period, then are canceled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auto_cancel::Redundant;
use super::mirrors::Mirrors;
use crate::run::git_dir::GitSource;
use crate::api::metrics::Metrics;
use crate::ci::context::{PipelineContext, PipelineSource};
use crate::ci::pipeline::Pipeline;
use crate::ci::{PlanRequest, plan};
use crate::config::{ControllerConfig, ProjectConfig};
use crate::executor::{ContainerExecutor, ShellExecutor};
use crate::git::{RemoteAuth, Repo, RepoReader};
use crate::publish::chart_bump::ChartRepo;
use crate::publish::publication::{DEFAULT_LEASE, PublishConfig, Publisher};
use crate::publish::registry::RegistryOptions;
use crate::publish::{check, publish_variables};
use crate::run::workspace::SourceTree;
use crate::run::{
    JobInfo, LockedReader, PipelineRun, RunError, RunObserver, RunOptions, RunningPipelines, Slots, run_pipeline,
};
use crate::store::{EventId, EventRow, EventState, PipelineId, RerunKind, Store};
use crate::trigger::poll::watched;
use crate::trigger::{Event, EventKind};

/// How often the queue is re-read without a wake-up.
pub const RECHECK: Duration = Duration::from_secs(30);

/// How many pipelines may be in flight per job slot (globally, and per project).
pub const PIPELINES_PER_SLOT: usize = 4;

/// The daemon's job slots: the global `concurrency` shared by every pipeline, and the own
/// slots of each project that sets `concurrency`.
#[derive(Debug, Clone)]
pub struct JobSlots {
    global: Slots,
    global_limit: usize,
    projects: HashMap<String, (Slots, usize)>,
}

impl JobSlots {
    /// The slots `config` asks for.
    pub fn for_config(config: &ControllerConfig) -> Self {
        let global_limit = config.concurrency.get();
        let global = Slots::new(global_limit);
        let projects = config
            .projects
            .iter()
            .filter_map(|p| {
                let limit = p.concurrency?.get();
                Some((p.name.as_str().to_owned(), (global.with_own_limit(limit), limit)))
            })
            .collect();
        JobSlots {
            global,
            global_limit,
            projects,
        }
    }

    /// The slots the jobs of `project` take.
    pub fn of(&self, project: &str) -> Slots {
        self.projects.get(project).map_or_else(|| self.global.clone(), |(slots, _)| slots.clone())
    }

    /// How many of `project`'s events may be in flight at once.
    fn project_in_flight(&self, project: &str) -> usize {
        let limit = self.projects.get(project).map_or(self.global_limit, |(_, limit)| (*limit).min(self.global_limit));
        limit * PIPELINES_PER_SLOT
    }
}

/// The event worker.
pub struct Worker {
    /// The controller configuration (projects by name, data dir, concurrency).
    pub config: Arc<ControllerConfig>,
    /// The store of record.
    pub store: Arc<Store>,
    /// The project mirrors.
    pub mirrors: Mirrors,
    /// Notified when an event was recorded.
    pub wake: Arc<Notify>,
    /// How long a running pipeline may go on after shutdown starts.
    pub grace: Duration,
    /// Where running pipelines' cancellation tokens are registered (for the API's cancel).
    pub running: Arc<RunningPipelines>,
    /// Receives finished jobs' durations.
    pub metrics: Arc<Metrics>,
    /// The job slots every pipeline's jobs take.
    pub slots: JobSlots,
    /// Notified when a pipeline finished (the promotion loop: it may have recorded a release
    /// or opened a `pipelines` gate).
    pub pipeline_finished: Arc<Notify>,
}

/// How handling one event ended.
pub(super) enum Handled {
    /// Marked; take the next one.
    Marked,
    /// The store failed to mark it: wait before trying again.
    Stuck,
}

/// The events being handled, with their project.
type InFlight = Arc<Mutex<HashMap<EventId, String>>>;

impl Worker {
    /// Takes events until `shutdown` fires, then waits for the pipelines in flight.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let in_flight = InFlight::default();
        let tasks = TaskTracker::new();
        let most = self.config.concurrency.get() * PIPELINES_PER_SLOT;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let store = self.store.clone();
            let taken = lock(&in_flight).len();
            let limit = u32::try_from(most + taken).unwrap_or(u32::MAX);
            match tokio::task::spawn_blocking(move || store.pending_events(limit)).await {
                Ok(Ok(events)) => {
                    for event in events {
                        if !self.take(&in_flight, &event, most) {
                            continue;
                        }
                        let (worker, in_flight, shutdown) = (self.clone(), in_flight.clone(), shutdown.clone());
                        tasks.spawn(async move {
                            let id = event.id;
                            if let Handled::Stuck = worker.handle(event, &shutdown).await {
                                // The store failed to mark it: wait before it is taken again.
                                tokio::select! {
                                    () = shutdown.cancelled() => {}
                                    () = tokio::time::sleep(RECHECK) => {}
                                }
                            }
                            lock(&in_flight).remove(&id);
                            worker.wake.notify_one();
                        });
                    }
                }
                Ok(Err(failed)) => tracing::error!("cannot read the event queue: {}", chain(&failed)),
                Err(panicked) => tracing::error!("reading the event queue panicked: {panicked}"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
        tasks.close();
        tasks.wait().await;
    }

    /// Marks `event` in flight unless it is already, or the global or its project's limit
    /// of events in flight is reached.
    fn take(&self, in_flight: &InFlight, event: &EventRow, most: usize) -> bool {
        let mut in_flight = lock(in_flight);
        if in_flight.contains_key(&event.id) || in_flight.len() >= most {
            return false;
        }
        let of_project = in_flight.values().filter(|p| **p == event.project).count();
        if of_project >= self.slots.project_in_flight(&event.project) {
            return false;
        }
        in_flight.insert(event.id, event.project.clone());
        true
    }

    /// Run options for a pipeline of `project`: state under the data directory, the
    /// daemon's job slots.
    pub(super) fn run_options(&self, project: &str) -> RunOptions {
        let mut options = RunOptions::new(&self.config.data_dir);
        options.concurrency = self.config.concurrency.get();
        options.slots = Some(self.slots.of(project));
        options.interrupt = Some(CancellationToken::new());
        options
    }

    async fn handle(&self, row: EventRow, shutdown: &CancellationToken) -> Handled {
        let id = row.id;
        if row.kind == "cancel" {
            return self.handle_cancel(row).await;
        }
        if let Some(kind) = RerunKind::from_event_kind(&row.kind) {
            return self.handle_rerun(row, kind, shutdown).await;
        }
        if let Some(pipeline) = row.pipeline_id {
            // A previous process ran this event's pipeline and died before it marked the
            // event. Recovery resumed the pipeline if it had not ended (with an event of its
            // own, and marked this one done); here it had ended: the event had its one pipeline.
            let note = "the controller restarted after its pipeline ended";
            return self
                .mark(id, EventState::Done, Some(pipeline), Some(note.to_owned()))
                .await;
        }
        let event = match Event::from_json(&row.payload) {
            Ok(event) => event,
            Err(reason) => return self.mark(id, EventState::Failed, None, Some(reason)).await,
        };
        let Some(project) = self
            .config
            .projects
            .iter()
            .find(|p| p.name.as_str() == row.project)
            .cloned()
        else {
            let reason = format!("project `{}` is no longer configured", row.project);
            return self.mark(id, EventState::Failed, None, Some(reason)).await;
        };
        if matches!(event.kind, EventKind::Push | EventKind::TagPush) && watched(&project, &event.full_ref()).is_none()
        {
            let reason = format!(
                "`{}` is not a watched branch or tag of `{}`",
                event.git_ref.name(),
                row.project
            );
            return self.mark(id, EventState::Ignored, None, Some(reason)).await;
        }
        tracing::info!(event = id.get(), project = %row.project, git_ref = %row.git_ref, "handling event");
        let mirrors = self.mirrors.clone();
        let checkout = self
            .config
            .data_dir
            .join("checkouts")
            .join(project.name.as_str())
            .join(id.get().to_string());
        let prepared = {
            let (project, checkout, controller) = (project.clone(), checkout.clone(), self.config.clone());
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || {
                let mut event = event;
                match super::recheck::fill_github_recheck(&store, &mut event) {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(event = id.get(), "recheck of a pull request without a recorded pull_request event: its branches are unknown"),
                    Err(failed) => return Err(chain(&failed)),
                }
                prepare(&project, &mirrors, &controller, &checkout, &event)
            })
            .await
        };
        let prepared = match prepared {
            Ok(Ok(prepared)) => prepared,
            Ok(Err(reason)) => {
                remove_checkout(checkout).await;
                tracing::warn!(event = id.get(), project = %row.project, "event failed: {reason}");
                return self.mark(id, EventState::Failed, None, Some(reason)).await;
            }
            Err(panicked) => {
                remove_checkout(checkout).await;
                return self
                    .mark(
                        id,
                        EventState::Failed,
                        None,
                        Some(format!("preparing panicked: {panicked}")),
                    )
                    .await;
            }
        };
        let result = self.run_prepared(id, prepared, shutdown).await;
        remove_checkout(checkout).await;
        match result {
            Ok(summary) => {
                tracing::info!(event = id.get(), pipeline = summary.pipeline_id.get(), status = %summary.status, "pipeline finished");
                self.pipeline_finished.notify_one();
                self.mark(id, EventState::Done, Some(summary.pipeline_id), None).await
            }
            Err(RunError::NotCreated { reason }) => {
                self.mark(
                    id,
                    EventState::Ignored,
                    None,
                    Some(format!("no pipeline is created: {reason}")),
                )
                .await
            }
            Err(failed) => self.mark(id, EventState::Failed, None, Some(chain(&failed))).await,
        }
    }

    async fn run_prepared(
        &self,
        id: EventId,
        prepared: Prepared,
        shutdown: &CancellationToken,
    ) -> Result<crate::run::RunSummary, RunError> {
        let Prepared {
            pipeline,
            context,
            source,
            reader,
            publisher,
        } = prepared;
        let reader = LockedReader::new(reader);
        let cancel = CancellationToken::new();
        let mut options = self.run_options(&context.project_path);
        options.event = Some(id);
        let observer = LinkEvent {
            store: self.store.clone(),
            running: self.running.clone(),
            metrics: self.metrics.clone(),
            cancel: cancel.clone(),
            interrupt: options.interrupt.clone(),
            pipeline: Mutex::new(None),
        };
        options.after_success = Some(Arc::new(publisher));
        let run = PipelineRun {
            pipeline: &pipeline,
            context: &context,
            source: &source,
            reader: &reader,
            executor: Arc::new(ContainerExecutor::detecting(ShellExecutor::from_process_env())),
            store: &self.store,
            observer: &observer,
        };
        let result = self
            .with_grace(id, run_pipeline(&run, &options, &cancel), &cancel, shutdown)
            .await;
        if let Some(pipeline) = *observer.pipeline.lock().unwrap_or_else(PoisonError::into_inner) {
            self.running.remove(pipeline);
        }
        result
    }

    /// Awaits `running` (a pipeline run canceled through `cancel`); once `shutdown` fires it
    /// may go on for the grace period, then is canceled and awaited.
    pub(super) async fn with_grace<T>(
        &self,
        id: EventId,
        running: impl std::future::Future<Output = T>,
        cancel: &CancellationToken,
        shutdown: &CancellationToken,
    ) -> T {
        tokio::pin!(running);
        tokio::select! {
            result = &mut running => result,
            () = shutdown.cancelled() => {
                tracing::info!(event = id.get(), grace = ?self.grace, "shutting down: the running pipeline may finish within the grace period");
                tokio::select! {
                    result = &mut running => result,
                    () = tokio::time::sleep(self.grace) => {
                        cancel.cancel();
                        running.await
                    }
                }
            }
        }
    }

    pub(super) async fn mark(
        &self,
        id: EventId,
        state: EventState,
        pipeline: Option<PipelineId>,
        error: Option<String>,
    ) -> Handled {
        let store = self.store.clone();
        let marked = tokio::task::spawn_blocking(move || store.mark_event(id, state, pipeline, error.as_deref())).await;
        match marked {
            Ok(Ok(())) => Handled::Marked,
            Ok(Err(failed)) => {
                tracing::error!(event = id.get(), "cannot mark event {state}: {}", chain(&failed));
                Handled::Stuck
            }
            Err(panicked) => {
                tracing::error!(event = id.get(), "marking event panicked: {panicked}");
                Handled::Stuck
            }
        }
    }
}

/// Registers the pipeline's cancellation token once the pipeline is recorded (its event was
/// linked to it in the same transaction, [`RunOptions::event`]) and auto-cancels the
/// pipelines it makes redundant.
struct LinkEvent {
    store: Arc<Store>,
    running: Arc<RunningPipelines>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    interrupt: Option<CancellationToken>,
    pipeline: Mutex<Option<PipelineId>>,
}

impl RunObserver for LinkEvent {
    fn pipeline_created(&self, pipeline: PipelineId) {
        self.running.insert(pipeline, self.cancel.clone(), self.interrupt.clone());
        *self.pipeline.lock().unwrap_or_else(PoisonError::into_inner) = Some(pipeline);
        let redundant = off_runtime(|| super::auto_cancel::redundant(&self.store, pipeline, &|p| self.running.contains(p)));
        match redundant {
            Ok(redundant) => {
                for (older, what) in redundant {
                    let done = match what {
                        Redundant::Whole => self.running.cancel(older),
                        Redundant::InterruptibleJobs => self.running.interrupt(older),
                    };
                    if done {
                        tracing::info!(pipeline = older.get(), newer = pipeline.get(), canceled = what.as_str(), "redundant pipeline auto-canceled");
                    }
                }
            }
            Err(failed) => tracing::error!(pipeline = pipeline.get(), "cannot look for redundant pipelines: {}", chain(&failed)),
        }
    }

    fn job_finished(&self, job: &JobInfo, summary: &crate::run::JobSummary) {
        self.metrics.job_finished(job, summary);
    }
}

/// Runs blocking `f` from a synchronous callback on the runtime: on a multi-threaded
/// runtime (the daemon's) the worker thread hands its other tasks over first
/// ([`tokio::task::block_in_place`]); elsewhere it just runs.
fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only inserts and removes happen under these locks: a panic cannot leave one half-done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A planned pipeline with everything its run needs.
pub(super) struct Prepared {
    pub(super) pipeline: Pipeline,
    pub(super) context: PipelineContext,
    pub(super) source: SourceTree,
    pub(super) reader: RepoReader,
    /// Publishes what the pipeline's publish jobs build.
    pub(super) publisher: Publisher,
}

/// Fetches, checks out and plans `event`. Blocks. The error is the text recorded with the
/// failed event.
pub(super) fn prepare(
    project: &ProjectConfig,
    mirrors: &Mirrors,
    controller: &ControllerConfig,
    checkout: &Path,
    event: &Event,
) -> Result<Prepared, String> {
    let (sha, repo) = mirrors
        .with(project, |mirror| {
            let extra: Vec<&str> = event.fetch_ref.iter().map(String::as_str).collect();
            // A failed fetch is not fatal when the commit is already here (a poll got it).
            let fetched = mirror.fetch(&extra);
            // An API event names only a branch: its tip in the mirror, just fetched.
            let wanted = event
                .sha
                .clone()
                .or_else(|| event.fetch_ref.as_deref().and_then(|r| mirror.resolve(r)))
                .or_else(|| mirror.resolve(&event.full_ref()));
            let sha = match (wanted.as_deref().and_then(|s| mirror.resolve(s)), fetched) {
                (Some(sha), _) => sha,
                (None, Err(failed)) => return Ok(Err(chain(&failed))),
                (None, Ok(())) => {
                    let shown = wanted.as_deref().unwrap_or("(none)");
                    return Ok(Err(format!("commit {shown} is not in the repository")));
                }
            };
            mirror.checkout(&sha, checkout)?;
            Ok(Ok((sha, mirror.reader()?)))
        })
        .map_err(|e| chain(&e))??;
    let mut merge_request = event.merge_request.clone();
    let changed_paths = match event.pipeline_source {
        PipelineSource::MergeRequestEvent | PipelineSource::ExternalPullRequestEvent => {
            merge_request.as_mut().and_then(|mr| {
                let base = repo
                    .merge_base(&format!("refs/heads/{}", mr.target_branch), &sha)
                    .ok()?;
                mr.diff_base_sha.get_or_insert(base.clone());
                repo.changed_paths(&base, &sha).ok()
            })
        }
        _ => event
            .before_sha
            .as_deref()
            .filter(|before| before.bytes().any(|b| b != b'0') && repo.has_commit(before))
            .and_then(|before| repo.changed_paths(before, &sha).ok()),
    };
    let commit_message = event
        .commit_message
        .clone()
        .or_else(|| repo.commit_message(&sha).ok())
        .unwrap_or_default();
    let files = repo.list_files_at(&sha).map_err(|e| chain(&e))?;
    let context = PipelineContext {
        project_path: project.name.as_str().to_owned(),
        default_branch: project.default_branch.clone(),
        git_ref: event.git_ref.clone(),
        sha: sha.clone(),
        before_sha: event.before_sha.clone(),
        source: event.pipeline_source,
        merge_request,
        changed_paths,
        commit_message,
        variables: gate_variables(&repo, &sha, event.before_sha.as_deref(), &project.publish.tag_prefix)
            .into_iter()
            .chain(event.variables.iter().cloned())
            .collect(),
    };
    let publisher = Publisher::new(PublishConfig {
        registry: project.publish.registry.clone(),
        layout_root: controller.data_dir.join("images"),
        tag_prefix: project.publish.tag_prefix.clone(),
        repo: mirrors.path_of(project.name.as_str()),
        remote: Some(project.repo.to_git_url()),
        remote_auth: RemoteAuth::from(&project.credentials),
        repo_lock: Some(mirrors.lock_of(project.name.as_str())),
        registry_options: registry_options(&project.publish),
        lease: DEFAULT_LEASE,
        chart: controller.config_repo.as_ref().map(|source| ChartRepo {
            // Its own mirror: promotion keeps another, and commits never share a lock.
            mirror: controller.data_dir.join("publish").join("config-repo.git"),
            url: source.repo.to_git_url(),
            auth: RemoteAuth::from(&source.credentials),
            branch: source.branch.clone(),
            author: (source.author.name.clone(), source.author.email.clone()),
        }),
    });
    let reader = RepoReader::new(repo, Some(sha.clone()));
    let changed_since = |compare_to: &str| reader.repo().changed_paths(compare_to, &sha).ok();
    let request = PlanRequest {
        path: &project.ci_file,
        context: &context,
        reader: &reader,
        changed_since: &changed_since,
    };
    let pipeline = plan(&request).map_err(|diagnostics| format!("`{}` is invalid:\n{diagnostics}", project.ci_file))?;
    let source = SourceTree {
        root: checkout.to_owned(),
        files,
        untracked: Vec::new(),
        include_untracked: false,
        git: GitSource::new(reader.repo(), &sha, event.full_ref().strip_prefix("refs/heads/"), false).ok(),
    };
    Ok(Prepared {
        pipeline,
        context,
        source,
        reader,
        publisher,
    })
}

/// The VERSION gate's variables at `sha` (the lowest precedence): none without a `VERSION`
/// file or when git cannot answer (logged); a `before` the mirror lacks counts as a new ref.
fn gate_variables(repo: &Repo, sha: &str, before: Option<&str>, tag_prefix: &str) -> Vec<(String, String)> {
    let before = before.filter(|b| b.bytes().any(|c| c != b'0') && repo.has_commit(b));
    match check(repo, Some(sha), before, tag_prefix) {
        Ok(Some(decision)) => publish_variables(&decision),
        Ok(None) => Vec::new(),
        Err(error) => {
            tracing::warn!("the VERSION gate cannot read git: {}; no `SLUICE_*` version variables", chain(&error));
            Vec::new()
        }
    }
}

pub(super) async fn remove_checkout(dir: PathBuf) {
    let _best_effort = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
}

/// An error with its sources, `: `-separated.
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    crate::diagnostic::error_chain(error)
}

/// The daemon's registry options, with the project's own account when `publish:` names one.
fn registry_options(publish: &crate::config::PublishSettings) -> RegistryOptions {
    let mut options = RegistryOptions::from_env();
    if let Some((user, password)) = &publish.credentials
        && let Some(password) = password.value()
    {
        options.credentials = Some((user.clone(), password.clone()));
    }
    options
}
