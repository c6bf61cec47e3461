//! Publication from a `Dockerfile` through `sluice run` and the bundled template's
//! `dockerfile` input: the real `podman` builds (`FROM` the busybox image the podman harness
//! imports, `COPY`, `RUN`), Sluice pushes to a real `docker-registry`, checked with `skopeo`.
//! Where `podman info` fails, the tests print `SKIPPED: …` and return.

use std::path::Path;
use std::process::{Command, Output};

use sluice::store::Store;

use crate::podman::{IMAGE, Podman, podman};
use crate::publish::{sluice_run, text};
use crate::registry::{TestRegistry, copy_to_layout, inspect, layer_tar};
use crate::support::{Repo, dump, git};

fn ci(inputs: &str) -> String {
    format!("include:\n  - template: Sluice/Publish.gitlab-ci.yml\n    inputs: {{{inputs}}}\n")
}

/// A repository whose Dockerfile copies `hello.txt` and writes `built.txt` in a `RUN`, with a
/// bare `origin` receiving the release tags.
fn project(dockerfile: &str) -> (Repo, tempfile::TempDir) {
    let repo = Repo::with_files(&[
        ("VERSION", "1.0.0\n"),
        ("docker/Dockerfile", dockerfile),
        ("hello.txt", "hello from the repository\n"),
        (".gitlab-ci.yml", &ci("dockerfile: docker/Dockerfile, app: web")),
    ]);
    let origin = tempfile::tempdir().expect("origin");
    git(origin.path(), &["init", "-q", "--bare"]);
    git(&repo.path, &["remote", "set-url", "origin", &origin.path().display().to_string()]);
    (repo, origin)
}

fn run(podman: &Podman, dir: &Path, state: &Path, registry: &TestRegistry) -> Output {
    sluice_run(dir, state, registry).envs(podman.env()).output().expect("sluice runs")
}

/// The contents of `path` in the image's layers (the last layer holding it wins).
fn file_in_image(layout: &Path, manifest: &serde_json::Value, path: &str) -> Option<String> {
    let mut found = None;
    for layer in manifest["layers"].as_array().expect("layers") {
        let tar = layer_tar(layout, layer["digest"].as_str().expect("digest"));
        for entry in tar::Archive::new(tar.as_slice()).entries().expect("tar") {
            let mut entry = entry.expect("entry");
            if entry.path().expect("path").to_string_lossy().trim_start_matches("./") == path {
                let mut contents = String::new();
                std::io::Read::read_to_string(&mut entry, &mut contents).expect("read");
                found = Some(contents);
            }
        }
    }
    found
}

#[test]
fn a_dockerfile_is_built_by_podman_and_published_once_through_sluice() {
    let Some(podman) = podman("a_dockerfile_is_built_by_podman_and_published_once_through_sluice") else { return };
    let registry = TestRegistry::start();
    let (repo, origin) = project(&format!("FROM {IMAGE}\nCOPY hello.txt /app/hello.txt\nRUN echo built-by-run > /app/built.txt\n"));
    let out = run(podman, &repo.path, &repo.path.join(".sluice"), &registry);
    assert!(out.status.success(), "{}", dump(&out));
    assert!(text(&out).contains("Building `docker/Dockerfile` with podman"), "{}", dump(&out));
    let store = Store::open(repo.path.join(".sluice/sluice.db")).expect("store");
    let release = store.get_release("web", "1.0.0").expect("read").expect("released");
    let image = registry.image("web:1.0.0");
    assert_eq!(release.image, image);
    assert_eq!(inspect(&image, &[])["Digest"], release.digest);
    let config = inspect(&image, &["--config"]);
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], "1.0.0");
    assert_eq!(labels["org.opencontainers.image.revision"], release.sha.as_str());
    let tags = Command::new("git").arg("-C").arg(origin.path()).args(["tag", "-l"]).output().expect("git");
    assert_eq!(String::from_utf8_lossy(&tags.stdout).trim(), "v1.0.0");
    let copied = tempfile::tempdir().expect("copy");
    let manifest = copy_to_layout(&image, copied.path(), &[]);
    assert_eq!(file_in_image(copied.path(), &manifest, "app/hello.txt").as_deref(), Some("hello from the repository\n"));
    assert_eq!(file_in_image(copied.path(), &manifest, "app/built.txt").as_deref(), Some("built-by-run\n"));

    // Again from scratch (no store, no tag): the same build gives the same digest, which the
    // registry already holds; nothing is pushed again and the release is the same image.
    git(&repo.path, &["tag", "-d", "v1.0.0"]);
    git(origin.path(), &["tag", "-d", "v1.0.0"]);
    let fresh = tempfile::tempdir().expect("state");
    let out = run(podman, &repo.path, fresh.path(), &registry);
    assert!(out.status.success(), "{}", dump(&out));
    assert!(text(&out).contains(&format!("`{image}` already holds {}; not pushed again", release.digest)), "{}", dump(&out));
    let again = Store::open(fresh.path().join("sluice.db")).expect("store");
    assert_eq!(again.get_release("web", "1.0.0").expect("read").expect("released").digest, release.digest);
    assert_eq!(inspect(&image, &[])["Digest"], release.digest);
}

#[test]
fn a_failing_dockerfile_fails_the_job_with_podmans_output_and_publishes_nothing() {
    let Some(podman) = podman("a_failing_dockerfile_fails_the_job_with_podmans_output_and_publishes_nothing") else { return };
    let registry = TestRegistry::start();
    let (repo, origin) = project(&format!("FROM {IMAGE}\nRUN echo the-step-that-fails >&2; exit 3\n"));
    let out = run(podman, &repo.path, &repo.path.join(".sluice"), &registry);
    assert_eq!(out.status.code(), Some(1), "{}", dump(&out));
    let all = text(&out);
    assert!(all.contains("the-step-that-fails"), "{}", dump(&out));
    assert!(all.contains("`podman build` of `docker/Dockerfile` failed"), "{}", dump(&out));
    let store = Store::open(repo.path.join(".sluice/sluice.db")).expect("store");
    assert!(store.get_publication("web", "1.0.0").expect("read").is_none());
    let tags = Command::new("git").arg("-C").arg(origin.path()).args(["tag", "-l"]).output().expect("git");
    assert!(tags.stdout.is_empty());
}

#[test]
fn a_dockerfile_without_a_usable_podman_fails_naming_it_and_what_to_install() {
    if podman("a_dockerfile_without_a_usable_podman_fails_naming_it_and_what_to_install").is_none() {
        return;
    }
    let registry = TestRegistry::start();
    let (repo, _origin) = project(&format!("FROM {IMAGE}\n"));
    // A configuration podman cannot read makes `podman info` fail, as a missing engine does.
    let broken = repo.path.join("broken-containers.conf");
    std::fs::write(&broken, "not = [valid\n").expect("write");
    let out = sluice_run(&repo.path, &repo.path.join(".sluice"), &registry)
        .env("CONTAINERS_CONF", &broken)
        .output()
        .expect("sluice runs");
    assert_eq!(out.status.code(), Some(1), "{}", dump(&out));
    let all = text(&out);
    assert!(all.contains("`docker/Dockerfile` cannot be built here: `podman info` failed"), "{}", dump(&out));
    assert!(all.contains("apt-get install podman runc"), "{}", dump(&out));
}
