//! A `podman` that can run containers here, with the test images, for the tests of the
//! container executor (`tests/run/containers.rs`, and the daemon's in `tests/system/`).
//!
//! Set up once per test binary: the harness writes its own `containers.conf` (OCI runtime
//! `runc` and modest ulimits, when `runc` exists: `crun` refuses hybrid cgroups and default
//! ulimits cannot be raised in sandboxes like the development VMs), checks `podman info`
//! with it, and imports the images from a static busybox unless they exist (nothing is
//! pulled). Where that fails, [`podman`] prints `SKIPPED: podman not usable here: <reason>`
//! and the test returns: cargo shows it as passed, but the line says it was not run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The plain image: busybox, and `/sluice-test-image`, a file no host has.
pub const IMAGE: &str = "localhost/sluice-test-busybox:1";
/// The same with an entrypoint that announces itself, then runs the command.
pub const ENTRYPOINT_IMAGE: &str = "localhost/sluice-test-busybox-entrypoint:1";

/// A usable `podman` and the `containers.conf` to run it with.
pub struct Podman {
    /// The `containers.conf` to pass as `CONTAINERS_CONF`, if one is needed.
    pub conf: Option<PathBuf>,
}

impl Podman {
    /// `podman` with this configuration.
    pub fn command(&self) -> Command {
        let mut command = Command::new("podman");
        if let Some(conf) = &self.conf {
            command.env("CONTAINERS_CONF", conf);
        }
        command
    }

    /// The environment that gives `podman` (and Sluice, which passes it on) this configuration.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.conf.iter().map(|conf| ("CONTAINERS_CONF", conf.display().to_string())).collect()
    }

    /// Whether a container named `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.command().args(["container", "exists", name]).status().expect("podman runs").success()
    }

}

/// The harness, set up once per test binary; `None` (after printing why) when podman cannot
/// run containers here.
pub fn podman(test: &str) -> Option<&'static Podman> {
    static PODMAN: OnceLock<Result<Podman, String>> = OnceLock::new();
    match PODMAN.get_or_init(set_up) {
        Ok(podman) => Some(podman),
        Err(reason) => {
            eprintln!("SKIPPED: podman not usable here: {reason} ({test})");
            None
        }
    }
}

fn set_up() -> Result<Podman, String> {
    // One directory for every test binary and run: the configuration is always the same, and
    // each image is built in a directory of its own that is removed afterwards.
    let dir = std::env::temp_dir().join("sluice-containers-test");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let has_runc = Command::new("runc").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    let conf = has_runc.then(|| {
        let conf = dir.join("containers.conf");
        let text = "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\n";
        // Written beside and renamed, so a test binary starting at the same time never reads
        // half a file.
        let partial = dir.join(format!("containers.conf.{}", std::process::id()));
        std::fs::write(&partial, text).expect("write containers.conf");
        std::fs::rename(&partial, &conf).expect("rename containers.conf");
        conf
    });
    let podman = Podman { conf };
    let info = podman.command().arg("info").output().map_err(|e| format!("`podman info` cannot start: {e}"))?;
    if !info.status.success() {
        let err = String::from_utf8_lossy(&info.stderr);
        return Err(format!("`podman info` failed: {}", err.lines().last().unwrap_or("no message")));
    }
    let busybox = static_busybox().ok_or("no static busybox (Debian: `busybox-static`) to build the test image from")?;
    build_image(&podman, &dir, &busybox, IMAGE, None)?;
    build_image(&podman, &dir, &busybox, ENTRYPOINT_IMAGE, Some(r#"ENTRYPOINT ["/bin/sh", "-c", "echo entrypoint-ran; exec \"$@\"", "--"]"#))?;
    Ok(podman)
}

fn static_busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(PathBuf::from).find(|path| {
        let ldd = Command::new("ldd").arg(path).output();
        path.is_file() && ldd.is_ok_and(|out| !out.status.success() || String::from_utf8_lossy(&out.stdout).contains("statically linked"))
    })
}

/// Imports `tag` from a root file system of `busybox` and its applets, unless it exists.
fn build_image(podman: &Podman, dir: &Path, busybox: &Path, tag: &str, change: Option<&str>) -> Result<(), String> {
    if podman.command().args(["image", "exists", tag]).status().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let build = dir.join(format!("build-{}", std::process::id()));
    let built = import(podman, &build, busybox, tag, change);
    let _ = std::fs::remove_dir_all(&build);
    built
}

fn import(podman: &Podman, build: &Path, busybox: &Path, tag: &str, change: Option<&str>) -> Result<(), String> {
    let rootfs = build.join("rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    for sub in ["bin", "tmp"] {
        std::fs::create_dir_all(rootfs.join(sub)).map_err(|e| e.to_string())?;
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox")).map_err(|e| e.to_string())?;
    let list = Command::new(busybox).arg("--list").output().map_err(|e| e.to_string())?;
    for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox") {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).map_err(|e| e.to_string())?;
    }
    std::fs::write(rootfs.join("sluice-test-image"), "busybox\n").map_err(|e| e.to_string())?;
    let tar = build.join("rootfs.tar");
    let tarred = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").status().map_err(|e| e.to_string())?;
    if !tarred.success() {
        return Err("tar failed".to_owned());
    }
    let mut import = podman.command();
    import.arg("import");
    if let Some(change) = change {
        import.args(["--change", change]);
    }
    let out = import.arg(&tar).arg(tag).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("`podman import` failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

