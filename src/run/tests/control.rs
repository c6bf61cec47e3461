//! Retries, timeouts, after_script, cancellation and child pipelines.

use super::*;
use crate::store::{FailureReason, PipelineStatus};

#[tokio::test]
async fn retry_follows_when_and_exit_codes_with_a_new_row_per_attempt() {
    let f = Fixture::new();
    let counter = f.shared_path("counter");
    let flaky = format!(
        "'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; [ $n -ge 1 ]'"
    );
    let yaml = format!(
        "flaky: {{retry: {{max: 2, when: script_failure}}, script: [{flaky}]}}
wrong_code: {{retry: {{max: 2, exit_codes: [3]}}, script: [exit 4]}}
"
    );
    let summary = f.run(&yaml).await;
    let flaky = job(&summary, "flaky");
    assert_eq!((flaky.status, flaky.attempts), (JobStatus::Success, 2));
    let wrong = job(&summary, "wrong_code");
    assert_eq!((wrong.status, wrong.attempts), (JobStatus::Failed, 1));
    let rows: Vec<JobRow> = f
        .rows(&summary)
        .into_iter()
        .filter(|r| r.name == "flaky")
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].status, rows[0].attempt), (JobStatus::Failed, 1));
    assert_eq!(
        (rows[1].status, rows[1].attempt, rows[1].retry_of),
        (JobStatus::Success, 2, Some(rows[0].id))
    );
    assert_ne!(rows[0].log_path, rows[1].log_path);
}

#[tokio::test]
async fn timeout_kills_the_job_and_after_script_sees_the_status() {
    let f = Fixture::new();
    let summary = f
        .run(
            "slow:
  timeout: 1 second
  script: [sleep 30]
  after_script: ['echo status=$CI_JOB_STATUS']
broken:
  script: [exit 2]
  after_script: ['echo status=$CI_JOB_STATUS', exit 7]
",
        )
        .await;
    let slow = job(&summary, "slow");
    assert_eq!(
        (slow.status, slow.failure_reason),
        (JobStatus::Failed, Some(FailureReason::JobExecutionTimeout))
    );
    assert!(slow.duration.expect("duration") < Duration::from_secs(20));
    assert!(
        f.observer
            .lines("slow")
            .contains(&"status=failed".to_owned())
    );
    let broken = job(&summary, "broken");
    assert_eq!(
        (broken.status, broken.exit_code),
        (JobStatus::Failed, Some(2)),
        "after_script failure changes nothing"
    );
    assert!(
        f.observer
            .lines("broken")
            .contains(&"status=failed".to_owned())
    );
}

#[tokio::test]
async fn cancellation_stops_jobs_runs_after_script_and_leaves_no_process() {
    let f = Fixture::new();
    let pid_file = f.shared_path("pid");
    let after = f.shared_path("after");
    let yaml = format!(
        "stages: [one, two]
long:
  stage: one
  script: ['sleep 300 & echo $! > {pid_file}; echo started; wait']
  after_script: ['echo $CI_JOB_STATUS > {after}']
next: {{stage: two, script: [echo next]}}
"
    );
    let cancel = CancellationToken::new();
    let watcher = {
        let cancel = cancel.clone();
        let f = &f;
        async move {
            while !f.observer.lines("long").contains(&"started".to_owned()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            cancel.cancel();
        }
    };
    let (summary, ()) = tokio::join!(f.try_run(&yaml, &cancel), watcher);
    let summary = summary.expect("run");
    assert_eq!(summary.status, PipelineStatus::Canceled);
    assert_eq!(job(&summary, "long").status, JobStatus::Canceled);
    assert_eq!(job(&summary, "next").status, JobStatus::Canceled);
    assert_eq!(
        std::fs::read_to_string(&after)
            .expect("after_script ran")
            .trim(),
        "canceled"
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("number");
    let alive =
        rustix::process::Pid::from_raw(pid).map(|p| rustix::process::test_kill_process(p).is_ok());
    assert_eq!(alive, Some(false), "background process {pid} survived");
}

#[tokio::test]
async fn trigger_include_runs_the_child_pipeline_with_depend() {
    let mut f = Fixture::new();
    f.files.push((
        "child.yml".into(),
        "child-job: {script: ['echo source=$CI_PIPELINE_SOURCE var=$FORWARDED']}\n".into(),
    ));
    f.files
        .push(("bad-child.yml".into(), "bad: {script: [exit 1]}\n".into()));
    let summary = f
        .run(
            "variables: {FORWARDED: yes-it-is}
stages: [build, deploy]
child: {stage: build, trigger: {include: child.yml, strategy: depend}}
bad: {stage: build, trigger: {include: [{local: bad-child.yml}], strategy: depend}}
away: {stage: build, trigger: {project: group/other}}
after: {stage: deploy, when: always, script: [echo after]}
",
        )
        .await;
    let child = job(&summary, "child");
    assert_eq!(child.status, JobStatus::Success);
    let child_summary = child.child.as_ref().expect("child summary");
    assert_eq!(child_summary.status, PipelineStatus::Success);
    assert!(
        f.observer
            .lines("child > child-job")
            .contains(&"source=parent_pipeline var=yes-it-is".to_owned())
    );
    assert_eq!(job(&summary, "bad").status, JobStatus::Failed);
    assert_eq!(job(&summary, "away").status, JobStatus::Skipped);
    assert!(
        job(&summary, "away")
            .message
            .as_deref()
            .is_some_and(|m| m.contains("not run locally"))
    );
    assert_eq!(summary.status, PipelineStatus::Failed);
    let child_row = f
        .store
        .get_pipeline(child_summary.pipeline_id)
        .expect("child row");
    assert_eq!(
        (child_row.source.as_str(), child_row.status),
        ("parent_pipeline", PipelineStatus::Success)
    );
}

/// A restart caught the pipeline between `build` and `test` (as crash recovery leaves it:
/// `build` recorded with its artifacts, the later jobs `created`, the pipeline `running`);
/// resumed with no starting job, it goes on as it would have, and resumed again once every
/// job ended (the final status not yet written) it just settles.
#[tokio::test]
async fn a_pipeline_resumes_from_its_recorded_state_with_no_starting_job() {
    let mut f = Fixture::new();
    let yaml = "stages: [build, test, deploy]
build: {stage: build, script: [echo built-here > built.txt], artifacts: {paths: [built.txt]}}
test: {stage: test, script: [cat built.txt]}
deploy: {stage: deploy, when: manual, script: [echo deploying]}
";
    f.options.only_jobs = Some(vec!["build".to_owned()]);
    let first = f.run(yaml).await;
    f.options.only_jobs = None;
    let pipeline = f.plan(yaml);
    let run_dir = super::super::scheduler::run_dir(&f.options.state_dir, first.pipeline_id);
    for name in ["test", "deploy"] {
        let job = pipeline.jobs.iter().find(|j| j.name == name).expect("planned");
        let log = super::super::scheduler::log_path(&run_dir, name, 1);
        let new = super::super::scheduler::new_job(first.pipeline_id, job, 1, None, &log);
        f.store.create_job(&new).expect("job");
    }
    let at = crate::store::Timestamp::now();
    f.store.set_pipeline_status(first.pipeline_id, PipelineStatus::Running, at).expect("status");

    let resume = async |f: &Fixture| {
        let ctx = Fixture::context();
        let reader = f.reader(yaml);
        let run = PipelineRun {
            pipeline: &pipeline,
            context: &ctx,
            source: &f.source,
            reader: &reader,
            executor: std::sync::Arc::new(ShellExecutor::from_process_env()),
            store: &f.store,
            observer: &f.observer,
        };
        let cancel = CancellationToken::new();
        let resumed = super::super::rerun_jobs(&run, &f.options, first.pipeline_id, &[], &cancel);
        tokio::time::timeout(Duration::from_secs(60), resumed).await.expect("within a minute").expect("resume")
    };
    let summary = resume(&f).await;
    assert_eq!(summary.status, PipelineStatus::Success);
    let rows: Vec<(String, u32, JobStatus)> = f.rows(&summary).into_iter().map(|r| (r.name, r.attempt, r.status)).collect();
    let expected = [("build", 1, JobStatus::Success), ("test", 1, JobStatus::Success), ("deploy", 1, JobStatus::Manual)];
    assert_eq!(rows, expected.map(|(n, a, s)| (n.to_owned(), a, s)));
    assert!(f.observer.lines("test").iter().any(|l| l == "built-here"), "`test` got `build`'s artifact");
    let started = |name: &str| f.observer.events().iter().filter(|e| **e == Event::Started(name.to_owned())).count();
    assert_eq!((started("build"), started("test"), started("deploy")), (1, 1, 0));

    f.store.set_pipeline_status(first.pipeline_id, PipelineStatus::Running, at).expect("status");
    let settled = resume(&f).await;
    assert_eq!(settled.status, PipelineStatus::Success);
    assert_eq!(f.store.get_pipeline(first.pipeline_id).expect("pipeline").status, PipelineStatus::Success);
    assert_eq!((started("build"), started("test"), started("deploy")), (1, 1, 0), "nothing ran again");
}
