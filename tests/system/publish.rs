//! Publication through `sluice run` and the bundled `Sluice/Publish.gitlab-ci.yml` (the
//! `examples/publish` repository), against a real registry and a real bare git remote:
//! first publication and bump, pre-release, unchanged, regression, non-semver, an existing
//! registry tag, two racing pipelines, and a registry that is down then back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sluice::store::{PublicationState, Store};

use crate::registry::{TestRegistry, copy_to_layout, inspect, layer_tar};
use crate::support::{Repo, dump, git};

/// The example repository, with a bare `origin` to receive tags.
struct Project {
    repo: Repo,
    origin: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/publish");
        let repo = Repo::from_dir(&example);
        let origin = tempfile::tempdir().expect("origin");
        git(origin.path(), &["init", "-q", "--bare"]);
        git(&repo.path, &["remote", "set-url", "origin", &origin.path().display().to_string()]);
        Project { repo, origin }
    }

    fn run(&self, registry: &TestRegistry, extra: &[&str]) -> Output {
        run_in(&self.repo.path, &self.repo.path.join(".sluice"), registry, extra)
    }

    fn store(&self) -> Store {
        Store::open(self.repo.path.join(".sluice/sluice.db")).expect("store")
    }

    fn origin_tags(&self) -> Vec<String> {
        let out = Command::new("git").arg("-C").arg(self.origin.path()).args(["tag", "-l"]).output().expect("git");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }
}

fn run_in(dir: &Path, state: &Path, registry: &TestRegistry, extra: &[&str]) -> Output {
    sluice_run(dir, state, registry).args(extra).output().expect("sluice runs")
}

/// `sluice run` in `dir` with the state directory `state`, publishing to `registry`.
pub(crate) fn sluice_run(dir: &Path, state: &Path, registry: &TestRegistry) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .current_dir(dir)
        .args(["run", "--registry", &registry.host, "--state-dir"])
        .arg(state)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH");
    command
}

/// Stdout and stderr of `out`, as one text.
pub(crate) fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_first_publication_and_a_bump_push_images_tags_and_releases() {
    let registry = TestRegistry::start();
    let project = Project::new();
    let out = project.run(&registry, &[]);
    assert!(out.status.success(), "{}", dump(&out));
    let store = project.store();
    let release = store.get_release("hello", "0.1.0").expect("read").expect("released");
    let image = registry.image("hello:0.1.0");
    assert_eq!(release.image, image);
    assert_eq!(inspect(&image, &[])["Digest"], release.digest);
    let head = String::from_utf8(Command::new("git").arg("-C").arg(&project.repo.path).args(["rev-parse", "HEAD"]).output().expect("git").stdout).expect("utf-8");
    assert_eq!(release.sha, head.trim());
    assert_eq!(project.origin_tags(), ["v0.1.0"]);
    let config = inspect(&image, &["--config"]);
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["python3", "/app/hello.py"]));
    assert_eq!(config["config"]["Labels"]["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(config["config"]["Labels"]["org.opencontainers.image.revision"], head.trim());
    let copied = tempfile::tempdir().expect("copy");
    let manifest = copy_to_layout(&image, copied.path(), &[]);
    let tar = layer_tar(copied.path(), manifest["layers"][0]["digest"].as_str().expect("layer"));
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut found = None;
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy() == "app/hello.py" {
            let mut contents = String::new();
            std::io::Read::read_to_string(&mut entry, &mut contents).expect("read");
            found = Some(contents);
        }
    }
    let input = std::fs::read_to_string(project.repo.path.join("dist/hello.py")).expect("input");
    assert_eq!(found.as_deref(), Some(input.as_str()));

    // Unchanged: VERSION equals the published version; nothing runs, nothing is published.
    let out = project.run(&registry, &[]);
    assert!(out.status.success(), "{}", dump(&out));
    assert_eq!(store.list_releases(Some("hello"), 10).expect("list").len(), 1);

    project.repo.commit_file("VERSION", "0.2.0\n", "bump");
    let out = project.run(&registry, &[]);
    assert!(out.status.success(), "{}", dump(&out));
    let releases = store.list_releases(Some("hello"), 10).expect("list");
    assert_eq!(releases.iter().map(|r| r.version.as_str()).collect::<Vec<_>>(), ["0.2.0", "0.1.0"]);
    assert_eq!(project.origin_tags(), ["v0.1.0", "v0.2.0"]);
    assert_eq!(inspect(&registry.image("hello:0.2.0"), &[])["Digest"], releases[0].digest);
}

#[test]
fn prereleases_regressions_and_non_semver_versions_publish_nothing() {
    let registry = TestRegistry::start();
    let project = Project::new();
    assert!(project.run(&registry, &[]).status.success());

    project.repo.commit_file("VERSION", "0.2.0-dev\n", "start 0.2.0");
    let out = project.run(&registry, &[]);
    assert!(out.status.success(), "{}", dump(&out));
    assert!(!text(&out).contains("Released"), "{}", dump(&out));

    project.repo.commit_file("VERSION", "0.0.9\n", "go back");
    let out = project.run(&registry, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", dump(&out));
    assert!(text(&out).contains("VERSION `0.0.9` is not greater than the published `0.1.0`"), "{}", dump(&out));

    project.repo.commit_file("VERSION", "banana\n", "not a version");
    let out = project.run(&registry, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", dump(&out));
    assert!(text(&out).contains("`banana`"), "{}", dump(&out));

    let releases = project.store().list_releases(None, 10).expect("list");
    assert_eq!(releases.iter().map(|r| r.version.as_str()).collect::<Vec<_>>(), ["0.1.0"]);
    let tags = crate::registry::skopeo(&["list-tags", "--tls-verify=false", &format!("docker://{}", registry.image("hello"))]);
    let tags: serde_json::Value = serde_json::from_slice(&tags.stdout).expect("tags");
    assert_eq!(tags["Tags"], serde_json::json!(["0.1.0"]));
    assert_eq!(project.origin_tags(), ["v0.1.0"]);
}

#[test]
fn an_existing_registry_tag_with_another_image_is_never_overwritten() {
    let registry = TestRegistry::start();
    let project = Project::new();
    let image = registry.image("hello:0.1.0");
    let other = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(&project.repo.path)
        .args(["image", "build", "--layer", "VERSION:/VERSION", "--tag", &image, "--push"])
        .env("SOURCE_DATE_EPOCH", "1")
        .output()
        .expect("sluice");
    assert!(other.status.success(), "{}", dump(&other));
    let before = inspect(&image, &[])["Digest"].clone();

    let out = project.run(&registry, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", dump(&out));
    let before_text = before.as_str().expect("digest");
    assert!(
        text(&out).contains(&format!("`{image}` already exists with digest {before_text}")),
        "{}",
        dump(&out)
    );
    assert_eq!(inspect(&image, &[])["Digest"], before);
    let store = project.store();
    assert_eq!(store.get_release("hello", "0.1.0").expect("read"), None);
    let publication = store.get_publication("hello", "0.1.0").expect("read").expect("claimed");
    assert_eq!(publication.state, PublicationState::Failed);
    assert!(project.origin_tags().is_empty());
}

#[test]
fn two_racing_pipelines_give_one_publication_and_one_clear_failure() {
    let registry = TestRegistry::start();
    let project = Project::new();
    let second = tempfile::tempdir().expect("clone");
    let clone: PathBuf = second.path().join("project");
    let out = Command::new("git").args(["clone", "-q"]).arg(&project.repo.path).arg(&clone).output().expect("git");
    assert!(out.status.success(), "{}", dump(&out));
    git(&clone, &["remote", "set-url", "origin", &project.origin.path().display().to_string()]);
    let state = project.repo.path.join(".sluice");
    std::fs::create_dir_all(&state).expect("state");
    // The shared store exists before the race (two processes creating one SQLite file at
    // once can fail switching it to WAL; the race here is the claim's).
    drop(project.store());
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles = [project.repo.path.clone(), clone.clone()].map(|dir| {
            let (state, registry) = (&state, &registry);
            scope.spawn(move || run_in(&dir, state, registry, &[]))
        });
        handles.map(|h| h.join().expect("thread")).into_iter().collect()
    });
    let succeeded = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(succeeded, 1, "{}\n=====\n{}", dump(&outputs[0]), dump(&outputs[1]));
    let failed = outputs.iter().find(|o| !o.status.success()).expect("one failed");
    assert_eq!(failed.status.code(), Some(1), "{}", dump(failed));
    assert!(text(failed).contains("`hello` 0.1.0 is already claimed by pipeline"), "{}", dump(failed));
    let releases = project.store().list_releases(None, 10).expect("list");
    assert_eq!(releases.len(), 1);
    assert_eq!(inspect(&registry.image("hello:0.1.0"), &[])["Digest"], releases[0].digest);
    assert_eq!(project.origin_tags(), ["v0.1.0"]);
}

#[test]
fn a_registry_that_is_down_fails_clearly_records_nothing_and_a_retry_publishes() {
    let mut registry = TestRegistry::start();
    let project = Project::new();
    registry.stop();
    let out = project.run(&registry, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", dump(&out));
    assert!(text(&out).contains(&format!("cannot reach registry `{}`", registry.host)), "{}", dump(&out));
    let store = project.store();
    assert_eq!(store.get_release("hello", "0.1.0").expect("read"), None);
    let publication = store.get_publication("hello", "0.1.0").expect("read").expect("claimed");
    assert_eq!(publication.state, PublicationState::Failed);
    assert!(publication.error.as_deref().unwrap_or("").contains("cannot reach registry"), "{publication:?}");
    assert!(project.origin_tags().is_empty());

    registry.restart();
    let out = project.run(&registry, &[]);
    assert!(out.status.success(), "{}", dump(&out));
    let release = store.get_release("hello", "0.1.0").expect("read").expect("released");
    assert_eq!(inspect(&registry.image("hello:0.1.0"), &[])["Digest"], release.digest);
    assert_eq!(project.origin_tags(), ["v0.1.0"]);
}

/// Pushes `examples/publish` (VERSION 0.1.0, app `hello`) to `remote`; returns the sha.
pub(crate) fn push_example(remote: &crate::pipelines::Remote) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/publish");
    std::fs::create_dir_all(remote.work.join("dist")).expect("mkdir");
    for file in ["VERSION", "dist/hello.py"] {
        std::fs::copy(example.join(file), remote.work.join(file)).expect("copy");
    }
    let ci = std::fs::read_to_string(example.join(".gitlab-ci.yml")).expect("ci");
    remote.push(&ci, "publish 0.1.0")
}

#[test]
fn the_daemon_publishes_a_pushed_version_with_the_same_runner() {
    use crate::pipelines::{Remote, finished_pipeline};
    let registry = TestRegistry::start();
    let remote = Remote::new();
    let sha = push_example(&remote);
    // A config repo with a chart for the app: the publication bumps it.
    let config_repo = tempfile::tempdir().expect("config repo");
    let (config_bare, config_work) = (config_repo.path().join("config.git"), config_repo.path().join("work"));
    git(config_repo.path(), &["init", "-q", "--bare", "-b", "main", config_bare.to_str().expect("utf-8")]);
    git(config_repo.path(), &["clone", "-q", config_bare.to_str().expect("utf-8"), config_work.to_str().expect("utf-8")]);
    std::fs::create_dir_all(config_work.join("apps/hello/chart")).expect("mkdir");
    std::fs::write(config_work.join("apps/hello/chart/Chart.yaml"), "apiVersion: v2\nname: hello\nversion: 0.1.0\n").expect("chart");
    git(&config_work, &["add", "-A"]);
    git(&config_work, &["commit", "-q", "-m", "hello chart"]);
    git(&config_work, &["push", "-q", "origin", "HEAD:main"]);
    let config = format!(
        "concurrency: 2\nconfig_repo:\n  repo: \"{}\"\n  branch: main\nprojects:\n  - name: demo\n    repo: \"{}\"\n    branches: [\"main\"]\n    poll: \"1s\"\n    publish:\n      registry: \"{}\"\n",
        config_bare.display(),
        remote.bare.display(),
        registry.host
    );
    let daemon = crate::daemon::Daemon::start(&config, &[]);
    let pipeline = finished_pipeline(&daemon, &sha);
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
    let release = daemon.store().get_release("hello", "0.1.0").expect("read").expect("released");
    assert_eq!(release.sha, sha);
    assert_eq!(release.pipeline_id, Some(pipeline.id));
    assert_eq!(inspect(&registry.image("hello:0.1.0"), &[])["Digest"], release.digest);
    let tags = Command::new("git").arg("-C").arg(&remote.bare).args(["tag", "-l"]).output().expect("git");
    assert_eq!(String::from_utf8_lossy(&tags.stdout).trim(), "v0.1.0");
    let show = |args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(&config_bare).args(args).output().expect("git");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        show(&["show", "main:apps/hello/chart/Chart.yaml"]),
        "apiVersion: v2\nname: hello\nversion: 0.1.1\nappVersion: \"0.1.0\"\n"
    );
    let message = show(&["log", "-1", "--format=%B", "main"]);
    assert!(message.contains(&format!("Image: {}@{}", release.image, release.digest)), "{message}");
    assert!(message.contains(&format!("Commit: {sha}")), "{message}");
}

#[test]
fn version_check_counts_the_registry_tags_as_published() {
    let registry = TestRegistry::start();
    let repo = Repo::with_files(&[("VERSION", "0.9.0\n")]);
    let pushed = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(&repo.path)
        .args(["image", "build", "--layer", "VERSION:/VERSION", "--tag", &registry.image("hello:1.0.0"), "--push"])
        .output()
        .expect("sluice");
    assert!(pushed.status.success(), "{}", dump(&pushed));
    let check = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .current_dir(&repo.path)
            .args(["version", "check"])
            .args(extra)
            .output()
            .expect("sluice")
    };
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(0), "without --registry only git tags count: {}", dump(&out));
    let out = check(&["--registry", &registry.image("hello")]);
    assert_eq!(out.status.code(), Some(4), "{}", dump(&out));
    assert!(text(&out).contains("VERSION `0.9.0` is not greater than the published `1.0.0`"), "{}", dump(&out));
    let out = check(&["--registry", &format!("127.0.0.1:{}/hello", crate::registry::free_port())]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    assert!(text(&out).contains("cannot reach registry"), "{}", dump(&out));
}
