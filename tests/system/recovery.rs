//! After `kill -9`, a job interrupted mid-run whose `retry:` allows `runner_system_failure`
//! runs again as a new attempt, and its pipeline ends with that attempt's result; a cancel
//! accepted before the crash is carried out after it.

use crate::api::{call, create_token, expect};
use crate::daemon::Daemon;
use crate::pipelines::{Remote, process_gone};

#[test]
fn an_interrupted_job_with_retry_runs_again_after_a_restart() {
    let marks = tempfile::tempdir().expect("temp dir");
    let first = marks.path().join("first");
    let remote = Remote::new();
    remote.push(
        &format!(
            "flaky:\n  retry: 1\n  script:\n    - if [ ! -f {0} ]; then touch {0}; sleep 300; fi\n    - echo second attempt\n",
            first.display()
        ),
        "a job that outlives the daemon once",
    );
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n",
        remote.bare.display()
    );
    let mut daemon = Daemon::start(&config, &[]);
    let store = daemon.store();
    // Killed only once its script has left its mark, so the second attempt takes the quick path.
    let running = daemon.eventually("the first attempt runs with its process recorded", || {
        let pipelines = store.list_pipelines(Some("demo"), 5).map_err(|e| e.to_string())?;
        let job = pipelines.iter().flat_map(|p| &p.jobs).find(|j| j.process.is_some() && j.status.as_str() == "running");
        job.filter(|_| first.exists()).cloned().ok_or_else(|| format!("{pipelines:?}"))
    });
    let job = running.unwrap_or_else(|last| panic!("{last}"));
    daemon.kill9();
    daemon.restart();

    let finished = daemon.eventually("the pipeline and the second attempt end", || {
        let pipeline = store.get_pipeline(job.pipeline_id).map_err(|e| e.to_string())?;
        if pipeline.status.is_final() && pipeline.jobs.len() == 2 && pipeline.jobs.iter().all(|j| j.status.is_final()) {
            return Ok(pipeline);
        }
        Err(format!("{} {:?}", pipeline.status, pipeline.jobs))
    });
    let pipeline = finished.unwrap_or_else(|last| panic!("{last}"));
    let attempts: Vec<(u32, &str, Option<&str>)> = pipeline
        .jobs
        .iter()
        .map(|j| (j.attempt, j.status.as_str(), j.failure_reason.map(|r| r.as_str())))
        .collect();
    assert_eq!(attempts, [(1, "failed", Some("runner_system_failure")), (2, "success", None)], "{}", daemon.dump());
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
    let log = std::fs::read_to_string(pipeline.jobs[1].log_path.as_ref().expect("a log")).expect("log");
    assert!(log.contains("second attempt"), "{log}");
    assert_eq!(store.list_pipelines(Some("demo"), 5).expect("pipelines").len(), 1);
    let process = job.process.expect("recorded");
    let gone = daemon.eventually("the first attempt's process is killed", || {
        process_gone(process.pid).then_some(()).ok_or_else(|| format!("pid {} alive", process.pid))
    });
    gone.unwrap_or_else(|last| panic!("{last}"));
}

#[test]
fn a_cancel_accepted_before_a_crash_still_cancels_after_the_restart() {
    let marks = tempfile::tempdir().expect("temp dir");
    let trapped = marks.path().join("trapped");
    let remote = Remote::new();
    // The job ignores SIGTERM: after the cancel it runs on for the 10 s grace period. It is
    // canceled only once the mark says the trap is set (a SIGTERM before would end it).
    let ci = format!("stubborn:\n  retry: 2\n  script:\n    - trap '' TERM; touch {}; sleep 300\n", trapped.display());
    remote.push(&ci, "a job that ignores SIGTERM");
    let config = format!("projects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n", remote.bare.display());
    let mut daemon = Daemon::start(&config, &[]);
    let token = create_token(&daemon, "writer", "write");
    let store = daemon.store();
    let running = daemon.eventually("the job runs with its process recorded", || {
        let pipelines = store.list_pipelines(Some("demo"), 5).map_err(|e| e.to_string())?;
        let job = pipelines.iter().flat_map(|p| &p.jobs).find(|j| j.process.is_some() && j.status.as_str() == "running");
        job.filter(|_| trapped.exists()).cloned().ok_or_else(|| format!("{pipelines:?}"))
    });
    let job = running.unwrap_or_else(|last| panic!("{last}"));
    let path = format!("/api/v1/pipelines/{}/cancel", job.pipeline_id.get());
    expect(&call(&daemon, "POST", &path, Some(&token), None), 202, &daemon);
    daemon.kill9();
    assert_eq!(store.get_job(job.id).expect("job").status.as_str(), "running", "the cancel must not have finished yet");
    daemon.restart();

    let settled = daemon.eventually("the pipeline is canceled", || {
        let pipeline = store.get_pipeline(job.pipeline_id).map_err(|e| e.to_string())?;
        let events = store.list_events(Some("demo"), 5).map_err(|e| e.to_string())?;
        if pipeline.status.is_final() && events.iter().all(|e| e.state.as_str() != "pending") {
            return Ok(pipeline);
        }
        Err(format!("{} {:?} {events:?}", pipeline.status, pipeline.jobs))
    });
    let pipeline = settled.unwrap_or_else(|last| panic!("{last}"));
    let jobs: Vec<(u32, &str)> = pipeline.jobs.iter().map(|j| (j.attempt, j.status.as_str())).collect();
    assert_eq!((pipeline.status.as_str(), jobs), ("canceled", vec![(1, "canceled")]), "{}", daemon.dump());
    let process = job.process.expect("recorded");
    let gone = daemon.eventually("the job's process is killed", || {
        process_gone(process.pid).then_some(()).ok_or_else(|| format!("pid {} alive", process.pid))
    });
    gone.unwrap_or_else(|last| panic!("{last}"));
    // An ended pipeline cannot be canceled again.
    expect(&call(&daemon, "POST", &path, Some(&token), None), 409, &daemon);
}
