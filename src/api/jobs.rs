//! Jobs: show one, its log (plain text, or live as server-sent events), retry a finished job
//! and play a manual one.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, blocking};
use super::v1::{parse_id, require};
use crate::run::log::file_name;
use crate::store::{JobId, JobRow, RerunKind, Timestamp, TokenScope};

/// A job as the API shows it.
pub(super) fn job_json(j: &JobRow) -> Value {
    json!({
        "id": j.id.get(),
        "pipeline_id": j.pipeline_id.get(),
        "name": j.name,
        "stage": j.stage,
        "status": j.status.as_str(),
        "when": j.when.as_str(),
        "allow_failure": j.allow_failure,
        "attempt": j.attempt,
        "retry_of": j.retry_of.map(JobId::get),
        "exit_code": j.exit_code,
        "failure_reason": j.failure_reason.map(|r| r.as_str()),
        "created_at": j.created_at.as_unix_millis(),
        "started_at": j.started_at.map(Timestamp::as_unix_millis),
        "finished_at": j.finished_at.map(Timestamp::as_unix_millis),
        "duration_ms": j.duration_ms,
    })
}

async fn load(state: &AppState, raw: &str) -> Result<JobRow, ApiError> {
    let id = JobId::new(parse_id("job", raw)?);
    let store = state.inner.store.clone();
    blocking(move || store.get_job(id)).await
}

/// `GET /api/v1/jobs/{id}`.
pub(super) async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Read).await?;
    let job = load(&state, &id).await?;
    Ok(axum::Json(job_json(&job)).into_response())
}

/// `GET /api/v1/jobs/{id}/log`: the log so far as `text/plain` (already masked; empty when
/// the job has not written one), or with `Accept: text/event-stream` the live stream of
/// [`super::logs_sse`].
pub(super) async fn log(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Read).await?;
    let job = load(&state, &id).await?;
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if wants_stream {
        return Ok(super::logs_sse::stream(state, job));
    }
    let text = match &job.log_path {
        Some(path) => match tokio::fs::read(path).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                tracing::error!(job = job.id.get(), "cannot read the log of a job: {e}");
                return Err(ApiError::Unavailable);
            }
        },
        None => String::new(),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `POST /api/v1/jobs/{id}/retry`: a finished job runs again as a new attempt
/// (`202 {"job": new id, "event": id}`); `409` while it or its pipeline is not finished.
pub(super) async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Write).await?;
    let job = load(&state, &id).await?;
    let log_path = job
        .log_path
        .as_deref()
        .and_then(std::path::Path::parent)
        .map(|dir| dir.join(file_name(&job.name, job.attempt + 1)));
    enqueue(&state, RerunKind::Retry, job, log_path).await
}

/// `POST /api/v1/jobs/{id}/play`: a `manual` job of a finished or blocked pipeline runs
/// (`202 {"job": id, "event": id}`); `409` when it is not `manual`.
pub(super) async fn play(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Write).await?;
    let job = load(&state, &id).await?;
    enqueue(&state, RerunKind::Play, job, None).await
}

async fn enqueue(
    state: &AppState,
    kind: RerunKind,
    job: JobRow,
    log_path: Option<std::path::PathBuf>,
) -> Result<Response, ApiError> {
    let store = state.inner.store.clone();
    let id = job.id;
    let queued = blocking(move || store.enqueue_rerun(kind, id, log_path.as_deref(), Timestamp::now())).await?;
    tracing::info!(
        job = id.get(),
        queued_job = queued.job.get(),
        event = queued.event.get(),
        "{} requested through the API",
        kind.as_str()
    );
    state.inner.wake_worker.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "job": queued.job.get(), "event": queued.event.get() })),
    )
        .into_response())
}
