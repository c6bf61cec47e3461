//! `sluice image build` / `push` against a real registry, checked with `skopeo`: the pushed
//! layers unpack to the input files, digests are reproducible, re-pushes send nothing,
//! several platforms give an index, bases come from registries and layouts, and an
//! unreachable registry is a clear error.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use crate::registry::{TestRegistry, blob_json, copy_to_layout, free_port, inspect, layer_tar, skopeo};
use crate::support::dump;

const EPOCH: &str = "1700000000";

/// Runs `sluice` in `dir` with a fixed SOURCE_DATE_EPOCH.
fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir)
        .args(args)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove("CI_COMMIT_SHA")
        .env_remove("SLUICE_VERSION")
        .env_remove("CI_PROJECT_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("sluice runs")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", dump(&out));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

/// A build output: `app/app.py` (0644), `app/bin/run` (0755), `app/data/big.bin`.
fn inputs(dir: &Path) {
    std::fs::create_dir_all(dir.join("app/bin")).expect("mkdir");
    std::fs::create_dir_all(dir.join("app/data")).expect("mkdir");
    std::fs::write(dir.join("app/app.py"), "print('hello')\n").expect("write");
    std::fs::write(dir.join("app/bin/run"), "#!/bin/sh\nexec python3 /srv/app.py\n").expect("write");
    std::fs::set_permissions(dir.join("app/bin/run"), std::fs::Permissions::from_mode(0o750)).expect("chmod");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("app/data/big.bin"), big).expect("write");
}

/// path → (mode, contents) of every regular file in a tar layer.
fn unpack(tar_bytes: &[u8]) -> BTreeMap<String, (u32, Vec<u8>)> {
    use std::io::Read as _;
    let mut archive = tar::Archive::new(tar_bytes);
    let mut files = BTreeMap::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mode = entry.header().mode().expect("mode");
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).expect("read");
        files.insert(path, (mode, contents));
    }
    files
}

#[test]
fn a_pushed_image_unpacks_to_its_inputs_with_its_config() {
    let registry = TestRegistry::start();
    let work = tempfile::tempdir().expect("work");
    inputs(work.path());
    let image = registry.image("hello:1.0.0");
    let digest = ok(sluice(
        work.path(),
        &[
            "image", "build", "--from", "scratch", "--layer", "app:/srv", "--entrypoint", "/srv/bin/run",
            "--cmd", "--verbose", "--env", "GREETING=hi", "--label", "team=core", "--workdir", "/srv",
            "--expose", "8080", "--tag", &image, "--push",
        ],
    ));
    let inspected = inspect(&image, &[]);
    assert_eq!(inspected["Digest"], digest);
    assert_eq!(inspected["Created"], "2023-11-14T22:13:20Z");
    let config = inspect(&image, &["--config"]);
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/srv/bin/run"]));
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["--verbose"]));
    assert_eq!(config["config"]["Env"], serde_json::json!(["GREETING=hi"]));
    assert_eq!(config["config"]["WorkingDir"], "/srv");
    assert_eq!(config["config"]["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(config["config"]["Labels"]["team"], "core");
    assert_eq!(config["config"]["Labels"]["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");

    let copied = tempfile::tempdir().expect("copy");
    let manifest = copy_to_layout(&image, copied.path(), &[]);
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    let files = unpack(&layer_tar(copied.path(), layers[0]["digest"].as_str().expect("digest")));
    let expected: BTreeMap<String, (u32, Vec<u8>)> = [
        ("srv/app.py", 0o644, "app/app.py"),
        ("srv/bin/run", 0o755, "app/bin/run"),
        ("srv/data/big.bin", 0o644, "app/data/big.bin"),
    ]
    .into_iter()
    .map(|(path, mode, source)| {
        (path.to_owned(), (mode, std::fs::read(work.path().join(source)).expect("input")))
    })
    .collect();
    assert_eq!(files, expected);
}

#[test]
fn identical_inputs_give_identical_digests_and_a_repush_sends_nothing() {
    let registry = TestRegistry::start();
    let work = tempfile::tempdir().expect("work");
    inputs(work.path());
    let image = registry.image("repro:1.0.0");
    let build = |layout: &str| {
        ok(sluice(work.path(), &["image", "build", "--layer", "app:/srv", "--tag", &image, "--oci-layout", layout]))
    };
    let first = build("out-a");
    // Touch the inputs: new mtimes on disk must not change the image.
    std::fs::write(work.path().join("app/app.py"), "print('hello')\n").expect("rewrite");
    assert_eq!(build("out-b"), first);

    let push = |layout: &str| {
        let text = ok(sluice(work.path(), &["image", "push", "--oci-layout", layout, "--tag", &image, "--json"]));
        serde_json::from_str::<serde_json::Value>(&text).expect("json")
    };
    let pushed = push("out-a");
    assert_eq!(pushed["digest"], first);
    assert_eq!((pushed["uploaded"].as_u64(), pushed["skipped"].as_u64()), (Some(2), Some(0)));
    let again = push("out-b");
    assert_eq!((again["uploaded"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(2)));
    assert_eq!(inspect(&image, &[])["Digest"], first);

    let other_epoch = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(work.path())
        .args(["image", "build", "--layer", "app:/srv", "--tag", "oci:out-c:x"])
        .env("SOURCE_DATE_EPOCH", "1700000001")
        .output()
        .expect("sluice");
    assert_ne!(ok(other_epoch), first);
}

#[test]
fn several_platforms_give_an_index_and_bases_come_from_registries_and_layouts() {
    let registry = TestRegistry::start();
    let work = tempfile::tempdir().expect("work");
    inputs(work.path());
    let base = registry.image("base:1");
    ok(sluice(
        work.path(),
        &[
            "image", "build", "--layer", "app/bin:/usr/bin", "--entrypoint", "/usr/bin/run", "--env", "PATH=/usr/bin",
            "--platform", "linux/amd64", "--platform", "linux/arm64", "--tag", &base, "--push", "--oci-layout", "base",
        ],
    ));
    let raw = inspect(&base, &["--raw"]);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platforms: Vec<String> = raw["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| format!("{}/{}", m["platform"]["os"].as_str().unwrap_or(""), m["platform"]["architecture"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(inspect(&base, &["--override-arch", "arm64"])["Architecture"], "arm64");

    // On top of the registry base, for arm64 only: the base's layer, config and env carry over.
    let app = registry.image("app:1");
    ok(sluice(
        work.path(),
        &["image", "build", "--from", &base, "--platform", "linux/arm64", "--layer", "app/app.py:/srv/app.py",
          "--env", "MODE=prod", "--tag", &app, "--push"],
    ));
    let config = inspect(&app, &["--config", "--override-arch", "arm64"]);
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/usr/bin/run"]));
    assert_eq!(config["config"]["Env"], serde_json::json!(["PATH=/usr/bin", "MODE=prod"]));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(2));

    // On top of the layout base: the same result as from the registry (same bytes in).
    let from_layout = ok(sluice(
        work.path(),
        &["image", "build", "--from", "oci:base:1", "--platform", "linux/arm64", "--layer", "app/app.py:/srv/app.py",
          "--env", "MODE=prod", "--tag", "oci:app-layout:1"],
    ));
    assert_eq!(inspect(&app, &[])["Digest"], from_layout);
    let copied = tempfile::tempdir().expect("copy");
    let manifest = copy_to_layout(&app, copied.path(), &["--override-arch", "arm64"]);
    let config = blob_json(copied.path(), manifest["config"]["digest"].as_str().expect("config"));
    assert_eq!(config["architecture"], "arm64");

    let out = sluice(work.path(), &["image", "build", "--from", &base, "--platform", "linux/s390x", "--tag", "oci:x:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no manifest for platform `linux/s390x` (it has: linux/amd64, linux/arm64)"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_registry_is_a_clear_error() {
    let work = tempfile::tempdir().expect("work");
    inputs(work.path());
    let image = format!("127.0.0.1:{}/hello:1.0.0", free_port());
    let out = sluice(work.path(), &["image", "build", "--layer", "app:/srv", "--tag", &image, "--push"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot reach registry `{}`", &image[..image.find('/').unwrap_or(0)])), "{stderr}");
    let out = sluice(work.path(), &["image", "build", "--layer", "app:/srv", "--tag", &image]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: add --push"), "{}", dump(&out));
}

#[test]
fn a_registry_with_basic_authentication_takes_the_configured_credentials_only() {
    let registry = TestRegistry::start_with_basic_auth("pusher", "s3cret-pass");
    let work = tempfile::tempdir().expect("work");
    inputs(work.path());
    let image = registry.image("hello:1.0.0");
    let push = |user: Option<&str>, password: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .current_dir(work.path())
            .args(["image", "build", "--layer", "app:/srv", "--tag", &image, "--push"])
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("NO_COLOR", "1")
            .env_remove("SLUICE_REGISTRY_USERNAME")
            .env_remove("SLUICE_REGISTRY_PASSWORD");
        if let Some(user) = user {
            command.env("SLUICE_REGISTRY_USERNAME", user);
        }
        if let Some(password) = password {
            command.env("SLUICE_REGISTRY_PASSWORD", password);
        }
        command.output().expect("sluice runs")
    };
    for (user, password, who) in [
        (None, None, "anonymous access".to_owned()),
        (Some("pusher"), Some("wrong-pass"), "the credentials of `pusher`".to_owned()),
    ] {
        let out = push(user, password);
        assert_eq!(out.status.code(), Some(2), "pushed without valid credentials: {}", dump(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("registry `{}` refused {who}", registry.host)), "{stderr}");
        assert!(stderr.contains("hint: set SLUICE_REGISTRY_USERNAME and SLUICE_REGISTRY_PASSWORD"), "{stderr}");
        assert!(!stderr.contains("wrong-pass"), "a password was printed: {stderr}");
    }
    let anonymous = skopeo(&["inspect", "--tls-verify=false", "--no-creds", &format!("docker://{image}")]);
    assert!(!anonymous.status.success(), "nothing was pushed by the refused attempts");
    let digest = ok(push(Some("pusher"), Some("s3cret-pass")));
    let inspected = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "pusher:s3cret-pass",
        &format!("docker://{image}"),
    ]);
    assert!(inspected.status.success(), "{}", dump(&inspected));
    let inspected: serde_json::Value = serde_json::from_slice(&inspected.stdout).expect("json");
    assert_eq!(inspected["Digest"].as_str(), Some(digest.as_str()));
}
