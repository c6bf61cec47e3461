//! Which job runs when: stages, needs, when, allow_failure, manual, resource groups.

use super::*;
use crate::store::PipelineStatus;

#[tokio::test]
async fn stages_run_in_order_and_every_step_is_recorded() {
    let f = Fixture::new();
    let summary = f
        .run(
            "stages: [build, test]
build: {stage: build, script: [echo built]}
unit: {stage: test, script: [echo unit]}
lint: {stage: test, script: [echo lint]}
never: {stage: test, script: [exit 1], rules: [{when: never}]}
",
        )
        .await;
    assert_eq!(summary.status, PipelineStatus::Success);
    let names: Vec<&str> = summary.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        ["build", "unit", "lint"],
        "when: never jobs are not created"
    );
    let build_done = f
        .observer
        .position(&Event::Finished("build".into(), JobStatus::Success));
    assert!(build_done < f.observer.position(&Event::Started("unit".into())));
    assert!(build_done < f.observer.position(&Event::Started("lint".into())));
    assert!(f.observer.lines("unit").contains(&"unit".to_owned()));
    let unit = job(&summary, "unit");
    let path = unit.log_path.clone().expect("log path");
    assert!(
        std::fs::read_to_string(&path)
            .expect("log")
            .contains("$ echo unit")
    );
    let id = unit.job_id.expect("row");
    assert_eq!(
        f.statuses(id),
        [
            JobStatus::Created,
            JobStatus::Pending,
            JobStatus::Running,
            JobStatus::Success
        ]
    );
    assert_eq!(f.store.get_job(id).expect("job").log_path, Some(path));
    assert!(
        f.store.get_job(id).expect("job").process.is_some(),
        "process recorded"
    );
    assert_eq!(f.rows(&summary).len(), 3);
}

#[tokio::test]
async fn needs_start_a_job_before_the_previous_stage_ends() {
    let f = Fixture::new();
    let mark = f.shared_path("mark");
    // `slow` (stage 2) can only finish once `early` (stage 3, needs a) has run: with stage
    // ordering this would never end.
    let yaml = format!(
        "stages: [one, two, three]
a: {{stage: one, script: [echo a]}}
slow: {{stage: two, script: ['for i in $(seq 200); do [ -f {mark} ] && exit 0; sleep 0.05; done; exit 1']}}
early: {{stage: three, needs: [a], script: ['touch {mark}']}}
late: {{stage: three, script: [echo late]}}
"
    );
    let summary = f.run(&yaml).await;
    assert_eq!(summary.status, PipelineStatus::Success, "{summary:#?}");
    assert!(
        f.observer.position(&Event::Started("early".into()))
            < f.observer
                .position(&Event::Finished("slow".into(), JobStatus::Success))
    );
    assert!(
        f.observer
            .position(&Event::Finished("slow".into(), JobStatus::Success))
            < f.observer.position(&Event::Started("late".into()))
    );
}

#[tokio::test]
async fn on_failure_and_always_follow_the_earlier_stages() {
    let f = Fixture::new();
    let summary = f
        .run(
            "stages: [build, test, cleanup]
build: {stage: build, script: [exit 1]}
test: {stage: test, script: [echo never]}
rollback: {stage: cleanup, when: on_failure, script: [echo rollback]}
report: {stage: cleanup, when: always, script: [echo report]}
happy: {stage: cleanup, when: on_success, script: [echo happy]}
",
        )
        .await;
    assert_eq!(summary.status, PipelineStatus::Failed);
    let statuses: Vec<(&str, JobStatus)> = summary
        .jobs
        .iter()
        .map(|j| (j.name.as_str(), j.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("build", JobStatus::Failed),
            ("test", JobStatus::Skipped),
            ("rollback", JobStatus::Success),
            ("report", JobStatus::Success),
            ("happy", JobStatus::Skipped),
        ]
    );
    let build = job(&summary, "build");
    assert_eq!(
        (build.exit_code, build.failure_reason),
        (Some(1), Some(crate::store::FailureReason::ScriptFailure))
    );
    assert_eq!(
        f.statuses(job(&summary, "test").job_id.expect("row")),
        [JobStatus::Created, JobStatus::Skipped]
    );
}

#[tokio::test]
async fn allowed_failures_keep_the_pipeline_green() {
    let f = Fixture::new();
    let summary = f
        .run(
            "a: {script: [exit 1], allow_failure: true}
b: {script: [exit 3], allow_failure: {exit_codes: [3]}}
after: {stage: deploy, script: [echo ok]}
",
        )
        .await;
    assert_eq!(summary.status, PipelineStatus::Success);
    for name in ["a", "b"] {
        let j = job(&summary, name);
        assert_eq!(
            (j.status, j.allowed_failure),
            (JobStatus::Failed, true),
            "{name}"
        );
    }
    assert_eq!(job(&summary, "after").status, JobStatus::Success);
    let summary = f
        .run("c: {script: [exit 4], allow_failure: {exit_codes: [3]}}\n")
        .await;
    assert_eq!(summary.status, PipelineStatus::Failed);
    assert!(!job(&summary, "c").allowed_failure);
}

#[tokio::test]
async fn manual_jobs_wait_unless_played_and_blocking_ones_hold_later_stages() {
    let f = Fixture::new();
    let yaml = "stages: [build, deploy, verify]
build: {stage: build, script: [echo build]}
optional: {stage: deploy, when: manual, script: [echo optional]}
verify: {stage: verify, script: [echo verify]}
";
    let summary = f.run(yaml).await;
    assert_eq!(job(&summary, "optional").status, JobStatus::Manual);
    assert_eq!(
        job(&summary, "verify").status,
        JobStatus::Success,
        "non-blocking manual job"
    );
    assert_eq!(summary.status, PipelineStatus::Success);
    assert!(!f.observer.saw(&Event::Started("optional".into())));

    let blocking = "stages: [build, deploy, verify]
build: {stage: build, script: [echo build]}
deploy: {stage: deploy, when: manual, allow_failure: false, script: [echo deploy]}
verify: {stage: verify, script: [echo verify]}
";
    let summary = f.run(blocking).await;
    assert_eq!(job(&summary, "deploy").status, JobStatus::Manual);
    assert_eq!(
        job(&summary, "verify").status,
        JobStatus::Created,
        "held back by a blocking manual job"
    );
    assert_eq!(summary.status, PipelineStatus::Manual);

    let mut played = Fixture::new();
    played.options.manual = vec!["deploy".into()];
    let summary = played.run(blocking).await;
    assert_eq!(job(&summary, "deploy").status, JobStatus::Success);
    assert_eq!(job(&summary, "verify").status, JobStatus::Success);
    let deploy = job(&summary, "deploy").job_id.expect("row");
    assert_eq!(
        played.statuses(deploy),
        [
            JobStatus::Created,
            JobStatus::Manual,
            JobStatus::Pending,
            JobStatus::Running,
            JobStatus::Success
        ]
    );
    assert!(
        played
            .observer
            .lines("deploy")
            .contains(&"deploy".to_owned())
    );
}

#[tokio::test]
async fn resource_groups_serialise_their_jobs() {
    let f = Fixture::new();
    let lock = f.shared_path("lock");
    let script = format!("'mkdir {lock} || exit 9; sleep 0.3; rmdir {lock}'");
    let yaml = format!(
        "one: {{resource_group: prod, script: [{script}]}}
two: {{resource_group: prod, script: [{script}]}}
three: {{resource_group: prod, script: [{script}]}}
"
    );
    let summary = f.run(&yaml).await;
    assert_eq!(summary.status, PipelineStatus::Success, "{summary:#?}");
    let waited = summary
        .jobs
        .iter()
        .filter(|j| {
            f.statuses(j.job_id.expect("row"))
                .contains(&JobStatus::WaitingForResource)
        })
        .count();
    assert_eq!(waited, 2);
}

#[tokio::test]
async fn parallel_instances_get_their_node_index() {
    let f = Fixture::new();
    let summary = f
        .run("test: {parallel: 3, script: ['echo node=$CI_NODE_INDEX/$CI_NODE_TOTAL']}\n")
        .await;
    assert_eq!(summary.jobs.len(), 3);
    for index in 1..=3 {
        let name = format!("test {index}/3");
        assert!(
            f.observer.lines(&name).contains(&format!("node={index}/3")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn selected_jobs_run_with_their_needs() {
    let mut f = Fixture::new();
    let yaml = "stages: [build, test, deploy]
build: {stage: build, script: [echo build]}
other: {stage: build, script: [echo other]}
unit: {stage: test, needs: [build], script: [echo unit]}
deploy: {stage: deploy, script: [echo deploy]}
";
    f.options.only_jobs = Some(vec!["unit".into()]);
    f.options.with_needs = true;
    let summary = f.run(yaml).await;
    let names: Vec<&str> = summary.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["build", "unit"]);
    f.options.with_needs = false;
    f.options.only_jobs = Some(vec!["unti".into()]);
    let err = f
        .try_run(yaml, &CancellationToken::new())
        .await
        .expect_err("unknown job");
    assert_eq!(
        err.to_string(),
        "job `unti` is not in the pipeline (did you mean `unit`?)"
    );
    f.options.only_jobs = None;
    f.options.stage = Some("deploy".into());
    let summary = f.run(yaml).await;
    assert_eq!(summary.jobs.len(), 1);
}

#[tokio::test]
async fn delayed_jobs_are_scheduled_then_run() {
    let f = Fixture::new();
    let summary = f
        .run("later: {when: delayed, start_in: 1 second, script: [echo later]}\n")
        .await;
    let later = job(&summary, "later");
    assert_eq!(later.status, JobStatus::Success);
    let statuses = f.statuses(later.job_id.expect("row"));
    assert_eq!(
        &statuses[..3],
        [JobStatus::Created, JobStatus::Scheduled, JobStatus::Pending]
    );
}
