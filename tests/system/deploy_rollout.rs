//! Rollouts and renders through the real daemon: a rollout over three process targets whose
//! middle step fails (its next port is taken, so the new release cannot listen), with and
//! without `auto_rollback`; and deployments refused before any target is touched: renders
//! that try to leave the config repo, secrets recipients that disagree with `.sops.yaml`
//! (which `sluice config check` reports too).

use std::net::TcpListener;

use sluice::deploy::target::process::{ProcessTarget, Running};
use sluice::store::DeploymentStatus;

use crate::daemon::Daemon;
use crate::deploy::{Setup, assert_in_no_file, deployed, get};
use crate::registry::free_port;
use crate::support::{dump, sluice};

/// Stops the releases of the given process targets when dropped, even when a test fails.
struct Targets(Vec<ProcessTarget>);

impl Targets {
    fn new(daemon: &Daemon, setup: &Setup, names: &[&str]) -> Targets {
        let target = |name: &&str| ProcessTarget {
            dir: daemon.data_dir.join(format!("deploy/hello/dev/{name}")),
            layout: setup.layout.clone(),
            base_port: 0,
        };
        Targets(names.iter().map(target).collect())
    }

    /// What target `index` records as running.
    fn running(&self, index: usize) -> Running {
        self.0[index].current().expect("a release is recorded")
    }

    /// The version the release of target `index` answers with.
    fn serves(&self, index: usize) -> String {
        let body = get(&self.running(index).url()).unwrap_or_default();
        body.split_whitespace().next().unwrap_or_default().to_owned()
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for target in &self.0 {
            let _best_effort = runtime.block_on(target.stop());
        }
    }
}

fn environment(ports: &[u16; 3], auto_rollback: bool) -> String {
    format!(
        "targets:\n  - {{name: a, type: process, base_port: {}}}\n  - {{name: b, type: process, base_port: {}}}\n\
         \x20 - {{name: c, type: process, base_port: {}}}\n\
         rollout: {{steps: [33, 66, 100], pause: 0s, auto_rollback: {auto_rollback}}}\n",
        ports[0], ports[1], ports[2]
    )
}

#[test]
fn a_failed_rollout_step_stops_the_rollout_and_rolls_back_or_leaves_no_current_release() {
    let ports = [free_port(), free_port(), free_port()];
    let setup = Setup::new(ports[0]);
    setup.write("environments/dev.yaml", &environment(&ports, true));
    setup.pin("1.0.0", &["python3", "app.py"]);
    let daemon = Daemon::start(&setup.daemon_config(), &[("SLUICE_IDENTITY_FILE", setup.identity.to_str().unwrap())]);
    let targets = Targets::new(&daemon, &setup, &["a", "b", "c"]);
    let first = deployed(&daemon, "1.0.0");
    assert_eq!(first.status, DeploymentStatus::Healthy, "{:?}\n{}", first.message, daemon.dump());
    assert_eq!([targets.serves(0), targets.serves(1), targets.serves(2)], ["1.0.0", "1.0.0", "1.0.0"]);
    let c_before = targets.running(2);

    // Releases alternate between two ports: b's next one is taken, so its step fails.
    let b = targets.running(1);
    let _taken = TcpListener::bind(("127.0.0.1", b.port + 1)).expect("b's next port is free to take");
    setup.pin("2.0.0", &["python3", "app.py"]);
    let second = deployed(&daemon, "2.0.0");
    assert_eq!(second.status, DeploymentStatus::RolledBack, "{:?}", second.message);
    let message = second.message.clone().unwrap_or_default();
    assert!(message.starts_with("target `b` failed, rolled back: 2.0.0 did not become healthy"), "{message}");
    assert_eq!(targets.serves(0), "1.0.0", "a, which took 2.0.0 in the first step, is rolled back");
    assert_eq!(targets.running(1), b, "b still runs 1.0.0");
    assert_eq!(targets.running(2), c_before, "c, in the step after the failed one, is untouched");
    let current = daemon.store().current_deployment("hello", "dev").unwrap().unwrap();
    assert_eq!((current.id, current.status), (first.id, DeploymentStatus::Healthy), "1.0.0 stays current");

    // Without rollback a keeps 3.0.0: 1.0.0 no longer runs on every target, nothing is current.
    setup.write("environments/dev.yaml", &environment(&ports, false));
    setup.pin("3.0.0", &["python3", "app.py"]);
    let third = deployed(&daemon, "3.0.0");
    assert_eq!(third.status, DeploymentStatus::Failed, "{:?}", third.message);
    assert!(
        third.message.as_deref().unwrap_or_default().starts_with("target `b` failed, rollout stopped"),
        "{:?}",
        third.message
    );
    assert_eq!([targets.serves(0), targets.serves(1)], ["3.0.0", "1.0.0"]);
    assert_eq!(targets.running(2), c_before, "c is untouched");
    let store = daemon.store();
    assert_eq!(store.current_deployment("hello", "dev").unwrap(), None);
    let was_current = store.deployments_of("hello", "dev", 10).unwrap().into_iter().find(|r| r.id == first.id).unwrap();
    assert_eq!(was_current.status, DeploymentStatus::Failed);
    assert_eq!(
        was_current.message.as_deref(),
        Some(format!("1.0.0 no longer runs on every target: `a` runs 3.0.0 after the failed rollout of deployment {}", third.id).as_str())
    );
}

#[test]
fn renders_leaving_the_config_repo_are_refused_through_the_daemon_with_nothing_deployed() {
    let base_port = free_port();
    let setup = Setup::new(base_port);
    let outside = tempfile::tempdir().unwrap();
    let only_outside = "outside-only-5c1e7a";
    std::fs::write(
        outside.path().join("x.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {only_outside}}}\n"),
    )
    .unwrap();
    // A directory inside the template directory that is a symlink to one outside the repo.
    std::os::unix::fs::symlink(outside.path(), setup.config.work.join("apps/hello/manifests/more")).unwrap();
    setup.pin("1.0.0", &["python3", "app.py"]);
    let daemon = Daemon::start(&setup.daemon_config(), &[("SLUICE_IDENTITY_FILE", setup.identity.to_str().unwrap())]);
    let targets = Targets::new(&daemon, &setup, &["local"]);
    let refused = deployed(&daemon, "1.0.0");
    assert_eq!(refused.status, DeploymentStatus::Failed);
    let message = refused.message.clone().unwrap_or_default();
    assert!(message.starts_with("render refused: `more` leaves the config repo"), "{message}");
    assert!(targets.0[0].current().is_none(), "no release was started");
    assert!(get(&format!("http://127.0.0.1:{base_port}")).is_none(), "nothing listens");
    assert!(!setup.dir.path().join("marker").exists(), "the command target did not run");
    assert_eq!(daemon.store().current_deployment("hello", "dev").unwrap(), None);

    // `..` in the template directory: the commit is invalid, so it is not deployed at all.
    std::fs::remove_file(setup.config.work.join("apps/hello/manifests/more")).unwrap();
    let app = std::fs::read_to_string(setup.config.work.join("apps/hello/app.yaml")).unwrap();
    setup.write("apps/hello/app.yaml", &app.replace("manifests: manifests/", "manifests: ../../../outside/"));
    setup.push("render from outside");
    let skipped = daemon.eventually("the commit is refused", || {
        let stderr = daemon.stderr();
        stderr.contains("is invalid and is not deployed").then_some(()).ok_or_else(|| "not yet".to_owned())
    });
    skipped.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(daemon.store().latest_deployment("hello", "dev").unwrap().map(|r| r.id), Some(refused.id));
    assert!(targets.0[0].current().is_none(), "no release was started");

    // Valid again, but dev's `secrets:` recipients disagree with `.sops.yaml` (whose rule for
    // `secrets/` names the template's placeholder key): refused before anything is decrypted.
    setup.write("apps/hello/app.yaml", &app);
    let dev = std::fs::read_to_string(setup.config.work.join("environments/dev.yaml")).unwrap();
    let recipient = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
    setup.write("environments/dev.yaml", &format!("{dev}secrets: {{age: [{recipient}]}}\n"));
    setup.push("dev's secrets are for another key");
    let disagree = daemon
        .eventually("the disagreement is recorded", || {
            match daemon.store().latest_deployment("hello", "dev").map_err(|e| e.to_string())? {
                Some(row) if row.id != refused.id => Ok(row),
                other => Err(format!("{other:?}")),
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(disagree.status, DeploymentStatus::Failed);
    let message = disagree.message.clone().unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "the secrets recipients of `dev` disagree: `secrets.age` lists `{recipient}` that the rule does not"
        )),
        "{message}"
    );
    assert!(message.contains("sluice secrets updatekeys secrets/dev"), "{message}");
    assert!(targets.0[0].current().is_none(), "no release was started");

    assert_in_no_file(&daemon.root, only_outside, "a file outside the config repo");
}

#[test]
fn config_check_refuses_recipients_that_disagree_with_sops_yaml() {
    let dir = tempfile::tempdir().unwrap();
    assert!(sluice(dir.path(), &["init", "config"]).status.success());
    let check = || sluice(dir.path(), &["config", "check", "--config-repo", "config"]);
    assert_eq!(check().status.code(), Some(0), "the template's recipients agree: {}", dump(&check()));
    let production = dir.path().join("config/environments/production.yaml");
    let other = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
    let text = std::fs::read_to_string(&production).unwrap();
    let placeholder = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    std::fs::write(&production, text.replace(&format!("age: [\"{placeholder}\"]"), &format!("age: [\"{other}\"]"))).unwrap();
    let output = check();
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: the secrets recipients of `production` disagree: `secrets.age` lists `{other}` that the rule does not; \
             the rule's `age` lists `{placeholder}` that the environment does not"
        )),
        "{stderr}"
    );
}
