//! Webhook intake through the real daemon: tokens, signatures, duplicates, refusals, and
//! that an acknowledged event survives `kill -9`.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use sluice::store::EventId;

use crate::daemon::{Daemon, Response};

/// Two projects: `demo` with every secret set, `quiet` whose GitHub secret variable is unset.
/// No polling (the repositories do not exist: the worker marks events failed, which is fine
/// here).
const CONFIG: &str = r#"projects:
  - name: demo
    repo: "file:///nonexistent/demo.git"
    poll: off
    webhooks:
      gitlab_token: "env:TEST_GITLAB_TOKEN"
      github_secret: "env:TEST_GITHUB_SECRET"
      max_body_bytes: 8000
  - name: quiet
    repo: "file:///nonexistent/quiet.git"
    poll: off
    webhooks:
      github_secret: "env:TEST_UNSET_SECRET"
"#;

const ENV: &[(&str, &str)] = &[("TEST_GITLAB_TOKEN", "gl-t0ken"), ("TEST_GITHUB_SECRET", "gh-s3cret")];

fn start() -> Daemon {
    Daemon::start(CONFIG, ENV)
}

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/webhooks/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// The recorded headers of a fixture delivery.
fn headers(path: &str) -> Vec<(String, String)> {
    fixture(path)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

fn gitlab(daemon: &Daemon, event: &str, token: Option<&str>, body: &str) -> Response {
    let mut headers = headers(&format!("gitlab/{event}.headers"));
    if let Some(token) = token {
        headers.push(("X-Gitlab-Token".to_owned(), token.to_owned()));
    }
    daemon.post("/hooks/gitlab/demo", &headers, body.as_bytes())
}

fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn assert_status(response: &Response, status: u16, daemon: &Daemon) {
    assert_eq!(response.status, status, "response: {response}\n{}", daemon.dump());
}

#[test]
fn gitlab_token_right_wrong_and_missing() {
    let daemon = start();
    let body = fixture("gitlab/push.json");
    let accepted = gitlab(&daemon, "push", Some("gl-t0ken"), &body);
    assert_status(&accepted, 202, &daemon);
    assert!(accepted.json()["event"].is_i64(), "{accepted}");
    let wrong = gitlab(&daemon, "push", Some("not-the-token"), &body);
    assert_status(&wrong, 401, &daemon);
    assert!(wrong.json()["error"].is_string(), "{wrong}");
    assert_status(&gitlab(&daemon, "push", None, &body), 401, &daemon);
    let log = daemon.stderr();
    assert!(
        !log.contains("gl-t0ken") && !log.contains("not-the-token"),
        "a token reached the log:\n{log}"
    );
}

#[test]
fn github_signature_valid_and_tampered() {
    let daemon = start();
    let body = fixture("github/push.json");
    let mut signed = headers("github/push.headers");
    signed.push((
        "X-Hub-Signature-256".to_owned(),
        github_signature("gh-s3cret", body.as_bytes()),
    ));
    let accepted = daemon.post("/hooks/github/demo", &signed, body.as_bytes());
    assert_status(&accepted, 202, &daemon);
    let tampered = body.replacen("refs/heads", "refs/heads/x", 1);
    assert_status(
        &daemon.post("/hooks/github/demo", &signed, tampered.as_bytes()),
        401,
        &daemon,
    );
}

#[test]
fn a_duplicate_delivery_gets_the_original_id() {
    let daemon = start();
    let body = fixture("gitlab/push.json");
    let first = gitlab(&daemon, "push", Some("gl-t0ken"), &body);
    assert_status(&first, 202, &daemon);
    let again = gitlab(&daemon, "push", Some("gl-t0ken"), &body);
    assert_status(&again, 200, &daemon);
    assert_eq!(
        again.json(),
        json!({ "event": first.json()["event"], "duplicate": true })
    );
}

#[test]
fn unknown_project_ignored_event_oversized_body_and_unset_secret() {
    let daemon = start();
    let body = fixture("gitlab/push.json");
    let mut headers = headers("gitlab/push.headers");
    headers.push(("X-Gitlab-Token".to_owned(), "gl-t0ken".to_owned()));
    let unknown = daemon.post("/hooks/gitlab/nope", &headers, body.as_bytes());
    assert_status(&unknown, 404, &daemon);
    assert_eq!(unknown.json()["error"], "unknown project `nope`");

    let ignored = gitlab(&daemon, "pipeline", Some("gl-t0ken"), &fixture("gitlab/pipeline.json"));
    assert_status(&ignored, 202, &daemon);
    assert!(ignored.json()["ignored"].is_string(), "{ignored}");

    let oversized = format!("{body}{}", " ".repeat(8001));
    assert_status(&gitlab(&daemon, "push", Some("gl-t0ken"), &oversized), 413, &daemon);

    let github = fixture("github/push.json");
    let mut signed = self::headers("github/push.headers");
    signed.push((
        "X-Hub-Signature-256".to_owned(),
        github_signature("", github.as_bytes()),
    ));
    assert_status(
        &daemon.post("/hooks/github/quiet", &signed, github.as_bytes()),
        401,
        &daemon,
    );
    let log = daemon.stderr();
    assert!(
        log.contains("TEST_UNSET_SECRET"),
        "no warning about the unset variable:\n{log}"
    );
}

#[test]
fn an_acknowledged_event_survives_kill_9() {
    let mut daemon = start();
    let accepted = gitlab(&daemon, "push", Some("gl-t0ken"), &fixture("gitlab/push.json"));
    assert_status(&accepted, 202, &daemon);
    daemon.kill9();
    let id = EventId::new(accepted.json()["event"].as_i64().expect("an id"));
    let event = daemon
        .store()
        .get_event(id)
        .unwrap_or_else(|e| panic!("event lost: {e}\n{}", daemon.dump()));
    assert_eq!(event.git_ref, "refs/heads/master");
    daemon.restart();
    assert!(daemon.store().get_event(id).is_ok(), "{}", daemon.dump());
    let again = gitlab(&daemon, "push", Some("gl-t0ken"), &fixture("gitlab/push.json"));
    assert_status(&again, 200, &daemon);
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let mut daemon = start();
    assert_eq!(daemon.terminate(), Some(0), "{}", daemon.dump());
    let log = daemon.stderr();
    assert!(log.contains("sluice stopped"), "{log}");
}

/// The value of the sample `series` (exact name and labels) in a `/metrics` exposition.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_webhooks_by_outcome_without_a_token() {
    let daemon = start();
    let before = daemon.get("/metrics");
    assert_eq!(before.status, 200, "{before}");
    let recorded = "sluice_events_received_total{forge=\"gitlab\",outcome=\"recorded\"}";
    let refused = "sluice_events_received_total{forge=\"gitlab\",outcome=\"refused\"}";
    assert_eq!(sample(&before.body, recorded), None, "{}", before.body);

    let body = fixture("gitlab/push.json");
    assert_eq!(gitlab(&daemon, "push", Some("gl-t0ken"), &body).status, 202);
    assert_eq!(gitlab(&daemon, "push", Some("wrong"), &body).status, 401);
    let after = daemon.get("/metrics");
    assert_eq!(after.status, 200, "{after}");
    assert_eq!(sample(&after.body, recorded), Some(1.0), "{}", after.body);
    assert_eq!(sample(&after.body, refused), Some(1.0), "{}", after.body);
    assert_eq!(sample(&after.body, "sluice_webhook_duration_seconds_count"), Some(2.0), "{}", after.body);
    for series in ["sluice_queue_depth", "sluice_job_duration_seconds_count"] {
        assert!(sample(&after.body, series).is_some(), "missing {series}:\n{}", after.body);
    }
}

#[test]
fn a_push_seen_by_webhook_and_by_polling_runs_once() {
    let remote = crate::pipelines::Remote::new();
    let first = remote.push("job:\n  script: [\"true\"]\n", "first");
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n    webhooks:\n      github_secret: \"env:TEST_GITHUB_SECRET\"\n",
        remote.bare.display()
    );
    let daemon = Daemon::start(&config, ENV);
    let store = daemon.store();
    let pipelines = |count: usize| {
        let found = daemon.eventually(&format!("{count} finished pipelines"), || {
            let pipelines = store.list_pipelines(Some("demo"), 10).map_err(|e| e.to_string())?;
            if pipelines.len() >= count && pipelines.iter().all(|p| p.status.is_final()) {
                return Ok(pipelines);
            }
            Err(format!("{:?}", pipelines.iter().map(|p| (&p.sha, p.status)).collect::<Vec<_>>()))
        });
        found.unwrap_or_else(|last| panic!("{last}"))
    };
    pipelines(1);
    let second = remote.push("job:\n  script: [\"true\"]\n", "second");
    let mut payload: serde_json::Value = serde_json::from_str(&fixture("github/push.json")).expect("JSON");
    payload["ref"] = "refs/heads/main".into();
    payload["before"] = first.clone().into();
    payload["after"] = second.clone().into();
    let body = serde_json::to_vec(&payload).expect("JSON");
    let mut headers = headers("github/push.headers");
    headers.push(("X-Hub-Signature-256".to_owned(), github_signature("gh-s3cret", &body)));
    let response = daemon.post("/hooks/github/demo", &headers, &body);
    assert!(matches!(response.status, 200 | 202), "{response}\n{}", daemon.dump());
    let after = pipelines(2);
    // The poller fetches on every webhook: it saw the same tip, and nothing ran twice.
    let shas: Vec<&str> = after.iter().map(|p| p.sha.as_str()).collect();
    assert_eq!(shas, [second.as_str(), first.as_str()], "{}", daemon.dump());
    let events = store.list_events(Some("demo"), 10).expect("events");
    assert_eq!(events.len(), 2, "{events:#?}");
}
