//! A recorded pipeline resumes as GitLab's does: after `kill -9` every interrupted job whose
//! `retry:` allows `runner_system_failure` runs again and the pipeline goes on to its later
//! jobs; a retried job re-opens the jobs its failure skipped, which then run.

use serde_json::json;
use sluice::store::{JobStatus, PipelineId, PipelineRow, Store};

use crate::api::{call, create_token, expect, job_named, trigger, wait_pipeline};
use crate::daemon::Daemon;
use crate::pipelines::{Remote, process_gone};

fn attempts(pipeline: &PipelineRow) -> Vec<(&str, u32, &str)> {
    pipeline.jobs.iter().map(|j| (j.name.as_str(), j.attempt, j.status.as_str())).collect()
}

/// Waits until pipeline `id` and every job of it have ended.
fn ended(daemon: &Daemon, store: &Store, id: PipelineId) -> PipelineRow {
    let finished = daemon.eventually("the pipeline goes on and ends", || {
        let pipeline = store.get_pipeline(id).map_err(|e| e.to_string())?;
        (pipeline.status.is_final() && pipeline.jobs.iter().all(|j| j.status.is_final()))
            .then_some(pipeline.clone())
            .ok_or_else(|| format!("{} {:?}", pipeline.status, attempts(&pipeline)))
    });
    finished.unwrap_or_else(|last| panic!("{last}"))
}

#[test]
fn after_a_restart_every_interrupted_job_runs_again_and_the_pipeline_goes_on() {
    let marks = tempfile::tempdir().expect("temp dir");
    let mark = |name: &str| marks.path().join(name).display().to_string();
    let remote = Remote::new();
    let ci = format!(
        "stages: [test, deploy]
a:
  stage: test
  retry: 1
  script:
    - if [ ! -f {a} ]; then touch {a}; sleep 300; fi
    - echo a again
b:
  stage: test
  retry: 1
  script:
    - if [ ! -f {b} ]; then touch {b}; sleep 300; fi
    - echo b again
after:
  stage: deploy
  script:
    - echo after
",
        a = mark("a"),
        b = mark("b")
    );
    remote.push(&ci, "two jobs that outlive the daemon once");
    let config = format!("concurrency: 4\nprojects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n", remote.bare.display());
    let mut daemon = Daemon::start(&config, &[]);
    let store = daemon.store();
    // Killed once both scripts have left their marks, so the second attempts take the quick path.
    let running = daemon.eventually("both jobs run with their processes recorded", || {
        let pipelines = store.list_pipelines(Some("demo"), 5).map_err(|e| e.to_string())?;
        let pipeline = pipelines.first().ok_or("no pipeline yet")?;
        let running: Vec<_> = pipeline.jobs.iter().filter(|j| j.process.is_some() && j.status.as_str() == "running").collect();
        (running.len() == 2 && marks.path().join("a").exists() && marks.path().join("b").exists())
            .then_some(pipeline.clone())
            .ok_or_else(|| format!("{:?}", attempts(pipeline)))
    });
    let interrupted = running.unwrap_or_else(|last| panic!("{last}"));
    daemon.kill9();
    daemon.restart();

    let pipeline = ended(&daemon, &store, interrupted.id);
    let mut seen = attempts(&pipeline);
    seen.sort();
    assert_eq!(
        seen,
        [("a", 1, "failed"), ("a", 2, "success"), ("after", 1, "success"), ("b", 1, "failed"), ("b", 2, "success")],
        "{}",
        daemon.dump()
    );
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
    for job in pipeline.jobs.iter().filter(|j| j.attempt == 1 && j.name != "after") {
        assert_eq!(job.failure_reason.map(|r| r.as_str()), Some("runner_system_failure"), "{job:?}");
    }
    for job in interrupted.jobs.iter().filter_map(|j| j.process) {
        let gone = daemon.eventually("the first attempts' processes are killed", || {
            process_gone(job.pid).then_some(()).ok_or_else(|| format!("pid {} alive", job.pid))
        });
        gone.unwrap_or_else(|last| panic!("{last}"));
    }
    assert_eq!(store.list_pipelines(Some("demo"), 5).expect("pipelines").len(), 1, "{}", daemon.dump());
}

#[test]
fn a_retried_job_reopens_the_jobs_its_failure_skipped() {
    let marks = tempfile::tempdir().expect("temp dir");
    let fixed = marks.path().join("fixed");
    let remote = Remote::new();
    let ci = format!(
        "stages: [build, test, deploy]
build:
  stage: build
  script:
    - test -f {0}
test:
  stage: test
  script:
    - echo testing
deploy:
  stage: deploy
  needs: [test]
  script:
    - echo deploying
cleanup:
  stage: deploy
  when: on_failure
  script:
    - echo cleaning up
",
        fixed.display()
    );
    remote.push(&ci, "a build that fails until fixed");
    let daemon = crate::api::start(&remote);
    let token = create_token(&daemon, "writer", "write");
    let id = trigger(&daemon, &token, json!({}));
    let pipeline = wait_pipeline(&daemon, &token, id, "the pipeline fails", |p| p["status"] == "failed");
    let skipped: Vec<&str> = ["test", "deploy", "cleanup"].iter().map(|name| job_named(&pipeline, name, 1)["status"].as_str().unwrap_or("")).collect();
    assert_eq!(skipped, ["skipped", "skipped", "success"], "{pipeline}");
    let build = job_named(&pipeline, "build", 1)["id"].as_i64().expect("id");

    std::fs::write(&fixed, "").expect("fix the build");
    let response = call(&daemon, "POST", &format!("/api/v1/jobs/{build}/retry"), Some(&token), None);
    expect(&response, 202, &daemon);
    let pipeline = wait_pipeline(&daemon, &token, id, "the resumed pipeline succeeds", |p| p["status"] == "success");
    let jobs: Vec<(&str, i64, &str)> = pipeline["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| (j["name"].as_str().unwrap_or(""), j["attempt"].as_i64().unwrap_or(0), j["status"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        jobs,
        [("build", 1, "failed"), ("test", 1, "success"), ("deploy", 1, "success"), ("cleanup", 1, "success"), ("build", 2, "success")],
        "the skipped jobs ran (same rows, as GitLab re-opens them); the on_failure job is left as it ran: {}",
        daemon.dump()
    );
    let store = daemon.store();
    let test = store.get_job(sluice::store::JobId::new(job_named(&pipeline, "test", 1)["id"].as_i64().expect("id"))).expect("job");
    let path: Vec<(Option<JobStatus>, JobStatus)> =
        store.transitions_of(test.id).expect("transitions").iter().map(|t| (t.from, t.to)).collect();
    assert!(path.contains(&(Some(JobStatus::Skipped), JobStatus::Created)), "{path:?}");
}

#[test]
fn a_job_left_pending_by_a_restart_runs_after_the_retried_one() {
    let marks = tempfile::tempdir().expect("temp dir");
    let first = marks.path().join("first");
    let remote = Remote::new();
    let ci = format!(
        "a:
  retry: 1
  script:
    - if [ ! -f {0} ]; then touch {0}; sleep 300; fi
b:
  script:
    - echo b ran
",
        first.display()
    );
    remote.push(&ci, "two jobs, one slot");
    // One slot: `b` waits `pending` while `a` runs.
    let config = format!("concurrency: 1\nprojects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n", remote.bare.display());
    let mut daemon = Daemon::start(&config, &[]);
    let store = daemon.store();
    let waiting = daemon.eventually("`a` runs and `b` waits for the slot", || {
        let pipelines = store.list_pipelines(Some("demo"), 5).map_err(|e| e.to_string())?;
        let pipeline = pipelines.first().ok_or("no pipeline yet")?;
        let status = |name: &str| pipeline.jobs.iter().find(|j| j.name == name).map(|j| (j.status.as_str(), j.process.is_some()));
        (status("a") == Some(("running", true)) && status("b") == Some(("pending", false)) && first.exists())
            .then_some(pipeline.clone())
            .ok_or_else(|| format!("{:?}", attempts(pipeline)))
    });
    let interrupted = waiting.unwrap_or_else(|last| panic!("{last}"));
    daemon.kill9();
    daemon.restart();

    let pipeline = ended(&daemon, &store, interrupted.id);
    assert_eq!(
        attempts(&pipeline),
        [("a", 1, "failed"), ("b", 1, "success"), ("a", 2, "success")],
        "{}",
        daemon.dump()
    );
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
}

/// The newest pipeline of `project`.
fn newest(store: &Store, project: &str) -> Result<PipelineRow, String> {
    let pipelines = store.list_pipelines(Some(project), 5).map_err(|e| e.to_string())?;
    pipelines.into_iter().next().ok_or_else(|| format!("no pipeline of {project} yet"))
}

#[test]
fn a_pipeline_a_restart_caught_between_two_jobs_goes_on_from_where_it_was() {
    let marks = tempfile::tempdir().expect("temp dir");
    let (go, built, tested) = (marks.path().join("go"), marks.path().join("built"), marks.path().join("tested"));
    let demo = Remote::new();
    let ci = format!(
        "stages: [build, test]
build:
  stage: build
  script:
    - echo once >> {built}
    - echo from-build > built.txt
    - while [ ! -f {go} ]; do sleep 0.1; done
  artifacts:
    paths: [built.txt]
test:
  stage: test
  script:
    - echo once >> {tested}
    - cat built.txt
",
        built = built.display(),
        tested = tested.display(),
        go = go.display()
    );
    demo.push(&ci, "two stages");
    // The other project holds the only slot while `demo` is between its two jobs: its job
    // queues for the slot while `build` runs, so the slot goes to it when `build` ends.
    let other = Remote::new();
    other.push("workflow:\n  rules:\n    - when: never\nnothing:\n  script: [\"true\"]\n", "no pipeline yet");
    let config = format!(
        "concurrency: 1\nprojects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n  - name: other\n    repo: \"{}\"\n    poll: 1s\n",
        demo.bare.display(),
        other.bare.display()
    );
    let mut daemon = Daemon::start(&config, &[]);
    let store = daemon.store();
    let building = daemon.eventually("`build` runs", || {
        let pipeline = newest(&store, "demo")?;
        let build = pipeline.jobs.iter().find(|j| j.name == "build").ok_or("no build job")?;
        (build.status.as_str() == "running" && built.exists()).then_some(()).ok_or_else(|| format!("{:?}", attempts(&pipeline)))
    });
    building.unwrap_or_else(|last| panic!("{last}"));
    other.push("hold:\n  script:\n    - sleep 300\n", "a job that waits for the slot");
    let queued = daemon.eventually("`hold` waits for the slot", || {
        let pipeline = newest(&store, "other")?;
        let statuses: Vec<&str> = pipeline.jobs.iter().map(|j| j.status.as_str()).collect();
        (statuses == ["pending"]).then_some(()).ok_or_else(|| format!("{:?}", attempts(&pipeline)))
    });
    queued.unwrap_or_else(|last| panic!("{last}"));
    std::fs::write(&go, "").expect("let `build` end");
    let between = daemon.eventually("`build` ended, `hold` runs, `test` waits", || {
        let (pipeline, holding) = (newest(&store, "demo")?, newest(&store, "other")?);
        let seen = (attempts(&pipeline), attempts(&holding));
        let hold_runs = holding.jobs.iter().any(|j| j.status.as_str() == "running" && j.process.is_some());
        (seen.0 == [("build", 1, "success"), ("test", 1, "pending")] && hold_runs)
            .then_some(pipeline.clone())
            .ok_or_else(|| format!("{seen:?}"))
    });
    let interrupted = between.unwrap_or_else(|last| panic!("{last}"));
    daemon.kill9();
    daemon.restart();

    let pipeline = ended(&daemon, &store, interrupted.id);
    assert_eq!(attempts(&pipeline), [("build", 1, "success"), ("test", 1, "success")], "{}", daemon.dump());
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
    let runs = |path: &std::path::Path| std::fs::read_to_string(path).unwrap_or_default().lines().count();
    assert_eq!((runs(&built), runs(&tested)), (1, 1), "each job ran once\n{}", daemon.dump());
    let log = std::fs::read_to_string(pipeline.jobs[1].log_path.as_ref().expect("a log")).expect("log");
    assert!(log.contains("from-build"), "`test` got `build`'s artifact: {log}");
    assert_eq!(store.list_pipelines(Some("demo"), 5).expect("pipelines").len(), 1, "{}", daemon.dump());
    // The interrupted `hold` (no `retry:`) failed, and its pipeline with it.
    let holding = daemon.eventually("the other pipeline ends", || {
        let pipeline = newest(&store, "other")?;
        pipeline.status.is_final().then_some(pipeline.clone()).ok_or_else(|| format!("{} {:?}", pipeline.status, attempts(&pipeline)))
    });
    let holding = holding.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!((holding.status.as_str(), attempts(&holding)), ("failed", vec![("hold", 1, "failed")]), "{}", daemon.dump());
}

/// `kill -9` at moments that fall wherever they fall (before the first job, during a job,
/// between two): after the last restart the one pipeline has ended, `success` unless one job
/// was interrupted more often than its `retry: 2` allows; no job ever ran twice at the same
/// time (each holds a lock while it runs, and an attempt that finds it taken records an
/// overlap); no attempt ran more than once; every event is done.
#[test]
fn kill_9_at_any_moment_leaves_one_pipeline_that_ends_and_no_job_running_twice_at_once() {
    let marks = tempfile::tempdir().expect("temp dir");
    let job = |name: &str, stage: &str| {
        let (lock, runs, overlaps) = (marks.path().join(name), marks.path().join("runs"), marks.path().join("overlaps"));
        format!(
            "{name}:\n  stage: {stage}\n  retry: 2\n  script:\n    - flock -n {lock} -c 'echo {name} >> {runs}; sleep 0.4' || echo {name} >> {overlaps}\n",
            lock = lock.display(),
            runs = runs.display(),
            overlaps = overlaps.display()
        )
    };
    let ci = format!(
        "stages: [one, two, three]\n{}{}{}{}",
        job("a", "one"),
        job("b", "one"),
        job("c", "two"),
        job("d", "three")
    );
    let remote = Remote::new();
    remote.push(&ci, "four jobs in three stages");
    let config = format!("concurrency: 2\nprojects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n", remote.bare.display());
    let mut daemon = Daemon::start(&config, &[]);
    let store = daemon.store();
    // Not synchronisation: the kills land wherever the run happens to be.
    for after in [250, 450, 200, 550] {
        std::thread::sleep(std::time::Duration::from_millis(after));
        daemon.kill9();
        daemon.restart();
    }
    let created = daemon.eventually("the pipeline is recorded", || newest(&store, "demo"));
    let pipeline = ended(&daemon, &store, created.unwrap_or_else(|last| panic!("{last}")).id);
    let seen = attempts(&pipeline);
    assert_eq!(store.list_pipelines(Some("demo"), 5).expect("pipelines").len(), 1, "{}", daemon.dump());
    let out_of_retries = pipeline
        .jobs
        .iter()
        .any(|j| j.attempt == 3 && j.failure_reason.map(|r| r.as_str()) == Some("runner_system_failure"));
    let expected = if out_of_retries { "failed" } else { "success" };
    assert_eq!(pipeline.status.as_str(), expected, "{seen:?}\n{}", daemon.dump());
    let overlaps = std::fs::read_to_string(marks.path().join("overlaps")).unwrap_or_default();
    assert_eq!(overlaps, "", "jobs that ran twice at once: {seen:?}\n{}", daemon.dump());
    let runs = std::fs::read_to_string(marks.path().join("runs")).unwrap_or_default();
    for name in ["a", "b", "c", "d"] {
        let tries = pipeline.jobs.iter().filter(|j| j.name == name).count();
        let ran = runs.lines().filter(|line| *line == name).count();
        assert!(ran <= tries, "`{name}` ran {ran} times in {tries} attempts: {seen:?}");
    }
    let events = daemon.eventually("every event is done", || {
        let events = store.list_events(Some("demo"), 10).map_err(|e| e.to_string())?;
        events.iter().all(|e| e.state.as_str() == "done").then_some(()).ok_or_else(|| format!("{events:?}"))
    });
    events.unwrap_or_else(|last| panic!("{last}"));
}
