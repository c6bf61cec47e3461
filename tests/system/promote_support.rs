//! A config repo (bare, pushed to by the daemon) made with `sluice init`, a daemon that
//! promotes in it with a test clock, tokens for the identities of `access.yaml`, and
//! releases and deployments recorded in the daemon's store as publish and deploy record them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sluice::store::{Claim, DeploymentStatus, NewDeployment, NewPublication, PublicationState, Timestamp};

use crate::api::create_token;
use crate::daemon::Daemon;
use crate::support::{dump, git, sluice};

/// Tuesday 1 December 2026, 10:00 in Berlin: inside production's window.
pub(crate) const TUESDAY: &str = "2026-12-01T09:00:00Z";

pub(crate) struct World {
    pub(crate) daemon: Daemon,
    pub(crate) bare: PathBuf,
    pub(crate) work: PathBuf,
    clock: PathBuf,
    _dir: tempfile::TempDir,
}

/// `sluice init`, then `edit` the working tree, commit, and serve it with the clock at `now`.
pub(crate) fn world(now: &str, edit: impl FnOnce(&Path)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("config");
    let output = sluice(dir.path(), &["init", "config"]);
    assert!(output.status.success(), "{}", dump(&output));
    // No deploy targets: the daemon's CD loop then runs nothing, and the tests record what is
    // deployed and healthy themselves (`World::healthy`), as deploy records it.
    for env in ["dev", "staging", "production"] {
        let file = work.join(format!("environments/{env}.yaml"));
        let text = std::fs::read_to_string(&file).unwrap();
        let start = text.find("targets:\n").unwrap();
        let end = start + text[start..].find("base_port").unwrap();
        let end = end + text[end..].find('\n').unwrap() + 1;
        std::fs::write(&file, format!("{}{}", &text[..start], &text[end..])).unwrap();
    }
    edit(&work);
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "config repo"]);
    let bare = dir.path().join("config.git");
    git(dir.path(), &["clone", "-q", "--bare", "config", "config.git"]);
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    let clock = dir.path().join("clock");
    std::fs::write(&clock, now).unwrap();
    let config = format!("config_repo:\n  repo: \"{}\"\n  branch: main\n  poll: 1s\nprojects: []\n", bare.display());
    let daemon = Daemon::start(&config, &[("SLUICE_TEST_CLOCK", "1"), ("SLUICE_CLOCK_FILE", clock.to_str().unwrap())]);
    World { daemon, bare, work, clock, _dir: dir }
}

impl World {
    /// Sets the daemon's clock.
    pub(crate) fn set_time(&self, now: &str) {
        std::fs::write(&self.clock, now).unwrap();
    }

    /// A write token named `name` (an identity's token in the template's `access.yaml`).
    pub(crate) fn token(&self, name: &str) -> String {
        create_token(&self.daemon, name, "write")
    }

    /// Records the release `version` of `hello` as a publication does.
    pub(crate) fn release(&self, version: &str) {
        let digest = format!("sha256:{:0>64}", version.replace('.', ""));
        record_release(&self.daemon.store(), version, &format!("127.0.0.1:5000/hello:{version}"), &digest);
    }

    /// Records `version` of `hello` healthy in `env` since `since` (RFC 3339), as deploy does.
    pub(crate) fn healthy(&self, env: &str, version: &str, since: &str) {
        let store = self.daemon.store();
        let since = chrono::DateTime::parse_from_rfc3339(since).unwrap().timestamp_millis();
        let new = NewDeployment {
            app: "hello".into(),
            env: env.into(),
            version: version.into(),
            digest: "sha256:x".into(),
            status: DeploymentStatus::Deploying,
        };
        let id = store.insert_deployment(&new, Timestamp::from_unix_millis(since)).unwrap();
        store.set_deployment_status(id, DeploymentStatus::Healthy, None, Timestamp::from_unix_millis(since)).unwrap();
    }

    /// `sluice ARGS` against the daemon with `token`.
    pub(crate) fn cli(&self, token: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .env("SLUICE_SERVER", self.daemon.addr.to_string())
            .env("SLUICE_TOKEN", token)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    /// The version pinned for `hello` in `env` on the config repo's branch, if any.
    pub(crate) fn pinned(&self, env: &str) -> Option<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.bare)
            .args(["show", &format!("main:apps/hello/{env}.yaml")])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines().find_map(|l| l.strip_prefix("version: ")).map(|v| v.trim_matches('"').to_owned())
    }

    /// Waits until `env` pins `version`.
    pub(crate) fn wait_pinned(&self, env: &str, version: &str) {
        let waited = self.daemon.eventually(&format!("{version} pinned in {env}"), || match self.pinned(env) {
            Some(v) if v == version => Ok(()),
            other => Err(format!("pinned: {other:?}")),
        });
        waited.unwrap_or_else(|e| panic!("{e}"));
    }

    /// `git log` of the config repo's branch: one line per commit, subject and changed files.
    pub(crate) fn log(&self) -> Vec<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.bare)
            .args(["log", "--format=%x00%s", "--name-only", "main"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        text.split('\0')
            .map(|commit| commit.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | "))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The full message of the newest commit.
    pub(crate) fn last_message(&self) -> String {
        let output = Command::new("git").arg("-C").arg(&self.bare).args(["log", "-1", "--format=%B", "main"]).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Commits `contents` as `path` in the working clone and pushes it (as a person would).
    pub(crate) fn push_file(&self, path: &str, contents: &str) {
        std::fs::write(self.work.join(path), contents).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", &format!("edit {path}")]);
        // The daemon may push in between (automatic promotions): rebase and try again.
        for _ in 0..10 {
            git(&self.work, &["pull", "-q", "--rebase", "origin", "main"]);
            let pushed = Command::new("git").arg("-C").arg(&self.work).args(["push", "-q", "origin", "HEAD:main"]).output().unwrap();
            if pushed.status.success() {
                return;
            }
        }
        panic!("cannot push to the config repo");
    }
}

/// Records the release `version` of `hello` (`image`, `digest`) in `store` as a publication does.
pub(crate) fn record_release(store: &sluice::store::Store, version: &str, image: &str, digest: &str) {
    let now = Timestamp::now();
    let new = NewPublication {
        app: "hello".into(),
        version: version.into(),
        sha: "a".repeat(40),
        image: image.into(),
        pipeline_id: None,
    };
    let Claim::Won(row) = store.claim_publication(&new, Duration::from_secs(60), now).unwrap() else { panic!("claim") };
    let lease = Duration::from_secs(60);
    store.advance_publication(row.id, row.attempt, PublicationState::ImagePushed, Some(digest), lease, now).unwrap();
    store.advance_publication(row.id, row.attempt, PublicationState::TagPushed, None, lease, now).unwrap();
    store.release_publication(row.id, row.attempt, now).unwrap();
}

/// The pin file text of `version`.
pub(crate) fn pin(version: &str) -> String {
    format!(
        "version: \"{version}\"\nimage: \"127.0.0.1:5000/hello:{version}\"\ndigest: \"sha256:{:0>64}\"\n",
        version.replace('.', "")
    )
}

/// Exit code and output, for assertions.
pub(crate) fn code(output: &Output) -> (Option<i32>, String) {
    (output.status.code(), dump(output))
}
