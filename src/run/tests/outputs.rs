//! What jobs exchange and keep: artifacts, dotenv, cache, variables, masked logs.

use super::*;
use crate::run::variables::RunVariable;
use crate::store::PipelineStatus;

#[tokio::test]
async fn artifacts_reach_only_declared_consumers() {
    let f = Fixture::new();
    let summary = f
        .run(
            "stages: [build, test]
build:
  stage: build
  script: ['mkdir -p out && echo built > out/a.txt && echo private > private.txt']
  artifacts: {paths: [out/]}
stage_order: {stage: test, script: ['cat out/a.txt', 'test ! -e private.txt']}
no_deps: {stage: test, dependencies: [], script: ['test ! -e out/a.txt']}
no_artifacts: {stage: test, needs: [{job: build, artifacts: false}], script: ['test ! -e out/a.txt']}
with_needs: {stage: test, needs: [build], script: ['cat out/a.txt']}
",
        )
        .await;
    assert_eq!(summary.status, PipelineStatus::Success, "{summary:#?}");
    assert!(
        f.observer
            .lines("stage_order")
            .contains(&"built".to_owned())
    );
    assert!(f.observer.lines("with_needs").contains(&"built".to_owned()));
    assert!(
        !f.source.root.join("out").exists(),
        "the working tree is untouched"
    );
}

#[tokio::test]
async fn dotenv_reports_export_variables_to_later_jobs() {
    let f = Fixture::new();
    f.run(
        "stages: [build, test]
build:
  stage: build
  script: ['echo VERSION=1.2.3 > build.env']
  artifacts: {reports: {dotenv: build.env}}
test: {stage: test, variables: {VERSION: from-yaml}, script: ['echo version=$VERSION']}
isolated: {stage: test, dependencies: [], script: ['echo version=${VERSION:-none}']}
",
    )
    .await;
    assert!(
        f.observer
            .lines("test")
            .contains(&"version=1.2.3".to_owned()),
        "dotenv wins over job variables"
    );
    assert!(
        f.observer
            .lines("isolated")
            .contains(&"version=none".to_owned())
    );
}

#[tokio::test]
async fn cache_persists_between_runs() {
    let f = Fixture::new();
    let yaml = "deps:
  cache: {key: deps-$CI_COMMIT_REF_SLUG, paths: [vendor/]}
  script: ['if [ -f vendor/x ]; then echo hit; else echo miss; mkdir -p vendor; echo 1 > vendor/x; fi']
";
    f.run(yaml).await;
    f.run(yaml).await;
    assert_eq!(
        f.observer
            .lines("deps")
            .into_iter()
            .filter(|l| l == "hit" || l == "miss")
            .collect::<Vec<_>>(),
        ["miss", "hit"]
    );
    assert!(f.options.state_dir.join("cache/deps-main").is_dir());
}

#[tokio::test]
async fn variables_follow_gitlab_precedence() {
    let mut f = Fixture::new();
    f.options.variables = vec![
        RunVariable::new("CALLER", "from-caller"),
        RunVariable::new("BOTH", "caller-wins"),
    ];
    let mut file = RunVariable::new("CONFIG", "file content");
    file.file = true;
    f.options.variables.push(file);
    f.run(
        "variables: {GLOBAL: g, BOTH: global, NESTED: '$GLOBAL-x'}
show:
  variables: {JOBVAR: '$NESTED', RAW: {value: '$GLOBAL', expand: false}}
  environment: {name: review/$CI_COMMIT_REF_NAME}
  script:
    - echo $GLOBAL $BOTH $JOBVAR $RAW $CALLER
    - echo $CI_JOB_NAME $CI_JOB_STAGE $CI_ENVIRONMENT_NAME $CI_ENVIRONMENT_SLUG
    - test \"$CI_PROJECT_DIR\" = \"$PWD\" && echo in-project-dir
    - cat $CONFIG
",
    )
    .await;
    let lines = f.observer.lines("show");
    for expected in [
        "g caller-wins g-x $GLOBAL from-caller",
        "show test review/main review-main-yi2y9f",
        "in-project-dir",
        "file content",
    ] {
        assert!(
            lines.contains(&expected.to_owned()),
            "{expected:?} not in {lines:#?}"
        );
    }
}

#[tokio::test]
async fn masked_values_never_reach_logs_or_observers() {
    let mut f = Fixture::new();
    let mut secret = RunVariable::new("SECRET", "abcdefgh12");
    secret.masked = true;
    f.options.variables = vec![secret];
    let summary = f
        .run("leak: {script: [\"printf 'abcde'; printf 'fgh12\\\\n'\", 'echo $SECRET']}\n")
        .await;
    let log = std::fs::read_to_string(job(&summary, "leak").log_path.clone().expect("log"))
        .expect("read");
    assert!(
        !log.contains("abcdefgh12") && log.contains("[MASKED]"),
        "{log}"
    );
    let lines = f.observer.lines("leak");
    assert!(
        lines.iter().all(|l| !l.contains("abcdefgh12")),
        "{lines:#?}"
    );
    assert_eq!(
        lines.iter().filter(|l| *l == "[MASKED]").count(),
        2,
        "{lines:#?}"
    );
    let stored = f.store.get_pipeline(summary.pipeline_id).expect("row");
    assert!(
        stored
            .variables
            .iter()
            .all(|v| v.value() != Some("abcdefgh12"))
    );

    let mut refused = Fixture::new();
    let mut short = RunVariable::new("API_TOKEN", "short");
    short.masked = true;
    refused.options.variables = vec![short];
    let err = refused
        .try_run("x: {script: [echo x]}\n", &CancellationToken::new())
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("API_TOKEN") && !err.to_string().contains("short"),
        "{err}"
    );
    assert!(
        refused
            .store
            .list_pipelines(None, 10)
            .expect("list")
            .is_empty(),
        "nothing recorded"
    );
}

#[tokio::test]
async fn jobs_cannot_see_each_others_files() {
    let f = Fixture::new();
    let summary = f
        .run(
            "stages: [one, two]
writer: {stage: one, script: ['echo x > leak.txt', 'mkdir -p d && echo y > d/f', 'printf HELLO > README.md', 'echo >> README.md']}
reader: {stage: two, script: ['test ! -e leak.txt', 'test ! -e d', 'test \"$(cat README.md)\" = hello']}
",
        )
        .await;
    assert_eq!(summary.status, PipelineStatus::Success, "{summary:#?}");
    // The reader got the writer's workspace back, reset (an in-place edit of the same size
    // made at once included), not a new copy: the reset is what is under test here.
    assert!(
        f.observer.lines("reader").iter().any(|l| l.starts_with("Reused a finished job's workspace, 1 files written again")),
        "{:?}",
        f.observer.lines("reader")
    );
    assert_eq!(
        std::fs::read_to_string(f.source.root.join("README.md")).expect("read"),
        "hello\n"
    );
}

#[tokio::test]
async fn last_run_log_finds_the_newest_attempt() {
    let f = Fixture::new();
    f.run("hello: {script: [echo first]}\n").await;
    f.run("hello: {script: [echo second]}\n").await;
    let row = crate::run::last_run_log(&f.store, "hello", 20)
        .expect("store")
        .expect("found");
    let text = std::fs::read_to_string(row.log_path.expect("path")).expect("read");
    assert!(text.contains("second") && !text.contains("first"), "{text}");
}
