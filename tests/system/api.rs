//! The JSON API through the real daemon: tokens made with the real CLI (printed once, stored
//! only as a hash), every endpoint with its `401`/`403`/`404`/`409` answers, a pipeline
//! triggered through the API, cancel of a running pipeline, retry, play, and a live log
//! stream over server-sent events.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::daemon::{Daemon, Response, http};
use crate::pipelines::{Remote, process_gone};

/// A project with polling off: only the API starts its pipelines.
pub(crate) fn start(remote: &Remote) -> Daemon {
    let config = format!(
        "concurrency: 2\nprojects:\n  - name: demo\n    repo: \"{}\"\n    branches: [\"main\"]\n    poll: off\n",
        remote.bare.display()
    );
    Daemon::start(&config, &[])
}

/// `sluice ARGS --config <root>/sluice.yaml` in the daemon's directory.
pub(crate) fn sluice(daemon: &Daemon, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .arg("--config")
        .arg(daemon.root.join("sluice.yaml"))
        .current_dir(&daemon.root)
        .env_remove("SLUICE_CONFIG")
        .env_remove("SLUICE_SERVER")
        .env_remove("SLUICE_TOKEN")
        .output()
        .expect("sluice runs")
}

pub(crate) fn show(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Creates a token with the real CLI and returns it (the only line on stdout).
pub(crate) fn create_token(daemon: &Daemon, name: &str, scope: &str) -> String {
    let output = sluice(daemon, &["token", "create", "--name", name, "--scope", scope]);
    assert!(output.status.success(), "{}", show(&output));
    let stdout = String::from_utf8(output.stdout.clone()).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must hold the token alone: {}", show(&output));
    assert!(lines[0].starts_with("sluice_"), "{}", show(&output));
    lines[0].to_owned()
}

pub(crate) fn call(daemon: &Daemon, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    http(daemon.addr, method, path, &headers, body.as_bytes())
}

pub(crate) fn expect(response: &Response, status: u16, daemon: &Daemon) {
    assert_eq!(response.status, status, "{response}\n{}", daemon.dump());
    if status >= 400 {
        assert!(
            response.json()["error"].is_string(),
            "errors are {{\"error\": …}}: {response}"
        );
    }
}

/// Triggers a pipeline on `main` and waits for its row; returns its id.
pub(crate) fn trigger(daemon: &Daemon, token: &str, variables: Value) -> i64 {
    let body = json!({ "ref": "main", "variables": variables });
    let response = call(
        daemon,
        "POST",
        "/api/v1/projects/demo/pipelines",
        Some(token),
        Some(body),
    );
    expect(&response, 202, daemon);
    let event = response.json()["event"].as_i64().expect("event id");
    let store = daemon.store();
    let pipeline = daemon.eventually("the API event has a pipeline", || {
        let row = store
            .get_event(sluice::store::EventId::new(event))
            .map_err(|e| e.to_string())?;
        row.pipeline_id.map(|p| p.get()).ok_or_else(|| format!("{row:?}"))
    });
    pipeline.unwrap_or_else(|last| panic!("{last}"))
}

/// Polls `GET /api/v1/pipelines/{id}` until `done` holds for it.
pub(crate) fn wait_pipeline(daemon: &Daemon, token: &str, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let found = daemon.eventually(what, || {
        let response = call(daemon, "GET", &format!("/api/v1/pipelines/{id}"), Some(token), None);
        let value = response.json();
        done(&value).then_some(value).ok_or_else(|| response.to_string())
    });
    found.unwrap_or_else(|last| panic!("{last}"))
}

pub(crate) fn job_named<'a>(pipeline: &'a Value, name: &str, attempt: i64) -> &'a Value {
    pipeline["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["name"] == name && j["attempt"] == attempt))
        .unwrap_or_else(|| panic!("no job `{name}` attempt {attempt} in {pipeline}"))
}

fn db_bytes(data_dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["sluice.db", "sluice.db-wal"] {
        if let Ok(more) = std::fs::read(data_dir.join(name)) {
            bytes.extend(more);
        }
    }
    bytes
}

#[test]
fn tokens_are_printed_once_stored_as_hashes_and_scoped() {
    let remote = Remote::new();
    remote.push("a:\n  script: [\"true\"]\n", "one job");
    let daemon = start(&remote);
    let writer = create_token(&daemon, "ci-bot", "write");
    let reader = create_token(&daemon, "dashboard", "read");

    let taken = sluice(&daemon, &["token", "create", "--name", "ci-bot", "--scope", "read"]);
    assert_eq!(taken.status.code(), Some(1), "{}", show(&taken));
    assert!(taken.stdout.is_empty(), "{}", show(&taken));

    let list = sluice(&daemon, &["token", "list", "--json"]);
    assert!(list.status.success(), "{}", show(&list));
    let listed: Value = serde_json::from_slice(&list.stdout).expect("json");
    let names: Vec<(&str, &str)> = listed["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| (t["name"].as_str().unwrap_or(""), t["scope"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(names, [("ci-bot", "write"), ("dashboard", "read")]);
    let text = sluice(&daemon, &["token", "list"]);
    let shown = format!("{}{}", show(&list), show(&text));
    assert!(!shown.contains(&writer) && !shown.contains(&reader), "{shown}");

    let bytes = db_bytes(&daemon.data_dir);
    for token in [&writer, &reader] {
        let needle = token.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the database holds a plaintext token"
        );
        let secret_part = &needle["sluice_".len()..];
        assert!(!bytes.windows(secret_part.len()).any(|w| w == secret_part));
    }

    expect(&call(&daemon, "GET", "/api/v1/projects", None, None), 401, &daemon);
    expect(
        &call(&daemon, "GET", "/api/v1/projects", Some("sluice_wrong"), None),
        401,
        &daemon,
    );
    let projects = call(&daemon, "GET", "/api/v1/projects", Some(&reader), None);
    expect(&projects, 200, &daemon);
    assert_eq!(projects.json()["projects"][0]["name"], "demo", "{projects}");
    let refused = call(
        &daemon,
        "POST",
        "/api/v1/projects/demo/pipelines",
        Some(&reader),
        Some(json!({"ref": "main"})),
    );
    expect(&refused, 403, &daemon);
    for path in [
        "/api/v1/pipelines/1/cancel",
        "/api/v1/jobs/1/retry",
        "/api/v1/jobs/1/play",
    ] {
        expect(&call(&daemon, "POST", path, Some(&reader), None), 403, &daemon);
        expect(&call(&daemon, "POST", path, None, None), 401, &daemon);
    }
    for path in [
        "/api/v1/projects/demo/pipelines",
        "/api/v1/pipelines/1",
        "/api/v1/jobs/1",
        "/api/v1/jobs/1/log",
    ] {
        expect(&call(&daemon, "GET", path, None, None), 401, &daemon);
    }
    // Health and readiness need no token.
    expect(&call(&daemon, "GET", "/healthz", None, None), 200, &daemon);

    let revoke = sluice(&daemon, &["token", "revoke", "dashboard"]);
    assert!(revoke.status.success(), "{}", show(&revoke));
    expect(
        &call(&daemon, "GET", "/api/v1/projects", Some(&reader), None),
        401,
        &daemon,
    );
    let again = sluice(&daemon, &["token", "revoke", "dashboard"]);
    assert_eq!(again.status.code(), Some(1), "{}", show(&again));
    assert!(daemon.stderr().find(&writer).is_none(), "the daemon logged a token");
}

const ECHO: &str = "stages: [build, test]
build:
  stage: build
  script:
    - echo \"source=$CI_PIPELINE_SOURCE greeting=$GREETING\"
test:
  stage: test
  script:
    - for i in 1 2 3; do echo line-$i; sleep 0.3; done
";

#[test]
fn a_pipeline_triggered_through_the_api_runs_is_listed_and_streams_its_log() {
    let remote = Remote::new();
    let sha = remote.push(ECHO, "two jobs");
    let daemon = start(&remote);
    let token = create_token(&daemon, "writer", "write");

    expect(
        &call(
            &daemon,
            "POST",
            "/api/v1/projects/nope/pipelines",
            Some(&token),
            Some(json!({"ref": "main"})),
        ),
        404,
        &daemon,
    );
    expect(
        &call(
            &daemon,
            "POST",
            "/api/v1/projects/demo/pipelines",
            Some(&token),
            Some(json!({"branch": "main"})),
        ),
        400,
        &daemon,
    );
    let bad_var = json!({"ref": "main", "variables": {"1X": "v"}});
    expect(
        &call(
            &daemon,
            "POST",
            "/api/v1/projects/demo/pipelines",
            Some(&token),
            Some(bad_var),
        ),
        400,
        &daemon,
    );

    let id = trigger(&daemon, &token, json!({"GREETING": "hello"}));
    let pipeline = wait_pipeline(&daemon, &token, id, "the test job runs", |p| {
        p["jobs"]
            .as_array()
            .is_some_and(|jobs| jobs.iter().any(|j| j["name"] == "test" && j["status"] == "running"))
    });
    // Streamed live: the job is still running when the stream starts.
    let test_job = job_named(&pipeline, "test", 1)["id"].as_i64().expect("id");
    let headers = [
        ("Authorization".to_owned(), format!("Bearer {token}")),
        ("Accept".to_owned(), "text/event-stream".to_owned()),
    ];
    let stream = http(
        daemon.addr,
        "GET",
        &format!("/api/v1/jobs/{test_job}/log"),
        &headers,
        b"",
    );
    assert_eq!(stream.status, 200, "{stream}");
    for line in [
        "data: line-1",
        "data: line-2",
        "data: line-3",
        "event: end",
        "data: {\"status\":\"success\"}",
    ] {
        assert!(
            stream.body.contains(line),
            "missing `{line}` in the stream:\n{}",
            stream.body
        );
    }

    let pipeline = wait_pipeline(&daemon, &token, id, "the pipeline succeeds", |p| {
        p["status"] == "success"
    });
    assert_eq!(
        (pipeline["source"].as_str(), pipeline["sha"].as_str()),
        (Some("api"), Some(sha.as_str()))
    );
    assert!(
        pipeline["variables"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["name"] == "GREETING" && v["value"] == "hello")),
        "{pipeline}"
    );
    let listed = call(
        &daemon,
        "GET",
        "/api/v1/projects/demo/pipelines?limit=5",
        Some(&token),
        None,
    );
    expect(&listed, 200, &daemon);
    assert_eq!(listed.json()["pipelines"][0]["id"], id, "{listed}");
    let build = job_named(&pipeline, "build", 1)["id"].as_i64().expect("id");
    let job = call(&daemon, "GET", &format!("/api/v1/jobs/{build}"), Some(&token), None);
    expect(&job, 200, &daemon);
    assert_eq!(
        (job.json()["name"].as_str(), job.json()["status"].as_str()),
        (Some("build"), Some("success"))
    );
    let log = call(&daemon, "GET", &format!("/api/v1/jobs/{build}/log"), Some(&token), None);
    expect(&log, 200, &daemon);
    assert!(log.body.contains("source=api greeting=hello"), "{log}");

    for path in [
        "/api/v1/pipelines/999",
        "/api/v1/jobs/999",
        "/api/v1/jobs/999/log",
        "/api/v1/jobs/abc",
        "/api/v1/projects/nope/pipelines",
    ] {
        expect(&call(&daemon, "GET", path, Some(&token), None), 404, &daemon);
    }
    for path in [
        "/api/v1/pipelines/999/cancel",
        "/api/v1/jobs/999/retry",
        "/api/v1/jobs/999/play",
    ] {
        expect(&call(&daemon, "POST", path, Some(&token), None), 404, &daemon);
    }
    // The event is marked done after its pipeline's record is final, so wait for the queue.
    let metrics = daemon.eventually("the event leaves the queue", || {
        let metrics = call(&daemon, "GET", "/metrics", None, None);
        (metrics.status == 200 && metrics.body.lines().any(|l| l == "sluice_queue_depth 0"))
            .then_some(metrics)
            .ok_or_else(|| "queue not empty".to_owned())
    });
    let metrics = metrics.unwrap_or_else(|last| panic!("{last}"));
    for line in [
        "sluice_pipelines{status=\"success\"} 1",
        "sluice_job_duration_seconds_count 2",
        "sluice_events_received_total{forge=\"api\",outcome=\"recorded\"} 1",
        "sluice_queue_depth 0",
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "missing `{line}`:\n{}",
            metrics.body
        );
    }
    // A finished pipeline cannot be canceled; a successful job that is not manual cannot be played.
    expect(
        &call(
            &daemon,
            "POST",
            &format!("/api/v1/pipelines/{id}/cancel"),
            Some(&token),
            None,
        ),
        409,
        &daemon,
    );
    expect(
        &call(
            &daemon,
            "POST",
            &format!("/api/v1/jobs/{build}/play"),
            Some(&token),
            None,
        ),
        409,
        &daemon,
    );
}

#[test]
fn cancel_ends_a_running_pipeline_and_its_processes() {
    let remote = Remote::new();
    remote.push(
        "slow:\n  script:\n    - sleep 300\nlater:\n  stage: deploy\n  script: [\"true\"]\n",
        "slow job",
    );
    let daemon = start(&remote);
    let token = create_token(&daemon, "writer", "write");
    let id = trigger(&daemon, &token, json!({}));
    let store = daemon.store();
    let process = daemon.eventually("the slow job runs with its process recorded", || {
        let pipeline = store
            .get_pipeline(sluice::store::PipelineId::new(id))
            .map_err(|e| e.to_string())?;
        let job = pipeline
            .jobs
            .iter()
            .find(|j| j.name == "slow" && j.status.as_str() == "running");
        job.and_then(|j| j.process)
            .ok_or_else(|| format!("{:?}", pipeline.jobs))
    });
    let process = process.unwrap_or_else(|last| panic!("{last}"));
    let response = call(
        &daemon,
        "POST",
        &format!("/api/v1/pipelines/{id}/cancel"),
        Some(&token),
        None,
    );
    expect(&response, 202, &daemon);
    let pipeline = wait_pipeline(&daemon, &token, id, "the pipeline is canceled", |p| {
        p["status"] == "canceled"
    });
    assert_eq!(job_named(&pipeline, "slow", 1)["status"], "canceled", "{pipeline}");
    assert_eq!(job_named(&pipeline, "later", 1)["status"], "canceled", "{pipeline}");
    let gone = daemon.eventually("the job's process is gone", || {
        process_gone(process.pid)
            .then_some(())
            .ok_or_else(|| format!("pid {} alive", process.pid))
    });
    gone.unwrap_or_else(|last| panic!("{last}"));
    expect(
        &call(
            &daemon,
            "POST",
            &format!("/api/v1/pipelines/{id}/cancel"),
            Some(&token),
            None,
        ),
        409,
        &daemon,
    );
}

#[test]
fn retry_runs_a_failed_job_again_as_attempt_2() {
    let remote = Remote::new();
    let marker = tempfile::tempdir().expect("temp dir");
    let flag = marker.path().join("fixed");
    let ci = format!(
        "build:\n  stage: build\n  script:\n    - echo built > built.txt\n    - echo BUILT_BY=build > build.env\n  artifacts:\n    paths: [built.txt]\n    reports:\n      dotenv: build.env\nflaky:\n  stage: test\n  script:\n    - test -f built.txt\n    - test \"$BUILT_BY\" = build\n    - test -f {}\n",
        flag.display()
    );
    remote.push(&ci, "a job that fails until fixed");
    let daemon = start(&remote);
    let token = create_token(&daemon, "writer", "write");
    let reader = create_token(&daemon, "reader", "read");
    let id = trigger(&daemon, &token, json!({"KEEP": "same"}));
    let pipeline = wait_pipeline(&daemon, &token, id, "the pipeline fails", |p| p["status"] == "failed");
    let flaky = job_named(&pipeline, "flaky", 1)["id"].as_i64().expect("id");
    expect(
        &call(
            &daemon,
            "POST",
            &format!("/api/v1/jobs/{flaky}/retry"),
            Some(&reader),
            None,
        ),
        403,
        &daemon,
    );

    std::fs::write(&flag, "").expect("fix the job");
    let response = call(
        &daemon,
        "POST",
        &format!("/api/v1/jobs/{flaky}/retry"),
        Some(&token),
        None,
    );
    expect(&response, 202, &daemon);
    let attempt = response.json()["job"].as_i64().expect("new job id");
    assert_ne!(attempt, flaky);
    // The same attempt cannot be retried twice.
    expect(
        &call(
            &daemon,
            "POST",
            &format!("/api/v1/jobs/{flaky}/retry"),
            Some(&token),
            None,
        ),
        409,
        &daemon,
    );
    let pipeline = wait_pipeline(&daemon, &token, id, "the retried pipeline succeeds", |p| {
        p["status"] == "success"
    });
    let second = job_named(&pipeline, "flaky", 2);
    assert_eq!(
        (second["id"].as_i64(), second["retry_of"].as_i64()),
        (Some(attempt), Some(flaky)),
        "{pipeline}"
    );
    // The retried job received `build`'s artifact and dotenv variable kept from the first run.
    assert_eq!(second["status"], "success", "{pipeline}");
    assert_eq!(job_named(&pipeline, "flaky", 1)["status"], "failed");
    assert_eq!(
        pipeline["jobs"].as_array().map(Vec::len),
        Some(3),
        "only the retried job ran again: {pipeline}"
    );
}

#[test]
fn play_runs_a_manual_job() {
    let remote = Remote::new();
    let ci = "build:\n  script: [\"echo built\"]\ndeploy:\n  stage: deploy\n  when: manual\n  script:\n    - echo \"deploying $CI_COMMIT_REF_NAME\"\n";
    remote.push(ci, "a manual deploy");
    let daemon = start(&remote);
    let token = create_token(&daemon, "writer", "write");
    let id = trigger(&daemon, &token, json!({}));
    let pipeline = wait_pipeline(&daemon, &token, id, "the pipeline finishes with deploy manual", |p| {
        p["status"].as_str().is_some_and(|s| s == "success" || s == "manual")
            && p["jobs"]
                .as_array()
                .is_some_and(|j| j.iter().any(|j| j["name"] == "deploy" && j["status"] == "manual"))
    });
    let deploy = job_named(&pipeline, "deploy", 1)["id"].as_i64().expect("id");
    let build = job_named(&pipeline, "build", 1)["id"].as_i64().expect("id");
    expect(
        &call(
            &daemon,
            "POST",
            &format!("/api/v1/jobs/{build}/play"),
            Some(&token),
            None,
        ),
        409,
        &daemon,
    );
    let response = call(
        &daemon,
        "POST",
        &format!("/api/v1/jobs/{deploy}/play"),
        Some(&token),
        None,
    );
    expect(&response, 202, &daemon);
    assert_eq!(response.json()["job"].as_i64(), Some(deploy));
    // The job's status is recorded before the pipeline's, so wait for both.
    wait_pipeline(&daemon, &token, id, "the deploy job and the pipeline succeed", |p| {
        p["status"] == "success"
            && p["jobs"]
                .as_array()
                .is_some_and(|j| j.iter().any(|j| j["name"] == "deploy" && j["status"] == "success"))
    });
    let log = call(
        &daemon,
        "GET",
        &format!("/api/v1/jobs/{deploy}/log"),
        Some(&token),
        None,
    );
    assert!(log.body.contains("deploying main"), "{log}");
    expect(
        &call(
            &daemon,
            "POST",
            &format!("/api/v1/jobs/{deploy}/play"),
            Some(&token),
            None,
        ),
        409,
        &daemon,
    );
}

#[test]
fn playing_a_blocking_manual_job_runs_the_jobs_waiting_behind_it() {
    let remote = Remote::new();
    let ci = "stages: [build, deploy, verify]\nbuild:\n  stage: build\n  script:\n    - echo BUILT=yes > build.env\n  artifacts:\n    reports:\n      dotenv: build.env\ndeploy:\n  stage: deploy\n  when: manual\n  allow_failure: false\n  script: [\"echo deploying\"]\nverify:\n  stage: verify\n  script:\n    - test \"$BUILT\" = yes\n    - echo verified\n";
    remote.push(ci, "a blocking manual deploy");
    let daemon = start(&remote);
    let token = create_token(&daemon, "writer", "write");
    let id = trigger(&daemon, &token, json!({}));
    let pipeline = wait_pipeline(&daemon, &token, id, "the pipeline is blocked on deploy", |p| p["status"] == "manual");
    assert_eq!(job_named(&pipeline, "verify", 1)["status"], "created", "{pipeline}");
    let deploy = job_named(&pipeline, "deploy", 1)["id"].as_i64().expect("id");
    expect(&call(&daemon, "POST", &format!("/api/v1/jobs/{deploy}/play"), Some(&token), None), 202, &daemon);
    let pipeline = wait_pipeline(&daemon, &token, id, "the pipeline ends", |p| {
        p["status"].as_str().is_some_and(|s| s != "manual" && s != "running")
    });
    let statuses: Vec<(&str, &str)> = pipeline["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| (j["name"].as_str().unwrap_or("?"), j["status"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(statuses, [("build", "success"), ("deploy", "success"), ("verify", "success")], "{}", daemon.dump());
    assert_eq!(pipeline["status"], "success", "{pipeline}");
}
