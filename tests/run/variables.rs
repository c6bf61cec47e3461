//! Predefined and YAML variables as jobs see them under `sluice run`: `CI_NODE_INDEX` and
//! `CI_NODE_TOTAL` for `parallel` and `parallel:matrix` instances, `expand: false` on global
//! and job variables, and `CI_ENVIRONMENT_SLUG` with GitLab's suffix.

use super::support::{Repo, dump, sluice};
use super::stdout;

/// Runs the pipeline and returns what its jobs printed (prefixed with their names).
fn run(ci: &str) -> String {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let output = sluice(&repo.path, &["run", "--concurrency", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    stdout(&output)
}

#[test]
fn parallel_and_matrix_instances_get_their_node_index_and_other_jobs_a_total_of_1() {
    let out = run(r#"
shards:
  parallel: 2
  script: echo "node=${CI_NODE_INDEX-unset}/$CI_NODE_TOTAL"
matrix:
  parallel:
    matrix:
      - OS: [linux, mac]
        ARCH: [arm]
      - OS: [bsd]
  script: echo "node=${CI_NODE_INDEX-unset}/$CI_NODE_TOTAL os=$OS"
single:
  script: echo "node=${CI_NODE_INDEX-unset}/$CI_NODE_TOTAL"
"#);
    for line in [
        "shards 1/2           | node=1/2",
        "shards 2/2           | node=2/2",
        "matrix: [linux, arm] | node=1/3 os=linux",
        "matrix: [mac, arm]   | node=2/3 os=mac",
        "matrix: [bsd]        | node=3/3 os=bsd",
        "single               | node=unset/1",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn expand_false_keeps_dollar_references_literal_in_global_and_job_variables() {
    let out = run(r#"
variables:
  NAME: world
  GLOBAL_RAW: {value: "hello $NAME", expand: false}
  GLOBAL_EXPANDED: "hello $NAME"
show:
  variables:
    JOB_RAW: {value: "bye $NAME", expand: false}
    JOB_EXPANDED: "bye $NAME"
    USES_RAW: "[$GLOBAL_RAW]"
  script:
    - echo "global=$GLOBAL_RAW|$GLOBAL_EXPANDED"
    - echo "job=$JOB_RAW|$JOB_EXPANDED"
    - echo "uses=$USES_RAW"
"#);
    assert!(out.contains("show | global=hello $NAME|hello world"), "{out}");
    assert!(out.contains("show | job=bye $NAME|bye world"), "{out}");
    // A variable that refers to an unexpanded one gets its raw value.
    assert!(out.contains("show | uses=[hello $NAME]"), "{out}");
}

#[test]
fn environment_slugs_carry_gitlabs_suffix_when_the_name_had_to_change() {
    let out = run(r#"
plain:
  environment: production
  script: echo "slug=$CI_ENVIRONMENT_SLUG"
review:
  environment: review/$CI_JOB_NAME
  script: echo "slug=$CI_ENVIRONMENT_SLUG"
"#);
    // Values from GitLab's `Gitlab::Slug::Environment`: the name itself when it is already a
    // slug; otherwise cut, then `-` and the last 6 base-36 digits of the name's SHA-256.
    assert!(out.contains("plain  | slug=production"), "{out}");
    assert!(out.contains("review | slug=review-review-rcmeyv"), "{out}");
}
