//! The worker's side of a cancel request (`POST /api/v1/pipelines/{id}/cancel`), which the
//! API recorded as a `cancel` event before answering. A pipeline running in this process is
//! canceled through its token (the run stops its jobs and records `canceled`); one that does
//! not run here (blocked on a manual job, or interrupted by a restart) is settled in the
//! store: its unfinished jobs and the pipeline become `canceled`. A request made before the
//! pipeline was retried or played again is for a run that has ended: it is just marked done.

use super::worker::{Handled, Worker, chain};
use crate::store::{EventRow, EventState, JobStatus, PipelineId, PipelineStatus, Store, StoreError, Timestamp};

/// The reason recorded with jobs canceled outside a run.
pub const CANCELED_MESSAGE: &str = "canceled through the API";

impl Worker {
    /// Handles a `cancel` event.
    pub(super) async fn handle_cancel(&self, row: EventRow) -> Handled {
        let Some(pipeline) = row.pipeline_id else {
            let reason = "cancel request without a pipeline".to_owned();
            return self.mark(row.id, EventState::Failed, None, Some(reason)).await;
        };
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.cancel_requested(pipeline)).await {
            Ok(Ok(true)) => {}
            // The pipeline was re-run after this request (the run it was for had ended).
            Ok(Ok(false)) => {
                let note = "the pipeline was retried or played after this request".to_owned();
                return self.mark(row.id, EventState::Done, Some(pipeline), Some(note)).await;
            }
            Ok(Err(failed)) => {
                tracing::error!(pipeline = pipeline.get(), "cannot read the cancel requests: {}", chain(&failed));
                return Handled::Stuck;
            }
            Err(panicked) => {
                tracing::error!(pipeline = pipeline.get(), "reading the cancel requests panicked: {panicked}");
                return Handled::Stuck;
            }
        }
        if self.running.cancel(pipeline) {
            return self.mark(row.id, EventState::Done, Some(pipeline), None).await;
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || cancel_in_store(&store, pipeline)).await {
            Ok(Ok(())) => self.mark(row.id, EventState::Done, Some(pipeline), None).await,
            Ok(Err(failed)) => {
                tracing::error!(pipeline = pipeline.get(), "cannot cancel the pipeline: {}", chain(&failed));
                Handled::Stuck
            }
            Err(panicked) => {
                tracing::error!(pipeline = pipeline.get(), "canceling panicked: {panicked}");
                Handled::Stuck
            }
        }
    }
}

/// Cancels a pipeline that no run of this process drives: every unfinished job (running
/// ones included, whose processes recovery has killed) and the pipeline become `canceled`.
/// A pipeline that has ended is left as it is.
///
/// # Errors
///
/// [`StoreError`] when the store cannot be read or written.
pub fn cancel_in_store(store: &Store, pipeline: PipelineId) -> Result<(), StoreError> {
    let now = Timestamp::now();
    if store.get_pipeline(pipeline)?.status.is_final() {
        return Ok(());
    }
    for job in store.jobs_of(pipeline)? {
        if !job.status.is_final() && job.status.can_transition_to(JobStatus::Canceled) {
            store.transition_job(job.id, JobStatus::Canceled, Some(CANCELED_MESSAGE), now)?;
        }
    }
    store.set_pipeline_status(pipeline, PipelineStatus::Canceled, now)
}
