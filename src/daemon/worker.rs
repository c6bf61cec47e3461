//! The worker: turns recorded events into pipelines, oldest first, one at a time.
//!
//! It wakes on a [`Notify`] (a webhook or the poller recorded something), on start (events
//! left `pending` by a previous process are the queue: nothing is lost), and every
//! [`RECHECK`] in case a wake-up was missed after a store error. For each event: fetch the
//! commit into the mirror, check it out under `<data_dir>/checkouts/<project>/<event>/`,
//! plan it with [`crate::ci::plan`] (configuration read from the mirror at the sha, changed
//! paths from the real diff), run it with [`run_pipeline`] (state under `<data_dir>`), then
//! mark the event `done` with its pipeline, `ignored` when `workflow:rules` create none, or
//! `failed` with the reason (an invalid configuration: its diagnostics; nothing else is
//! recorded). The event is linked to its pipeline as soon as the first job starts, so an
//! event interrupted by a crash is not run a second time after the restart.
//!
//! Pipelines run one at a time, each with the global `concurrency` as its job limit, so the
//! limit holds across projects. On shutdown no new event is taken; a running pipeline gets
//! the grace period, then is canceled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::mirrors::Mirrors;
use crate::run::git_dir::GitSource;
use crate::api::metrics::Metrics;
use crate::ci::context::{PipelineContext, PipelineSource};
use crate::ci::pipeline::Pipeline;
use crate::ci::{PlanRequest, plan};
use crate::config::{ControllerConfig, ProjectConfig};
use crate::executor::shell::ShellExecutor;
use crate::git::{Repo, RepoReader};
use crate::publish::chart_bump::ChartRepo;
use crate::publish::publication::{DEFAULT_LEASE, PublishConfig, Publisher};
use crate::publish::registry::RegistryOptions;
use crate::publish::{check, publish_variables};
use crate::run::workspace::SourceTree;
use crate::run::{
    JobInfo, LockedReader, PipelineRun, RunError, RunObserver, RunOptions, RunningPipelines, run_pipeline,
};
use crate::store::{EventId, EventRow, EventState, PipelineId, RerunKind, Store};
use crate::trigger::poll::watched;
use crate::trigger::{Event, EventKind};

/// How often the queue is re-read without a wake-up.
pub const RECHECK: Duration = Duration::from_secs(30);

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
}

/// How handling one event ended.
pub(super) enum Handled {
    /// Marked; take the next one.
    Marked,
    /// The store failed to mark it: wait before trying again.
    Stuck,
}

impl Worker {
    /// Takes events until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || store.pending_events(1)).await {
                Ok(Ok(events)) if !events.is_empty() => {
                    if let Some(event) = events.into_iter().next()
                        && let Handled::Marked = self.handle(event, &shutdown).await
                    {
                        continue;
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(failed)) => tracing::error!("cannot read the event queue: {}", chain(&failed)),
                Err(panicked) => tracing::error!("reading the event queue panicked: {panicked}"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
    }

    async fn handle(&self, row: EventRow, shutdown: &CancellationToken) -> Handled {
        let id = row.id;
        if let Some(kind) = RerunKind::from_event_kind(&row.kind) {
            return self.handle_rerun(row, kind, shutdown).await;
        }
        if let Some(pipeline) = row.pipeline_id {
            // A previous process started this event's pipeline and died. Recovery failed the
            // jobs it left running; if it died between two jobs, the pipeline is settled here
            // so it does not stay `running`. The event had its one pipeline.
            let store = self.store.clone();
            if let Ok(Err(failed)) = tokio::task::spawn_blocking(move || super::recover::settle_pipeline(&store, pipeline)).await {
                tracing::error!(event = id.get(), "cannot settle the interrupted pipeline: {}", chain(&failed));
            }
            let note = "the controller restarted while its pipeline ran";
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
            tokio::task::spawn_blocking(move || prepare(&project, &mirrors, &controller, &checkout, &event)).await
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
        let observer = LinkEvent {
            store: self.store.clone(),
            event: id,
            linked: AtomicBool::new(false),
            running: self.running.clone(),
            metrics: self.metrics.clone(),
            cancel: cancel.clone(),
            pipeline: std::sync::Mutex::new(None),
        };
        let mut options = RunOptions::new(&self.config.data_dir);
        options.concurrency = self.config.concurrency.get();
        options.after_success = Some(Arc::new(publisher));
        let run = PipelineRun {
            pipeline: &pipeline,
            context: &context,
            source: &source,
            reader: &reader,
            executor: Arc::new(ShellExecutor::from_process_env()),
            store: &self.store,
            observer: &observer,
        };
        let result = self
            .with_grace(id, run_pipeline(&run, &options, &cancel), &cancel, shutdown)
            .await;
        if let Some(pipeline) = *observer.pipeline.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
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

/// Registers the pipeline's cancellation token once it is recorded, and links the event to
/// its pipeline when the pipeline's first job starts.
struct LinkEvent {
    store: Arc<Store>,
    event: EventId,
    linked: AtomicBool,
    running: Arc<RunningPipelines>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    pipeline: std::sync::Mutex<Option<PipelineId>>,
}

impl RunObserver for LinkEvent {
    fn pipeline_created(&self, pipeline: PipelineId) {
        self.running.insert(pipeline, self.cancel.clone());
        *self.pipeline.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pipeline);
    }

    fn job_finished(&self, job: &JobInfo, summary: &crate::run::JobSummary) {
        self.metrics.job_finished(job, summary);
    }

    fn job_started(&self, job: &JobInfo) {
        if self.linked.swap(true, Ordering::AcqRel) {
            return;
        }
        // One short write; the first job of the top-level pipeline always starts first.
        if let Err(failed) = self
            .store
            .mark_event(self.event, EventState::Pending, Some(job.pipeline_id), None)
        {
            tracing::error!(
                event = self.event.get(),
                "cannot link event to its pipeline: {}",
                chain(&failed)
            );
        }
    }
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
        registry_options: RegistryOptions::from_env(),
        lease: DEFAULT_LEASE,
        chart: controller.config_repo.as_ref().map(|source| ChartRepo {
            // Its own mirror: promotion keeps another, and commits never share a lock.
            mirror: controller.data_dir.join("publish").join("config-repo.git"),
            url: source.repo.to_git_url(),
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
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
