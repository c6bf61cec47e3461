//! `cargo bench --bench deploy`: the two deployment figures of issue 8, with the `process`
//! target and the real daemon, on the quickstart's setup (`sluice quickstart --dir DIR`
//! running, so: `sluice serve` as a child process, the sample app, the config repo with dev
//! automatic and staging behind one approval).
//!
//! For each of several releases: a `VERSION` bump is pushed, and the run waits until dev
//! runs it; then `sluice approve` approves it for staging, and the run waits until staging
//! runs it. Two spans are read from the daemon's store (millisecond timestamps it wrote
//! itself, so the benchmark's own polling adds nothing):
//!
//! 1. publication → dev running: the release recorded → dev's deployment healthy;
//! 2. approval → staging running: the approval recorded → staging's deployment healthy.
//!
//! Each is split where the time goes: to the promotion commit, to the deploy loop picking it
//! up, and the deployment itself (unpack, start, health check). Goal: under 2 s each,
//! dominated by the app's own start. Prints medians and worst cases; asserts nothing.
//!
//! `-- --runs N` sets the number of releases (default 7).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice::store::{DeploymentStatus, Store};

const APP: &str = "hello";

struct Spans {
    total: i64,
    to_commit: i64,
    to_deploy_start: i64,
    deploying: i64,
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Bench", "-c", "user.email=bench@sluice.invalid"])
        .args(args)
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

/// Polls `check` every 20 ms for up to 2 minutes.
fn wait<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The healthy deployment of `version` in `env`: (started, finished) in ms.
fn healthy(store: &Store, env: &str, version: &str) -> Option<(i64, i64)> {
    let row = store.latest_deployment(APP, env).ok()??;
    if row.version != version {
        return None;
    }
    match row.status {
        DeploymentStatus::Healthy => Some((row.started_at.as_unix_millis(), row.finished_at?.as_unix_millis())),
        DeploymentStatus::Failed | DeploymentStatus::RolledBack => panic!("{env} {version}: {:?}", row.message),
        _ => None,
    }
}

/// When `version` was promoted to `env` (ms).
fn promoted(store: &Store, env: &str, version: &str) -> i64 {
    let rows = store.promotions_of(APP, env, 50).expect("promotions");
    rows.iter().find(|p| p.version == version).expect("a promotion").created_at.as_unix_millis()
}

fn spans(from: i64, commit: i64, (started, finished): (i64, i64)) -> Spans {
    Spans { total: finished - from, to_commit: commit - from, to_deploy_start: started - commit, deploying: finished - started }
}

fn report(name: &str, mut samples: Vec<Spans>) {
    let field = |get: fn(&Spans) -> i64| {
        let mut values: Vec<i64> = samples.iter().map(get).collect();
        values.sort_unstable();
        (values[values.len() / 2], values[values.len() - 1])
    };
    let total = field(|s| s.total);
    let commit = field(|s| s.to_commit);
    let pickup = field(|s| s.to_deploy_start);
    let deploying = field(|s| s.deploying);
    samples.clear();
    println!(
        "{name}: median {} ms, worst {} ms (goal: under 2000 ms)\n  \
         to the promotion commit: median {} ms, worst {} ms\n  \
         commit to deployment start: median {} ms, worst {} ms\n  \
         deployment (unpack, start, health check): median {} ms, worst {} ms",
        total.0, total.1, commit.0, commit.1, pickup.0, pickup.1, deploying.0, deploying.1
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(7);
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("quickstart");
    let sluice = PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
    let mut quickstart: Child = Command::new(&sluice)
        .args(["quickstart", "--dir"])
        .arg(&dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice quickstart");
    let mut lines = BufReader::new(quickstart.stderr.take().expect("stderr")).lines();
    let mut approve = None;
    for line in lines.by_ref() {
        let line = line.expect("stderr");
        if let Some(command) = line.trim().strip_prefix("SLUICE_TOKEN=") {
            approve = Some(command.to_owned());
        }
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    // Keep reading, so the quickstart never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.for_each(drop));
    approve.expect("the quickstart printed the approve command");
    let token = std::fs::read_to_string(dir.join("approver.token")).expect("token");
    let address = std::fs::read_to_string(dir.join("data/address")).expect("address");
    let store = Store::open(dir.join("data/sluice.db")).expect("store");
    let app = dir.join(APP);

    println!("deploy benchmark: {runs} releases, load average {} at the start", load_average());
    let (mut to_dev, mut to_staging) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let version = format!("0.{}.0", run + 3);
        std::fs::write(app.join("VERSION"), format!("{version}\n")).expect("VERSION");
        git(&app, &["commit", "-qam", &format!("Release {version}")]);
        git(&app, &["push", "-q", "origin", "main"]);
        let dev = wait(&format!("dev running {version}"), || healthy(&store, "dev", &version));
        let release = store.get_release(APP, &version).expect("release").expect("released").created_at.as_unix_millis();
        to_dev.push(spans(release, promoted(&store, "dev", &version), dev));

        let approved = Command::new(&sluice)
            .args(["approve", APP, "staging", &version, "--server", address.trim()])
            .env("SLUICE_TOKEN", token.trim())
            .output()
            .expect("sluice approve");
        assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
        let staging = wait(&format!("staging running {version}"), || healthy(&store, "staging", &version));
        let approval = store.approvals_of(APP, "staging", &version).expect("approvals")[0].created_at.as_unix_millis();
        to_staging.push(spans(approval, promoted(&store, "staging", &version), staging));
    }
    report("publication → dev running", to_dev);
    report("approval → staging running", to_staging);
    println!("load average at the end: {}", load_average());

    let pid = quickstart.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let _ = quickstart.wait();
    let _ = drain.join();
}
