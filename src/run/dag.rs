//! The scheduling loop of one pipeline: which job may start when, in GitLab's terms.
//!
//! A job waits for its prerequisites: with `needs:`, the jobs listed; without, every job of
//! the earlier stages. When they are all done, the job's `when` decides, from their combined
//! result (GitLab's "composite status"):
//!
//! - `on_success`, `manual`, `delayed`: run if none failed (an allowed failure counts as a
//!   success); with `needs:`, a skipped or canceled need also skips the job (GitLab's DAG
//!   rule), while stage order ignores skipped jobs;
//! - `on_failure`: run only if one failed; `always`: run unless the pipeline is canceled;
//! - otherwise the job becomes `skipped`.
//!
//! Then: a `manual` job becomes `manual` and stays there unless played (`--manual`); an
//! unplayed manual job with `allow_failure: true` does not hold back later stages, but one
//! with `allow_failure: false` does (*blocking* manual job), and a job that `needs:` a manual
//! job always waits for it (GitLab's DAG behaviour); such jobs stay `created`. A `delayed`
//! job is `scheduled` for `start_in`, then runs. A job with a `resource_group` held by another
//! job is `waiting_for_resource` (first come, first served). A ready job is `pending` until
//! one of the `concurrency` slots is free, then `running`.
//!
//! All futures of the pipeline (jobs, detached child pipelines) are polled by one loop
//! ([`TaskSet`]); blocking work inside jobs goes to `spawn_blocking`.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::job::{Finished, JobOutcome};
use super::observer::JobInfo;
use super::retry::should_retry;
use super::scheduler::{Created, RunError, RunSummary, Shared, job_matches, log_path, new_job};
use crate::ci::context::PipelineContext;
use crate::ci::pipeline::{Job, Pipeline, When};
use crate::store::{FailureReason, JobId, JobStatus, PipelineId, PipelineStatus, Timestamp};

/// One pipeline being run: what its jobs need to know about it.
pub(crate) struct Scope<'a> {
    pub shared: Shared<'a>,
    pub pipeline: &'a Pipeline,
    pub ctx: &'a PipelineContext,
    pub pipeline_id: PipelineId,
    /// `<state>/runs/<pipeline id>`.
    pub run_dir: PathBuf,
    /// For a child pipeline: the display name of its trigger job.
    pub prefix: Option<String>,
    /// Fires when the run is canceled (by the caller, or because the store failed).
    pub cancel: CancellationToken,
}

/// A child pipeline left running after its trigger job finished (no `strategy: depend`).
pub(crate) type Detached<'s> =
    Pin<Box<dyn Future<Output = Result<RunSummary, RunError>> + Send + 's>>;

/// What a finished future of the loop reports.
pub(crate) enum Completion<'s> {
    /// A job attempt ended.
    Job {
        node: usize,
        outcome: JobOutcome<'s>,
    },
    /// A detached child pipeline ended.
    Child {
        node: usize,
        result: Result<RunSummary, RunError>,
    },
}

pub(crate) use super::tasks::TaskSet;

/// The jobs among `present` (plan indices) that job `index` waits for.
pub(crate) fn prerequisites(pipeline: &Pipeline, present: &[usize], index: usize) -> Vec<usize> {
    let job = &pipeline.jobs[index];
    match &job.needs {
        Some(needs) => present
            .iter()
            .copied()
            .filter(|&i| {
                needs
                    .iter()
                    .any(|n| n.is_local() && n.job == pipeline.jobs[i].name)
            })
            .collect(),
        None => {
            let own = stage_index(pipeline, &job.stage);
            present
                .iter()
                .copied()
                .filter(|&i| stage_index(pipeline, &pipeline.jobs[i].stage) < own)
                .collect()
        }
    }
}

fn stage_index(pipeline: &Pipeline, stage: &str) -> usize {
    pipeline
        .stages
        .iter()
        .position(|s| s == stage)
        .unwrap_or(usize::MAX)
}

/// Where a job is in this run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Created,
    /// Waiting for `start_in` (status `scheduled`).
    Scheduled(Instant),
    WaitingForResource,
    Pending,
    Running,
    /// Manual and not played (status `manual`).
    Manual,
    Final,
}

/// The combined result of a job's prerequisites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Composite {
    Success,
    Failed,
    Canceled,
    Skipped,
}

mod report;
mod resume;
mod start;

pub(crate) use resume::{Resume, drive_resume};

struct Node<'p> {
    job: &'p Job,
    /// Node positions this job waits for.
    prereqs: Vec<usize>,
    dag: bool,
    row: JobId,
    attempt: u32,
    log_path: PathBuf,
    played: bool,
    phase: Phase,
    /// The expanded `resource_group`.
    resource: Option<String>,
    /// Attempts started.
    started: u32,
    finished: Option<Finished>,
    /// Cancels the running attempt alone (a child of the run's token).
    cancel: Option<CancellationToken>,
}

struct Run<'p> {
    nodes: Vec<Node<'p>>,
    pending: VecDeque<usize>,
    /// Resource group → the node holding it and the nodes waiting for it.
    groups: HashMap<String, (Option<usize>, VecDeque<usize>)>,
    canceled: bool,
    /// The run's interruptible jobs were canceled by a newer pipeline (see [`Run::interrupt`]).
    interrupted: bool,
    /// The run was canceled because a job failed (`workflow:auto_cancel:on_job_failure: all`):
    /// it ends `failed`, not `canceled`.
    failed_fast: bool,
}

/// Runs the recorded pipeline `created` to its end and records its final status.
///
/// # Errors
///
/// [`RunError::Store`]: running jobs are canceled and drained first.
pub(crate) async fn drive(
    shared: Shared<'_>,
    pipeline: &Pipeline,
    ctx: &PipelineContext,
    created: Created,
    prefix: Option<String>,
    cancel: CancellationToken,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let scope = Scope {
        shared,
        pipeline,
        ctx,
        pipeline_id: created.pipeline_id,
        run_dir: created.run_dir,
        prefix,
        cancel,
    };
    let store = shared.store;
    store.set_pipeline_status(scope.pipeline_id, PipelineStatus::Running, Timestamp::now())?;
    let mut run = Run::new(&scope, &created.jobs);
    let mut tasks = TaskSet::new();
    if let Err(error) = run.run(&scope, &mut tasks).await {
        scope.cancel.cancel();
        while tasks.next().await.is_some() {}
        return Err(error);
    }
    let status = run.pipeline_status();
    for i in 0..run.nodes.len() {
        if matches!(run.nodes[i].phase, Phase::Manual | Phase::Created) {
            let summary = run.summary(i, false);
            shared.observer.job_finished(&run.info(&scope, i), &summary);
        }
    }
    store.set_pipeline_status(scope.pipeline_id, status, Timestamp::now())?;
    let jobs = (0..run.nodes.len())
        .map(|i| run.summary(i, false))
        .collect();
    Ok(RunSummary {
        pipeline_id: scope.pipeline_id,
        status,
        duration: started.elapsed(),
        jobs,
    })
}

impl<'p> Run<'p> {
    fn new(scope: &Scope<'p>, jobs: &[(usize, JobId, PathBuf)]) -> Self {
        let pipeline = scope.pipeline;
        let present: Vec<usize> = jobs.iter().map(|(i, _, _)| *i).collect();
        let options = scope.shared.options;
        let vars = crate::ci::variables::predefined(scope.ctx);
        let nodes = jobs
            .iter()
            .map(|(index, row, log_path)| {
                let job = &pipeline.jobs[*index];
                let prereqs = prerequisites(pipeline, &present, *index)
                    .into_iter()
                    .filter_map(|plan_index| present.iter().position(|p| *p == plan_index))
                    .collect();
                Node {
                    job,
                    prereqs,
                    dag: job.needs.is_some(),
                    row: *row,
                    attempt: 1,
                    log_path: log_path.clone(),
                    played: job.when == When::Manual
                        && options.manual.iter().any(|m| job_matches(job, m)),
                    phase: Phase::Created,
                    resource: job.resource_group.as_ref().map(|g| vars.expand_known(g)),
                    started: 0,
                    finished: None,
                    cancel: None,
                }
            })
            .collect();
        Self {
            nodes,
            pending: VecDeque::new(),
            groups: HashMap::new(),
            canceled: false,
            interrupted: false,
            failed_fast: false,
        }
    }

    async fn run<'s>(
        &mut self,
        scope: &'s Scope<'s>,
        tasks: &mut TaskSet<'s>,
    ) -> Result<(), RunError>
    where
        'p: 's,
    {
        loop {
            if scope.cancel.is_cancelled() {
                self.cancel_waiting(scope)?;
            } else {
                self.advance(scope)?;
            }
            self.start_ready(scope, tasks)?;
            let timer = self.next_timer();
            let wants_slot = self.wants_slot();
            // Only the top pipeline listens: GitLab's auto-cancel does not cascade to children.
            let interrupt = scope.shared.options.interrupt.as_ref().filter(|_| scope.prefix.is_none() && !self.interrupted);
            if tasks.is_empty() && timer.is_none() && !wants_slot {
                return Ok(());
            }
            tokio::select! {
                Some(done) = tasks.next() => self.complete(scope, done, tasks)?,
                permit = scope.shared.slots.acquire(), if wants_slot => {
                    if let Some(permit) = permit {
                        self.start_first(scope, tasks, permit)?;
                    }
                }
                () = sleep_until(timer), if timer.is_some() => self.fire_timers(scope)?,
                () = scope.cancel.cancelled(), if !self.canceled => {}
                () = fired(interrupt), if interrupt.is_some() => self.interrupt(scope)?,
                else => return Ok(()),
            }
        }
    }

    fn info(&self, scope: &Scope<'_>, i: usize) -> JobInfo {
        let node = &self.nodes[i];
        JobInfo {
            pipeline_id: scope.pipeline_id,
            job_id: node.row,
            name: node.job.name.clone(),
            display_name: match &scope.prefix {
                Some(prefix) => format!("{prefix} > {}", node.job.name),
                None => node.job.name.clone(),
            },
            stage: node.job.stage.clone(),
            attempt: node.attempt,
        }
    }

    fn transition(
        &self,
        scope: &Scope<'_>,
        i: usize,
        to: JobStatus,
        reason: Option<&str>,
    ) -> Result<(), RunError> {
        scope
            .shared
            .store
            .transition_job(self.nodes[i].row, to, reason, Timestamp::now())?;
        Ok(())
    }

    /// The combined result of node `i`'s prerequisites, once they are all settled.
    fn composite(&self, i: usize) -> Option<Composite> {
        let node = &self.nodes[i];
        let (mut failed, mut canceled, mut skipped) = (false, false, false);
        for &p in &node.prereqs {
            let prereq = &self.nodes[p];
            match (prereq.phase, &prereq.finished) {
                (Phase::Final, Some(done)) => match done.status {
                    JobStatus::Failed if !done.allowed => failed = true,
                    JobStatus::Canceled => canceled = true,
                    JobStatus::Skipped => skipped = true,
                    _ => {}
                },
                // A non-blocking manual job does not hold back later stages; `needs` waits.
                (Phase::Manual, _) if !node.dag && prereq.job.allow_failure => {}
                _ => return None,
            }
        }
        Some(if failed {
            Composite::Failed
        } else if canceled {
            Composite::Canceled
        } else if skipped && node.dag {
            Composite::Skipped
        } else {
            Composite::Success
        })
    }

    /// Decides every created job whose prerequisites are settled, until nothing changes.
    fn advance(&mut self, scope: &Scope<'_>) -> Result<(), RunError> {
        loop {
            let mut changed = false;
            for i in 0..self.nodes.len() {
                if self.nodes[i].phase != Phase::Created {
                    continue;
                }
                let Some(composite) = self.composite(i) else {
                    continue;
                };
                changed = true;
                self.decide(scope, i, composite)?;
            }
            if !changed {
                return Ok(());
            }
        }
    }

    fn decide(
        &mut self,
        scope: &Scope<'_>,
        i: usize,
        composite: Composite,
    ) -> Result<(), RunError> {
        let job = self.nodes[i].job;
        let proceed = match job.when {
            When::OnFailure => composite == Composite::Failed,
            When::Always => composite != Composite::Canceled,
            _ => composite == Composite::Success,
        };
        if !proceed {
            return self.skip(scope, i, None);
        }
        if let Some(trigger) = &job.trigger
            && trigger.include.is_empty()
        {
            let project = trigger.project.as_deref().unwrap_or("another project");
            let message = format!(
                "cross-project pipeline (`trigger: project: {project}`) is not run locally"
            );
            return self.skip(scope, i, Some(message));
        }
        match job.when {
            When::Manual => {
                self.transition(scope, i, JobStatus::Manual, None)?;
                if self.nodes[i].played {
                    self.ready(scope, i, Some("played with --manual"))
                } else {
                    self.nodes[i].phase = Phase::Manual;
                    Ok(())
                }
            }
            When::Delayed => {
                self.transition(scope, i, JobStatus::Scheduled, None)?;
                let delay = Duration::from_secs(job.start_in.unwrap_or(0));
                self.nodes[i].phase = Phase::Scheduled(Instant::now() + delay);
                Ok(())
            }
            _ => self.ready(scope, i, None),
        }
    }

    fn skip(
        &mut self,
        scope: &Scope<'_>,
        i: usize,
        message: Option<String>,
    ) -> Result<(), RunError> {
        self.transition(scope, i, JobStatus::Skipped, message.as_deref())?;
        self.finish(scope, i, Finished::not_run(JobStatus::Skipped, message));
        Ok(())
    }

    /// Marks node `i` final with `finished` and tells the observer.
    fn finish(&mut self, scope: &Scope<'_>, i: usize, finished: Finished) {
        self.nodes[i].phase = Phase::Final;
        self.nodes[i].finished = Some(finished);
        let summary = self.summary(i, false);
        scope
            .shared
            .observer
            .job_finished(&self.info(scope, i), &summary);
    }

    fn complete<'s>(
        &mut self,
        scope: &'s Scope<'s>,
        done: Completion<'s>,
        tasks: &mut TaskSet<'s>,
    ) -> Result<(), RunError>
    where
        'p: 's,
    {
        let (i, outcome) = match done {
            Completion::Job { node, outcome } => (node, outcome),
            Completion::Child { node, result } => {
                let summary = result?;
                if let Some(finished) = &mut self.nodes[node].finished {
                    finished.child = Some(Box::new(summary));
                }
                return Ok(());
            }
        };
        self.release(scope, i)?;
        self.nodes[i].cancel = None;
        if let Some(error) = outcome.store_error {
            return Err(error.into());
        }
        if let Some(child) = outcome.detached {
            tasks.push(Box::pin(async move {
                Completion::Child {
                    node: i,
                    result: child.await,
                }
            }));
        }
        let finished = outcome.finished;
        let node = &self.nodes[i];
        let retry = finished.status == JobStatus::Failed
            && !scope.cancel.is_cancelled()
            && should_retry(
                node.job.retry.as_ref(),
                node.attempt,
                finished
                    .failure_reason
                    .unwrap_or(FailureReason::UnknownFailure),
                finished.exit_code,
            );
        if !retry {
            let fails_pipeline = finished.status == JobStatus::Failed && !finished.allowed;
            self.finish(scope, i, finished);
            if fails_pipeline && scope.pipeline.auto_cancel_on_job_failure && !scope.cancel.is_cancelled() {
                // GitLab cancels the whole pipeline (running jobs included); it ends `failed`.
                self.failed_fast = true;
                scope.cancel.cancel();
            }
            return Ok(());
        }
        let info = self.info(scope, i);
        self.nodes[i].finished = Some(finished);
        scope
            .shared
            .observer
            .job_finished(&info, &self.summary(i, true));
        let attempt = self.nodes[i].attempt + 1;
        let log_path = log_path(&scope.run_dir, &self.nodes[i].job.name, attempt);
        let new = new_job(
            scope.pipeline_id,
            self.nodes[i].job,
            attempt,
            Some(self.nodes[i].row),
            &log_path,
        );
        let row = scope.shared.store.create_job(&new)?;
        let node = &mut self.nodes[i];
        node.row = row;
        node.attempt = attempt;
        node.log_path = log_path;
        node.finished = None;
        node.phase = Phase::Created;
        self.ready(scope, i, Some("retry"))
    }

    fn next_timer(&self) -> Option<Instant> {
        self.nodes
            .iter()
            .filter_map(|n| match n.phase {
                Phase::Scheduled(at) => Some(at),
                _ => None,
            })
            .min()
    }

    fn fire_timers(&mut self, scope: &Scope<'_>) -> Result<(), RunError> {
        let now = Instant::now();
        for i in 0..self.nodes.len() {
            if matches!(self.nodes[i].phase, Phase::Scheduled(at) if at <= now) {
                self.ready(scope, i, Some("start_in elapsed"))?;
            }
        }
        Ok(())
    }

    /// After cancellation: every job that has not started becomes `canceled`.
    fn cancel_waiting(&mut self, scope: &Scope<'_>) -> Result<(), RunError> {
        if self.canceled {
            return Ok(());
        }
        self.canceled = true;
        self.pending.clear();
        self.groups.clear();
        for i in 0..self.nodes.len() {
            if matches!(self.nodes[i].phase, Phase::Running | Phase::Final) {
                continue;
            }
            self.transition(scope, i, JobStatus::Canceled, Some("pipeline canceled"))?;
            self.finish(scope, i, Finished::not_run(JobStatus::Canceled, None));
        }
        Ok(())
    }

    /// A newer pipeline made this one redundant and it is `auto_cancel:on_new_commit:
    /// interruptible`: as GitLab's safe cancellation, every unfinished `interruptible: true`
    /// job is canceled (running ones are stopped), and the other jobs go on. Jobs that
    /// waited for a canceled one are then decided as for any canceled prerequisite.
    fn interrupt(&mut self, scope: &Scope<'_>) -> Result<(), RunError> {
        self.interrupted = true;
        for i in 0..self.nodes.len() {
            if self.nodes[i].job.interruptible != Some(true) {
                continue;
            }
            match self.nodes[i].phase {
                Phase::Final => {}
                Phase::Running => {
                    if let Some(token) = &self.nodes[i].cancel {
                        token.cancel();
                    }
                }
                _ => {
                    self.release(scope, i)?;
                    self.pending.retain(|&k| k != i);
                    for (_, waiting) in self.groups.values_mut() {
                        waiting.retain(|&k| k != i);
                    }
                    self.transition(scope, i, JobStatus::Canceled, Some("auto-canceled by a newer pipeline"))?;
                    self.finish(scope, i, Finished::not_run(JobStatus::Canceled, None));
                }
            }
        }
        Ok(())
    }
}

/// Completes when `token` fires; never without one.
async fn fired(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
