//! Projects and pipelines: list, show, trigger (`POST /api/v1/projects/{name}/pipelines`)
//! and cancel (`POST /api/v1/pipelines/{id}/cancel`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, blocking};
use super::jobs::job_json;
use super::v1::{parse_id, require};
use crate::ci::context::{GitRef, PipelineSource};
use crate::store::{Inserted, PipelineId, PipelineRow, Timestamp, TokenScope};
use crate::trigger::{DedupKey, Event, EventKind, Forge};

/// Default and largest `limit` of a pipeline listing.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// A pipeline as the API shows it, with its jobs (and its variables when `detail`; masked
/// ones without their values, as stored).
pub(super) fn pipeline_json(p: &PipelineRow, detail: bool) -> Value {
    let mut value = json!({
        "id": p.id.get(),
        "project": p.project,
        "ref": p.git_ref,
        "tag": p.tag,
        "sha": p.sha,
        "before_sha": p.before_sha,
        "source": p.source,
        "status": p.status.as_str(),
        "created_at": p.created_at.as_unix_millis(),
        "started_at": p.started_at.map(Timestamp::as_unix_millis),
        "finished_at": p.finished_at.map(Timestamp::as_unix_millis),
        "duration_ms": p.duration_ms,
        "jobs": p.jobs.iter().map(job_json).collect::<Vec<_>>(),
    });
    if detail {
        value["variables"] = p
            .variables
            .iter()
            .map(|v| json!({ "name": v.name(), "value": v.value(), "masked": v.masked() }))
            .collect();
    }
    value
}

/// `GET /api/v1/projects`: the configured projects by name, each with its latest pipeline.
pub(super) async fn list_projects(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Read).await?;
    let mut names: Vec<(String, i64)> = state
        .inner
        .projects
        .iter()
        .map(|(name, hooks)| (name.clone(), hooks.id.get()))
        .collect();
    names.sort();
    let store = state.inner.store.clone();
    let projects = blocking(move || {
        names
            .into_iter()
            .map(|(name, id)| {
                let latest = store.list_pipelines(Some(&name), 1)?.into_iter().next();
                let latest = latest
                    .map(|p| json!({ "id": p.id.get(), "ref": p.git_ref, "sha": p.sha, "status": p.status.as_str() }));
                Ok(json!({ "name": name, "id": id, "latest_pipeline": latest }))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(axum::Json(json!({ "projects": projects })).into_response())
}

/// The query of a pipeline listing.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/projects/{name}/pipelines?limit=N`: newest first, with their jobs.
pub(super) async fn list_pipelines(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Read).await?;
    if !state.inner.projects.contains_key(&name) {
        return Err(ApiError::NotFound(format!("project `{name}` not found")));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let store = state.inner.store.clone();
    let pipelines = blocking(move || store.list_pipelines(Some(&name), limit)).await?;
    let items: Vec<Value> = pipelines.iter().map(|p| pipeline_json(p, false)).collect();
    Ok(axum::Json(json!({ "pipelines": items })).into_response())
}

/// `GET /api/v1/pipelines/{id}`: one pipeline with its jobs and variables.
pub(super) async fn get_pipeline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Read).await?;
    let id = PipelineId::new(parse_id("pipeline", &id)?);
    let store = state.inner.store.clone();
    let pipeline = blocking(move || store.get_pipeline(id)).await?;
    Ok(axum::Json(pipeline_json(&pipeline, true)).into_response())
}

/// The body of `POST /api/v1/projects/{name}/pipelines`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    variables: serde_json::Map<String, Value>,
}

/// `POST /api/v1/projects/{name}/pipelines` with `{"ref": "main", "variables": {"K": "V"}}`:
/// records an `api` event for the branch's tip (resolved in the mirror when the worker takes
/// it; `CI_PIPELINE_SOURCE=api`), wakes the worker, and answers `202 {"event": id}` once the
/// event is stored. An `Idempotency-Key` header makes a repeated request a duplicate
/// (`200 {"event": id, "duplicate": true}`).
pub(super) async fn trigger(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Write).await?;
    let Some(hooks) = state.inner.projects.get(&name) else {
        return Err(ApiError::NotFound(format!("project `{name}` not found")));
    };
    let body: TriggerBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid body: {e}; expected {{\"ref\": \"main\", \"variables\": {{\"NAME\": \"value\"}}}}"
        ))
    })?;
    let git_ref = body.git_ref.trim().trim_start_matches("refs/heads/").to_owned();
    if git_ref.is_empty() || git_ref.contains("..") || git_ref.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::BadRequest(format!("`{}` is not a branch name", body.git_ref)));
    }
    let mut event = Event::new(
        Forge::Api,
        &name,
        EventKind::Api,
        GitRef::Branch(git_ref),
        PipelineSource::Api,
    );
    for (key, value) in body.variables {
        let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let Value::String(value) = value else {
            return Err(ApiError::BadRequest(format!("variable `{key}` must be a string")));
        };
        if !valid {
            return Err(ApiError::BadRequest(format!(
                "`{key}` is not a variable name (letters, digits and `_`, not starting with a digit)"
            )));
        }
        event.variables.push((key, value));
    }
    let key = match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(value) => DedupKey::from_header("api", value).ok_or_else(|| {
            ApiError::BadRequest("`Idempotency-Key` must be 1 to 128 printable characters".to_owned())
        })?,
        None => {
            let mut unique = [0u8; 16];
            getrandom::fill(&mut unique).map_err(|_| ApiError::Unavailable)?;
            let hex: String = unique.iter().map(|b| format!("{b:02x}")).collect();
            DedupKey::from_header("api", &hex).ok_or(ApiError::Unavailable)?
        }
    };
    let new = event.to_new_event(&key, Timestamp::now());
    let (store, project_id) = (state.inner.store.clone(), hooks.id);
    let inserted = blocking(move || store.insert_event(project_id, &new)).await?;
    match inserted {
        Inserted::New(id) => {
            tracing::info!(project = %name, event = id.get(), git_ref = %event.full_ref(), "API event recorded");
            state.inner.metrics.event_received("api", "recorded");
            state.inner.wake_worker.notify_one();
            hooks.fetch_now.notify_one();
            Ok((StatusCode::ACCEPTED, axum::Json(json!({ "event": id.get() }))).into_response())
        }
        Inserted::Duplicate(id) => {
            state.inner.metrics.event_received("api", "duplicate");
            Ok((
                StatusCode::OK,
                axum::Json(json!({ "event": id.get(), "duplicate": true })),
            )
                .into_response())
        }
    }
}

/// `POST /api/v1/pipelines/{id}/cancel`: records the cancel request (so it survives a
/// restart), then cancels the pipeline if it runs in this daemon (its running jobs are
/// stopped, the others `canceled`); otherwise the worker settles it. `202`, or `409` when the
/// pipeline has ended.
pub(super) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, TokenScope::Write).await?;
    let id = PipelineId::new(parse_id("pipeline", &id)?);
    let store = state.inner.store.clone();
    blocking(move || store.request_cancel(id, Timestamp::now())).await?;
    state.inner.running.cancel(id);
    state.inner.wake_worker.notify_one();
    tracing::info!(pipeline = id.get(), "pipeline cancel requested through the API");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "pipeline": id.get(), "canceling": true })),
    )
        .into_response())
}
