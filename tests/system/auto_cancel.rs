//! `workflow:auto_cancel` through the real daemon, as GitLab does it: with `on_new_commit:
//! interruptible`, a newer push cancels only the older pipeline's `interruptible: true` jobs
//! (a running one is stopped, a waiting one never starts) while its other jobs go on; with
//! `on_job_failure: all`, a job failure that is not allowed cancels the rest of the pipeline,
//! running jobs included, and the pipeline ends `failed`.

use sluice::store::{JobRow, PipelineRow, Store};

use crate::daemon::Daemon;
use crate::pipelines::{Remote, process_gone};

fn start(remote: &Remote) -> Daemon {
    let config = format!(
        "concurrency: 4\nprojects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n",
        remote.bare.display()
    );
    Daemon::start(&config, &[])
}

fn job<'a>(pipeline: &'a PipelineRow, name: &str) -> &'a JobRow {
    pipeline.jobs.iter().find(|j| j.name == name).unwrap_or_else(|| panic!("no job `{name}`: {pipeline:?}"))
}

fn pipeline_of(store: &Store, sha: &str) -> Result<PipelineRow, String> {
    let pipelines = store.list_pipelines(Some("demo"), 10).map_err(|e| e.to_string())?;
    pipelines.into_iter().find(|p| p.sha == sha).ok_or_else(|| format!("no pipeline for {sha} yet"))
}

fn statuses(pipeline: &PipelineRow) -> Vec<(&str, &str)> {
    pipeline.jobs.iter().map(|j| (j.name.as_str(), j.status.as_str())).collect()
}

#[test]
fn a_newer_push_cancels_only_the_interruptible_jobs_and_the_others_go_on() {
    let marks = tempfile::tempdir().expect("temp dir");
    let release = marks.path().join("release");
    let remote = Remote::new();
    let ci = format!(
        "workflow:
  auto_cancel:
    on_new_commit: interruptible
stages: [build, test]
lint:
  stage: build
  interruptible: true
  script:
    - sleep 300
deploy:
  stage: build
  script:
    - while [ ! -f {0} ]; do sleep 0.1; done
    - echo deployed
unit:
  stage: test
  interruptible: true
  script:
    - echo never
report:
  stage: test
  script:
    - echo never either
",
        release.display()
    );
    let old = remote.push(&ci, "a slow interruptible job beside a deployment");
    let daemon = start(&remote);
    let store = daemon.store();
    let running = daemon.eventually("both build jobs of the older pipeline run", || {
        let pipeline = pipeline_of(&store, &old)?;
        let both = ["lint", "deploy"].iter().all(|name| {
            pipeline.jobs.iter().any(|j| j.name == *name && j.status.as_str() == "running" && j.process.is_some())
        });
        both.then_some(pipeline.clone()).ok_or_else(|| format!("{:?}", statuses(&pipeline)))
    });
    let older = running.unwrap_or_else(|last| panic!("{last}"));
    let lint_process = job(&older, "lint").process.expect("recorded");
    let new = remote.push("quick:\n  script:\n    - echo quick\n", "quick");

    let interrupted = daemon.eventually("the older pipeline's interruptible jobs are canceled", || {
        let pipeline = store.get_pipeline(older.id).map_err(|e| e.to_string())?;
        let canceled = ["lint", "unit"].iter().all(|name| job(&pipeline, name).status.as_str() == "canceled");
        canceled.then_some(pipeline.clone()).ok_or_else(|| format!("{} {:?}", pipeline.status, statuses(&pipeline)))
    });
    let pipeline = interrupted.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!(job(&pipeline, "deploy").status.as_str(), "running", "the deployment goes on: {}", daemon.dump());
    assert!(!pipeline.status.is_final(), "{}", daemon.dump());
    let gone = daemon.eventually("the interruptible job's process is stopped", || {
        process_gone(lint_process.pid).then_some(()).ok_or_else(|| format!("pid {} alive", lint_process.pid))
    });
    gone.unwrap_or_else(|last| panic!("{last}"));

    std::fs::write(&release, "").expect("let the deployment finish");
    let finished = daemon.eventually("both pipelines end", || {
        let older = store.get_pipeline(older.id).map_err(|e| e.to_string())?;
        let newer = pipeline_of(&store, &new)?;
        (older.status.is_final() && newer.status.is_final())
            .then_some((older.clone(), newer.clone()))
            .ok_or_else(|| format!("older {} {:?}; newer {}", older.status, statuses(&older), newer.status))
    });
    let (older, newer) = finished.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!(
        statuses(&older),
        [("lint", "canceled"), ("deploy", "success"), ("unit", "canceled"), ("report", "skipped")],
        "{}",
        daemon.dump()
    );
    // GitLab's composite status of canceled, successful and skipped jobs.
    assert_eq!((older.status.as_str(), newer.status.as_str()), ("canceled", "success"), "{}", daemon.dump());
    let log = std::fs::read_to_string(job(&older, "deploy").log_path.as_ref().expect("a log")).expect("log");
    assert!(log.contains("deployed"), "{log}");
}

#[test]
fn a_job_failure_cancels_the_rest_of_the_pipeline_with_on_job_failure_all() {
    let marks = tempfile::tempdir().expect("temp dir");
    let slow_mark = marks.path().join("slow");
    let remote = Remote::new();
    let ci = format!(
        "workflow:
  auto_cancel:
    on_job_failure: all
stages: [prepare, test, deploy]
tolerated:
  stage: prepare
  allow_failure: true
  script:
    - exit 2
slow:
  stage: test
  script:
    - touch {0}
    - sleep 300
broken:
  stage: test
  script:
    - while [ ! -f {0} ]; do sleep 0.1; done
    - exit 1
later:
  stage: deploy
  when: always
  script:
    - echo never
",
        slow_mark.display()
    );
    let sha = remote.push(&ci, "a failure beside a slow job");
    let daemon = start(&remote);
    let store = daemon.store();
    let slow_started = daemon.eventually("the slow job runs with its process recorded", || {
        let pipeline = pipeline_of(&store, &sha)?;
        // The pipeline's row can be read before its jobs' rows: wait for them, do not panic.
        let slow = pipeline.jobs.iter().find(|j| j.name == "slow").ok_or_else(|| format!("{:?}", statuses(&pipeline)))?;
        (slow.process.is_some() && slow_mark.exists()).then_some(slow.clone()).ok_or_else(|| format!("{:?}", statuses(&pipeline)))
    });
    let slow = slow_started.unwrap_or_else(|last| panic!("{last}"));
    let finished = daemon.eventually("the pipeline ends well before the slow job would", || {
        let pipeline = pipeline_of(&store, &sha)?;
        pipeline.status.is_final().then_some(pipeline.clone()).ok_or_else(|| format!("{} {:?}", pipeline.status, statuses(&pipeline)))
    });
    let pipeline = finished.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!(
        statuses(&pipeline),
        [("tolerated", "failed"), ("slow", "canceled"), ("broken", "failed"), ("later", "canceled")],
        "an allowed failure cancels nothing; the failure of `broken` cancels the rest: {}",
        daemon.dump()
    );
    assert_eq!(pipeline.status.as_str(), "failed", "{}", daemon.dump());
    assert!(job(&pipeline, "slow").started_at.is_some(), "the running job was canceled, not one that never started");
    let process = slow.process.expect("recorded");
    let gone = daemon.eventually("the canceled job's process is stopped", || {
        process_gone(process.pid).then_some(()).ok_or_else(|| format!("pid {} alive", process.pid))
    });
    gone.unwrap_or_else(|last| panic!("{last}"));
}
