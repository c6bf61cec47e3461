//! `cargo bench --bench image` (or `scripts/bench`): pushing an image with a 50 MB layer to a
//! local `docker-registry`, Sluice against `skopeo copy` of the same OCI layout to the same
//! registry in the same run; then a re-push of the unchanged image, counting the requests
//! the registry saw by method (the goal: only `HEAD` for the blobs, plus the manifest `PUT`).
//!
//! Needs `docker-registry` and `skopeo` (`scripts/setup --test` installs them). Figures are
//! printed, never asserted. Goal (issue 5): Sluice within 1.2 times skopeo's time.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 5;
const LAYER_BYTES: usize = 50 * 1024 * 1024;

struct Registry {
    child: Child,
    host: String,
    log: std::path::PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path) -> Registry {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.join("registry-data").display()
        ),
    )
    .unwrap();
    let log = dir.join("registry.log");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("docker-registry (scripts/setup --test installs it)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry { child, host, log }
}

fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    let out = command.output().expect("command runs");
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{command:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    elapsed
}

fn sluice(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.current_dir(dir).args(args).env("SOURCE_DATE_EPOCH", "1700000000");
    command
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Requests by method in the registry log since byte `from`.
fn methods(log: &Path, from: usize) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for line in text[from.min(text.len())..].lines().filter(|l| l.contains("response completed")) {
        if let Some(method) = line.split("http.request.method=").nth(1).and_then(|m| m.split_whitespace().next()) {
            *counts.entry(method.trim_matches('"').to_owned()).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start_registry(dir.path());
    // Incompressible, deterministic content.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let data: Vec<u8> = (0..LAYER_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/blob.bin"), data).unwrap();

    let build = timed(&mut sluice(
        dir.path(),
        &["image", "build", "--layer", "data:/data", "--tag", "oci:layout:1"],
    ));
    println!("build of a 50 MB layer into an OCI layout: {} ms", build.as_millis());

    // Each push goes to a registry of its own, started empty: skopeo remembers where it saw
    // a blob (its blob-info cache) and would mount it from another repository instead of
    // sending it, and a registry that already holds a blob answers some checks faster.
    let (mut ours, mut theirs, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        let fresh = |name: &str| {
            let dir = dir.path().join(format!("{name}-{run}"));
            std::fs::create_dir_all(&dir).unwrap();
            start_registry(&dir)
        };
        let empty = fresh("sluice");
        let target = format!("{}/app:1", empty.host);
        ours.push(timed(&mut sluice(dir.path(), &["image", "push", "--oci-layout", "layout", "--tag", &target])));
        drop(empty);
        let empty = fresh("skopeo");
        let target = format!("docker://{}/app:1", empty.host);
        theirs.push(timed(
            Command::new("skopeo").current_dir(dir.path()).args(["copy", "-q", "--dest-tls-verify=false", "oci:layout:1", &target]),
        ));
        drop(empty);
        let empty = fresh("both");
        let target = format!("{}/app:1", empty.host);
        let layout = format!("layout-{run}");
        both.push(timed(&mut sluice(
            dir.path(),
            &["image", "build", "--layer", "data:/data", "--tag", &target, "--push", "--oci-layout", &layout],
        )));
    }
    let (ours, theirs, both) = (median(ours), median(theirs), median(both));
    println!(
        "push of the same layout to an empty registry, median of {RUNS}: sluice {} ms, skopeo copy {} ms, ratio {:.2} (goal <= 1.2)",
        ours.as_millis(),
        theirs.as_millis(),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    println!("build + push (sluice image build --push): {} ms", both.as_millis());

    let target = format!("{}/app:1", registry.host);
    timed(&mut sluice(dir.path(), &["image", "push", "--oci-layout", "layout", "--tag", &target]));
    let before = std::fs::metadata(&registry.log).map(|m| m.len() as usize).unwrap_or(0);
    let again = timed(&mut sluice(dir.path(), &["image", "push", "--oci-layout", "layout", "--tag", &target]));
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "re-push of the unchanged image: {} ms, registry requests by method: {:?} (GET: oci-client's authentication probes)",
        again.as_millis(),
        methods(&registry.log, before)
    );
}
