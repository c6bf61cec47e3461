//! A recording forge: a real HTTP server on 127.0.0.1 that answers GitLab's and GitHub's
//! status endpoints and Gerrit's set-review as their documentation describes (`201` with the
//! created object, Gerrit's `)]}'`-prefixed JSON), records
//! every request (method, path, headers, body), and can be told to fail first (`500`, `429`
//! with `Retry-After`) or to be down (`500` to everything) until it recovers. It plays the
//! forge's API only; GitLab, GitHub and Gerrit themselves are not run.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One request the forge received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `POST`, `PATCH`, …
    pub method: String,
    /// The path, percent-encoding kept.
    pub path: String,
    /// Every header, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`null` when it is not).
    pub body: serde_json::Value,
    /// The status answered.
    pub answered: u16,
}

impl Recorded {
    /// Header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    failures: VecDeque<(u16, Option<&'static str>)>,
    down: bool,
}

/// The running forge; stops with the test process.
#[derive(Clone)]
pub struct ForgePeer {
    state: Arc<Mutex<State>>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ForgePeer {
    /// Starts the forge on a free port, on its own thread and runtime.
    pub fn start() -> ForgePeer {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the forge");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let shared = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let state = shared.clone();
                    async move { answer(&state, method, uri, headers, body) }
                });
                axum::serve(listener, app).await.expect("the forge serves");
            });
        });
        ForgePeer { state, addr }
    }

    /// Answers the next requests with these statuses (and `Retry-After` values) first.
    pub fn fail_next(&self, failures: &[(u16, Option<&'static str>)]) {
        self.lock().failures.extend(failures.iter().copied());
    }

    /// While `down`, every request gets `500`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn answer(state: &Mutex<State>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let failure = if state.down { Some((500, None)) } else { state.failures.pop_front() };
    let path = uri.path().to_owned();
    let body_json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let (status, response) = match failure {
        Some((status, retry_after)) => {
            let mut response = (StatusCode::from_u16(status).expect("status"), "{\"message\":\"try later\"}").into_response();
            if let Some(after) = retry_after {
                response.headers_mut().insert("retry-after", after.parse().expect("header"));
            }
            (status, response)
        }
        None => documented_answer(&method, &path, &body_json),
    };
    state.requests.push(Recorded {
        method: method.to_string(),
        path,
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("<binary>").to_owned()))
            .collect(),
        body: body_json,
        answered: status,
    });
    response
}

/// What GitLab and GitHub answer on success, in the shape their documentation shows.
fn documented_answer(method: &Method, path: &str, body: &serde_json::Value) -> (u16, Response) {
    let created = |value: serde_json::Value| (201, (StatusCode::CREATED, axum::Json(value)).into_response());
    if path.contains("/statuses/") && path.starts_with("/api/v4/") {
        let sha = path.rsplit('/').next().unwrap_or_default();
        return created(json!({"id": 93, "sha": sha, "ref": body["ref"], "status": body["state"], "name": body["name"],
            "target_url": body["target_url"], "description": body["description"], "allow_failure": false}));
    }
    if path.contains("/statuses/") {
        return created(json!({"id": 1, "state": body["state"], "context": body["context"], "target_url": body["target_url"]}));
    }
    if path.ends_with("/check-runs") && method == Method::POST {
        return created(json!({"id": 4242, "head_sha": body["head_sha"], "status": body["status"], "name": body["name"]}));
    }
    if path.contains("/check-runs/") && method == Method::PATCH {
        return (200, axum::Json(json!({"id": 4242, "status": body["status"], "conclusion": body["conclusion"]})).into_response());
    }
    if path.ends_with("/installation") {
        return (200, axum::Json(json!({"id": 77, "app_id": 12345})).into_response());
    }
    if path.ends_with("/access_tokens") {
        return created(json!({"token": "ghs_installation_token", "expires_at": "2099-01-01T00:00:00Z"}));
    }
    if path.starts_with("/a/changes/") && path.ends_with("/review") {
        // Gerrit prefixes every JSON answer with `)]}'` against XSSI.
        let text = format!(")]}}'\n{}", json!({"labels": body["labels"]}));
        return (200, (StatusCode::OK, text).into_response());
    }
    (404, (StatusCode::NOT_FOUND, "{\"message\":\"404 Not Found\"}").into_response())
}
