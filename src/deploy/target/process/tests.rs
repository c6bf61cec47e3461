use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::ProcessTarget;
use crate::deploy::spec::{DeploySpec, HealthCheck, RenderSource, RolloutPlan, RunOverride, SecretValues};
use crate::deploy::target::TargetError;
use crate::deploy::test_image::{Entry, layer, write_image};
use crate::secrets::Plaintext;

const SERVER: &[u8] = br#"import http.server, os
V = os.environ.get("APP_VERSION", "?")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503 if self.path == "/healthz" and os.environ.get("BROKEN") else 200
        key = "yes" if os.environ.get("API_KEY") == "s3cret-value" else "no"
        body = f"{V} key={key} cwd={os.path.basename(os.getcwd())}".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Two consecutive free ports (the target alternates between them).
fn free_ports() -> u16 {
    loop {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

fn get(url: &str) -> Option<(u16, String)> {
    let addr = url.strip_prefix("http://")?;
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split("\r\n\r\n").nth(1)?.to_string()))
}

fn image(layout: &Path, version: &str, extra_env: &[&str]) -> String {
    let mut env = vec![format!("APP_VERSION={version}")];
    env.extend(extra_env.iter().map(|e| e.to_string()));
    let config = json!({"Entrypoint": ["python3"], "Cmd": ["server.py"], "WorkingDir": "/app", "Env": env});
    write_image(layout, version, config, &[layer(&[Entry::Dir("app"), Entry::File("app/server.py", SERVER, 0o644)])])
}

fn spec(version: &str, digest: &str, timeout: Duration) -> DeploySpec {
    DeploySpec {
        app: "hello".into(),
        env: "dev".into(),
        version: version.into(),
        image: format!("hello:{version}"),
        digest: digest.into(),
        render: RenderSource::None,
        app_values: json!({}),
        env_values: json!({}),
        run: RunOverride::default(),
        health: Some(HealthCheck::Http {
            path: "/healthz".into(),
            expect_status: 200,
            timeout,
            interval: Duration::from_millis(50),
        }),
        targets: Vec::new(),
        rollout: RolloutPlan::default(),
    }
}

#[tokio::test]
async fn a_release_replaces_the_previous_one_only_once_healthy() {
    let data = tempfile::tempdir().unwrap();
    let layout = data.path().join("layout");
    let base_port = free_ports();
    let target = ProcessTarget { dir: data.path().join("t"), layout: layout.clone(), base_port };
    let secrets = SecretValues(vec![("API_KEY".into(), Plaintext::from("s3cret-value".to_string()))]);

    let v1 = image(&layout, "1.0.0", &[]);
    let applied = target.deploy(&spec("1.0.0", &v1, Duration::from_secs(10)), &secrets).await.unwrap();
    let url1 = applied.url.unwrap();
    assert_eq!(url1, format!("http://127.0.0.1:{base_port}"));
    assert_eq!(get(&url1), Some((200, "1.0.0 key=yes cwd=app".to_string())));
    let first = target.current().unwrap();
    assert!(first.is_alive());

    // Applying the running release again is a no-op.
    let again = target.deploy(&spec("1.0.0", &v1, Duration::from_secs(10)), &secrets).await.unwrap();
    assert_eq!(again.message, "1.0.0 already runs");

    // A release that never gets healthy is stopped; the previous one keeps serving.
    let broken = image(&layout, "2.0.0", &["BROKEN=1"]);
    let err = target.deploy(&spec("2.0.0", &broken, Duration::from_millis(1500)), &secrets).await.unwrap_err();
    assert!(matches!(err, TargetError::Unhealthy { ref reason, .. } if reason.contains("answered 503")), "{err}");
    assert_eq!(target.current().unwrap(), first);
    assert_eq!(get(&url1), Some((200, "1.0.0 key=yes cwd=app".to_string())));
    assert!(get(&format!("http://127.0.0.1:{}", base_port + 1)).is_none(), "the broken release was stopped");

    // A healthy release takes the other port, then the previous one is stopped.
    let v3 = image(&layout, "3.0.0", &[]);
    let applied = target.deploy(&spec("3.0.0", &v3, Duration::from_secs(10)), &SecretValues::default()).await.unwrap();
    let url3 = applied.url.unwrap();
    assert_eq!(url3, format!("http://127.0.0.1:{}", base_port + 1));
    assert_eq!(get(&url3), Some((200, "3.0.0 key=no cwd=app".to_string())));
    assert!(!first.is_alive(), "the previous release was stopped");
    assert!(get(&url1).is_none());

    target.stop().await.unwrap();
    assert!(get(&url3).is_none());
    assert!(target.current().is_none());
}

#[tokio::test]
async fn a_release_that_exits_fails_at_once_and_run_overrides_the_command() {
    let data = tempfile::tempdir().unwrap();
    let layout = data.path().join("layout");
    let target = ProcessTarget { dir: data.path().join("t"), layout: layout.clone(), base_port: free_ports() };
    let digest = image(&layout, "1.0.0", &[]);
    let mut spec = spec("1.0.0", &digest, Duration::from_secs(30));
    spec.run.command = Some(vec!["sh".into(), "-c".into(), "exit 3".into()]);
    let started = std::time::Instant::now();
    let err = target.deploy(&spec, &SecretValues::default()).await.unwrap_err();
    assert!(err.to_string().contains("exited (exit status: 3) before it was healthy"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "did not wait for the health timeout");
    assert!(target.current().is_none());
}
