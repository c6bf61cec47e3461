//! Reconciles through real config-repo directories, a real store file, real OCI layouts and
//! real python3 processes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Deployer, Reconciled};
use crate::config::repo::{ConfigRepo, load_dir, parse};
use crate::deploy::spec::SecretValues;
use crate::deploy::target::TargetContext;
use crate::deploy::target::process::ProcessTarget;
use crate::deploy::test_image::{free_ports, get, server_image};
use crate::secrets::Plaintext;
use crate::store::{DeploymentStatus, Store};

const SECRET: &str = "s3cret-value";

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    layout: PathBuf,
    data: PathBuf,
    deployer: Deployer,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("config");
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template"),
            &repo,
        );
        let layout = dir.path().join("images/hello");
        std::fs::write(
            repo.join("apps/hello/app.yaml"),
            format!(
                "image: \"oci:{}\"\nrender: {{manifests: manifests/}}\nvalues: {{replicas: 1}}\n\
                 health: {{http: {{path: /healthz, expect_status: 200, timeout: 1s, interval: 1s}}}}\n",
                layout.display()
            ),
        )
        .unwrap();
        std::fs::write(
            repo.join("environments/dev.yaml"),
            format!(
                "targets:\n  - {{name: local, type: process, base_port: {}}}\n",
                free_ports()
            ),
        )
        .unwrap();
        let data = dir.path().join("data");
        let store = Arc::new(Store::open(dir.path().join("sluice.db")).unwrap());
        let deployer = Deployer {
            store,
            targets: TargetContext::new(data.clone()),
            clock: crate::promote::Clock::System,
        };
        Fixture {
            repo,
            layout,
            data,
            deployer,
            _dir: dir,
        }
    }

    fn pin(&self, version: &str, digest: &str) {
        let pin = format!(
            "version: {version}\nimage: \"oci:{}:{version}\"\ndigest: \"{digest}\"\n",
            self.layout.display()
        );
        std::fs::write(self.repo.join("apps/hello/dev.yaml"), pin).unwrap();
    }

    fn config(&self) -> ConfigRepo {
        parse(&load_dir(&self.repo).unwrap(), "")
            .map(|(repo, _)| repo)
            .unwrap_or_else(|d| panic!("{d}"))
    }

    async fn reconcile(&self) -> Reconciled {
        let secrets = SecretValues(vec![("API_KEY".into(), Plaintext::from(SECRET.to_string()))]);
        self.deployer
            .reconcile(&self.repo, "c0ffee", &self.config(), "hello", "dev", &secrets)
            .await
            .unwrap()
    }

    fn process(&self) -> ProcessTarget {
        ProcessTarget {
            dir: self.data.join("deploy/hello/dev/local"),
            layout: self.layout.clone(),
            base_port: 0,
        }
    }
}

#[tokio::test]
async fn a_failed_deploy_leaves_the_previous_release_running_and_recorded() {
    let fixture = Fixture::new();
    assert_eq!(fixture.reconcile().await, Reconciled::NothingPinned);

    let v1 = server_image(&fixture.layout, "1.0.0", &[]);
    fixture.pin("1.0.0", &v1);
    let Reconciled::Deployed {
        id: first, status, url, ..
    } = fixture.reconcile().await
    else {
        panic!("not deployed")
    };
    assert_eq!(status, DeploymentStatus::Healthy);
    let url = url.expect("the process target reports its URL");
    assert_eq!(get(&url), Some((200, "1.0.0 key=eulav-terc3s cwd=app".to_string())));
    let details = fixture.deployer.store.deployment_details(first).unwrap().unwrap();
    assert!(
        details.rendered.contains("kind: Deployment") && details.rendered.contains(&v1),
        "{}",
        details.rendered
    );
    assert_eq!(
        fixture.reconcile().await,
        Reconciled::UpToDate,
        "the same release is not deployed twice"
    );

    // 2.0.0's command does not exist in its image: python3 exits at once.
    let v2 = crate::deploy::test_image::write_image(
        &fixture.layout,
        "2.0.0",
        serde_json::json!({"Entrypoint": ["python3"], "Cmd": ["missing.py"], "WorkingDir": "/app"}),
        &[crate::deploy::test_image::layer(&[
            crate::deploy::test_image::Entry::Dir("app"),
        ])],
    );
    fixture.pin("2.0.0", &v2);
    let Reconciled::Deployed { status, message, .. } = fixture.reconcile().await else {
        panic!("not deployed")
    };
    assert_eq!(
        status,
        DeploymentStatus::RolledBack,
        "the template's environments roll back by themselves"
    );
    assert!(
        message.contains("exited") && message.contains("rolled back"),
        "{message}"
    );
    assert_eq!(
        get(&url),
        Some((200, "1.0.0 key=eulav-terc3s cwd=app".to_string())),
        "1.0.0 still serves"
    );
    let store = &fixture.deployer.store;
    assert_eq!(
        store.latest_deployment("hello", "dev").unwrap().unwrap().version,
        "2.0.0"
    );
    assert_eq!(
        fixture.process().current().unwrap().version,
        "1.0.0",
        "1.0.0 is still the running release"
    );
    assert_eq!(
        fixture.reconcile().await,
        Reconciled::UpToDate,
        "a failed release is not retried in a loop"
    );
    let current = store.current_deployment("hello", "dev").unwrap().unwrap();
    assert_eq!(
        (current.id, current.status),
        (first, DeploymentStatus::Healthy),
        "1.0.0 is still the environment's current deployment"
    );
    fixture.pin("1.0.0", &v1);
    assert_eq!(
        fixture.reconcile().await,
        Reconciled::UpToDate,
        "pinning back the release that runs deploys nothing"
    );

    fixture.process().stop().await.unwrap();
    // Secrets reach the process and nowhere else Sluice writes.
    for path in walk(fixture._dir.path()) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in {}",
            path.display()
        );
    }
}

#[tokio::test]
async fn a_deployment_a_crash_left_deploying_is_settled_failed_and_deployed_again() {
    let fixture = Fixture::new();
    let v1 = server_image(&fixture.layout, "1.0.0", &[]);
    fixture.pin("1.0.0", &v1);
    let Reconciled::Deployed { id: first, status, .. } = fixture.reconcile().await else {
        panic!("not deployed")
    };
    assert_eq!(status, DeploymentStatus::Healthy);
    // What a daemon killed after storing the render, before the final status, leaves behind.
    let store = &fixture.deployer.store;
    let now = crate::promote::Clock::System.timestamp();
    store.set_deployment_status(first, DeploymentStatus::Deploying, None, now).unwrap();

    let Reconciled::Deployed { id: second, status, .. } = fixture.reconcile().await else {
        panic!("the interrupted deployment was taken as up to date")
    };
    assert_eq!(status, DeploymentStatus::Healthy);
    assert_ne!(second, first);
    let rows = store.deployments_of("hello", "dev", 10).unwrap();
    let interrupted = rows.iter().find(|row| row.id == first).unwrap();
    assert_eq!(interrupted.status, DeploymentStatus::Failed);
    assert!(
        interrupted.message.as_deref().is_some_and(|m| m.starts_with("interrupted: the daemon stopped while 1.0.0")),
        "{:?}",
        interrupted.message
    );
    assert_eq!(store.current_deployment("hello", "dev").unwrap().unwrap().id, second);
    assert_eq!(fixture.reconcile().await, Reconciled::UpToDate);
    fixture.process().stop().await.unwrap();
}

#[tokio::test]
async fn a_render_leaving_the_config_repo_is_refused_and_nothing_is_deployed() {
    let fixture = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("x.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("x.yaml"),
        fixture.repo.join("apps/hello/manifests/x.yaml"),
    )
    .unwrap();
    let v1 = server_image(&fixture.layout, "1.0.0", &[]);
    fixture.pin("1.0.0", &v1);
    let Reconciled::Deployed { status, message, .. } = fixture.reconcile().await else {
        panic!("not deployed")
    };
    assert_eq!(status, DeploymentStatus::Failed);
    assert!(
        message.starts_with("render refused: `x.yaml` leaves the config repo"),
        "{message}"
    );
    assert!(fixture.process().current().is_none(), "no target was touched");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if entry.file_type().is_ok_and(|t| t.is_file()) {
                files.push(path);
            }
        }
    }
    files
}

#[tokio::test]
async fn an_environment_without_targets_records_no_deployment() {
    let fixture = Fixture::new();
    std::fs::write(fixture.repo.join("environments/dev.yaml"), "targets: []\n").unwrap();
    fixture.pin("1.0.0", &format!("sha256:{}", "1".repeat(64)));
    assert_eq!(fixture.reconcile().await, Reconciled::NoTargets);
    let recorded = fixture.deployer.store.latest_deployment("hello", "dev").unwrap();
    assert!(recorded.is_none(), "a deployment to no target was recorded: {recorded:?}");
}
