//! From a `git push` to a finished pipeline: the daemon polls a real bare repository every
//! second, records one event per new tip, and the worker plans and runs the pipeline with
//! real shell jobs; the store shows the result.

use std::path::{Path, PathBuf};
use std::process::Command;

use sluice::store::{PipelineRow, PipelineStatus};

use crate::daemon::Daemon;

const PASSING: &str = "stages: [build, test]
build:
  stage: build
  script:
    - echo building > built.txt
  artifacts:
    paths: [built.txt]
test:
  stage: test
  script:
    - test -f built.txt
    - echo \"ref=$CI_COMMIT_REF_NAME source=$CI_PIPELINE_SOURCE\"
";

const FAILING: &str = "stages: [build, test]
build:
  stage: build
  script:
    - echo building
test:
  stage: test
  script:
    - exit 3
";

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@sluice.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare repository and a working clone that pushes to it.
pub(crate) struct Remote {
    _dir: tempfile::TempDir,
    pub(crate) bare: PathBuf,
    pub(crate) work: PathBuf,
}

impl Remote {
    pub(crate) fn new() -> Remote {
        let dir = tempfile::tempdir().expect("temp dir");
        let bare = dir.path().join("demo.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", bare.to_str().expect("utf-8")],
        );
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().expect("utf-8")]);
        Remote { _dir: dir, bare, work }
    }

    /// Commits `.gitlab-ci.yml` with `ci` and pushes `main`; returns the sha.
    pub(crate) fn push(&self, ci: &str, message: &str) -> String {
        std::fs::write(self.work.join(".gitlab-ci.yml"), ci).expect("write");
        git(&self.work, &["add", "."]);
        git(&self.work, &["commit", "-q", "--allow-empty", "-m", message]);
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn start(remote: &Remote) -> Daemon {
    let config = format!(
        "concurrency: 2\nprojects:\n  - name: demo\n    repo: \"{}\"\n    branches: [\"main\"]\n    poll: \"1s\"\n",
        remote.bare.display()
    );
    Daemon::start(&config, &[])
}

/// Waits until the store has a finished pipeline for `sha`.
pub(crate) fn finished_pipeline(daemon: &Daemon, sha: &str) -> PipelineRow {
    let store = daemon.store();
    let found = daemon.eventually(&format!("a finished pipeline for {sha}"), || {
        let pipelines = store.list_pipelines(Some("demo"), 20).map_err(|e| e.to_string())?;
        let events = store.list_events(Some("demo"), 20).map_err(|e| e.to_string())?;
        let seen = || {
            let pipelines: Vec<String> = pipelines
                .iter()
                .map(|p| format!("#{} {} {}", p.id.get(), &p.sha[..8], p.status))
                .collect();
            let events: Vec<String> = events
                .iter()
                .map(|e| format!("#{} {} {} {:?}", e.id.get(), e.state, e.git_ref, e.error))
                .collect();
            format!("pipelines {pipelines:?}, events {events:?}")
        };
        match pipelines.iter().find(|p| p.sha == sha) {
            Some(p) if p.status.is_final() => Ok(p.clone()),
            _ => Err(seen()),
        }
    });
    found.unwrap_or_else(|last| panic!("{last}"))
}

#[test]
fn a_pushed_commit_is_polled_planned_and_run() {
    let remote = Remote::new();
    let green = remote.push(PASSING, "two jobs that pass");
    let daemon = start(&remote);

    let pipeline = finished_pipeline(&daemon, &green);
    assert_eq!(
        pipeline.status,
        PipelineStatus::Success,
        "{pipeline:#?}\n{}",
        daemon.dump()
    );
    let jobs: Vec<(&str, &str)> = pipeline
        .jobs
        .iter()
        .map(|j| (j.name.as_str(), j.status.as_str()))
        .collect();
    assert_eq!(jobs, [("build", "success"), ("test", "success")]);
    assert_eq!((pipeline.git_ref.as_str(), pipeline.source.as_str()), ("main", "push"));

    let red = remote.push(FAILING, "a job that fails");
    let pipeline = finished_pipeline(&daemon, &red);
    assert_eq!(
        pipeline.status,
        PipelineStatus::Failed,
        "{pipeline:#?}\n{}",
        daemon.dump()
    );
    assert_eq!(pipeline.before_sha.as_deref(), Some(green.as_str()));

    // One event per new tip: polling again and again recorded nothing else.
    let events = daemon.store().list_events(Some("demo"), 20).expect("events");
    assert_eq!(events.len(), 2, "{events:#?}");

    // `sluice pipelines` reads the same store while the daemon runs: newest first.
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["pipelines", "--json", "--project", "demo", "--config"])
        .arg(daemon.root.join("sluice.yaml"))
        .output()
        .expect("sluice pipelines runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let summary: Vec<(&str, &str)> = listed["pipelines"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| (p["sha"].as_str().unwrap_or("?"), p["status"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(summary, [(red.as_str(), "failed"), (green.as_str(), "success")]);
    let first = &listed["pipelines"][0];
    assert_eq!(
        (
            first["project"].as_str(),
            first["ref"].as_str(),
            first["source"].as_str()
        ),
        (Some("demo"), Some("main"), Some("push"))
    );
    assert_eq!(
        first["jobs"][1],
        serde_json::json!({ "name": "test", "stage": "test", "status": "failed" })
    );
}

/// Whether process `pid` is gone (absent, or a zombie nobody reaped yet).
pub(crate) fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_restart_fails_the_interrupted_job_kills_its_process_and_runs_nothing_twice() {
    let marks = tempfile::tempdir().expect("temp dir");
    let started = marks.path().join("started");
    let remote = Remote::new();
    // One command line: once the mark exists, the shell has printed everything it prints
    // (its `$ …` echo), so the daemon's death cannot kill it with a broken pipe.
    let slow = format!("slow:\n  script:\n    - touch {} && sleep 300\n", started.display());
    let sha = remote.push(&slow, "a job that outlives the daemon");
    let mut daemon = start(&remote);
    let store = daemon.store();
    let running = daemon.eventually("the job runs with its process recorded", || {
        let pipelines = store.list_pipelines(Some("demo"), 5).map_err(|e| e.to_string())?;
        let job = pipelines
            .iter()
            .flat_map(|p| &p.jobs)
            .find(|j| j.process.is_some() && j.status.as_str() == "running");
        job.filter(|_| started.exists()).cloned().ok_or_else(|| format!("{pipelines:?}"))
    });
    let job = running.unwrap_or_else(|last| panic!("{last}"));
    let process = job.process.expect("recorded");
    daemon.kill9();
    assert!(
        !process_gone(process.pid),
        "the job's process should outlive a kill -9 of the daemon"
    );

    daemon.restart();
    let settled = daemon.eventually("the interrupted job is failed and its event done", || {
        let job = store.get_job(job.id).map_err(|e| e.to_string())?;
        let events = store.list_events(Some("demo"), 5).map_err(|e| e.to_string())?;
        let done = events.iter().all(|e| e.state.as_str() == "done");
        (job.status.as_str() == "failed" && done)
            .then_some(job.clone())
            .ok_or_else(|| format!("{job:?} {events:?}"))
    });
    let job = settled.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!(job.failure_reason.map(|r| r.as_str()), Some("runner_system_failure"));
    let last = store.transitions_of(job.id).expect("transitions").pop().expect("one");
    assert_eq!(last.reason.as_deref(), Some("controller restarted"));
    let pipelines = store.list_pipelines(Some("demo"), 5).expect("pipelines");
    assert_eq!(
        pipelines.len(),
        1,
        "the event must not start a second pipeline: {pipelines:#?}"
    );
    assert_eq!(
        (pipelines[0].sha.as_str(), pipelines[0].status),
        (sha.as_str(), PipelineStatus::Failed)
    );
    let gone = daemon.eventually("the job's process group is killed", || {
        process_gone(process.pid)
            .then_some(())
            .ok_or_else(|| format!("pid {} still alive", process.pid))
    });
    gone.unwrap_or_else(|last| panic!("{last}"));
}

#[test]
fn pipelines_get_the_version_gate_variables_as_sluice_run_gives_them() {
    let remote = Remote::new();
    std::fs::write(remote.work.join("VERSION"), "1.2.0\n").expect("write VERSION");
    let ci = "show:\n  script:\n    - echo \"version=$SLUICE_VERSION publish=$SLUICE_PUBLISH published=$SLUICE_PUBLISHED_VERSION\"\n";
    let sha = remote.push(ci, "release 1.2.0");
    let daemon = start(&remote);
    let pipeline = finished_pipeline(&daemon, &sha);
    assert_eq!(pipeline.status, PipelineStatus::Success, "{}", daemon.dump());
    let log = std::fs::read_to_string(pipeline.jobs[0].log_path.as_ref().expect("a log")).expect("log");
    assert!(log.contains("version=1.2.0 publish=true published="), "{log}");
}

#[test]
fn a_failing_poll_is_logged_when_it_starts_failing_and_when_it_works_again_not_every_time() {
    let remote = Remote::new();
    let sha = remote.push(PASSING, "two jobs that pass");
    let later = remote.bare.with_file_name("later.git");
    let config = format!("projects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n", later.display());
    let daemon = Daemon::start(&config, &[]);
    let failing = |log: &str| log.lines().filter(|l| l.contains("cannot poll the repository")).count();
    let warned = daemon.eventually("the failing poll is logged", || {
        let log = daemon.stderr();
        (failing(&log) > 0).then_some(()).ok_or(log)
    });
    warned.unwrap_or_else(|last| panic!("{last}"));
    // Not a synchronisation: polls come every second, and a few more should fail unlogged.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    std::fs::rename(&remote.bare, &later).expect("the repository appears");
    finished_pipeline(&daemon, &sha);
    let recovered = daemon.eventually("the recovery is logged", || {
        let log = daemon.stderr();
        log.contains("polling works again").then_some(log.clone()).ok_or(log)
    });
    let log = recovered.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!(failing(&log), 1, "one line for the whole run of failed polls:\n{log}");
}
