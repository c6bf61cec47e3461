//! Sluice's HTTP interface: webhook intake (`POST /hooks/{forge}/{project}`), the JSON API
//! under `/api/v1` (token-authenticated; the `v1` module lists the endpoints), and, without
//! authentication, health probes (`GET /healthz`, `GET /readyz`) and Prometheus metrics
//! (`GET /metrics`).
//!
//! [`router`] builds the whole application from an [`AppState`], so tests can drive it
//! without a socket. Handlers do no git and no planning: a webhook is verified, recorded in
//! the store and answered; the worker is woken through a [`Notify`] that carries nothing
//! (the store is the queue of record).

pub mod auth;
pub mod error;
mod hooks;
mod intake;
mod jobs;
mod logs_sse;
pub mod metrics;
mod pipelines;
mod promotions;
mod v1;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::Notify;

use tokio_util::sync::CancellationToken;

use crate::config::{ProjectConfig, Secret};
use crate::promote::Promoter;
use crate::run::RunningPipelines;
use metrics::Metrics;
use crate::store::{ProjectId, Store};
use crate::trigger::webhook::{Endpoint, WebhookSource};

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    /// How long a webhook body may take to arrive ([`WEBHOOK_BODY_TIMEOUT`]; shorter in tests).
    body_timeout: Duration,
    /// Promotion, when the daemon has a config repo.
    promotion: Option<promotions::Promotion>,
}

/// How long the intake waits for a webhook body: a sender that stops mid-body would
/// otherwise hold its handler, and the daemon's graceful shutdown, forever. Forges send the
/// whole body at once and give up on their side after 10 s (GitLab) to 30 s (Gerrit plugins).
pub const WEBHOOK_BODY_TIMEOUT: Duration = Duration::from_secs(30);

struct Inner {
    store: Arc<Store>,
    /// Records webhook events in batches (group commit).
    intake: intake::Intake,
    projects: HashMap<String, ProjectHooks>,
    wake_worker: Arc<Notify>,
    ready: AtomicBool,
    running: Arc<RunningPipelines>,
    metrics: Arc<Metrics>,
    /// Fires when the daemon shuts down: live log streams end.
    streams: CancellationToken,
}

/// One project's webhook endpoints and the wake-up of its poller.
pub struct ProjectHooks {
    /// The project's row in the store.
    pub id: ProjectId,
    /// `POST /hooks/gitlab/{project}`.
    pub gitlab: Endpoint,
    /// `POST /hooks/github/{project}`.
    pub github: Endpoint,
    /// `POST /hooks/gerrit/{project}`.
    pub gerrit: Endpoint,
    /// Wakes the project's poller so that a webhook also fetches the mirror.
    pub fetch_now: Arc<Notify>,
}

impl ProjectHooks {
    /// The endpoints of `project` (its row is `id`), from its validated configuration. An
    /// endpoint whose secret is not configured, or whose `env:` variable is unset, is
    /// disabled: every delivery gets `401`. So is GitLab's while a configured signing token
    /// is unavailable.
    pub fn new(project: &ProjectConfig, id: ProjectId, fetch_now: Arc<Notify>) -> Self {
        let hooks = &project.webhooks;
        let name = project.name.as_str();
        // `max_body_bytes` above the address space cannot be buffered anyway.
        let limit = usize::try_from(hooks.max_body_bytes).unwrap_or(usize::MAX);
        let endpoint = |secret: Option<&Secret>| {
            let mut endpoint = Endpoint::new(name, secret.and_then(Secret::value).cloned());
            endpoint.recheck = hooks.recheck_pattern.clone();
            endpoint.max_body_bytes = limit;
            endpoint
        };
        let mut gitlab = endpoint(hooks.gitlab_token.as_ref());
        if let Some(signing) = &hooks.gitlab_signing_token {
            let value: Option<SecretString> = signing.value().cloned();
            if value.is_none() {
                gitlab.secret = None;
            }
            gitlab.signing_token = value;
        }
        ProjectHooks {
            id,
            gitlab,
            github: endpoint(hooks.github_secret.as_ref()),
            gerrit: endpoint(hooks.gerrit_secret.as_ref()),
            fetch_now,
        }
    }

    fn endpoint(&self, source: WebhookSource) -> &Endpoint {
        match source {
            WebhookSource::GitLab => &self.gitlab,
            WebhookSource::GitHub => &self.github,
            WebhookSource::Gerrit => &self.gerrit,
        }
    }
}

impl AppState {
    /// The state of a daemon serving `projects` (by name) on `store`; recorded events wake
    /// `wake_worker`. Not ready until [`AppState::set_ready`].
    pub fn new(store: Arc<Store>, projects: HashMap<String, ProjectHooks>, wake_worker: Arc<Notify>) -> Self {
        AppState {
            inner: Arc::new(Inner {
                intake: intake::Intake::start(store.clone()),
                store,
                projects,
                wake_worker,
                ready: AtomicBool::new(false),
                running: Arc::new(RunningPipelines::new()),
                metrics: Arc::new(Metrics::new()),
                streams: CancellationToken::new(),
            }),
            body_timeout: WEBHOOK_BODY_TIMEOUT,
            promotion: None,
        }
    }

    /// Serves the promotion endpoints with `promoter`; operations that may open gates wake
    /// `wake_promoter` (the automatic promotion loop).
    #[must_use]
    pub fn with_promoter(mut self, promoter: Promoter, wake_promoter: Arc<Notify>) -> Self {
        self.promotion = Some(promotions::Promotion { promoter, wake: wake_promoter });
        self
    }

    /// The registry of running pipelines that `POST /api/v1/pipelines/{id}/cancel` uses;
    /// the worker registers its runs here.
    pub fn running(&self) -> Arc<RunningPipelines> {
        self.inner.running.clone()
    }

    /// The daemon's metrics (`GET /metrics`); the worker reports job durations into them.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.inner.metrics.clone()
    }

    /// Ends every live log stream (the daemon is shutting down; open streams would keep the
    /// server's graceful shutdown waiting).
    pub fn stop_streams(&self) {
        self.inner.streams.cancel();
    }

    /// Marks the daemon ready (`GET /readyz` answers 200 from now on).
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::Release);
    }
}

/// The HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        // The hook handler enforces each project's own `max_body_bytes` while reading.
        .route(
            "/hooks/{forge}/{*project}",
            post(hooks::receive).layer(DefaultBodyLimit::disable()),
        )
        .nest("/api/v1", v1::routes())
        .fallback(not_found)
        .with_state(state)
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    if state.inner.ready.load(Ordering::Acquire) {
        (StatusCode::OK, axum::Json(json!({ "status": "ready" }))).into_response()
    } else {
        error(StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

#[cfg(test)]
mod tests;
