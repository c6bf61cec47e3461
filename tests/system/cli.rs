//! The CLI as a client of the daemon: `sluice status`, `retry`, `cancel`, `play` and
//! `sluice logs --server [--follow]`, with their exit codes (0 ok, 1 refused, 2 bad input or
//! no daemon).

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::api::{call, create_token, expect, job_named, show, start, trigger, wait_pipeline};
use crate::daemon::Daemon;
use crate::pipelines::Remote;

/// `sluice ARGS` against the daemon, with `token` in `SLUICE_TOKEN`.
fn client(daemon: &Daemon, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .args(args)
        .current_dir(&daemon.root)
        .env("SLUICE_SERVER", format!("http://{}", daemon.addr))
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_CONFIG");
    if let Some(token) = token {
        command.env("SLUICE_TOKEN", token);
    }
    command.output().expect("sluice runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const CI: &str = "stages: [build, test, deploy]
build:
  stage: build
  script:
    - echo built-it
flaky:
  stage: test
  script:
    - exit 1
deploy:
  stage: deploy
  when: manual
  script:
    - echo deployed
";

#[test]
fn the_cli_lists_retries_plays_cancels_and_reads_logs_through_the_daemon() {
    let remote = Remote::new();
    remote.push(CI, "build, a failing test, a manual deploy");
    let daemon = start(&remote);
    let writer = create_token(&daemon, "writer", "write");
    let reader = create_token(&daemon, "reader", "read");
    let id = trigger(&daemon, &writer, json!({}));
    let pipeline = wait_pipeline(&daemon, &writer, id, "the pipeline fails", |p| p["status"] == "failed");
    let build = job_named(&pipeline, "build", 1)["id"].as_i64().expect("id").to_string();
    let flaky = job_named(&pipeline, "flaky", 1)["id"].as_i64().expect("id").to_string();

    let status = client(&daemon, Some(&reader), &["status", "--json"]);
    assert!(status.status.success(), "{}", show(&status));
    let listed: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(listed["projects"][0]["pipelines"][0]["id"], id, "{listed}");
    let text = client(&daemon, Some(&reader), &["status", "--project", "demo"]);
    assert!(
        stdout(&text).contains(&format!("#{id}")) && stdout(&text).contains("flaky"),
        "{}",
        show(&text)
    );
    let unknown = client(&daemon, Some(&reader), &["status", "--project", "nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", show(&unknown));

    let log = client(&daemon, Some(&reader), &["logs", &build]);
    assert!(
        log.status.success() && stdout(&log).contains("built-it"),
        "{}",
        show(&log)
    );
    let follow = client(&daemon, Some(&reader), &["logs", &build, "--follow"]);
    assert_eq!(follow.status.code(), Some(0), "{}", show(&follow));
    assert!(stdout(&follow).contains("built-it"), "{}", show(&follow));
    let failed = client(&daemon, Some(&reader), &["logs", &flaky, "--follow"]);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "a failed job's stream exits 1: {}",
        show(&failed)
    );

    // Refusals exit 1; a missing token or an unknown id exits 2.
    let forbidden = client(&daemon, Some(&reader), &["retry", &flaky]);
    assert_eq!(forbidden.status.code(), Some(1), "{}", show(&forbidden));
    let anonymous = client(&daemon, None, &["retry", &flaky]);
    assert_eq!(anonymous.status.code(), Some(2), "{}", show(&anonymous));
    let missing = client(&daemon, Some(&writer), &["retry", "9999"]);
    assert_eq!(missing.status.code(), Some(2), "{}", show(&missing));
    let not_running = client(&daemon, Some(&writer), &["cancel", &id.to_string()]);
    assert_eq!(not_running.status.code(), Some(1), "{}", show(&not_running));
    let not_manual = client(&daemon, Some(&writer), &["play", &build]);
    assert_eq!(not_manual.status.code(), Some(1), "{}", show(&not_manual));

    let retried = client(&daemon, Some(&writer), &["retry", &flaky]);
    assert!(retried.status.success(), "{}", show(&retried));
    let attempt: i64 = stdout(&retried).trim().parse().expect("the new job id on stdout");
    let pipeline = wait_pipeline(&daemon, &writer, id, "the retry finishes", |p| {
        p["jobs"]
            .as_array()
            .is_some_and(|j| j.iter().any(|j| j["id"] == attempt && j["status"] == "failed"))
    });
    assert_eq!(
        job_named(&pipeline, "flaky", 2)["retry_of"].as_i64(),
        flaky.parse().ok()
    );
    let again = client(&daemon, Some(&writer), &["retry", &flaky]);
    assert_eq!(again.status.code(), Some(1), "{}", show(&again));
    expect(
        &call(&daemon, "GET", &format!("/api/v1/jobs/{attempt}"), Some(&reader), None),
        200,
        &daemon,
    );
}

#[test]
fn cancel_and_play_through_the_cli() {
    let remote = Remote::new();
    remote.push(
        "slow:\n  script: [\"sleep 300\"]\nship:\n  stage: deploy\n  when: manual\n  script: [\"echo shipped\"]\n",
        "slow",
    );
    let daemon = start(&remote);
    let writer = create_token(&daemon, "writer", "write");
    let id = trigger(&daemon, &writer, json!({}));
    wait_pipeline(&daemon, &writer, id, "the slow job runs", |p| {
        p["jobs"]
            .as_array()
            .is_some_and(|j| j.iter().any(|j| j["name"] == "slow" && j["status"] == "running"))
    });
    let canceled = client(&daemon, Some(&writer), &["cancel", &id.to_string()]);
    assert!(canceled.status.success(), "{}", show(&canceled));
    let pipeline = wait_pipeline(&daemon, &writer, id, "the pipeline is canceled", |p| {
        p["status"] == "canceled"
    });
    let ship = job_named(&pipeline, "ship", 1);
    assert_eq!(
        ship["status"], "canceled",
        "a canceled pipeline's manual job is canceled too: {pipeline}"
    );

    let no_daemon = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["status", "--server", "http://127.0.0.1:9", "--token", "sluice_x"])
        .env_remove("SLUICE_SERVER")
        .output()
        .expect("sluice runs");
    assert_eq!(no_daemon.status.code(), Some(2), "{}", show(&no_daemon));
    let stderr = String::from_utf8_lossy(&no_daemon.stderr);
    assert!(
        stderr.contains("127.0.0.1:9") && stderr.contains("sluice serve"),
        "{stderr}"
    );
}
