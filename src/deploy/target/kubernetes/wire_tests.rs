//! The real kube-rs client pointed at a recording HTTP peer on loopback: checks what Sluice
//! sends (server-side apply PATCHes, label-selected metadata lists, deletes) and how it
//! reads answers. The peer is NOT a Kubernetes API server: it answers discovery for a few
//! kinds and echoes applies; behaviour against a real API server is untested.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{KubeError, Settings, apply, readiness};
use crate::deploy::spec::SecretValues;
use crate::deploy::target::kubernetes::tests::{rendered, spec};
use crate::secrets::Plaintext;

const SECRET: &str = "hunter2-very-secret";
/// `SECRET` in base64, as the Secret carries it.
const SECRET_BASE64: &str = "aHVudGVyMi12ZXJ5LXNlY3JldA==";

/// One request as the peer saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    content_type: String,
    accept: String,
    body: String,
}

/// How the peer answers.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Mode {
    #[default]
    Healthy,
    /// The apply of the Secret is refused with a message quoting its value.
    RefuseSecret,
    /// The Deployment reports `ProgressDeadlineExceeded`.
    Stuck,
}

#[derive(Default)]
struct Peer {
    mode: Mode,
    seen: Mutex<Vec<Seen>>,
}

impl Peer {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn start(mode: Mode) -> (Arc<Peer>, String) {
    let peer = Arc::new(Peer { mode, ..Peer::default() });
    let app = axum::Router::new().fallback(answer).with_state(peer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (peer, url)
}

async fn answer(State(peer): State<Arc<Peer>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        content_type: header("content-type"),
        accept: header("accept"),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    peer.seen.lock().unwrap().push(seen.clone());
    let path = seen.path.as_str();
    match (seen.method.as_str(), path) {
        ("GET", "/api/v1") => ok(resources("v1", CORE)),
        ("GET", "/apis/apps/v1") => ok(resources("apps/v1", APPS)),
        ("GET", _) if path.starts_with("/apis/") && path.matches('/').count() == 3 => not_found(),
        ("PATCH", _) if peer.mode == Mode::RefuseSecret && path.ends_with("/secrets/hello-secrets") => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(status(
                422,
                "Invalid",
                &format!("Secret \"hello-secrets\" is invalid: data[API_KEY]: Invalid value: \"{SECRET}\" ({SECRET_BASE64})"),
            )),
        )
            .into_response(),
        ("PATCH", _) => {
            let mut object: Value = serde_json::from_str(&seen.body).unwrap_or_default();
            object["metadata"]["generation"] = json!(2);
            ok(object)
        }
        ("GET", "/apis/apps/v1/namespaces/sluice-dev/deployments/web") => ok(deployment(peer.mode)),
        ("GET", "/api/v1/namespaces/sluice-dev/configmaps") => ok(json!({
            "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "items": [labelled("old-config"), labelled("web-config")],
        })),
        ("GET", _) => ok(json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": []})),
        ("DELETE", _) => ok(status(200, "", "")),
        _ => not_found(),
    }
}

const CORE: &[(&str, &str, bool)] = &[
    ("namespaces", "Namespace", false),
    ("configmaps", "ConfigMap", true),
    ("secrets", "Secret", true),
    ("services", "Service", true),
];
const APPS: &[(&str, &str, bool)] = &[("deployments", "Deployment", true), ("statefulsets", "StatefulSet", true)];

fn resources(group_version: &str, kinds: &[(&str, &str, bool)]) -> Value {
    let resources: Vec<Value> = kinds
        .iter()
        .map(|(plural, kind, namespaced)| {
            json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

fn deployment(mode: Mode) -> Value {
    let mut deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "sluice-dev", "generation": 2}, "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2, "replicas": 2}});
    if mode == Mode::Stuck {
        deployment["status"]["availableReplicas"] = json!(0);
        deployment["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-7d\" has timed out progressing."}]);
    }
    deployment
}

fn labelled(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "sluice-dev", "labels": {
        "app.kubernetes.io/managed-by": "sluice", "sluice.dev/app": "hello", "sluice.dev/env": "dev"}}})
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    let outcome = if code < 400 { "Success" } else { "Failure" };
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": outcome, "code": code, "reason": reason, "message": message})
}

fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(status(404, "NotFound", "the server could not find the requested resource"))).into_response()
}

/// A kubeconfig with context `a` on `first` and context `b` on `second`.
fn kubeconfig(dir: &Path, first: &str, second: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
         clusters:\n- name: one\n  cluster: {{server: \"{first}\"}}\n- name: two\n  cluster: {{server: \"{second}\"}}\n\
         users:\n- name: deployer\n  user: {{token: not-a-real-token}}\n\
         contexts:\n- name: a\n  context: {{cluster: one, user: deployer}}\n- name: b\n  context: {{cluster: two, user: deployer}}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn render() -> crate::deploy::render::Rendered {
    rendered(&[
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"a": "b"}}),
    ])
}

fn secrets() -> SecretValues {
    SecretValues(vec![("API_KEY".into(), Plaintext::from(SECRET.to_string()))])
}

async fn apply_to_context_b(mode: Mode) -> (Result<String, KubeError>, Vec<Seen>, Vec<Seen>, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (unused, unused_url) = start(Mode::Healthy).await;
    let (peer, url) = start(mode).await;
    let path = kubeconfig(dir.path(), &unused_url, &url);
    let settings = Settings {
        kubeconfig: Some(&path),
        context: Some("b"),
        namespace: "sluice-dev",
        rollout_timeout: Duration::from_secs(30),
    };
    let result = apply(&settings, &spec(), &render(), &secrets()).await.map(|applied| applied.message);
    (result, peer.seen(), unused.seen(), path)
}

#[tokio::test]
async fn applies_server_side_to_the_chosen_context_waits_then_prunes_by_label() {
    let (result, seen, unused, _) = apply_to_context_b(Mode::Healthy).await;
    let message = result.unwrap();
    assert!(message.contains("context `b`: applied 4 objects, 1 rolled out, 1 pruned"), "{message}");
    assert!(unused.is_empty(), "context `a` was not chosen: {unused:?}");

    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == "PATCH").collect();
    let paths: Vec<&str> = patches.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/sluice-dev",
            "/api/v1/namespaces/sluice-dev/secrets/hello-secrets",
            "/apis/apps/v1/namespaces/sluice-dev/deployments/web",
            "/api/v1/namespaces/sluice-dev/configmaps/web-config",
        ]
    );
    for patch in &patches {
        assert_eq!(patch.content_type, "application/apply-patch+yaml", "{patch:?}");
        assert!(patch.query.contains("fieldManager=sluice"), "{patch:?}");
        assert!(patch.query.contains("force=true"), "{patch:?}");
        let body: Value = serde_json::from_str(&patch.body).unwrap();
        assert_eq!(body["metadata"]["labels"]["app.kubernetes.io/managed-by"], "sluice", "{body}");
        assert_eq!(body["metadata"]["labels"]["sluice.dev/env"], "dev", "{body}");
    }
    let secret: Value = serde_json::from_str(&patches[1].body).unwrap();
    assert_eq!(secret["data"]["API_KEY"], SECRET_BASE64, "the Secret carries the value, base64");

    let reads = seen.iter().filter(|s| s.method == "GET" && s.path.ends_with("/deployments/web")).count();
    assert_eq!(reads, 1, "the rollout was read once and complete");

    let lists: Vec<&Seen> = seen.iter().filter(|s| s.method == "GET" && s.query.contains("labelSelector")).collect();
    let listed: Vec<&str> = lists.iter().map(|s| s.path.rsplit('/').next().unwrap()).collect();
    for kind in ["deployments", "configmaps", "secrets", "services", "statefulsets"] {
        assert!(listed.contains(&kind), "{kind} listed for pruning: {listed:?}");
    }
    for list in &lists {
        assert!(
            list.query.contains(
                "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsluice%2Csluice.dev%2Fapp%3Dhello%2Csluice.dev%2Fenv%3Ddev"
            ),
            "{list:?}"
        );
        assert!(list.accept.contains("as=PartialObjectMetadataList"), "metadata only: {list:?}");
        assert!(list.path.starts_with("/api/v1/namespaces/sluice-dev/") || list.path.starts_with("/apis/apps/v1/namespaces/sluice-dev/"), "{list:?}");
    }

    let deletes: Vec<&Seen> = seen.iter().filter(|s| s.method == "DELETE").collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0].path, "/api/v1/namespaces/sluice-dev/configmaps/old-config");
    assert!(deletes[0].body.contains("Background"), "{:?}", deletes[0]);
}

#[tokio::test]
async fn a_refusal_names_cluster_object_and_message_but_never_the_secret() {
    let (result, seen, _, path) = apply_to_context_b(Mode::RefuseSecret).await;
    let error = result.unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("kubeconfig `{}`, context `b`: applying Secret `sluice-dev/hello-secrets`: Secret \"hello-secrets\" is invalid", path.display())),
        "{error}"
    );
    assert!(error.contains("(422 Invalid)"), "{error}");
    assert!(!error.contains(SECRET) && !error.contains(SECRET_BASE64), "{error}");
    assert!(error.contains("[MASKED]"), "{error}");
    assert!(!seen.iter().any(|s| s.path.ends_with("/deployments/web")), "stops at the first refusal");
    assert!(!seen.iter().any(|s| s.method == "DELETE"), "nothing pruned");
}

#[tokio::test]
async fn a_stuck_rollout_fails_and_prunes_nothing() {
    let (result, seen, _, _) = apply_to_context_b(Mode::Stuck).await;
    let error = result.unwrap_err().to_string();
    assert!(
        error.ends_with("context `b`: Deployment `sluice-dev/web` failed to roll out: Deployment: ReplicaSet \"web-7d\" has timed out progressing."),
        "{error}"
    );
    assert!(!seen.iter().any(|s| s.query.contains("labelSelector")), "nothing listed for pruning");
    assert!(!seen.iter().any(|s| s.method == "DELETE"), "nothing pruned");
}

#[tokio::test]
async fn an_unknown_context_or_kind_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (peer, url) = start(Mode::Healthy).await;
    let path = kubeconfig(dir.path(), &url, &url);
    let mut settings = Settings {
        kubeconfig: Some(&path),
        context: Some("nope"),
        namespace: "sluice-dev",
        rollout_timeout: Duration::from_secs(30),
    };
    let error = apply(&settings, &spec(), &render(), &SecretValues::default()).await.unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "kubeconfig `{}`, context `nope`: the kubeconfig has no such context; set the target's `context` to one of: `a`, `b`",
            path.display()
        )
    );
    assert!(peer.seen().is_empty());

    settings.context = None;
    let widget = rendered(&[json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})]);
    let error = apply(&settings, &spec(), &widget, &SecretValues::default()).await.unwrap_err().to_string();
    assert!(
        error.ends_with("context `a`: applying Widget `sluice-dev/w`: the API server does not serve kind `Widget` in `example.com/v1`; install its CustomResourceDefinition or fix `apiVersion`"),
        "{error}"
    );
}

#[tokio::test]
async fn readiness_reads_the_rendered_workloads_only_and_names_a_stuck_one() {
    let dir = tempfile::tempdir().unwrap();
    for (mode, expected) in [(Mode::Healthy, None), (Mode::Stuck, Some("Deployment `sluice-dev/web` failed: Deployment: ReplicaSet \"web-7d\" has timed out progressing."))] {
        let (peer, url) = start(mode).await;
        let path = kubeconfig(dir.path(), &url, &url);
        let settings = Settings {
            kubeconfig: Some(&path),
            context: None,
            namespace: "sluice-dev",
            rollout_timeout: Duration::from_secs(30),
        };
        let result = readiness(&settings, &render()).await;
        match expected {
            None => assert_eq!(result, Ok(())),
            Some(why) => assert_eq!(result, Err(format!("kubeconfig `{}`, context `a`: {why}", path.display()))),
        }
        let seen = peer.seen();
        assert!(seen.iter().all(|s| s.method == "GET"), "only reads: {seen:?}");
        let objects: Vec<&str> = seen.iter().filter(|s| s.path.contains("/namespaces/")).map(|s| s.path.as_str()).collect();
        assert_eq!(objects, ["/apis/apps/v1/namespaces/sluice-dev/deployments/web"], "the ConfigMap is not a workload");
    }
}
