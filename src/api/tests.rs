//! The router driven without a socket: status codes and bodies of the webhook intake.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::ServiceExt as _;

use super::*;
use crate::config::{Environment, parse};
use crate::store::{EventState, Timestamp};

const CONFIG: &str = r#"
listen: "127.0.0.1:0"
data_dir: "/nonexistent"
projects:
  - name: demo
    repo: "file:///srv/git/demo.git"
    webhooks:
      gitlab_token: "env:TOKEN"
      github_secret: "env:UNSET_SECRET"
      max_body_bytes: 4000
"#;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/webhooks/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn app() -> (AppState, Arc<Store>) {
    let env = Environment::for_tests(std::path::Path::new("/"), &[("TOKEN", "s3cret")]);
    let loaded = parse("sluice.yaml", CONFIG, &env).expect("valid config");
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let project = &loaded.config.projects[0];
    let id = store
        .ensure_project("demo", Timestamp::from_unix_millis(1))
        .expect("project");
    let hooks = HashMap::from([(
        "demo".to_owned(),
        ProjectHooks::new(project, id, Arc::new(Notify::new())),
    )]);
    (AppState::new(store.clone(), hooks, Arc::new(Notify::new())), store)
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
    let response = router(state.clone()).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn gitlab(event: &str, token: Option<&str>, body: String) -> Request<Body> {
    let mut request = Request::post("/hooks/gitlab/demo");
    for line in fixture(&format!("gitlab/{event}.headers")).lines() {
        if let Some((name, value)) = line.split_once(':') {
            request = request.header(name.trim(), value.trim());
        }
    }
    if let Some(token) = token {
        request = request.header("X-Gitlab-Token", token);
    }
    request.body(Body::from(body)).expect("request")
}

#[tokio::test]
async fn health_and_readiness() {
    let (state, _store) = app();
    let get = |path: &str| Request::get(path).body(Body::empty()).expect("request");
    assert_eq!(send(&state, get("/healthz")).await.0, StatusCode::OK);
    assert_eq!(send(&state, get("/readyz")).await.0, StatusCode::SERVICE_UNAVAILABLE);
    state.set_ready();
    assert_eq!(send(&state, get("/readyz")).await.0, StatusCode::OK);
    assert_eq!(send(&state, get("/nothing")).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_push_is_recorded_then_acknowledged_and_a_redelivery_is_a_duplicate() {
    let (state, store) = app();
    let body = fixture("gitlab/push.json");
    let (status, json) = send(&state, gitlab("push", Some("s3cret"), body.clone())).await;
    assert_eq!((status, &json), (StatusCode::ACCEPTED, &json!({ "event": 1 })));
    let row = store.get_event(crate::store::EventId::new(1)).expect("recorded");
    assert_eq!(
        (row.state, row.source.as_str(), row.git_ref.as_str()),
        (EventState::Pending, "gitlab", "refs/heads/master")
    );
    let (status, json) = send(&state, gitlab("push", Some("s3cret"), body)).await;
    assert_eq!(
        (status, json),
        (StatusCode::OK, json!({ "event": 1, "duplicate": true }))
    );
}

#[tokio::test]
async fn refusals_have_their_status_and_an_error() {
    let (state, store) = app();
    let body = fixture("gitlab/push.json");
    let (status, json) = send(&state, gitlab("push", Some("wrong"), body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(json["error"].as_str().is_some_and(|e| !e.contains("wrong")), "{json}");
    assert_eq!(
        send(&state, gitlab("push", None, body.clone())).await.0,
        StatusCode::UNAUTHORIZED
    );
    let unknown = Request::post("/hooks/gitlab/nope")
        .body(Body::from(body.clone()))
        .expect("request");
    let (status, json) = send(&state, unknown).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown project `nope`"))
    );
    let forge = Request::post("/hooks/bitbucket/demo")
        .body(Body::from(body.clone()))
        .expect("request");
    assert_eq!(send(&state, forge).await.0, StatusCode::NOT_FOUND);
    let github = Request::post("/hooks/github/demo")
        .body(Body::from(body.clone()))
        .expect("request");
    assert_eq!(
        send(&state, github).await.0,
        StatusCode::UNAUTHORIZED,
        "unset secret disables the endpoint"
    );
    let large = gitlab("push", Some("s3cret"), format!("{body}{}", " ".repeat(5000)));
    assert_eq!(send(&state, large).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(store.pending_events(10).expect("pending").is_empty());
}

#[tokio::test]
async fn a_known_event_sluice_does_not_act_on_is_accepted_and_ignored() {
    let (state, store) = app();
    let (status, json) = send(
        &state,
        gitlab("pipeline", Some("s3cret"), fixture("gitlab/pipeline.json")),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(json["ignored"].is_string(), "{json}");
    assert!(store.pending_events(10).expect("pending").is_empty());
}

#[tokio::test]
async fn a_body_that_never_arrives_is_refused_after_the_read_timeout() {
    let (mut state, store) = app();
    state.body_timeout = std::time::Duration::from_millis(50);
    let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let request = Request::post("/hooks/gitlab/demo")
        .header("X-Gitlab-Token", "s3cret")
        .header("X-Gitlab-Event", "Push Hook")
        .body(Body::from_stream(never))
        .expect("request");
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), send(&state, request)).await;
    let (status, json) = answered.expect("the handler answers instead of waiting for the body forever");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{json}");
    assert!(store.pending_events(10).expect("pending").is_empty());
}
