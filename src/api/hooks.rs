//! `POST /hooks/{gitlab|github|gerrit}/{project}`: verify, record, then answer.
//!
//! The order is the contract (STYLE habit 4): the delivery is verified and parsed by
//! [`crate::trigger::webhook`], the event is committed to the store (with the deliveries
//! that arrived at the same time, in one transaction: [`super::intake`]), and only then
//! does the forge get its `202`. A redelivery (same dedup key) gets `200` with the original id.
//! Log lines name the project, forge and outcome; never a secret or the query string.

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppState, error};
use crate::store::{Inserted, Timestamp};
use crate::trigger::webhook::{Delivery, HeaderLookup, Outcome, WebhookSource};

/// The request's headers as the webhook parsers look them up.
struct HttpHeaders<'a>(&'a HeaderMap);

impl HeaderLookup for HttpHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Receives one delivery, counting it in the metrics by outcome and timing it.
pub(super) async fn receive(
    State(state): State<AppState>,
    Path((forge, project)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let metrics = state.inner.metrics.clone();
    let known = forge.parse::<WebhookSource>().is_ok();
    let label = if known { forge.clone() } else { "unknown".to_owned() };
    let (response, outcome) = handle(state, forge, project, query, headers, body).await;
    metrics.event_received(&label, outcome);
    metrics.webhook_handled(started.elapsed());
    response
}

/// A response with its outcome label for the metrics.
type Handled = (Response, &'static str);

async fn handle(
    state: AppState,
    forge: String,
    project: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Handled {
    let Ok(source) = forge.parse::<WebhookSource>() else {
        let message = format!("unknown forge `{forge}`; expected gitlab, github or gerrit");
        return (error(StatusCode::NOT_FOUND, message), "refused");
    };
    let Some(hooks) = state.inner.projects.get(&project) else {
        return (error(StatusCode::NOT_FOUND, format!("unknown project `{project}`")), "refused");
    };
    let endpoint = hooks.endpoint(source);
    let limit = endpoint.max_body_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        tracing::warn!(project = %project, forge = %forge, limit, "webhook refused: body too large");
        let message = format!("webhook body larger than {limit} bytes");
        (error(StatusCode::PAYLOAD_TOO_LARGE, message), "refused")
    };
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large();
    }
    // Reading stops at the limit, whatever the sender declared, and at the timeout.
    let body = match tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(body)) => body,
        Ok(Err(failed)) if is_length_limit(&failed) => return too_large(),
        Ok(Err(_)) => {
            tracing::warn!(project = %project, forge = %forge, "webhook refused: the body could not be read");
            return (error(StatusCode::BAD_REQUEST, "webhook body could not be read".to_owned()), "refused");
        }
        Err(_elapsed) => {
            let seconds = state.body_timeout.as_secs_f64();
            tracing::warn!(project = %project, forge = %forge, seconds, "webhook refused: body not received in time");
            let message = format!("webhook body not received within {seconds}s");
            return (error(StatusCode::REQUEST_TIMEOUT, message), "refused");
        }
    };
    let query = query.unwrap_or_default();
    // The delivery borrows non-`Sync` header access: it must not live across an `.await`.
    let received = {
        let delivery = Delivery {
            headers: &HttpHeaders(&headers),
            query: &query,
            body: &body,
        };
        source.receive(endpoint, &delivery, SystemTime::now())
    };
    let outcome = match received {
        Ok(outcome) => outcome,
        Err(refused) => {
            // WebhookError messages hold no secret and no query string.
            tracing::warn!(project = %project, forge = %forge, "webhook refused: {refused}");
            let status = StatusCode::from_u16(refused.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
            return (error(status, refused.to_string()), "refused");
        }
    };
    let (event, key) = match outcome {
        Outcome::Event(event, key) => (event, key),
        Outcome::Ignored { reason } => {
            tracing::info!(project = %project, forge = %forge, "webhook ignored: {reason}");
            let response = (StatusCode::ACCEPTED, axum::Json(json!({ "ignored": reason }))).into_response();
            return (response, "ignored");
        }
    };
    let new = event.to_new_event(&key, Timestamp::now());
    // Answered once the batch holding it committed (group commit, see `super::intake`).
    let inserted = match state.inner.intake.record(hooks.id, new).await {
        Ok(inserted) => inserted,
        Err(failed) => {
            tracing::error!(project = %project, forge = %forge, "cannot record webhook event: {failed}");
            let message = "the event could not be recorded; deliver it again";
            return (error(StatusCode::SERVICE_UNAVAILABLE, message), "error");
        }
    };
    match inserted {
        Inserted::New(id) => {
            tracing::info!(
                project = %project, forge = %forge, event = id.get(), kind = event.kind.as_str(),
                git_ref = %event.full_ref(), "webhook event recorded"
            );
            state.inner.wake_worker.notify_one();
            hooks.fetch_now.notify_one();
            let response = (StatusCode::ACCEPTED, axum::Json(json!({ "event": id.get() }))).into_response();
            (response, "recorded")
        }
        Inserted::Duplicate(id) => {
            tracing::info!(project = %project, forge = %forge, event = id.get(), "webhook redelivered; already recorded");
            let body = json!({ "event": id.get(), "duplicate": true });
            ((StatusCode::OK, axum::Json(body)).into_response(), "duplicate")
        }
    }
}

/// Whether reading a body failed because it passed the size limit (rather than, say, the
/// sender going away).
fn is_length_limit(failed: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(failed);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}
