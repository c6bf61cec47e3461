//! The process target runs images from a registry: the app is built and pushed with
//! `sluice image build --push` to a real `docker-registry`, pinned by digest, pulled by the
//! daemon into its image cache and run; a digest the registry does not have fails the
//! deployment and leaves the running release in place; after two more releases, the first
//! one's image is pruned from the cache, the current and previous ones stay.

use sluice::deploy::target::process::ProcessTarget;
use sluice::store::DeploymentStatus;

use crate::daemon::Daemon;
use crate::deploy::{APP, Setup, deployed, get, ok};
use crate::registry::{TestRegistry, free_port};
use crate::support::sluice;

#[test]
fn a_registry_image_is_pulled_by_its_pinned_digest_and_run() {
    let registry = TestRegistry::start();
    let base_port = free_port();
    let setup = Setup::new(base_port);
    let app = setup.dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("app.py"), APP).unwrap();
    std::fs::write(app.join("VERSION"), "1.0.0").unwrap();
    let image = registry.image("hello:1.0.0");
    let digest = ok(sluice(
        setup.dir.path(),
        &[
            "image", "build", "--layer", "app:/app", "--workdir", "/app", "--cmd", "python3", "--cmd", "app.py",
            "--tag", &image, "--push",
        ],
    ));
    let app_yaml = std::fs::read_to_string(setup.config.work.join("apps/hello/app.yaml")).unwrap();
    let layout_image = format!("oci:{}", setup.layout.display());
    setup.write("apps/hello/app.yaml", &app_yaml.replace(&layout_image, &registry.image("hello")));
    setup.write("apps/hello/dev.yaml", &format!("version: 1.0.0\nimage: \"{image}\"\ndigest: \"{digest}\"\n"));
    setup.push("pin 1.0.0 from the registry");
    let daemon = Daemon::start(&setup.daemon_config(), &[("SLUICE_IDENTITY_FILE", setup.identity.to_str().unwrap())]);
    let target = ProcessTarget {
        dir: daemon.data_dir.join("deploy/hello/dev/local"),
        layout: daemon.data_dir.join("deploy/images"),
        base_port,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let first = deployed(&daemon, "1.0.0");
    assert_eq!(first.status, DeploymentStatus::Healthy, "{:?}\n{}", first.message, daemon.dump());
    let url = target.current().expect("1.0.0 runs").url();
    assert_eq!(get(&url).as_deref(), Some("1.0.0 key=eulav-terc3s"));
    let cached = daemon.data_dir.join("deploy/images/blobs/sha256").join(digest.trim_start_matches("sha256:"));
    assert!(cached.is_file(), "the manifest is in the image cache");

    // A digest the registry does not have: nothing is pulled, 1.0.0 keeps serving.
    let unknown = format!("sha256:{}", "0".repeat(64));
    setup.write("apps/hello/dev.yaml", &format!("version: 2.0.0\nimage: \"{}\"\ndigest: \"{unknown}\"\n", registry.image("hello:2.0.0")));
    setup.push("pin 2.0.0, which was never pushed");
    let second = deployed(&daemon, "2.0.0");
    assert_eq!(second.status, DeploymentStatus::Failed);
    let message = second.message.clone().unwrap_or_default();
    assert!(message.contains(&format!("cannot pull `{}`", registry.image("hello:2.0.0"))), "{message}");
    assert_eq!(get(&url).as_deref(), Some("1.0.0 key=eulav-terc3s"), "1.0.0 still serves");

    // Two more releases: the cache keeps the current (3.0.0) and previous (2.0.0) images.
    let blob = |digest: &str| daemon.data_dir.join("deploy/images/blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let mut digests = Vec::new();
    for version in ["2.0.0", "3.0.0"] {
        std::fs::write(app.join("VERSION"), version).unwrap();
        let image = registry.image(&format!("hello:{version}"));
        let digest = ok(sluice(
            setup.dir.path(),
            &[
                "image", "build", "--layer", "app:/app", "--workdir", "/app", "--cmd", "python3", "--cmd", "app.py",
                "--tag", &image, "--push",
            ],
        ));
        setup.write("apps/hello/dev.yaml", &format!("version: {version}
image: \"{image}\"\ndigest: \"{digest}\"\n"));
        setup.push(&format!("pin {version}"));
        let row = daemon
            .eventually(&format!("{version} is healthy"), || match daemon.store().latest_deployment("hello", "dev") {
                Ok(Some(row)) if row.version == version && row.status == DeploymentStatus::Healthy => Ok(row),
                other => Err(format!("{other:?}")),
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(row.digest, digest);
        digests.push(digest);
    }
    let pruned = daemon.eventually("1.0.0's image is pruned from the cache", || {
        if cached.exists() { Err("1.0.0's manifest is still cached".to_string()) } else { Ok(()) }
    });
    pruned.unwrap_or_else(|e| panic!("{e}"));
    for digest in &digests {
        assert!(blob(digest).is_file(), "{digest} stays cached");
        sluice::deploy::image::read(&daemon.data_dir.join("deploy/images"), digest).expect("a kept image is whole");
    }
    let url = target.current().expect("3.0.0 runs").url();
    assert_eq!(get(&url).as_deref(), Some("3.0.0 key=eulav-terc3s"));
    runtime.block_on(target.stop()).unwrap();
}
