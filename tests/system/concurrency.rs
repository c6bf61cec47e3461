//! Pipelines of different projects run at the same time, under the global `concurrency`
//! limit, while a project's own `concurrency` keeps its jobs one at a time; a newer push
//! auto-cancels the older pipeline of its branch.

use std::path::Path;

use sluice::store::{JobRow, PipelineRow, Store};

use crate::daemon::Daemon;
use crate::pipelines::Remote;

/// A job that says it started, then waits for `release` in `marks`.
fn waiting_job(name: &str, marks: &Path) -> String {
    let marks = marks.display();
    format!(
        "{name}:\n  script:\n    - touch {marks}/{name}.started\n    - while [ ! -f {marks}/release ]; do sleep 0.05; done\n"
    )
}

fn latest(store: &Store, project: &str) -> Result<PipelineRow, String> {
    let pipelines = store.list_pipelines(Some(project), 1).map_err(|e| e.to_string())?;
    pipelines.into_iter().next().ok_or_else(|| format!("no pipeline of `{project}` yet"))
}

fn job<'a>(pipeline: &'a PipelineRow, name: &str) -> &'a JobRow {
    pipeline.jobs.iter().find(|j| j.name == name).expect("the job")
}

#[test]
fn projects_run_side_by_side_and_a_project_limit_holds() {
    let marks = tempfile::tempdir().expect("temp dir");
    let (a, b) = (Remote::new(), Remote::new());
    a.push(&(waiting_job("a1", marks.path()) + &waiting_job("a2", marks.path())), "two jobs");
    b.push(&waiting_job("b1", marks.path()), "one job");
    let config = format!(
        "concurrency: 3\nprojects:\n  - name: a\n    repo: \"{}\"\n    poll: 1s\n    concurrency: 1\n  - name: b\n    repo: \"{}\"\n    poll: 1s\n",
        a.bare.display(),
        b.bare.display()
    );
    let daemon = Daemon::start(&config, &[]);
    let store = daemon.store();

    // Both projects' pipelines run at once: each has a job running.
    let side_by_side = daemon.eventually("a job of each project runs", || {
        let (a, b) = (latest(&store, "a")?, latest(&store, "b")?);
        let running = |p: &PipelineRow| p.jobs.iter().filter(|j| j.status.as_str() == "running").count();
        if running(&a) == 1 && running(&b) == 1 {
            return Ok(a);
        }
        Err(format!("a: {:?}; b: {:?}", a.jobs, b.jobs))
    });
    let a_pipeline = side_by_side.unwrap_or_else(|last| panic!("{last}"));
    // Three global slots, but project `a` may use only one of them.
    let waiting: Vec<&str> = a_pipeline.jobs.iter().filter(|j| j.status.as_str() == "pending").map(|j| j.name.as_str()).collect();
    assert_eq!(waiting.len(), 1, "{:?}\n{}", a_pipeline.jobs, daemon.dump());

    std::fs::write(marks.path().join("release"), "").expect("release the jobs");
    let finished = daemon.eventually("both pipelines finish", || {
        let (a, b) = (latest(&store, "a")?, latest(&store, "b")?);
        if a.status.is_final() && b.status.is_final() {
            return Ok(a);
        }
        Err(format!("a: {}; b: {}", a.status, b.status))
    });
    let a_pipeline = finished.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!(a_pipeline.status.as_str(), "success", "{}", daemon.dump());
    // Project `a`'s jobs ran one after the other.
    let (a1, a2) = (job(&a_pipeline, "a1"), job(&a_pipeline, "a2"));
    let (first, second) = if a1.started_at <= a2.started_at { (a1, a2) } else { (a2, a1) };
    assert!(second.started_at >= first.finished_at, "{a1:?}\n{a2:?}");
}

#[test]
fn a_newer_push_auto_cancels_the_older_interruptible_pipeline() {
    let remote = Remote::new();
    let old = remote.push("lint:\n  interruptible: true\n  script:\n    - sleep 300\n", "slow and interruptible");
    let config = format!("projects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n", remote.bare.display());
    let daemon = Daemon::start(&config, &[]);
    let store = daemon.store();
    let running = daemon.eventually("the older pipeline's job runs", || {
        let pipeline = latest(&store, "demo")?;
        if pipeline.sha == old && pipeline.jobs.iter().any(|j| j.status.as_str() == "running") {
            return Ok(pipeline);
        }
        Err(format!("{} {:?}", pipeline.status, pipeline.jobs))
    });
    let older = running.unwrap_or_else(|last| panic!("{last}"));
    let new = remote.push("lint:\n  interruptible: true\n  script:\n    - echo quick\n", "quick");
    let settled = daemon.eventually("the newer pipeline passes and the older is canceled", || {
        let older = store.get_pipeline(older.id).map_err(|e| e.to_string())?;
        let newer = latest(&store, "demo")?;
        if newer.sha == new && newer.status.is_final() && older.status.is_final() {
            return Ok((older, newer));
        }
        Err(format!("older {} {:?}; newer {} {}", older.status, older.jobs, newer.sha, newer.status))
    });
    let (older, newer) = settled.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!((older.status.as_str(), newer.status.as_str()), ("canceled", "success"), "{}", daemon.dump());
    assert!(daemon.stderr().contains("redundant pipeline auto-canceled"), "{}", daemon.dump());
}
