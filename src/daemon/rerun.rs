//! The worker's side of `retry` and `play` events: resume a recorded pipeline from jobs to
//! run again.
//!
//! The API (or crash recovery) recorded the event together with the job rows to run (new
//! `created` attempts, or the `manual` job), so a crash loses nothing. The payload names
//! them: `{"job": id}`, and `"jobs": [ids]` when several attempts resume one pipeline (every
//! job a restart interrupted). Crash recovery's event also names the pipeline (`"pipeline":
//! id`), and names no job when none was interrupted: the pipeline then resumes from its
//! recorded state alone (a restart caught it between two jobs).
//!
//! Here: find the event that started the pipeline, check its commit out again from the
//! mirror (the pipeline's sha), plan it again with the same variables, and resume it with
//! [`rerun_jobs`], its cancellation token registered like a whole pipeline's. Jobs no longer
//! `created`/`manual` already ran and are left out; when none is left (and the event is not
//! recovery's) the event is just marked done, as is recovery's event for a pipeline that
//! ended meanwhile (canceled through the API). When the jobs cannot be run at all, retry
//! attempts are marked `failed` (`runner_system_failure`) with the reason and the pipeline's
//! status is recomputed; a pipeline recovery could not resume ends `failed`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::worker::{Handled, Worker, chain, prepare, remove_checkout};
use crate::executor::{ContainerExecutor, ShellExecutor};
use crate::run::{LockedReader, PipelineRun, pipeline_status_of, rerun_jobs};
use crate::store::{
    EventRow, EventState, FailureReason, JobId, JobRow, JobStatus, PipelineId, PipelineRow, PipelineStatus, RerunKind,
    StoreError, Timestamp,
};
use crate::trigger::Event;

impl Worker {
    /// Handles a `retry` or `play` event.
    pub(super) async fn handle_rerun(&self, row: EventRow, kind: RerunKind, shutdown: &CancellationToken) -> Handled {
        let id = row.id;
        let job_ids = jobs_of_event(&row.payload);
        // Crash recovery's event names its pipeline, and no job when none was interrupted.
        let resumed = row.payload["pipeline"].as_i64().map(PipelineId::new);
        if job_ids.is_empty() && resumed.is_none() {
            let reason = format!("{} event without a job id", kind.as_str());
            return self.mark(id, EventState::Failed, row.pipeline_id, Some(reason)).await;
        }
        let store = self.store.clone();
        let loaded = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let jobs = job_ids.into_iter().map(|job| store.get_job(job)).collect::<Result<Vec<_>, _>>()?;
            let pipeline_id = resumed.or_else(|| jobs.first().map(|job| job.pipeline_id)).ok_or(StoreError::NotFound { kind: "pipeline", id: 0 })?;
            let pipeline = store.get_pipeline(pipeline_id)?;
            let origin = store.event_of_pipeline(pipeline_id)?;
            Ok((jobs, pipeline, origin))
        })
        .await;
        let (jobs, pipeline, origin) = match loaded {
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
        // Recovery's event also names the manual job of a play the crash interrupted.
        let startable = |job: &JobRow| job.status == waiting || (resumed.is_some() && job.status == JobStatus::Manual);
        let (jobs, ran): (Vec<JobRow>, Vec<JobRow>) = jobs.into_iter().partition(startable);
        let ended = pipeline.status.is_final() || pipeline.status == PipelineStatus::Manual;
        if (jobs.is_empty() && resumed.is_none()) || (resumed.is_some() && ended) {
            let mut notes: Vec<String> = ran.iter().map(|job| format!("job {} is already `{}`", job.id, job.status)).collect();
            if ended {
                notes.push(format!("pipeline {} is `{}`", pipeline.id, pipeline.status));
            }
            return self.mark(id, EventState::Done, Some(pipeline.id), Some(notes.join("; "))).await;
        }
        match self.rerun(&row, &jobs, &pipeline, origin, shutdown).await {
            Ok(()) => self.mark(id, EventState::Done, Some(pipeline.id), None).await,
            Err(reason) => {
                tracing::warn!(event = id.get(), pipeline = pipeline.id.get(), "{} failed: {reason}", kind.as_str());
                self.settle_unrun(pipeline.id, &jobs, kind, resumed.is_some(), &reason).await;
                self.mark(id, EventState::Failed, Some(pipeline.id), Some(reason)).await
            }
        }
    }

    async fn rerun(
        &self,
        row: &EventRow,
        jobs: &[JobRow],
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
            executor: Arc::new(ContainerExecutor::detecting(ShellExecutor::from_process_env())),
            store: &self.store,
            observer: &*self.metrics,
        };
        let cancel = CancellationToken::new();
        self.running.insert(pipeline.id, cancel.clone(), options.interrupt.clone());
        let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
        tracing::info!(event = row.id.get(), pipeline = pipeline.id.get(), jobs = ?names, "resuming the pipeline");
        let result = self
            .with_grace(row.id, rerun_jobs(&run, &options, pipeline.id, jobs, &cancel), &cancel, shutdown)
            .await;
        self.running.remove(pipeline.id);
        remove_checkout(checkout).await;
        let summary = result.map_err(|failed| chain(&failed))?;
        tracing::info!(event = row.id.get(), pipeline = pipeline.id.get(), status = %summary.status, "resumed pipeline finished");
        Ok(())
    }

    /// A retry attempt that could not run is `failed`, so its pipeline does not stay
    /// blocked on it; a play leaves the job `manual`. The pipeline's status is recomputed;
    /// a pipeline that could not resume after a restart (`resumed`) ends `failed`, its jobs
    /// that had not ended `canceled`, unless it ended meanwhile (canceled through the API).
    async fn settle_unrun(&self, pipeline: PipelineId, jobs: &[JobRow], kind: RerunKind, resumed: bool, reason: &str) {
        let store = self.store.clone();
        let (job_ids, reason): (Vec<JobId>, String) = (jobs.iter().map(|job| job.id).collect(), reason.to_owned());
        let settled = tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let now = Timestamp::now();
            for job in job_ids {
                if kind == RerunKind::Retry && store.get_job(job)?.status == JobStatus::Created {
                    store.fail_job(job, FailureReason::RunnerSystemFailure, &reason, now)?;
                }
            }
            if resumed {
                // Canceled through the API while it was being resumed: it stays canceled.
                if store.get_pipeline(pipeline)?.status.is_final() {
                    return Ok(());
                }
                return super::recover::fail_pipeline(&store, pipeline, now);
            }
            let status = pipeline_status_of(&store.jobs_of(pipeline)?);
            store.set_pipeline_status(pipeline, status, now)
        })
        .await;
        match settled {
            Ok(Ok(())) => {}
            Ok(Err(failed)) => tracing::error!(
                pipeline = pipeline.get(),
                "cannot settle a pipeline whose jobs could not run: {}",
                chain(&failed)
            ),
            Err(panicked) => tracing::error!(pipeline = pipeline.get(), "settling a pipeline panicked: {panicked}"),
        }
    }
}

/// The jobs a `retry`/`play` event names: `jobs` when given, else `job`.
fn jobs_of_event(payload: &serde_json::Value) -> Vec<JobId> {
    let ids = |value: &serde_json::Value| value.as_array().map(|ids| ids.iter().filter_map(serde_json::Value::as_i64).collect::<Vec<_>>());
    let ids = ids(&payload["jobs"]).unwrap_or_else(|| payload["job"].as_i64().into_iter().collect());
    ids.into_iter().map(JobId::new).collect()
}
