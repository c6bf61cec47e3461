//! `cargo bench --bench run` (or `scripts/bench`): `sluice run` beside gitlab-ci-local on the
//! same pipelines, in the same run. Prints wall time and peak memory of both and their ratio,
//! cold (each run with a fresh state directory: Sluice's `--state-dir`, gitlab-ci-local's
//! `--state-dir`, where it keeps its per-job copies of the repository) and warm (a second run
//! with the state the first left: Sluice's kept workspaces, gitlab-ci-local's `builds/`,
//! which it updates with `rsync --delete`); then Sluice's per-job overhead beyond process
//! spawn and workspace preparation, cold and warm. Samples of the two tools alternate, so a
//! change in the machine's load falls on both; the load average is printed.
//!
//! Needs GNU `time` (`/usr/bin/time`) for peak memory and gitlab-ci-local (4.64.1, path in
//! `SLUICE_GITLAB_CI_LOCAL`); `scripts/bench` installs both. Goals (issue 3): a 20-job
//! pipeline of `true` jobs at least 10 times faster than gitlab-ci-local; per-job overhead
//! under 10 ms on a 100-file repository.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Bench", "-c", "user.email=bench@sluice.invalid"])
        .args(args)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

/// A repository of 100 files whose pipeline has `jobs` jobs running `true`.
fn repository(root: &Path, jobs: usize) -> PathBuf {
    let dir = root.join(format!("repo-{jobs}"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    for i in 0..100 {
        std::fs::write(dir.join(format!("src/file{i}.txt")), format!("file {i}\n").repeat(20)).unwrap();
    }
    let mut ci = String::new();
    for i in 0..jobs {
        ci.push_str(&format!("job{i}:\n  script: [\"true\"]\n"));
    }
    std::fs::write(dir.join(".gitlab-ci.yml"), ci).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["remote", "add", "origin", "https://gitlab.example.com/bench/app.git"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "bench"]);
    git(&dir, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    git(&dir, &["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"]);
    dir
}

struct Measured {
    wall: Duration,
    peak_kib: u64,
}

/// Runs `command` under GNU time; returns wall time and the peak RSS of the process tree's
/// largest process.
fn measure(command: Command) -> Measured {
    let report = tempfile::NamedTempFile::new().unwrap();
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let dir = command.get_current_dir().map(Path::to_owned);
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M").arg("-o").arg(report.path()).arg(&program).args(&args);
    if let Some(dir) = dir {
        timed.current_dir(dir);
    }
    timed.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let start = Instant::now();
    let status = timed.status().expect("GNU time runs (scripts/bench installs it)");
    let wall = start.elapsed();
    assert!(status.success(), "{program:?} {args:?} failed");
    let peak_kib = std::fs::read_to_string(report.path()).unwrap().trim().lines().last().unwrap_or("0").parse().unwrap_or(0);
    Measured { wall, peak_kib }
}

fn median(mut samples: Vec<Measured>) -> Measured {
    samples.sort_by_key(|m| m.wall);
    let peak_kib = samples.iter().map(|m| m.peak_kib).max().unwrap_or(0);
    Measured { wall: samples[samples.len() / 2].wall, peak_kib }
}

fn sluice_run(repo: &Path, state: &Path, concurrency: Option<usize>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.current_dir(repo).arg("run").arg("--state-dir").arg(state);
    if let Some(n) = concurrency {
        command.arg("--concurrency").arg(n.to_string());
    }
    command
}

/// gitlab-ci-local on `repo` with its state in `state` (a name beside the repository: it
/// joins the path to the repository's).
fn gitlab_ci_local(gcl: &str, repo: &Path, state: &str) -> Command {
    let mut command = Command::new(gcl);
    command.current_dir(repo).arg("--shell-isolation").arg("--state-dir").arg(format!("../{state}"));
    command
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median time to spawn and wait for `bash -c true`, the floor of any shell job.
fn spawn_floor() -> Duration {
    let mut samples: Vec<Duration> = (0..21)
        .map(|_| {
            let start = Instant::now();
            Command::new("bash").args(["--noprofile", "--norc", "-c", "true"]).status().unwrap();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[10]
}

/// Workspace preparation times the runner logged (`Copied N files (B bytes) in X ms`, or
/// `Reused a finished job's workspace, N files written again (B bytes) in X ms`).
fn workspace_ms(state: &Path) -> Vec<f64> {
    let mut found = Vec::new();
    let mut stack = vec![state.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
                    // A new workspace ("Copied ...") or a finished job's reset ("Reused ...").
                    if (line.starts_with("Copied ") || line.starts_with("Reused "))
                        && let Some(value) = line.rsplit(" in ").next().and_then(|v| v.strip_suffix(" ms")) {
                            found.push(value.parse().unwrap_or(0.0));
                        }
                }
            }
        }
    }
    found
}

/// Median wall times (and largest peaks) of Sluice and, if given, gitlab-ci-local on
/// `repo`, alternating: cold with a fresh state each time, or warm after one unmeasured run.
fn compare(repo: &Path, root: &Path, gcl: Option<&str>, warm: bool) -> (Measured, Option<Measured>) {
    let kind = if warm { "warm" } else { "cold" };
    let state = |i: usize| if warm { format!("{kind}-state") } else { format!("{kind}-state-{i}") };
    if warm {
        measure(sluice_run(repo, &root.join(state(0)), None));
        if let Some(gcl) = gcl {
            measure(gitlab_ci_local(gcl, repo, &format!("gcl-{}", state(0))));
        }
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        ours.push(measure(sluice_run(repo, &root.join(state(i)), None)));
        if let Some(gcl) = gcl {
            theirs.push(measure(gitlab_ci_local(gcl, repo, &format!("gcl-{}", state(i)))));
        }
    }
    (median(ours), gcl.map(|_| median(theirs)))
}

fn main() {
    let root = tempfile::tempdir().unwrap();
    let twenty = repository(root.path(), 20);
    let one = repository(root.path(), 1);
    let gcl = std::env::var("SLUICE_GITLAB_CI_LOCAL").ok();
    println!("load average before: {}", load_average());
    println!("20 `true` jobs, 100-file repository, default concurrency, median of {RUNS}:");
    for warm in [false, true] {
        let (sluice, theirs) = compare(&twenty, root.path(), gcl.as_deref(), warm);
        let what = if warm { "warm (second run, state kept)" } else { "cold (fresh state directory)" };
        println!("  {what}");
        println!("    sluice run        {:8.1} ms  peak {:6.1} MB", ms(sluice.wall), sluice.peak_kib as f64 / 1024.0);
        match theirs {
            Some(theirs) => {
                println!("    gitlab-ci-local   {:8.1} ms  peak {:6.1} MB", ms(theirs.wall), theirs.peak_kib as f64 / 1024.0);
                println!(
                    "    ratio             {:8.1}x faster, {:.1}x less memory (goal: at least 10x faster)",
                    theirs.wall.as_secs_f64() / sluice.wall.as_secs_f64(),
                    theirs.peak_kib as f64 / sluice.peak_kib.max(1) as f64
                );
            }
            None => println!("    gitlab-ci-local   not measured: set SLUICE_GITLAB_CI_LOCAL (scripts/bench does)"),
        }
    }

    // Per-job overhead: the 20-job and the 1-job pipeline one job at a time; the difference
    // per extra job, minus the spawn floor and the workspace preparation, is Sluice's own cost.
    let spawn = ms(spawn_floor());
    for warm in [false, true] {
        let state = |jobs: usize, i: usize| match warm {
            true => root.path().join(format!("seq{jobs}-warm")),
            false => root.path().join(format!("seq{jobs}-cold-{i}")),
        };
        if warm {
            measure(sluice_run(&twenty, &state(20, 0), Some(1)));
            measure(sluice_run(&one, &state(1, 0), Some(1)));
        }
        let wall20 = median((0..RUNS).map(|i| measure(sluice_run(&twenty, &state(20, i), Some(1)))).collect()).wall;
        let wall1 = median((0..RUNS).map(|i| measure(sluice_run(&one, &state(1, i), Some(1)))).collect()).wall;
        let per_job = (wall20.saturating_sub(wall1)).as_secs_f64() * 1000.0 / 19.0;
        // Warm: the measured runs only (the first run's copy is the cold figure).
        let logs: Vec<PathBuf> = match warm {
            true => (2..=RUNS + 1).map(|n| state(20, 0).join("runs").join(n.to_string())).collect(),
            false => (0..RUNS).map(|i| state(20, i)).collect(),
        };
        let workspaces: Vec<f64> = logs.iter().flat_map(|dir| workspace_ms(dir)).collect();
        let workspace = workspaces.iter().sum::<f64>() / workspaces.len().max(1) as f64;
        let what = if warm { "warm: workspaces kept from the previous run" } else { "cold: a fresh state directory each run" };
        println!("\nOne job at a time (--concurrency 1), median of {RUNS}, {what}:");
        println!("  per extra job     {per_job:8.2} ms");
        println!("  of which spawn    {spawn:8.2} ms (bash -c true)");
        println!("  of which workspace{workspace:8.2} ms (100 files copied, or a kept workspace reset; {} samples)", workspaces.len());
        println!("  overhead          {:8.2} ms (goal: under 10 ms)", per_job - spawn - workspace);
    }
    println!("load average after: {}", load_average());
}
