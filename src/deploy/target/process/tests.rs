use std::sync::Arc;
use std::time::Duration;

use super::{Exits, ProcessTarget};
use crate::deploy::spec::{DeploySpec, HealthCheck, SecretValues};
use crate::deploy::target::TargetError;
use crate::deploy::test_image::{free_ports, get, server_image};
use crate::secrets::Plaintext;

fn spec(version: &str, digest: &str, within: Duration) -> DeploySpec {
    let mut spec = DeploySpec::example(version);
    spec.digest = digest.into();
    spec.health = Some(HealthCheck::Http {
        path: "/healthz".into(),
        expect_status: 200,
        timeout: Duration::from_secs(1),
        interval: Duration::from_millis(50),
        within,
    });
    spec
}

/// A process target in `data` (state in `t/`, images in `layout/`) on two free ports.
fn target_in(data: &std::path::Path) -> ProcessTarget {
    ProcessTarget {
        dir: data.join("t"),
        layout: data.join("layout"),
        base_port: free_ports(),
    }
}

#[tokio::test]
async fn a_release_replaces_the_previous_one_only_once_healthy() {
    let data = tempfile::tempdir().unwrap();
    let target = target_in(data.path());
    let (layout, base_port) = (&target.layout, target.base_port);
    let secrets = SecretValues(vec![("API_KEY".into(), Plaintext::from("s3cret-value".to_string()))]);
    let exits = Arc::new(Exits::default());

    let v1 = server_image(layout, "1.0.0", &[]);
    let applied = target
        .deploy(&spec("1.0.0", &v1, Duration::from_secs(10)), &secrets, &exits)
        .await
        .unwrap();
    let url1 = applied.url.unwrap();
    assert_eq!(url1, format!("http://127.0.0.1:{base_port}"));
    assert_eq!(get(&url1), Some((200, "1.0.0 key=eulav-terc3s cwd=app".to_string())));
    let first = target.current().unwrap();
    assert!(first.is_alive());

    // Applying the running release again is a no-op.
    let again = target
        .deploy(&spec("1.0.0", &v1, Duration::from_secs(10)), &secrets, &exits)
        .await
        .unwrap();
    assert_eq!(again.message, "1.0.0 already runs");

    // A release that never gets healthy is stopped; the previous one keeps serving.
    let broken = server_image(layout, "2.0.0", &["BROKEN=1"]);
    let err = target
        .deploy(&spec("2.0.0", &broken, Duration::from_millis(1500)), &secrets, &exits)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TargetError::Unhealthy { ref reason, .. } if reason.contains("answered 503")),
        "{err}"
    );
    assert_eq!(target.current().unwrap(), first);
    assert_eq!(get(&url1), Some((200, "1.0.0 key=eulav-terc3s cwd=app".to_string())));
    assert!(
        get(&format!("http://127.0.0.1:{}", base_port + 1)).is_none(),
        "the broken release was stopped"
    );

    // A healthy release takes the other port, then the previous one is stopped.
    let v3 = server_image(layout, "3.0.0", &[]);
    let applied = target
        .deploy(&spec("3.0.0", &v3, Duration::from_secs(10)), &SecretValues::default(), &exits)
        .await
        .unwrap();
    let url3 = applied.url.unwrap();
    assert_eq!(url3, format!("http://127.0.0.1:{}", base_port + 1));
    assert_eq!(get(&url3), Some((200, "3.0.0 key=none cwd=app".to_string())));
    assert!(!first.is_alive(), "the previous release was stopped");
    assert!(get(&url1).is_none());

    let mut trees: Vec<String> = std::fs::read_dir(data.path().join("t/releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    trees.sort();
    let mut kept = vec![v1[7..].to_string(), v3[7..].to_string()];
    kept.sort();
    assert_eq!(trees, kept, "the broken release's tree is removed, the previous one kept");
    let third = target.current().unwrap();
    assert_eq!(third.probe().dir, Some(data.path().join("t/releases").join(&v3[7..]).join("rootfs/app")));
    target.stop().await.unwrap();
    assert!(get(&url3).is_none());
    assert!(target.current().is_none());
    // The reaper saw both ends: the first release stopped when the third was healthy, then
    // the third (stopping reaps the group, so the status itself may be gone).
    tokio::time::timeout(Duration::from_secs(10), async {
        while exits.how_ended(third.pid).is_none() {
            exits.ended().await;
        }
    })
    .await
    .expect("the end of the third release is recorded");
    assert!(exits.how_ended(first.pid).is_some());
}

#[tokio::test]
async fn a_release_that_exits_fails_at_once_and_run_overrides_the_command() {
    let data = tempfile::tempdir().unwrap();
    let target = target_in(data.path());
    let layout = &target.layout;
    let digest = server_image(layout, "1.0.0", &[]);
    let mut spec = spec("1.0.0", &digest, Duration::from_secs(30));
    spec.run.command = Some(vec!["sh".into(), "-c".into(), "exit 3".into()]);
    let started = std::time::Instant::now();
    let err = target.deploy(&spec, &SecretValues::default(), &Arc::default()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("exited (exit status: 3) before it was healthy"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "did not wait for the health timeout"
    );
    assert!(target.current().is_none());
}

#[test]
fn an_exited_process_not_yet_reaped_is_not_alive() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let running = super::Running {
        version: "1.0.0".into(),
        digest: "sha256:abc".into(),
        pid,
        start_time: crate::executor::process_group::start_time(pid).expect("not reaped yet"),
        port: 0,
        revision: String::new(),
        workdir: None,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !super::is_zombie(pid) {
        assert!(std::time::Instant::now() < deadline, "`true` did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(crate::executor::process_group::start_time(pid), Some(running.start_time), "a zombie keeps its stat");
    assert!(!running.is_alive());
    child.wait().unwrap();
}

#[tokio::test]
async fn a_release_whose_deploy_was_interrupted_is_stopped_by_the_next_deploy() {
    let data = tempfile::tempdir().unwrap();
    let target = target_in(data.path());
    let (layout, base_port) = (&target.layout, target.base_port);
    let (secrets, exits) = (SecretValues::default(), Arc::new(Exits::default()));
    let v1 = server_image(layout, "1.0.0", &[]);
    target.deploy(&spec("1.0.0", &v1, Duration::from_secs(10)), &secrets, &exits).await.unwrap();

    // The daemon dies while 2.0.0 (never healthy: it answers 503) waits for its health check:
    // the deploy is dropped mid-wait and its process keeps running on the other port.
    let broken = server_image(layout, "2.0.0", &["BROKEN=1"]);
    let interrupted = tokio::time::timeout(
        Duration::from_secs(2),
        target.deploy(&spec("2.0.0", &broken, Duration::from_secs(60)), &secrets, &exits),
    )
    .await;
    assert!(interrupted.is_err(), "the deploy was still waiting for health");
    let other = format!("http://127.0.0.1:{}", base_port + 1);
    assert_eq!(
        get(&other),
        Some((200, "2.0.0 key=none cwd=app".to_string())),
        "2.0.0 still runs, recorded nowhere as current"
    );

    let v3 = server_image(layout, "3.0.0", &[]);
    let applied = target
        .deploy(&spec("3.0.0", &v3, Duration::from_secs(10)), &secrets, &exits)
        .await
        .expect("the interrupted release no longer holds the port");
    assert_eq!(applied.url.as_deref(), Some(other.as_str()));
    assert_eq!(get(&other), Some((200, "3.0.0 key=none cwd=app".to_string())));
    assert!(!target.dir.join("starting.json").exists());
    target.stop().await.unwrap();
}
