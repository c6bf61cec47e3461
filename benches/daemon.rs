//! `cargo bench --bench daemon` (or `scripts/bench`): the real `sluice serve` (release build:
//! `cargo bench` builds the binary with the bench profile, which inherits `release`; a debug
//! build is refused, its figures were once mistaken for the daemon's) on loopback. Prints push-to-first-job-start latency by webhook and by poll (p50, p99),
//! webhook acknowledgements per second with their latency, and the idle memory of a daemon
//! watching 100 repositories.
//!
//! Goals (issue 4): p99 webhook ack under 20 ms, push-to-job-start under 200 ms by webhook,
//! 1,000 webhooks/s on 2 cores, idle RSS under 50 MB with 100 watched repositories. Figures
//! are printed, never asserted.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "bench-webhook-secret";
const LATENCY_PUSHES: usize = 40;
const POLL_PUSHES: usize = 10;
const WEBHOOKS: usize = 4000;
const CLIENTS: usize = 4;
const IDLE_REPOS: usize = 100;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Bench", "-c", "user.email=bench@sluice.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare repository `<root>/<name>.git` and a clone that commits `ci` and pushes to it.
fn remote(root: &Path, name: &str, ci: Option<&str>) -> (PathBuf, PathBuf) {
    let (bare, work) = (root.join(format!("{name}.git")), root.join(format!("{name}-work")));
    std::fs::create_dir_all(&work).unwrap();
    git(root, &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()]);
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    if let Some(ci) = ci {
        std::fs::write(work.join(".gitlab-ci.yml"), ci).unwrap();
        git(&work, &["add", "."]);
    }
    git(&work, &["commit", "-q", "--allow-empty", "-m", "first"]);
    git(&work, &["push", "-q", "origin", "main"]);
    (bare, work)
}

/// A new commit pushed to `main`; returns (before, after).
fn push(work: &Path) -> (String, String) {
    let before = git(work, &["rev-parse", "HEAD"]);
    git(work, &["commit", "-q", "--allow-empty", "-m", "next"]);
    git(work, &["push", "-q", "origin", "main"]);
    (before, git(work, &["rev-parse", "HEAD"]))
}

/// A running `sluice serve`, killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(root: &Path, projects: &str) -> Serve {
        let data = root.join("data");
        let config = format!("listen: \"127.0.0.1:0\"\ndata_dir: \"{}\"\nprojects:\n{projects}", data.display());
        std::fs::write(root.join("sluice.yaml"), config).unwrap();
        let child = Command::new(release_binary())
            .args(["serve", "--config"])
            .arg(root.join("sluice.yaml"))
            .env("SLUICE_LOG", "warn")
            .env("BENCH_SECRET", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("serve.stderr")).unwrap())
            .spawn()
            .expect("sluice serve starts");
        // Killed and reaped on drop, also when it does not start.
        let mut serve = Serve { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(data.join("address"))
                && let Ok(addr) = text.trim().parse()
            {
                serve.addr = addr;
                return serve;
            }
            assert!(Instant::now() < deadline, "the daemon did not start; see {}", root.join("serve.stderr").display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signed GitHub push delivery for `after` on `main`: (headers, body).
fn github_push(before: &str, after: &str, delivery: &str, branch: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhooks/github/push.json");
    let mut payload: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    payload["ref"] = format!("refs/heads/{branch}").into();
    payload["before"] = before.into();
    payload["after"] = after.into();
    payload["head_commit"]["id"] = after.into();
    let body = serde_json::to_vec(&payload).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-GitHub-Event".to_owned(), "push".to_owned()),
        ("X-GitHub-Delivery".to_owned(), delivery.to_owned()),
        ("X-Hub-Signature-256".to_owned(), format!("sha256={signature}")),
    ];
    (headers, body)
}

/// One POST on a new connection; returns the status code.
fn post(addr: SocketAddr, path: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// Waits for the job of `sha` to write its start time into `marks`; returns it (ns).
fn job_start(marks: &Path, sha: &str) -> u128 {
    let file = marks.join(sha);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(ns) = text.trim().parse()
        {
            return ns;
        }
        assert!(Instant::now() < deadline, "no job started for {sha}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    format!("p50 {:>7.1} ms  p99 {:>7.1} ms  (n = {})", ms(at(0.50)), ms(at(0.99)), samples.len())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A job that writes the time it started (ns) to `<marks>/<sha>`.
fn marking_ci(marks: &Path) -> String {
    format!("mark:\n  script:\n    - date +%s%N > \"{}/$CI_COMMIT_SHA\"\n", marks.display())
}

fn push_to_job_start_by_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let (bare, work) = remote(dir.path(), "app", Some(&marking_ci(&marks)));
    let projects = format!(
        "  - name: app\n    repo: \"{}\"\n    poll: \"off\"\n    webhooks:\n      github_secret: \"env:BENCH_SECRET\"\n",
        bare.display()
    );
    let serve = Serve::start(dir.path(), &projects);
    let (mut acks, mut starts) = (Vec::new(), Vec::new());
    for i in 0..LATENCY_PUSHES {
        let (before, after) = push(&work);
        let (headers, body) = github_push(&before, &after, &format!("latency-{i}"), "main");
        let sent = now_ns();
        let t0 = Instant::now();
        let status = post(serve.addr, "/hooks/github/app", &headers, &body);
        acks.push(t0.elapsed());
        assert_eq!(status, 202, "webhook refused");
        let started = job_start(&marks, &after);
        starts.push(Duration::from_nanos(u64::try_from(started.saturating_sub(sent)).unwrap_or(u64::MAX)));
    }
    println!("webhook ack (one at a time)      {}", percentiles(acks));
    println!("push to job start, by webhook    {}", percentiles(starts));
}

fn push_to_job_start_by_poll() {
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let (bare, work) = remote(dir.path(), "app", Some(&marking_ci(&marks)));
    let projects = format!("  - name: app\n    repo: \"{}\"\n    poll: \"1s\"\n", bare.display());
    let _serve = Serve::start(dir.path(), &projects);
    let first = git(&work, &["rev-parse", "HEAD"]);
    job_start(&marks, &first);
    let mut starts = Vec::new();
    for _ in 0..POLL_PUSHES {
        let pushed = now_ns();
        let (_, after) = push(&work);
        let started = job_start(&marks, &after);
        starts.push(Duration::from_nanos(u64::try_from(started.saturating_sub(pushed)).unwrap_or(u64::MAX)));
    }
    println!("push to job start, by 1 s poll   {}", percentiles(starts));
}

fn webhooks_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let (bare, _work) = remote(dir.path(), "app", None);
    // Pushes to a branch the project does not watch: recorded, acknowledged, then ignored.
    let projects = format!(
        "  - name: app\n    repo: \"{}\"\n    poll: \"off\"\n    webhooks:\n      github_secret: \"env:BENCH_SECRET\"\n",
        bare.display()
    );
    let serve = Serve::start(dir.path(), &projects);
    let addr = serve.addr;
    let zero = "0".repeat(40);
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let zero = zero.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                for i in 0..WEBHOOKS / CLIENTS {
                    let sha = format!("{:040x}", client * WEBHOOKS + i + 1);
                    let (headers, body) = github_push(&zero, &sha, &format!("rate-{client}-{i}"), "unwatched");
                    let t0 = Instant::now();
                    assert_eq!(post(addr, "/hooks/github/app", &headers, &body), 202, "webhook refused");
                    latencies.push(t0.elapsed());
                }
                latencies
            })
        })
        .collect();
    let latencies: Vec<Duration> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let elapsed = started.elapsed();
    println!(
        "webhooks acknowledged            {:.0}/s with {CLIENTS} clients ({} in {:.2} s)",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!("webhook ack under load           {}", percentiles(latencies));
}

fn idle_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut projects = String::new();
    for i in 0..IDLE_REPOS {
        let (bare, _) = remote(dir.path(), &format!("app{i}"), None);
        // `release` does not exist: the daemon mirrors and polls, and nothing runs.
        projects.push_str(&format!(
            "  - name: app{i}\n    repo: \"{}\"\n    branches: [release]\n    poll: \"1m\"\n",
            bare.display()
        ));
    }
    let serve = Serve::start(dir.path(), &projects);
    let mirrors = dir.path().join("data/mirrors");
    let deadline = Instant::now() + Duration::from_secs(120);
    let fetched = |i: usize| {
        let mirror = mirrors.join(format!("app{i}.git"));
        mirror.join("refs/heads/main").exists()
            || std::fs::read_to_string(mirror.join("packed-refs")).is_ok_and(|refs| refs.contains("refs/heads/main"))
    };
    while !(0..IDLE_REPOS).all(fetched) {
        assert!(Instant::now() < deadline, "the mirrors were not all fetched");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    println!("idle RSS, {IDLE_REPOS} watched repositories  {:.1} MB", serve.rss_kib() as f64 / 1024.0);
}

/// The daemon binary `cargo bench` built, refused unless it is a release build.
fn release_binary() -> &'static str {
    let binary = env!("CARGO_BIN_EXE_sluice");
    let profile = Path::new(binary).parent().and_then(Path::file_name).and_then(|p| p.to_str()).unwrap_or("?");
    assert!(
        profile == "release" && !cfg!(debug_assertions),
        "{binary} is a `{profile}` build; run `cargo bench --bench daemon`, which builds and starts the release binary"
    );
    binary
}

/// The 1-minute load average, to print beside the figures (the machine may be shared).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".to_owned(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn main() {
    println!("sluice serve on loopback: {} (load average {})", release_binary(), load_average());
    push_to_job_start_by_webhook();
    push_to_job_start_by_poll();
    webhooks_per_second();
    idle_memory();
    println!("load average at the end: {}", load_average());
}
