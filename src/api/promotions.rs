//! The promotion endpoints: gates, approvals, rejections, promotions, rollbacks, freezes,
//! history, the audit log and the config repo's status. Each operation acts as the caller's
//! token (its identity in `access.yaml`), is checked against `access.yaml`, and is written to
//! the audit log with the peer address, whatever its outcome.
//!
//! Refused by policy (RBAC, a rejection, a block, a closed gate): `403`; the config repo has
//! no valid commit or cannot be written: `409`; unknown app, environment or release: `404`;
//! a malformed request: `400`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::AppState;
use super::v1::require;
use crate::promote::candidate::candidate;
use crate::promote::inputs::judge;
use crate::promote::{Actor, OpError, Promoter};
use crate::store::{TokenScope, Verdict};

/// The promotion side of the API state.
#[derive(Clone)]
pub(super) struct Promotion {
    pub(super) promoter: Promoter,
    pub(super) wake: Arc<Notify>,
}

/// The peer address of the request, when the server records it.
pub(super) struct Remote(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Remote(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.to_string())))
    }
}

fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    super::error(status, message)
}

fn op_error(error: OpError) -> Response {
    let status = match &error {
        OpError::NotFound(_) => StatusCode::NOT_FOUND,
        OpError::BadRequest(_) => StatusCode::BAD_REQUEST,
        OpError::Refused(_) => StatusCode::FORBIDDEN,
        OpError::ConfigRepo(_) => StatusCode::CONFLICT,
        OpError::Store(store) => {
            tracing::error!("a promotion request failed in the store: {store:#}");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    failure(status, error.to_string())
}

/// Authenticates the caller (`scope`) and returns the promotion state and the actor.
async fn caller(state: &AppState, headers: &HeaderMap, remote: Remote, scope: TokenScope) -> Result<(Promotion, Actor), Response> {
    let token = require(state, headers, scope).await.map_err(IntoResponse::into_response)?;
    let promotion = state.promotion.clone().ok_or_else(|| {
        failure(StatusCode::NOT_FOUND, "this daemon promotes nothing: its `sluice.yaml` has no `config_repo:`")
    })?;
    Ok((promotion, Actor { token_name: token.name, remote: remote.0 }))
}

/// Runs a blocking promotion operation and answers its JSON, or its error.
async fn run<T: serde::Serialize + Send + 'static>(
    promotion: &Promotion,
    wake: bool,
    call: impl FnOnce(&Promoter) -> Result<T, OpError> + Send + 'static,
) -> Response {
    let promoter = promotion.promoter.clone();
    let result = tokio::task::spawn_blocking(move || call(&promoter)).await;
    if wake {
        promotion.wake.notify_one();
    }
    match result {
        Ok(Ok(value)) => (StatusCode::OK, Json(json!(value))).into_response(),
        Ok(Err(error)) => op_error(error),
        Err(panicked) => {
            tracing::error!("a promotion request panicked: {panicked}");
            failure(StatusCode::INTERNAL_SERVER_ERROR, "the request failed inside the daemon")
        }
    }
}

/// `GET /api/v1/config-repo`.
pub(super) async fn config_repo(State(state): State<AppState>, headers: HeaderMap, remote: Remote) -> Response {
    let (promotion, _) = match caller(&state, &headers, remote, TokenScope::Read).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    (StatusCode::OK, Json(json!(promotion.promoter.config_repo.status()))).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct GatesQuery {
    version: Option<String>,
}

/// `GET /api/v1/gates/{app}/{env}?version=V` (default: the release the environment would take next).
pub(super) async fn gates(
    State(state): State<AppState>,
    headers: HeaderMap,
    remote: Remote,
    Path((app, env)): Path<(String, String)>,
    Query(query): Query<GatesQuery>,
) -> Response {
    let (promotion, _) = match caller(&state, &headers, remote, TokenScope::Read).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    run(&promotion, false, move |promoter| {
        let snapshot = promoter.snapshot()?;
        let repo = &snapshot.repo;
        let version = match &query.version {
            Some(text) => crate::promote::approve::parse_version(text)?,
            None => {
                let env_config = repo.environment(&env).ok_or_else(|| OpError::NotFound(format!("the config repo has no environment `{env}`")))?;
                let released: Vec<semver::Version> = promoter
                    .store
                    .list_releases(Some(&app), 1000)?
                    .iter()
                    .filter_map(|r| semver::Version::parse(&r.version).ok())
                    .collect();
                candidate(repo, &app, env_config, &released).ok_or_else(|| {
                    OpError::NotFound(format!("no release of `{app}` is waiting for {env}; name a VERSION"))
                })?
            }
        };
        let judged = judge(repo, &promoter.store, &promoter.clock, &promoter.mirrors_dir, (&app, &env, &version))?;
        let pinned = repo.pin(&app, &env).map(|pin| pin.version.to_string());
        Ok(json!({
            "app": app,
            "env": env,
            "version": version.to_string(),
            "pinned": pinned,
            "all_open": judged.evaluation.all_open(),
            "gates": judged.evaluation.gates,
            "approvers": judged.evaluation.approvers,
            "config_repo": { "commit": snapshot.sha, "status": promoter.config_repo.status() },
        }))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionBody {
    app: String,
    env: String,
    version: String,
    comment: Option<String>,
}

/// `POST /api/v1/approvals`.
pub(super) async fn approve(state: State<AppState>, headers: HeaderMap, remote: Remote, Json(body): Json<DecisionBody>) -> Response {
    decide(state, headers, remote, body, Verdict::Approve).await
}

/// `POST /api/v1/rejections`.
pub(super) async fn reject(state: State<AppState>, headers: HeaderMap, remote: Remote, Json(body): Json<DecisionBody>) -> Response {
    decide(state, headers, remote, body, Verdict::Reject).await
}

async fn decide(State(state): State<AppState>, headers: HeaderMap, remote: Remote, body: DecisionBody, verdict: Verdict) -> Response {
    let (promotion, actor) = match caller(&state, &headers, remote, TokenScope::Write).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    run(&promotion, true, move |promoter| {
        let evaluation =
            promoter.decide(&actor, (&body.app, &body.env, &body.version), verdict, body.comment.as_deref())?;
        Ok(json!({ "recorded": verdict.as_str(), "all_open": evaluation.all_open(), "gates": evaluation.gates }))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PromoteBody {
    app: String,
    env: String,
    version: String,
    #[serde(default, rename = "override")]
    override_gates: bool,
}

/// `POST /api/v1/promotions`.
pub(super) async fn promote(State(state): State<AppState>, headers: HeaderMap, remote: Remote, Json(body): Json<PromoteBody>) -> Response {
    let (promotion, actor) = match caller(&state, &headers, remote, TokenScope::Write).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    run(&promotion, true, move |promoter| promoter.promote(&actor, (&body.app, &body.env, &body.version), body.override_gates)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RollbackBody {
    app: String,
    env: String,
    to: Option<String>,
    reason: Option<String>,
}

/// `POST /api/v1/rollbacks`.
pub(super) async fn rollback(State(state): State<AppState>, headers: HeaderMap, remote: Remote, Json(body): Json<RollbackBody>) -> Response {
    let (promotion, actor) = match caller(&state, &headers, remote, TokenScope::Write).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    run(&promotion, true, move |promoter| {
        promoter.rollback(&actor, &body.app, &body.env, body.to.as_deref(), body.reason.as_deref())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FreezeBody {
    env: String,
    until: String,
    from: Option<String>,
    reason: Option<String>,
}

/// `POST /api/v1/freezes`.
pub(super) async fn freeze(State(state): State<AppState>, headers: HeaderMap, remote: Remote, Json(body): Json<FreezeBody>) -> Response {
    let (promotion, actor) = match caller(&state, &headers, remote, TokenScope::Write).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    run(&promotion, true, move |promoter| {
        let commit = promoter.freeze(&actor, &body.env, &body.until, body.from.as_deref(), body.reason.as_deref())?;
        Ok(json!({ "env": body.env, "until": body.until, "commit": commit }))
    })
    .await
}

/// `GET /api/v1/history/{app}/{env}`.
pub(super) async fn history(State(state): State<AppState>, headers: HeaderMap, remote: Remote, Path((app, env)): Path<(String, String)>) -> Response {
    let (promotion, _) = match caller(&state, &headers, remote, TokenScope::Read).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    run(&promotion, false, move |promoter| {
        let rows = promoter.store.promotions_of(&app, &env, 100)?;
        let rows: Vec<Value> = rows
            .into_iter()
            .map(|row| {
                json!({
                    "version": row.version,
                    "kind": row.kind.as_str(),
                    "previous_version": row.previous_version,
                    "commit": row.commit_sha,
                    "requested_by": row.identity,
                    "approvers": row.approvers,
                    "gates": row.gates,
                    "at": row.created_at.as_unix_millis(),
                })
            })
            .collect();
        let current = promoter.store.current_deployment(&app, &env)?;
        let deployments: Vec<Value> = promoter
            .store
            .deployments_of(&app, &env, 100)?
            .iter()
            .map(|row| deployment_json(row, current.as_ref().is_some_and(|c| c.id == row.id)))
            .collect();
        let transitions: Vec<Value> = match &current {
            Some(row) => promoter
                .store
                .health_of(row.id)?
                .iter()
                .map(|t| json!({ "health": t.health.as_str(), "at": t.at.as_unix_millis(), "message": t.message }))
                .collect(),
            None => Vec::new(),
        };
        let current = current.map(|row| {
            let mut current = deployment_json(&row, true);
            current["health_transitions"] = Value::Array(transitions);
            current
        });
        Ok(json!({ "app": app, "env": env, "history": rows, "current": current, "deployments": deployments }))
    })
    .await
}

/// A deployment (attempt) as the history shows it; `current` marks the environment's current
/// deployment (the latest healthy one, what the `from` and `soak` gates read). `health` is
/// what the periodic health check last found of a `healthy` deployment (`null` for others).
fn deployment_json(row: &crate::store::DeploymentRow, current: bool) -> Value {
    let health = (row.status == crate::store::DeploymentStatus::Healthy)
        .then(|| if row.unhealthy_since.is_some() { "unhealthy" } else { "healthy" });
    json!({
        "id": row.id,
        "version": row.version,
        "digest": row.digest,
        "status": row.status.as_str(),
        "current": current,
        "started_at": row.started_at.as_unix_millis(),
        "finished_at": row.finished_at.map(|t| t.as_unix_millis()),
        "healthy_since": row.healthy_since.map(|t| t.as_unix_millis()),
        "message": row.message,
        "health": health,
        "unhealthy_since": row.unhealthy_since.map(|t| t.as_unix_millis()),
        "health_message": row.health_message,
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/audit?limit=N` (newest first; default 100).
pub(super) async fn audit(State(state): State<AppState>, headers: HeaderMap, remote: Remote, Query(query): Query<AuditQuery>) -> Response {
    let (promotion, _) = match caller(&state, &headers, remote, TokenScope::Read).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    run(&promotion, false, move |promoter| {
        let rows = promoter.store.list_audit(query.limit.unwrap_or(100).min(10_000))?;
        let rows: Vec<Value> = rows
            .into_iter()
            .map(|row| {
                json!({
                    "id": row.id,
                    "at": row.at.as_unix_millis(),
                    "identity": row.identity,
                    "token": row.token_name,
                    "remote": row.remote,
                    "action": row.action,
                    "app": row.app,
                    "env": row.env,
                    "version": row.version,
                    "outcome": row.outcome.as_str(),
                    "detail": row.detail,
                })
            })
            .collect();
        Ok(json!({ "audit": rows }))
    })
    .await
}
