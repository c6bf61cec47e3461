//! Continuous health through the real daemon: dev runs the app as a real python3 process,
//! checked every second after it was deployed. A real `kill -9` of the process and a health
//! endpoint that starts answering 503 are each recorded as unhealthy, close staging's `from`
//! and `soak` gates saying why and since when, and the recovery (a redeploy, the endpoint
//! answering 200 again) restarts the soak from that moment, on the daemon's test clock.

use std::process::Command;

use serde_json::Value;
use sluice::deploy::target::process::{self, ProcessTarget};
use sluice::store::{DeploymentRow, DeploymentStatus};

use crate::daemon::Daemon;
use crate::deploy::{Setup, deployed};
use crate::deploy_gates::{gates, staging_after_dev, start_on_clock, staging_pin};
use crate::promote_support::record_release;

/// Answers `GET /healthz` with 503 while the file `$SICK_FILE` exists, 200 otherwise.
const APP: &str = r#"import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503 if os.path.exists(os.environ["SICK_FILE"]) else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Stops dev's release when dropped, even when the test fails.
struct Running(ProcessTarget);

impl Drop for Running {
    fn drop(&mut self) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _best_effort = runtime.block_on(self.0.stop());
    }
}

/// Runs `sluice ARGS` against the daemon with `token`: stdout (asserting exit `code`).
fn cli(daemon: &Daemon, token: &str, args: &[&str], code: i32) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_SERVER", daemon.addr.to_string())
        .env("SLUICE_TOKEN", token)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn millis(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time).unwrap().timestamp_millis()
}

/// Waits until dev's current deployment of hello satisfies `wanted`.
fn current_until(daemon: &Daemon, what: &str, wanted: impl Fn(&DeploymentRow) -> bool) -> DeploymentRow {
    let store = daemon.store();
    let found = daemon.eventually(what, || match store.current_deployment("hello", "dev").map_err(|e| e.to_string())? {
        Some(row) if wanted(&row) => Ok(row),
        other => Err(format!("{other:?}")),
    });
    found.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_killed_or_failing_app_closes_the_next_gates_and_soak_restarts_from_its_recovery() {
    let World { setup, sick, clock, daemon, running, first, release: (image, digest) } = dev_running_1_0_0(2);
    record_release(&daemon.store(), "1.0.0", &image, &digest);
    let reader = crate::api::create_token(&daemon, "reader", "read");
    let gates = |code| {
        let (exit, stdout) = gates(&daemon, &reader);
        assert_eq!(exit, Some(code), "{stdout}");
        stdout
    };
    assert!(gates(1).contains("closed  soak       healthy in dev for 0s of 10m; opens at 2026-12-01T09:10:00Z"));

    // A real kill: recorded at once (the daemon reaps its processes), not after the threshold.
    std::fs::write(&clock, "2026-12-01T09:05:00Z").unwrap();
    let pid = running.0.current().unwrap().pid;
    assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let dead = current_until(&daemon, "the killed process is recorded unhealthy", |row| row.unhealthy_since.is_some());
    assert_eq!((dead.id, dead.unhealthy_since.unwrap().as_unix_millis()), (first.id, millis("2026-12-01T09:05:00Z")));
    let why = format!("the process of 1.0.0 on target `local` (pid {pid}) exited (signal: 9 (SIGKILL))");
    assert_eq!(dead.health_message.as_deref(), Some(why.as_str()));
    let stdout = gates(1);
    let closed = format!("1.0.0 is unhealthy in dev since 2026-12-01T09:05:00Z: {why}");
    assert!(stdout.contains(&format!("closed  from       {closed}")), "{stdout}");
    assert!(stdout.contains(&format!("closed  soak       soak of 10m not started: {closed}")), "{stdout}");

    // Past the soak counted from the first deployment: still closed, nothing promoted.
    std::fs::write(&clock, "2026-12-01T09:20:00Z").unwrap();
    assert!(gates(1).contains("closed  from       1.0.0 is unhealthy in dev since 2026-12-01T09:05:00Z"));
    assert_eq!(staging_pin(&setup), None, "an unhealthy release is not promoted");

    // A redeploy (a changed `run.env`) starts it again: healthy, soak from the redeploy.
    setup.write("apps/hello/app.yaml", &app_yaml(&setup, &sick, 2, "again"));
    setup.push("restart hello");
    let again = current_until(&daemon, "1.0.0 is deployed again", |row| row.id > first.id);
    assert_eq!(again.healthy_since.unwrap().as_unix_millis(), millis("2026-12-01T09:20:00Z"));
    assert_eq!(again.unhealthy_since, None);

    // The health endpoint fails: unhealthy after two failed checks in a row.
    std::fs::write(&clock, "2026-12-01T09:25:00Z").unwrap();
    std::fs::write(&sick, "").unwrap();
    let sick_row = current_until(&daemon, "the failing check is recorded", |row| row.unhealthy_since.is_some());
    let port = running.0.current().unwrap().port;
    let why = format!(
        "health check http://127.0.0.1:{port}/healthz of target `local` failed: GET /healthz answered 503, expected 200"
    );
    assert_eq!((sick_row.id, sick_row.health_message.as_deref()), (again.id, Some(why.as_str())));
    let stdout = gates(1);
    assert!(
        stdout.contains(&format!("closed  from       1.0.0 is unhealthy in dev since 2026-12-01T09:25:00Z: {why}")),
        "{stdout}"
    );

    // It recovers: soak counts again from the recovery, not from the redeploy.
    std::fs::write(&clock, "2026-12-01T09:30:00Z").unwrap();
    std::fs::remove_file(&sick).unwrap();
    let recovered = current_until(&daemon, "the recovery is recorded", |row| row.unhealthy_since.is_none());
    assert_eq!(recovered.healthy_since.unwrap().as_unix_millis(), millis("2026-12-01T09:30:00Z"));
    let stdout = gates(1);
    assert!(stdout.contains("open    from       1.0.0 is healthy in dev"), "{stdout}");
    assert!(
        stdout.contains("closed  soak       healthy in dev for 0s of 10m; opens at 2026-12-01T09:40:00Z"),
        "{stdout}"
    );
    let history = cli(&daemon, &reader, &["history", "hello", "dev"], 0);
    assert!(history.contains("    healthy again since 2026-12-01T09:30:00Z: its health checks pass again"), "{history}");
    assert!(
        history.contains(&format!("    unhealthy since 2026-12-01T09:05:00Z: the process of 1.0.0 on target `local` (pid {pid})")),
        "the first deployment stays recorded unhealthy: {history}"
    );
    let answer: Value = serde_json::from_str(&cli(&daemon, &reader, &["history", "hello", "dev", "--json"], 0)).unwrap();
    let transitions: Vec<(&str, i64)> = answer["current"]["health_transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["health"].as_str().unwrap(), t["at"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        transitions,
        [("unhealthy", millis("2026-12-01T09:25:00Z")), ("healthy", millis("2026-12-01T09:30:00Z"))]
    );

    std::fs::write(&clock, "2026-12-01T09:40:00Z").unwrap();
    let promoted = daemon.eventually("staging pins 1.0.0 once soaked", || match staging_pin(&setup) {
        Some(version) if version == "1.0.0" => Ok(()),
        other => Err(format!("{other:?}")),
    });
    promoted.unwrap_or_else(|e| panic!("{e}"));
}

/// Dev running hello 1.0.0 (the sick-file app, checked every second, unhealthy after
/// `failure_threshold` failed checks) under a daemon on a test clock, staging after dev.
struct World {
    setup: Setup,
    sick: std::path::PathBuf,
    clock: std::path::PathBuf,
    daemon: Daemon,
    running: Running,
    first: DeploymentRow,
    /// 1.0.0's image and digest.
    release: (String, String),
}

/// hello's `app.yaml`: the sick-file app with `GREETING` (a changed greeting redeploys it),
/// checked every second, unhealthy after `failure_threshold` failed checks.
fn app_yaml(setup: &Setup, sick: &std::path::Path, failure_threshold: u32, greeting: &str) -> String {
    format!(
        "image: \"oci:{}\"\nrender: {{manifests: manifests/}}\nvalues: {{replicas: 1}}\n\
         run: {{command: [python3, app.py], env: {{SICK_FILE: \"{}\", GREETING: {greeting}}}}}\n\
         health: {{http: {{path: /healthz, timeout: 1s, interval: 1s}}, period: 1s, failure_threshold: {failure_threshold}}}\n",
        setup.layout.display(),
        sick.display()
    )
}

fn dev_running_1_0_0(failure_threshold: u32) -> World {
    let base_port = crate::registry::free_port();
    let setup = Setup::new(base_port);
    let sick = setup.dir.path().join("sick");
    setup.write("apps/hello/app.yaml", &app_yaml(&setup, &sick, failure_threshold, "hello"));
    staging_after_dev(&setup, base_port);
    let release = pin(&setup, "1.0.0");
    let clock = setup.dir.path().join("clock");
    let daemon = start_on_clock(&setup, &clock, "2026-12-01T09:00:00Z");
    let running = Running(ProcessTarget {
        dir: daemon.data_dir.join("deploy/hello/dev/local"),
        layout: setup.layout.clone(),
        base_port,
    });
    let first = deployed(&daemon, "1.0.0");
    assert_eq!(first.status, DeploymentStatus::Healthy, "{:?}", first.message);
    World { setup, sick, clock, daemon, running, first, release }
}

/// Builds hello `version` and pins it in dev: its image and digest.
fn pin(setup: &Setup, version: &str) -> (String, String) {
    let (image, digest) = setup.build_app(version, &["python3", "app.py"], APP);
    setup.write(
        "apps/hello/dev.yaml",
        &format!("version: {version}\nimage: \"{image}\"\ndigest: \"{digest}\"\n"),
    );
    setup.push(&format!("pin {version}"));
    (image, digest)
}

#[test]
fn a_process_started_before_a_daemon_restart_is_still_watched() {
    let World { setup: _setup, clock, mut daemon, running, first, .. } = dev_running_1_0_0(100);
    let pid = running.0.current().unwrap().pid;

    // The daemon dies; the app does not, and the next daemon neither restarts nor condemns it.
    daemon.kill9();
    std::fs::write(&clock, "2026-12-01T09:05:00Z").unwrap();
    daemon.set_env("SLUICE_LOG", "info,sluice::daemon::health=debug");
    daemon.restart();
    let checked = daemon.eventually("the next daemon checked the app", || {
        let log = daemon.stderr();
        if log.contains("checked health app=\"hello\" env=\"dev\" deployment=1 found=Healthy") { Ok(()) } else { Err(log) }
    });
    checked.unwrap_or_else(|e| panic!("{e}"));
    let still = current_until(&daemon, "1.0.0 is still current", |row| row.id == first.id);
    assert_eq!((still.unhealthy_since, running.0.current().unwrap().pid), (None, pid));

    // Not this daemon's child: its end is found at the next period, without an exit status,
    // at once (a threshold of 100 failed checks would take 100 s).
    assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let dead = current_until(&daemon, "the app's end is recorded", |row| row.unhealthy_since.is_some());
    assert_eq!(
        dead.health_message.as_deref(),
        Some(format!("the process of 1.0.0 on target `local` (pid {pid}) exited").as_str())
    );
    assert_eq!(dead.unhealthy_since.unwrap().as_unix_millis(), millis("2026-12-01T09:05:00Z"));
}

#[test]
fn a_deploy_the_daemons_death_interrupts_is_deployed_again_and_its_process_stopped() {
    let World { setup, sick, mut daemon, running, .. } = dev_running_1_0_0(3);
    // 2.0.0 cannot pass its health check yet: the daemon dies while it waits for it.
    std::fs::write(&sick, "").unwrap();
    pin(&setup, "2.0.0");
    let starting = running.0.dir.join("starting.json");
    let waiting = daemon.eventually("2.0.0 waits for its health check", || {
        let latest = daemon.store().latest_deployment("hello", "dev").map_err(|e| e.to_string())?;
        let record = std::fs::read(&starting).map_err(|e| e.to_string())?;
        match latest {
            Some(row) if row.version == "2.0.0" && row.status == DeploymentStatus::Deploying => {
                let record: process::Running = serde_json::from_slice(&record).map_err(|e| e.to_string())?;
                Ok((row, record))
            }
            other => Err(format!("{other:?}")),
        }
    });
    let (interrupted, stray) = waiting.unwrap_or_else(|e| panic!("{e}"));
    daemon.kill9();
    std::fs::remove_file(&sick).unwrap();
    daemon.restart();

    let again = daemon.eventually("2.0.0 is deployed again", || {
        match daemon.store().latest_deployment("hello", "dev").map_err(|e| e.to_string())? {
            Some(row) if row.version == "2.0.0" && row.status == DeploymentStatus::Healthy => Ok(row),
            other => Err(format!("{other:?}")),
        }
    });
    let again = again.unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(again.id, interrupted.id);
    let rows = daemon.store().deployments_of("hello", "dev", 10).unwrap();
    let settled = rows.iter().find(|row| row.id == interrupted.id).unwrap();
    assert_eq!(settled.status, DeploymentStatus::Failed);
    assert!(
        settled.message.as_deref().is_some_and(|m| m.starts_with("interrupted: the daemon stopped while 2.0.0")),
        "{:?}",
        settled.message
    );
    let current = running.0.current().unwrap();
    assert_eq!(current.version, "2.0.0");
    assert_ne!(current.pid, stray.pid, "a new process runs 2.0.0");
    assert!(!stray.is_alive(), "the interrupted attempt's process was stopped");
}
