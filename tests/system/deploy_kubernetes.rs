//! The `kubernetes` target through the real daemon, pointed by a kubeconfig at a recording
//! HTTP peer on loopback. The peer is NOT a Kubernetes API server: it answers discovery for a
//! few kinds, stores what is applied, reports Deployments as rolled out, and can refuse
//! applies with a message that quotes the request body (the worst an API server could do
//! with a Secret). What this shows: the daemon's deploy reaches the cluster's API with the
//! secrets, records the outcome, and neither its debug log nor its store holds a secret.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sluice::store::DeploymentStatus;

use crate::daemon::Daemon;
use crate::deploy::{Setup, assert_in_no_file, deployed};

const SECRET: &str = "s3cret-value";

/// What the peer saw and how it answers.
#[derive(Default)]
struct Peer {
    refuse: AtomicBool,
    /// Applied objects by path.
    applied: Mutex<HashMap<String, Value>>,
    /// `METHOD path` of every request, in order.
    seen: Mutex<Vec<String>>,
}

fn start_peer() -> (Arc<Peer>, String) {
    let peer = Arc::new(Peer::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let serving = peer.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let peer = serving.clone();
            std::thread::spawn(move || serve(stream, &peer));
        }
    });
    (peer, url)
}

/// HTTP/1.1 with keep-alive: one request after another until the client closes.
fn serve(stream: TcpStream, peer: &Peer) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap_or(0);
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let path = target.split('?').next().unwrap_or_default();
        peer.seen.lock().unwrap().push(format!("{method} {path}"));
        let (code, answer) = respond(peer, method, path, &String::from_utf8_lossy(&body));
        let answer = answer.to_string();
        let head = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(answer.as_bytes())).is_err() {
            return;
        }
    }
}

fn respond(peer: &Peer, method: &str, path: &str, body: &str) -> (u16, Value) {
    let resources = |group_version: &str, kinds: &[(&str, &str, bool)]| {
        let list: Vec<Value> = kinds
            .iter()
            .map(|(plural, kind, namespaced)| {
                json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced,
                    "kind": kind, "verbs": ["delete", "get", "list", "patch"]})
            })
            .collect();
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list})
    };
    let status = |code: u16, reason: &str, message: &str| {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
    };
    match method {
        "GET" if path == "/api/v1" => (
            200,
            resources("v1", &[("namespaces", "Namespace", false), ("secrets", "Secret", true), ("services", "Service", true)]),
        ),
        "GET" if path == "/apis/apps/v1" => (200, resources("apps/v1", &[("deployments", "Deployment", true)])),
        "PATCH" if peer.refuse.load(Ordering::SeqCst) && path != "/api/v1/namespaces/sluice-dev" => {
            (422, status(422, "Invalid", &format!("refused: {body}")))
        }
        "PATCH" => {
            let mut object: Value = serde_json::from_str(body).unwrap_or_default();
            let replicas = object.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
            object["metadata"]["generation"] = json!(1);
            object["status"] = json!({"observedGeneration": 1, "replicas": replicas,
                "updatedReplicas": replicas, "availableReplicas": replicas});
            peer.applied.lock().unwrap().insert(path.to_string(), object.clone());
            (200, object)
        }
        "GET" => match peer.applied.lock().unwrap().get(path) {
            Some(object) => (200, object.clone()),
            None if path.starts_with("/apis/") && path.matches('/').count() == 3 => (404, status(404, "NotFound", "no such group")),
            None => (200, json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": []})),
        },
        _ => (404, status(404, "NotFound", "not found")),
    }
}

#[test]
fn the_daemon_applies_to_a_kubernetes_api_and_no_secret_reaches_its_logs_or_store() {
    let (peer, url) = start_peer();
    peer.refuse.store(true, Ordering::SeqCst);
    let setup = Setup::new(crate::registry::free_port());
    let kubeconfig = setup.dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: dev\nclusters:\n- name: peer\n  cluster: {{server: \"{url}\"}}\n\
             users:\n- name: sluice\n  user: {{token: not-a-real-token}}\ncontexts:\n- name: dev\n  context: {{cluster: peer, user: sluice}}\n"
        ),
    )
    .unwrap();
    let layout = setup.layout.display().to_string();
    setup.write(
        "apps/hello/app.yaml",
        &format!("image: \"oci:{layout}\"\nrender: {{manifests: manifests/}}\nvalues: {{replicas: 2}}\nhealth: {{kubernetes: true}}\n"),
    );
    setup.write(
        "environments/dev.yaml",
        &format!("targets:\n  - {{name: cluster, type: kubernetes, kubeconfig: \"{}\", rollout_timeout: 30s}}\n", kubeconfig.display()),
    );
    setup.pin("1.0.0", &["python3", "app.py"]);
    // Debug logs too: kube-client's own lines must not carry the refused Secret either.
    let daemon = Daemon::start(
        &setup.daemon_config(),
        &[("SLUICE_IDENTITY_FILE", setup.identity.to_str().unwrap()), ("SLUICE_LOG", "debug")],
    );

    let refused = deployed(&daemon, "1.0.0");
    let message = refused.message.clone().unwrap_or_default();
    assert_eq!(refused.status, DeploymentStatus::Failed, "{message}\n{}", daemon.dump());
    assert!(
        message.contains("context `dev`: applying Secret `sluice-dev/hello-secrets`: refused: ")
            && message.contains("[MASKED]"),
        "{message}"
    );
    assert!(!peer.seen.lock().unwrap().iter().any(|s| s.contains("/deployments/")), "stopped at the Secret");

    peer.refuse.store(false, Ordering::SeqCst);
    setup.pin("1.1.0", &["python3", "app.py"]);
    let applied = deployed(&daemon, "1.1.0");
    assert_eq!(applied.status, DeploymentStatus::Healthy, "{:?}\n{}", applied.message, daemon.dump());
    let objects = peer.applied.lock().unwrap().clone();
    let deployment = &objects["/apis/apps/v1/namespaces/sluice-dev/deployments/hello"];
    assert!(deployment["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().contains(":1.1.0@sha256:"));
    assert_eq!(deployment["metadata"]["labels"]["sluice.dev/env"], "dev");
    let secret = &objects["/api/v1/namespaces/sluice-dev/secrets/hello-secrets"];
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET);
    assert_eq!(secret["data"]["API_KEY"], encoded.as_str(), "the secret reached the cluster");

    // Neither the secret nor its base64 is in any file the daemon wrote: logs, store, renders.
    for needle in [SECRET, encoded.as_str()] {
        assert_in_no_file(&daemon.root, needle, &format!("`{needle}`"));
    }
}
