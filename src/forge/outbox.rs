//! The daemon's reporter loop: reads due reports from the store, sends each through its
//! project's [`Reporter`], and records the outcome, so that a report survives any crash
//! until the forge has it (or refused it, or kept failing for [`GIVE_UP_AFTER`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Reporter;
use super::backoff::{GIVE_UP_AFTER, delay, gives_up};
use super::gerrit::GerritChange;
use super::http::SendError;
use super::report::StatusReport;
use crate::store::{PipelineRow, ProjectId, ReportRow, Store, StoreError, Timestamp};

/// How often the store is asked for new reports when none is due sooner.
const POLL: Duration = Duration::from_millis(250);
/// How many reports one pass takes.
const BATCH: u32 = 50;

/// The reporter loop of one daemon.
pub struct Outbox {
    /// The store of record.
    pub store: Arc<Store>,
    /// Each reporting project's reporter.
    pub reporters: HashMap<ProjectId, Reporter>,
    /// The HTTP client.
    pub client: reqwest::Client,
}

impl Outbox {
    /// Sends reports until `shutdown` fires. A report in flight when it fires is finished
    /// (it is bounded by the request timeout) or left pending for the next start.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let wait = match self.pass().await {
                Ok(true) => Duration::ZERO,
                Ok(false) => self.until_next_due().await,
                Err(error) => {
                    tracing::warn!("cannot read the status reports: {}", crate::diagnostic::error_chain(&error));
                    POLL
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends every due report once; `true` when there may be more due.
    async fn pass(&self) -> Result<bool, StoreError> {
        let store = self.store.clone();
        let due = blocking(move || store.due_reports(Timestamp::now(), BATCH)).await?;
        let full = due.len() == BATCH as usize;
        for row in due {
            self.deliver(row).await?;
        }
        Ok(full)
    }

    async fn until_next_due(&self) -> Duration {
        let store = self.store.clone();
        match blocking(move || store.next_report_due()).await {
            Ok(Some(at)) => {
                let millis = at.as_unix_millis().saturating_sub(Timestamp::now().as_unix_millis());
                Duration::from_millis(u64::try_from(millis).unwrap_or(0)).min(POLL)
            }
            _ => POLL,
        }
    }

    async fn deliver(&self, row: ReportRow) -> Result<(), StoreError> {
        let store = self.store.clone();
        let Some(reporter) = self.reporters.get(&row.project_id) else {
            return blocking(move || store.report_done(row.id, row.version, None)).await;
        };
        let pipeline_id = row.pipeline_id;
        let pipeline = blocking(move || store.get_pipeline(pipeline_id)).await?;
        let report = report(reporter, &row, &pipeline);
        let store = self.store.clone();
        let (id, version) = (row.id, row.version);
        match reporter.send(&self.client, &report).await {
            Ok(remote) => {
                tracing::debug!(pipeline = %pipeline_id, status = %row.status, context = %row.context, "status reported");
                blocking(move || store.report_done(id, version, remote.as_deref().map(|r| (r, pipeline_id)))).await
            }
            Err(SendError::Refused { status, body }) => {
                tracing::warn!(
                    pipeline = %pipeline_id, context = %row.context,
                    "the forge refused the `{}` status of {} ({status}: {body}); it is dropped", row.status, row.sha
                );
                blocking(move || store.report_done(id, version, None)).await
            }
            Err(SendError::Retry { reason, retry_after }) => {
                let now = Timestamp::now();
                let failures = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
                let next = delay(failures, retry_after);
                let since = row.failing_since.unwrap_or(now);
                let failing_for = Duration::from_millis(u64::try_from(now.millis_since(since)).unwrap_or(0));
                if gives_up(failing_for, next) {
                    tracing::warn!(
                        pipeline = %pipeline_id, context = %row.context,
                        "giving up on the `{}` status of {} after {failures} attempts in {}: {reason}",
                        row.status, row.sha, crate::config::format_duration(GIVE_UP_AFTER)
                    );
                    return blocking(move || store.report_done(id, version, None)).await;
                }
                tracing::info!(
                    pipeline = %pipeline_id, context = %row.context,
                    "reporting the `{}` status of {} failed (attempt {failures}), next in {} ms: {reason}",
                    row.status, row.sha, next.as_millis()
                );
                let at = Timestamp::from_unix_millis(now.as_unix_millis().saturating_add(i64::try_from(next.as_millis()).unwrap_or(i64::MAX)));
                blocking(move || store.report_failed(id, version, at, now)).await
            }
        }
    }

}

/// What `row` says, with what its pipeline adds (the ref, the Gerrit change).
fn report(reporter: &Reporter, row: &ReportRow, pipeline: &PipelineRow) -> StatusReport {
    let variable = |name: &str| pipeline.variables.iter().find(|v| v.name() == name).and_then(|v| v.value());
    let from_patchset = matches!(variable("GERRIT_EVENT_TYPE"), Some("patchset-created" | "comment-added"));
    let gerrit_change = match (variable("GERRIT_PROJECT"), variable("GERRIT_CHANGE_NUMBER")) {
        (Some(project), Some(number)) if from_patchset => {
            Some(GerritChange { project: project.to_owned(), number: number.to_owned() })
        }
        _ => None,
    };
    StatusReport {
        sha: row.sha.clone(),
        git_ref: pipeline.git_ref.clone(),
        context: row.context.clone(),
        pipeline_id: row.pipeline_id,
        status: row.status,
        target_url: format!("{}/api/v1/pipelines/{}", reporter.public_url, row.pipeline_id.get()),
        gerrit_change,
        check_run_id: row.remote_id.clone().filter(|_| row.remote_pipeline_id == Some(row.pipeline_id)),
    }
}

/// Runs a store call off the async runtime.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
}
