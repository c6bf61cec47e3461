//! `/api/v1`: the JSON API, authenticated with API tokens (`Authorization: Bearer …`).
//!
//! | method and path | scope |
//! |---|---|
//! | `GET /api/v1/projects` | read |
//! | `GET /api/v1/projects/{name}/pipelines?limit=N` | read |
//! | `GET /api/v1/pipelines/{id}` | read |
//! | `GET /api/v1/jobs/{id}` | read |
//! | `GET /api/v1/jobs/{id}/log` (plain text, or SSE with `Accept: text/event-stream`) | read |
//! | `POST /api/v1/projects/{name}/pipelines` | write |
//! | `POST /api/v1/pipelines/{id}/cancel` | write |
//! | `POST /api/v1/jobs/{id}/retry` | write |
//! | `POST /api/v1/jobs/{id}/play` | write |
//! | `GET /api/v1/config-repo`, `GET /api/v1/gates/{app}/{env}?version=V` | read |
//! | `GET /api/v1/history/{app}/{env}`, `GET /api/v1/audit?limit=N` | read |
//! | `POST /api/v1/approvals`, `/rejections`, `/promotions`, `/rollbacks`, `/freezes` | write (and `access.yaml`) |
//!
//! No or an unknown token: `401`; a token whose scope is too weak: `403`; unknown ids: `404`;
//! a request that does not fit the current state: `409`. Errors are `{"error": message}`.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};

use super::AppState;
use super::auth::{authorize, bearer};
use super::error::{ApiError, blocking};
use super::{jobs, pipelines, promotions};
use crate::store::{Timestamp, TokenRow, TokenScope};

/// How often a token's `last_used_at` is written at most.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The `/api/v1` routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects", get(pipelines::list_projects))
        .route(
            "/projects/{name}/pipelines",
            get(pipelines::list_pipelines).post(pipelines::trigger),
        )
        .route("/pipelines/{id}", get(pipelines::get_pipeline))
        .route("/pipelines/{id}/cancel", post(pipelines::cancel))
        .route("/jobs/{id}", get(jobs::get_job))
        .route("/jobs/{id}/log", get(jobs::log))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/jobs/{id}/play", post(jobs::play))
        .route("/config-repo", get(promotions::config_repo))
        .route("/gates/{app}/{env}", get(promotions::gates))
        .route("/approvals", post(promotions::approve))
        .route("/rejections", post(promotions::reject))
        .route("/promotions", post(promotions::promote))
        .route("/rollbacks", post(promotions::rollback))
        .route("/freezes", post(promotions::freeze))
        .route("/history/{app}/{env}", get(promotions::history))
        .route("/audit", get(promotions::audit))
}

/// Checks the request's token against the store; `needed` is the endpoint's scope.
///
/// # Errors
///
/// [`ApiError::Auth`] (`401`/`403`); [`ApiError::Unavailable`].
pub(super) async fn require(state: &AppState, headers: &HeaderMap, needed: TokenScope) -> Result<TokenRow, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let presented = bearer(header)?;
    let store = state.inner.store.clone();
    let tokens = blocking(move || store.list_tokens()).await?;
    let row = authorize(&presented, &tokens, needed)?;
    let now = Timestamp::now();
    if row
        .last_used_at
        .is_none_or(|last| now.millis_since(last) > TOUCH_EVERY_MS)
    {
        let (store, id) = (state.inner.store.clone(), row.id);
        // Best effort: a failed write of the last use does not refuse the request.
        let _ignored = blocking(move || store.touch_token(id, now)).await;
    }
    Ok(row.clone())
}

/// A positive id from a path segment.
pub(super) fn parse_id(kind: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::NotFound(format!("{kind} `{raw}` not found")))
}
