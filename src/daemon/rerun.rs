//! The worker's side of `retry` and `play` events: run one job of a recorded pipeline again.
//!
//! The API recorded the event together with the job row to run (a new `created` attempt, or
//! the `manual` job), so a crash loses nothing. Here: find the event that started the
//! pipeline, check its commit out again from the mirror (the pipeline's sha), plan it again
//! with the same variables, and run that one job with [`rerun_job`], its cancellation token
//! registered like a whole pipeline's. A job that is no longer `created`/`manual` already
//! ran (a restart interrupted it): the event is just marked done. When the job cannot be run
//! at all, a retry attempt is marked `failed` (`runner_system_failure`) with the reason, and
//! the pipeline's status is recomputed.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::worker::{Handled, Worker, chain, prepare, remove_checkout};
use crate::executor::shell::ShellExecutor;
use crate::run::{LockedReader, PipelineRun, pipeline_status_of, rerun_job};
use crate::store::{
    EventRow, EventState, FailureReason, JobId, JobRow, JobStatus, PipelineRow, RerunKind, StoreError, Timestamp,
};
use crate::trigger::Event;

impl Worker {
    /// Handles a `retry` or `play` event.
    pub(super) async fn handle_rerun(&self, row: EventRow, kind: RerunKind, shutdown: &CancellationToken) -> Handled {
        let id = row.id;
        let Some(job_id) = row
            .payload
            .get("job")
            .and_then(serde_json::Value::as_i64)
            .map(JobId::new)
        else {
            let reason = format!("{} event without a job id", kind.as_str());
            return self.mark(id, EventState::Failed, row.pipeline_id, Some(reason)).await;
        };
        let store = self.store.clone();
        let loaded = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let job = store.get_job(job_id)?;
            let pipeline = store.get_pipeline(job.pipeline_id)?;
            let origin = store.event_of_pipeline(job.pipeline_id)?;
            Ok((job, pipeline, origin))
        })
        .await;
        let (job, pipeline, origin) = match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(failed)) => {
                return self
                    .mark(id, EventState::Failed, row.pipeline_id, Some(chain(&failed)))
                    .await;
            }
            Err(panicked) => {
                let reason = format!("reading the job panicked: {panicked}");
                return self.mark(id, EventState::Failed, row.pipeline_id, Some(reason)).await;
            }
        };
        let waiting = match kind {
            RerunKind::Retry => JobStatus::Created,
            RerunKind::Play => JobStatus::Manual,
        };
        if job.status != waiting {
            let note = format!("job {} is already `{}`", job.id, job.status);
            return self.mark(id, EventState::Done, Some(pipeline.id), Some(note)).await;
        }
        match self.rerun(&row, &job, &pipeline, origin, shutdown).await {
            Ok(()) => self.mark(id, EventState::Done, Some(pipeline.id), None).await,
            Err(reason) => {
                tracing::warn!(
                    event = id.get(),
                    job = job.id.get(),
                    "{} failed: {reason}",
                    kind.as_str()
                );
                self.settle_unrun(&job, kind, &reason).await;
                self.mark(id, EventState::Failed, Some(pipeline.id), Some(reason)).await
            }
        }
    }

    async fn rerun(
        &self,
        row: &EventRow,
        job: &JobRow,
        pipeline: &PipelineRow,
        origin: Option<EventRow>,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let origin = origin.ok_or_else(|| format!("pipeline {} was not started by an event", pipeline.id))?;
        let mut event = Event::from_json(&origin.payload)?;
        event.sha = Some(pipeline.sha.clone());
        let project = self
            .config
            .projects
            .iter()
            .find(|p| p.name.as_str() == row.project)
            .cloned()
            .ok_or_else(|| format!("project `{}` is no longer configured", row.project))?;
        let checkout = self
            .config
            .data_dir
            .join("checkouts")
            .join(project.name.as_str())
            .join(row.id.get().to_string());
        let mirrors = self.mirrors.clone();
        let prepared = {
            let (checkout, controller) = (checkout.clone(), self.config.clone());
            tokio::task::spawn_blocking(move || prepare(&project, &mirrors, &controller, &checkout, &event)).await
        };
        let prepared = match prepared {
            Ok(Ok(prepared)) => prepared,
            Ok(Err(reason)) => {
                remove_checkout(checkout).await;
                return Err(reason);
            }
            Err(panicked) => {
                remove_checkout(checkout).await;
                return Err(format!("preparing panicked: {panicked}"));
            }
        };
        let reader = LockedReader::new(prepared.reader);
        let mut options = self.run_options(&row.project);
        // A retried publish job publishes (or resumes its publication) like the first attempt.
        options.after_success = Some(Arc::new(prepared.publisher));
        let run = PipelineRun {
            pipeline: &prepared.pipeline,
            context: &prepared.context,
            source: &prepared.source,
            reader: &reader,
            executor: Arc::new(ShellExecutor::from_process_env()),
            store: &self.store,
            observer: &*self.metrics,
        };
        let cancel = CancellationToken::new();
        self.running.insert(pipeline.id, cancel.clone());
        tracing::info!(event = row.id.get(), job = job.id.get(), name = %job.name, "running one job again");
        let result = self
            .with_grace(row.id, rerun_job(&run, &options, job, &cancel), &cancel, shutdown)
            .await;
        self.running.remove(pipeline.id);
        remove_checkout(checkout).await;
        let summary = result.map_err(|failed| chain(&failed))?;
        tracing::info!(event = row.id.get(), pipeline = pipeline.id.get(), status = %summary.status, "job run again");
        Ok(())
    }

    /// A retry attempt that could not run is `failed`, so its pipeline does not stay
    /// blocked on it; a play leaves the job `manual`. The pipeline's status is recomputed.
    async fn settle_unrun(&self, job: &JobRow, kind: RerunKind, reason: &str) {
        let store = self.store.clone();
        let (job_id, pipeline_id, reason) = (job.id, job.pipeline_id, reason.to_owned());
        let settled = tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let now = Timestamp::now();
            if kind == RerunKind::Retry && store.get_job(job_id)?.status == JobStatus::Created {
                store.fail_job(job_id, FailureReason::RunnerSystemFailure, &reason, now)?;
            }
            let status = pipeline_status_of(&store.jobs_of(pipeline_id)?);
            store.set_pipeline_status(pipeline_id, status, now)
        })
        .await;
        match settled {
            Ok(Ok(())) => {}
            Ok(Err(failed)) => tracing::error!(
                job = job.id.get(),
                "cannot settle a job that could not run: {}",
                chain(&failed)
            ),
            Err(panicked) => tracing::error!(job = job.id.get(), "settling a job panicked: {panicked}"),
        }
    }
}
