//! Checks of real python3 processes started by the process target, and the threshold logic.

use std::time::Duration;

use super::{Found, Judge, check};
use crate::deploy::render::Rendered;
use crate::deploy::spec::{DeploySpec, HealthCheck, ImageSource, SecretValues, TargetKind, TargetSpec};
use crate::deploy::target::TargetContext;
use crate::deploy::target::process::ProcessTarget;
use crate::deploy::test_image::{free_ports, server_image};
use crate::store::{DeploymentHealth, DeploymentRow, DeploymentStatus, Timestamp};

fn current(version: &str, digest: &str) -> DeploymentRow {
    DeploymentRow {
        id: 7,
        app: "hello".into(),
        env: "dev".into(),
        version: version.into(),
        digest: digest.into(),
        status: DeploymentStatus::Healthy,
        started_at: Timestamp::from_unix_millis(0),
        finished_at: None,
        healthy_since: None,
        message: None,
        unhealthy_since: None,
        health_message: None,
    }
}

fn unhealthy(found: &Found) -> (&str, bool) {
    match found {
        Found::Unhealthy { reason, at_once } => (reason, *at_once),
        other => panic!("expected unhealthy, found {other:?}"),
    }
}

#[tokio::test]
async fn a_process_is_checked_by_its_health_check_and_its_exit_is_unhealthy_at_once() {
    let data = tempfile::tempdir().unwrap();
    let layout = data.path().join("layout");
    let context = TargetContext::new(data.path().to_path_buf());
    let digest = server_image(&layout, "1.0.0", &[]);
    let mut spec = DeploySpec::example("1.0.0");
    spec.digest.clone_from(&digest);
    let flag = data.path().join("healthy");
    spec.health = Some(HealthCheck::Command {
        argv: vec!["test".into(), "-e".into(), flag.display().to_string()],
        timeout: Duration::from_secs(5),
        interval: Duration::from_millis(50),
        within: Duration::from_secs(10),
    });
    let base_port = free_ports();
    spec.targets = vec![TargetSpec {
        name: "local".into(),
        kind: TargetKind::Process {
            image: ImageSource::Layout(layout.clone()),
            base_port,
        },
    }];
    let target = ProcessTarget {
        dir: context.target_dir(&spec, &spec.targets[0]),
        layout,
        base_port,
    };
    std::fs::write(&flag, "").unwrap();
    target.deploy(&spec, &SecretValues::default(), &context.exits).await.unwrap();
    let rendered = Rendered { files: Vec::new() };
    let row = current("1.0.0", &digest);
    assert_eq!(check(&context, &spec, &row, &rendered).await, Found::Healthy);

    std::fs::remove_file(&flag).unwrap();
    let found = check(&context, &spec, &row, &rendered).await;
    let (reason, at_once) = unhealthy(&found);
    assert!(!at_once, "a failed check counts toward the threshold");
    assert!(
        reason.starts_with(&format!("health check `test -e {}` of target `local` failed: ", flag.display())),
        "{reason}"
    );
    std::fs::write(&flag, "").unwrap();
    assert_eq!(check(&context, &spec, &row, &rendered).await, Found::Healthy);

    let found = check(&context, &spec, &current("0.9.0", &digest), &rendered).await;
    assert_eq!(unhealthy(&found).0, "target `local` runs 1.0.0, not 0.9.0");

    let running = target.current().unwrap();
    let killed = std::process::Command::new("kill").args(["-9", &running.pid.to_string()]).status().unwrap();
    assert!(killed.success());
    tokio::time::timeout(Duration::from_secs(10), async {
        while context.exits.how_ended(running.pid).is_none() {
            context.exits.ended().await;
        }
    })
    .await
    .expect("the reaper records the exit");
    let found = check(&context, &spec, &row, &rendered).await;
    assert_eq!(
        unhealthy(&found),
        (format!("the process of 1.0.0 on target `local` (pid {}) exited (signal: 9 (SIGKILL))", running.pid).as_str(), true)
    );

    spec.targets[0].kind = TargetKind::Command { run: vec!["true".into()] };
    assert_eq!(check(&context, &spec, &row, &rendered).await, Found::Unchecked, "a command target cannot be checked");
}

#[test]
fn unhealthy_after_the_threshold_in_a_row_or_at_once_and_healthy_after_one_pass() {
    let mut judge = Judge::default();
    let failed = || Found::Unhealthy { reason: "GET / answered 503".into(), at_once: false };
    assert_eq!(judge.judge(1, failed(), 3), None);
    assert_eq!(judge.judge(1, failed(), 3), None);
    assert_eq!(judge.judge(1, failed(), 3), Some((DeploymentHealth::Unhealthy, "GET / answered 503".into())));
    assert_eq!(judge.judge(1, Found::Healthy, 3).map(|(h, _)| h), Some(DeploymentHealth::Healthy));
    assert_eq!(judge.judge(1, failed(), 3), None, "a pass resets the count");
    assert_eq!(judge.judge(2, failed(), 3), None, "counted per deployment");
    let exited = Found::Unhealthy { reason: "exited".into(), at_once: true };
    assert_eq!(judge.judge(2, exited, 3), Some((DeploymentHealth::Unhealthy, "exited".into())));
    assert_eq!(judge.judge(1, Found::Unchecked, 3), None);
    assert_eq!(judge.judge(1, failed(), 2), None, "nothing checked resets the count too");
}
