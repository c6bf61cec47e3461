//! Cron schedules through the real daemon: a schedule fires a `schedule` pipeline with its
//! variables, and after downtime it catches up with exactly one pipeline, not one per missed
//! time. The daemon's schedule clock is started just before a minute boundary with the
//! `SLUICE_TEST_CLOCK` test hook, so the test does not wait for a real minute to pass.

use sluice::store::{EventRow, PipelineRow};

use crate::daemon::Daemon;
use crate::pipelines::Remote;

const SCHEDULED: &str = "nightly:
  rules:
    - if: $CI_PIPELINE_SOURCE == \"schedule\"
  script:
    - echo \"source=$CI_PIPELINE_SOURCE nightly=$NIGHTLY\"
";

fn schedule_events(daemon: &Daemon) -> Vec<EventRow> {
    let mut events = daemon.store().list_events(Some("demo"), 50).expect("events");
    events.retain(|e| e.source == "schedule");
    events.reverse();
    events
}

/// Waits until `count` schedule events have finished pipelines; returns them, oldest first.
fn finished(daemon: &Daemon, count: usize) -> Vec<(EventRow, PipelineRow)> {
    let store = daemon.store();
    let found = daemon.eventually(&format!("{count} finished schedule pipelines"), || {
        let events = schedule_events(daemon);
        let mut done = Vec::new();
        for event in &events {
            let Some(id) = event.pipeline_id else { continue };
            let pipeline = store.get_pipeline(id).map_err(|e| e.to_string())?;
            if pipeline.status.is_final() {
                done.push((event.clone(), pipeline));
            }
        }
        let seen = || format!("{:?}", events.iter().map(|e| (&e.dedup_key, e.state, &e.error)).collect::<Vec<_>>());
        (done.len() >= count).then_some(done).ok_or_else(seen)
    });
    found.unwrap_or_else(|last| panic!("{last}"))
}

fn fire_time(event: &EventRow) -> String {
    let millis: i64 = event.dedup_key.rsplit(':').next().and_then(|m| m.parse().ok()).expect("a fire time");
    chrono::DateTime::from_timestamp_millis(millis).expect("a time").to_rfc3339()
}

#[test]
fn a_schedule_fires_its_pipeline_and_catches_up_once_after_downtime() {
    let remote = Remote::new();
    remote.push(SCHEDULED, "a scheduled job");
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{}\"\n    poll: \"off\"\n    schedules:\n      - cron: \"* * * * *\"\n        variables: {{NIGHTLY: \"yes\"}}\n",
        remote.bare.display()
    );
    // Two seconds before a minute: the schedule is first seen then and fires at 09:00.
    let mut daemon = Daemon::start(&config, &[("SLUICE_TEST_CLOCK", "2026-03-06T08:59:58Z")]);
    assert!(daemon.stderr().contains("SLUICE_TEST_CLOCK is set"), "{}", daemon.dump());

    let fired = finished(&daemon, 1);
    let (event, pipeline) = &fired[0];
    assert_eq!(fire_time(event), "2026-03-06T09:00:00+00:00");
    assert_eq!((pipeline.source.as_str(), pipeline.git_ref.as_str(), pipeline.status.as_str()), ("schedule", "main", "success"), "{}", daemon.dump());
    let job = &pipeline.jobs[0];
    let log = std::fs::read_to_string(job.log_path.as_ref().expect("a log")).expect("log");
    assert!(log.contains("source=schedule nightly=yes"), "{log}");

    // Down from about 09:00 to 10:30:30: ninety times missed, one pipeline for the latest.
    daemon.kill9();
    daemon.set_env("SLUICE_TEST_CLOCK", "2026-03-06T10:30:30Z");
    daemon.restart();
    let fired = finished(&daemon, 2);
    assert_eq!(fire_time(&fired[1].0), "2026-03-06T10:30:00+00:00");
    // The next time (10:31) is half a minute away on the test clock: nothing else fired.
    let times: Vec<String> = schedule_events(&daemon).iter().map(fire_time).collect();
    assert_eq!(times, ["2026-03-06T09:00:00+00:00", "2026-03-06T10:30:00+00:00"], "{}", daemon.dump());
}
