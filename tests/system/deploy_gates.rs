//! Health feeds the gates, through the real daemon: dev runs the app as a real process whose
//! health check is a command, and staging's `from` and `soak` gates (read with `sluice gates`,
//! on the daemon's test clock) follow what dev's deployments record.

use std::process::Command;

use sluice::store::DeploymentStatus;

use crate::daemon::Daemon;
use crate::deploy::{Setup, deployed};
use crate::promote_support::record_release;

const T0: &str = "2026-12-01T09:00:00Z";

/// `sluice gates hello staging 1.0.0`: exit code and stdout.
pub(crate) fn gates(daemon: &Daemon, token: &str) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["gates", "hello", "staging", "1.0.0"])
        .env("SLUICE_SERVER", daemon.addr.to_string())
        .env("SLUICE_TOKEN", token)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The version `apps/hello/staging.yaml` pins on the config repo's branch.
pub(crate) fn staging_pin(setup: &Setup) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(&setup.config.bare)
        .args(["show", "main:apps/hello/staging.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().find_map(|l| l.strip_prefix("version: ")).map(|v| v.trim_matches('"').to_owned())
}

/// dev: one process target on `base_port`; staging: from dev, automatic, `from` and a 10m `soak`.
pub(crate) fn staging_after_dev(setup: &Setup, base_port: u16) {
    setup.write(
        "environments/dev.yaml",
        &format!("targets:\n  - {{name: local, type: process, base_port: {base_port}}}\n"),
    );
    setup.write(
        "environments/staging.yaml",
        "promote_from: dev\npromotion: auto\ngates: {from: true, soak: 10m}\n",
    );
}

/// Starts the daemon with promotion and deployments on the test clock `clock`, set to `at`.
pub(crate) fn start_on_clock(setup: &Setup, clock: &std::path::Path, at: &str) -> Daemon {
    std::fs::write(clock, at).unwrap();
    Daemon::start(
        &setup.daemon_config(),
        &[
            ("SLUICE_IDENTITY_FILE", setup.identity.to_str().unwrap()),
            ("SLUICE_TEST_CLOCK", "1"),
            ("SLUICE_CLOCK_FILE", clock.to_str().unwrap()),
        ],
    )
}

#[test]
fn staging_gates_follow_dev_health_and_soak_counts_from_when_dev_became_healthy() {
    let base_port = crate::registry::free_port();
    let setup = Setup::new(base_port);
    let flag = setup.dir.path().join("healthy");
    let app = |command: &str| {
        format!(
            "image: \"oci:{}\"\nrender: {{manifests: manifests/}}\nvalues: {{replicas: 1}}\n\
             run: {{command: [python3, {command}]}}\nhealth: {{command: [test, -e, \"{}\"]}}\n",
            setup.layout.display(),
            flag.display()
        )
    };
    // The first attempt's command does not exist: it exits at once and the deployment fails.
    setup.write("apps/hello/app.yaml", &app("missing.py"));
    staging_after_dev(&setup, base_port);
    let (image, digest) = setup.pin("1.0.0", &["python3", "app.py"]);
    let clock = setup.dir.path().join("clock");
    let daemon = start_on_clock(&setup, &clock, T0);
    let failed = deployed(&daemon, "1.0.0");
    assert_eq!(failed.status, DeploymentStatus::Failed, "{:?}", failed.message);
    record_release(&daemon.store(), "1.0.0", &image, &digest);
    let reader = crate::api::create_token(&daemon, "reader", "read");

    let (code, stdout) = gates(&daemon, &reader);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("closed  from       1.0.0 is failed in dev: target `local` failed, rollout stopped"),
        "{stdout}"
    );
    assert!(stdout.contains("closed  soak       soak of 10m not started: 1.0.0 is failed in dev"), "{stdout}");

    // Fixed: the release starts, but is not healthy until the flag exists.
    setup.write("apps/hello/app.yaml", &app("app.py"));
    setup.push("run app.py");
    let store = daemon.store();
    let waited = daemon.eventually("the fixed release is deploying", || {
        match store.latest_deployment("hello", "dev").map_err(|e| e.to_string())? {
            Some(row) if row.id > failed.id && row.status == DeploymentStatus::Deploying => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    waited.unwrap_or_else(|e| panic!("{e}"));
    let (code, stdout) = gates(&daemon, &reader);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("closed  from       1.0.0 is deploying in dev"), "{stdout}");

    // Healthy five minutes later on the daemon's clock: soak counts from then.
    std::fs::write(&clock, "2026-12-01T09:05:00Z").unwrap();
    std::fs::write(&flag, "").unwrap();
    let healthy = daemon
        .eventually("1.0.0 is healthy in dev", || {
            match store.latest_deployment("hello", "dev").map_err(|e| e.to_string())? {
                Some(row) if row.status == DeploymentStatus::Healthy => Ok(row),
                other => Err(format!("{other:?}")),
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let five_past = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:05:00Z").unwrap().timestamp_millis();
    assert_eq!(healthy.healthy_since.map(|t| t.as_unix_millis()), Some(five_past));
    let (code, stdout) = gates(&daemon, &reader);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("open    from       1.0.0 is healthy in dev"), "{stdout}");
    assert!(
        stdout.contains("closed  soak       healthy in dev for 0s of 10m; opens at 2026-12-01T09:15:00Z"),
        "{stdout}"
    );

    std::fs::write(&clock, "2026-12-01T09:14:00Z").unwrap();
    let (code, stdout) = gates(&daemon, &reader);
    assert_eq!(code, Some(1), "one minute short of the soak: {stdout}");
    assert_eq!(staging_pin(&setup), None);

    std::fs::write(&clock, "2026-12-01T09:15:00Z").unwrap();
    let promoted = daemon.eventually("staging pins 1.0.0", || match staging_pin(&setup) {
        Some(version) if version == "1.0.0" => Ok(()),
        other => Err(format!("{other:?}")),
    });
    promoted.unwrap_or_else(|e| panic!("{e}"));

    let target = sluice::deploy::target::process::ProcessTarget {
        dir: daemon.data_dir.join("deploy/hello/dev/local"),
        layout: setup.layout.clone(),
        base_port,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(target.stop()).unwrap();
}
