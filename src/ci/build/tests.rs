//! End-to-end tests of planning: YAML text in, pipeline or diagnostics out.

use std::cell::Cell;

use super::plan::{NO_JOBS_REASON, WORKFLOW_REASON, build};
use crate::ci::context::PipelineContext;
use crate::ci::pipeline::{Pipeline, When};
use crate::ci::source::{FileReader, FileSource, MemoryReader, ReadError};
use crate::diagnostic::Diagnostics;
use crate::ci::yaml;

fn context() -> PipelineContext {
    PipelineContext::push("group/app", "main", "0123456789abcdef0123456789abcdef01234567")
}

fn plan_with(text: &str, ctx: &PipelineContext) -> Result<Pipeline, Diagnostics> {
    let loaded = yaml::load(".gitlab-ci.yml", text).expect("valid YAML");
    build(loaded.config, ctx, &MemoryReader::new(), &|_| None)
}

fn plan(text: &str) -> Pipeline {
    match plan_with(text, &context()) {
        Ok(pipeline) => pipeline,
        Err(diags) => panic!("unexpected errors:\n{diags}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match plan_with(text, &context()) {
        Ok(p) => panic!("expected errors, got a pipeline with {} jobs", p.jobs.len()),
        Err(diags) => diags.errors().map(|d| format!("{}: {}", d.key_path, d.message)).collect(),
    }
}

fn names(pipeline: &Pipeline) -> Vec<(&str, &str, When)> {
    pipeline.jobs.iter().map(|j| (j.name.as_str(), j.stage.as_str(), j.when)).collect()
}

#[test]
fn default_stages_with_edges_and_default_stage_test() {
    let p = plan("build:\n  stage: build\n  script: make\nunit:\n  script: make test\n");
    assert!(p.created);
    assert_eq!(p.stages, [".pre", "build", "test", "deploy", ".post"]);
    assert_eq!(names(&p), [("build", "build", When::OnSuccess), ("unit", "test", When::OnSuccess)]);
}

#[test]
fn pre_and_post_are_always_first_and_last() {
    let p = plan("stages: [.post, lint, .pre, ship]\nlint:\n  stage: lint\n  script: x\n");
    assert_eq!(p.stages, [".pre", "lint", "ship", ".post"]);
}

#[test]
fn missing_stage_is_an_error_with_a_suggestion() {
    let text = "stages: [build, tests]\nunit:\n  stage: test\n  script: x\n";
    let err = plan_with(text, &context()).unwrap_err();
    let d = err.errors().next().expect("an error");
    assert_eq!(d.key_path, "unit.stage");
    assert_eq!(d.message, "stage `test` does not exist; the stages are `.pre`, `build`, `tests`, `.post`");
    assert_eq!(d.hint.as_deref(), Some("did you mean `tests`?"));
    assert_eq!(d.location.as_ref().map(|l| l.line), Some(3));
}

#[test]
fn workflow_rules_can_stop_the_pipeline() {
    let text = "workflow:\n  rules:\n    - if: $CI_COMMIT_BRANCH == \"release\"\njob:\n  script: x\n";
    let p = plan(text);
    assert!(!p.created);
    assert_eq!(p.reason.as_deref(), Some(WORKFLOW_REASON));
    assert!(p.jobs.is_empty() && p.stages.is_empty());
    let never = "workflow:\n  rules:\n    - when: never\njob:\n  script: x\n";
    assert!(!plan(never).created);
}

#[test]
fn workflow_rule_variables_and_name() {
    let text = "variables:\n  DEPLOY: \"no\"\nworkflow:\n  name: \"Pipeline for $CI_COMMIT_BRANCH ($DEPLOY)\"\n  rules:\n    - if: $CI_COMMIT_BRANCH == \"main\"\n      variables:\n        DEPLOY: \"yes\"\njob:\n  script: x\n  rules:\n    - if: $DEPLOY == \"yes\"\n";
    let p = plan(text);
    assert!(p.created);
    assert_eq!(p.name.as_deref(), Some("Pipeline for main (yes)"));
    let variables: Vec<(&str, &str, bool)> = p.variables.iter().map(|(n, v)| (n.as_str(), v.value.as_str(), v.expand)).collect();
    assert_eq!(variables, [("DEPLOY", "yes", true)]);
    assert_eq!(p.jobs[0].when, When::OnSuccess);
}

#[test]
fn jobs_removed_by_rules_are_listed_as_never() {
    let text = "a:\n  script: x\n  rules:\n    - if: $CI_COMMIT_TAG\nb:\n  script: x\n  rules:\n    - if: $CI_COMMIT_BRANCH == \"main\"\n      when: manual\n      allow_failure: true\n";
    let p = plan(text);
    assert_eq!(names(&p), [("a", "test", When::Never), ("b", "test", When::Manual)]);
    assert!(p.jobs[1].allow_failure);
}

#[test]
fn no_job_left_after_rules_is_not_created() {
    let text = "a:\n  script: x\n  rules:\n    - if: $CI_COMMIT_TAG\npre:\n  stage: .pre\n  script: x\n";
    let p = plan(text);
    assert!(!p.created);
    assert_eq!(p.reason.as_deref(), Some(NO_JOBS_REASON));
    assert_eq!(p.stages.len(), 5);
    assert_eq!(names(&p), [("a", "test", When::Never), ("pre", ".pre", When::OnSuccess)]);
}

#[test]
fn a_configuration_without_visible_jobs_is_an_error() {
    assert_eq!(errors(".hidden:\n  script: x\nvariables:\n  A: b\n"), [": the configuration must contain at least one visible job"]);
}

#[test]
fn only_except_decide_without_rules() {
    let text = "a:\n  script: x\n  only: [tags]\nb:\n  script: x\n  except: [main]\nc:\n  script: x\n";
    let p = plan(text);
    assert_eq!(names(&p), [("a", "test", When::Never), ("b", "test", When::Never), ("c", "test", When::OnSuccess)]);
}

#[test]
fn extends_and_references_are_resolved_before_jobs() {
    let text = ".base:\n  image: ruby\n  script: [setup]\n.vars:\n  variables:\n    A: \"1\"\njob:\n  extends: .base\n  variables: !reference [.vars, variables]\n  script:\n    - !reference [.base, script]\n    - run\n";
    let p = plan(text);
    let job = &p.jobs[0];
    assert_eq!(job.script, ["setup", "run"]);
    assert_eq!(job.image.as_ref().map(|i| i.name.as_str()), Some("ruby"));
    assert_eq!(job.variables.len(), 1);
}

#[test]
fn extends_errors_stop_the_build() {
    assert_eq!(errors("job:\n  extends: .nope\n  script: x\n"), ["job.extends: `.nope` does not exist"]);
}

#[test]
fn parallel_and_matrix_expand_in_place() {
    let text = "a:\n  script: x\n  parallel: 3\nb:\n  script: x\n  parallel:\n    matrix:\n      - PROVIDER: [aws, gcp]\n        STACK: [one, two, three]\nc:\n  script: x\n";
    let p = plan(text);
    let got: Vec<&str> = p.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        got,
        [
            "a 1/3", "a 2/3", "a 3/3",
            "b: [aws, one]", "b: [aws, two]", "b: [aws, three]", "b: [gcp, one]", "b: [gcp, two]", "b: [gcp, three]",
            "c",
        ]
    );
    let b = &p.jobs[4];
    assert_eq!(b.parallel.map(|x| (x.index, x.total)), Some((2, 6)));
    assert_eq!(b.matrix.as_deref(), Some(&[("PROVIDER".to_owned(), "aws".to_owned()), ("STACK".to_owned(), "two".to_owned())][..]));
    assert_eq!(b.variables.iter().map(|(n, v)| (n.as_str(), v.value.as_str())).collect::<Vec<_>>(), [("PROVIDER", "aws"), ("STACK", "two")]);
}

#[test]
fn matrix_variables_are_visible_to_rules() {
    let text = "deploy:\n  script: x\n  parallel:\n    matrix:\n      - CLOUD: [aws, gcp]\n  rules:\n    - if: $CLOUD == \"aws\"\n";
    let p = plan(text);
    assert_eq!(names(&p), [("deploy: [aws]", "test", When::OnSuccess), ("deploy: [gcp]", "test", When::Never)]);
}

#[test]
fn needs_on_parallel_jobs_expand_and_matrix_needs_select() {
    let text = "build:\n  stage: build\n  script: x\n  parallel:\n    matrix:\n      - OS: [linux, mac]\ntest:\n  script: x\n  needs: [build]\nlinux:\n  script: x\n  needs:\n    - job: build\n      parallel:\n        matrix:\n          - OS: linux\n";
    let p = plan(text);
    let needs = |name: &str| -> Vec<String> {
        let job = p.jobs.iter().find(|j| j.name == name).expect("job");
        job.needs.as_deref().unwrap_or(&[]).iter().map(|n| n.job.clone()).collect()
    };
    assert_eq!(needs("test"), ["build: [linux]", "build: [mac]"]);
    assert_eq!(needs("linux"), ["build: [linux]"]);
}

#[test]
fn optional_needs_on_removed_jobs_are_dropped_required_ones_fail() {
    let base = "lint:\n  stage: build\n  script: x\n  rules:\n    - if: $CI_COMMIT_TAG\nunit:\n  script: x\n  needs:\n";
    let p = plan(&format!("{base}    - job: lint\n      optional: true\n"));
    assert_eq!(p.jobs[1].needs, Some(vec![]));
    assert_eq!(
        errors(&format!("{base}    - lint\n")),
        ["unit.needs: `unit` needs `lint`, but `lint` is not in the pipeline: its `rules`, `only` or `except` removed it"]
    );
}

#[test]
fn needs_errors_are_collected() {
    let text = "a:\n  stage: deploy\n  script: x\nb:\n  stage: build\n  script: x\n  needs: [a, c]\n";
    assert_eq!(
        errors(text),
        ["b.needs: `a` runs in the later stage `deploy`, after this job's stage `build`", "b.needs: job `c` does not exist"]
    );
    let cycle = "a:\n  script: x\n  needs: [b]\nb:\n  script: x\n  needs: [a]\n";
    assert_eq!(errors(cycle), ["b.needs: the pipeline has circular dependencies: `a` -> `b` -> `a`"]);
}

#[test]
fn rules_see_caller_variables_over_job_and_global_ones() {
    let text = "variables:\n  MODE: global\njob:\n  script: x\n  variables:\n    MODE: job\n  rules:\n    - if: $MODE == \"caller\"\n";
    let mut ctx = context();
    assert_eq!(plan_with(text, &ctx).expect("plan").jobs[0].when, When::Never);
    ctx.variables.push(("MODE".into(), "caller".into()));
    assert_eq!(plan_with(text, &ctx).expect("plan").jobs[0].when, When::OnSuccess);
    let job_level = "variables:\n  MODE: global\njob:\n  script: x\n  variables:\n    MODE: job\n  rules:\n    - if: $MODE == \"job\"\n";
    assert_eq!(plan(job_level).jobs[0].when, When::OnSuccess);
}

#[test]
fn rules_override_job_attributes() {
    let text = "job:\n  script: x\n  variables:\n    A: job\n  needs: []\n  rules:\n    - if: $CI_COMMIT_BRANCH\n      when: delayed\n      start_in: 10 minutes\n      interruptible: true\n      variables:\n        A: rule\n        B: rule\n      needs: [other]\nother:\n  script: x\n";
    let p = plan(text);
    let job = &p.jobs[0];
    assert_eq!(job.when, When::Delayed);
    assert_eq!(job.start_in, Some(600));
    assert_eq!(job.interruptible, Some(true));
    let vars: Vec<(&str, &str)> = job.variables.iter().map(|(n, v)| (n.as_str(), v.value.as_str())).collect();
    assert_eq!(vars, [("A", "rule"), ("B", "rule")]);
    assert_eq!(job.needs.as_ref().map(|n| n[0].job.as_str()), Some("other"));
}

/// A reader that counts how often the file list is asked for.
struct CountingReader(Cell<usize>);

impl FileReader for CountingReader {
    fn read(&self, _: &FileSource, _: &str) -> Result<String, ReadError> {
        Err(ReadError::NotFound)
    }

    fn list(&self, _: &FileSource) -> Result<Vec<String>, ReadError> {
        self.0.set(self.0.get() + 1);
        Ok(vec!["Dockerfile".into(), "src/main.rs".into()])
    }
}

#[test]
fn repository_files_are_listed_at_most_once() {
    let text = "a:\n  script: x\n  rules:\n    - exists: [Dockerfile]\nb:\n  script: x\n  rules:\n    - exists: [\"**/*.rs\"]\nc:\n  script: x\n  rules:\n    - exists: [missing]\n";
    let reader = CountingReader(Cell::new(0));
    let loaded = yaml::load(".gitlab-ci.yml", text).expect("yaml");
    let p = build(loaded.config, &context(), &reader, &|_| None).expect("plan");
    assert_eq!(names(&p), [("a", "test", When::OnSuccess), ("b", "test", When::OnSuccess), ("c", "test", When::Never)]);
    assert_eq!(reader.0.get(), 1);
    let none = CountingReader(Cell::new(0));
    build(yaml::load("f", "a:\n  script: x\n").expect("yaml").config, &context(), &none, &|_| None).expect("plan");
    assert_eq!(none.0.get(), 0);
}

#[test]
fn duplicate_instance_names_are_errors() {
    let text = "a:\n  script: x\n  parallel: 2\n\"a 1/2\":\n  script: x\n";
    assert_eq!(errors(text), ["a 1/2: job name `a 1/2` is used twice"]);
}

#[test]
fn matrix_expressions_in_needs_follow_the_instance() {
    let text = "build:\n  stage: build\n  script: x\n  parallel:\n    matrix:\n      - OS: [linux, mac]\ntest:\n  script: x\n  parallel:\n    matrix:\n      - OS: [linux, mac]\n  needs:\n    - job: build\n      parallel:\n        matrix:\n          - OS: $[[ matrix.OS ]]\n";
    let p = plan(text);
    let mac = p.jobs.iter().find(|j| j.name == "test: [mac]").expect("job");
    assert_eq!(mac.needs.as_ref().map(|n| n.iter().map(|n| n.job.as_str()).collect::<Vec<_>>()), Some(vec!["build: [mac]"]));
}

#[test]
fn workflow_auto_cancel_is_planned_and_a_matching_rule_overrides_it() {
    use crate::ci::pipeline::AutoCancel;
    assert_eq!(plan("j:\n  script: x\n").auto_cancel_on_new_commit, AutoCancel::Conservative);
    let text = "workflow:\n  auto_cancel:\n    on_new_commit: interruptible\n    on_job_failure: all\nj:\n  script: x\n";
    assert_eq!(plan(text).auto_cancel_on_new_commit, AutoCancel::Interruptible);
    assert!(plan(text).auto_cancel_on_job_failure);
    assert!(!plan("j:\n  script: x\n").auto_cancel_on_job_failure);
    let text = "workflow:\n  auto_cancel:\n    on_job_failure: all\n  rules:\n    - if: $CI_COMMIT_BRANCH == \"main\"\n      auto_cancel:\n        on_new_commit: none\n    - when: always\nj:\n  script: x\n";
    let p = plan(text);
    assert_eq!((p.auto_cancel_on_new_commit, p.auto_cancel_on_job_failure), (AutoCancel::None, true), "a rule's setting leaves the other one as workflow set it");
    assert_eq!(serde_json::to_value(&p).expect("json")["auto_cancel_on_job_failure"], true);
    let text = "workflow:\n  auto_cancel:\n    on_new_commit: interruptible\n  rules:\n    - if: $CI_COMMIT_BRANCH == \"main\"\n      auto_cancel:\n        on_new_commit: none\n    - when: always\nj:\n  script: x\n";
    let p = plan(text);
    assert_eq!(p.auto_cancel_on_new_commit, AutoCancel::None);
    assert_eq!(serde_json::to_value(&p).expect("json")["auto_cancel_on_new_commit"], "none");
    assert_eq!(
        errors("workflow:\n  auto_cancel:\n    on_new_commit: sometimes\n    on_job_failure: maybe\nj:\n  script: x\n"),
        [
            "workflow.auto_cancel.on_job_failure: must be `all` or `none`",
            "workflow.auto_cancel.on_new_commit: must be `conservative`, `interruptible` or `none`"
        ]
    );
}
