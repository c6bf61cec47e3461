//! The VERSION gate through the real binary, on real git history with real tags:
//! `sluice version check` (exit codes, text, `--json`, `--tag-prefix`) and the `SLUICE_*`
//! variables `sluice plan` and `sluice run` give pipelines.

use crate::support::{Repo, dump, git, sluice};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A repository whose `VERSION` 1.0.0 was published (tag `v1.0.0`), then set to `next` in a
/// second commit (HEAD; HEAD~1 is the published commit).
fn bumped_to(next: &str) -> Repo {
    let repo = Repo::with_files(&[("VERSION", "1.0.0\n"), (".gitlab-ci.yml", PIPELINE)]);
    git(&repo.path, &["tag", "-a", "v1.0.0", "-m", "release 1.0.0"]);
    repo.commit_file("VERSION", next, "set VERSION");
    repo
}

fn check(repo: &Repo, args: &[&str]) -> std::process::Output {
    let mut all = vec!["version", "check"];
    all.extend_from_slice(args);
    sluice(&repo.path, &all)
}

fn check_json(repo: &Repo, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = check(repo, &all);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", dump(&output)));
    (output.status.code(), json)
}

#[test]
fn a_first_version_publishes_with_exit_0() {
    let repo = Repo::with_files(&[("VERSION", "v0.1.0\n")]);
    let output = check(&repo, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert_eq!(
        stdout(&output).trim(),
        "publish `0.1.0`: the first publication, nothing is published yet"
    );
}

#[test]
fn a_raised_version_publishes_with_exit_0() {
    let repo = bumped_to("1.1.0\n");
    let output = check(&repo, &["--before", "HEAD~1"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert_eq!(
        stdout(&output).trim(),
        "publish `1.1.0`: greater than the published `1.0.0`"
    );
}

#[test]
fn a_pre_release_exits_3() {
    let repo = bumped_to("1.1.0-dev\n");
    let output = check(&repo, &["--before", "HEAD~1"]);
    assert_eq!(output.status.code(), Some(3), "{}", dump(&output));
    assert!(
        stdout(&output).contains("`1.1.0-dev` is a pre-release"),
        "{}",
        dump(&output)
    );
}

#[test]
fn an_unchanged_version_exits_3() {
    let repo = bumped_to("1.1.0\n");
    repo.commit_file("README", "docs\n", "docs only");
    let output = check(&repo, &["--before", "HEAD~1"]);
    assert_eq!(output.status.code(), Some(3), "{}", dump(&output));
    assert!(
        stdout(&output).contains("VERSION is still `1.1.0`"),
        "{}",
        dump(&output)
    );
}

#[test]
fn a_regression_exits_4_naming_both_versions_with_a_hint() {
    let repo = bumped_to("0.9.0\n");
    let output = check(&repo, &["--before", "HEAD~1"]);
    assert_eq!(output.status.code(), Some(4), "{}", dump(&output));
    assert_eq!(
        stdout(&output).trim(),
        "refused: VERSION `0.9.0` is not greater than the published `1.0.0`"
    );
    assert!(
        stderr(&output).contains("hint: raise VERSION above `1.0.0`, for example to `1.0.1`"),
        "{}",
        dump(&output)
    );
}

#[test]
fn without_before_a_version_equal_to_the_newest_tag_is_the_release_itself() {
    // Nothing to compare with (a tag pipeline, a local check): VERSION 1.0.0 with tag v1.0.0
    // is that release, so there is nothing to publish and nothing to refuse.
    let repo = Repo::with_files(&[("VERSION", "1.0.0\n")]);
    git(&repo.path, &["tag", "v1.0.0"]);
    let output = check(&repo, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", dump(&output));
    // A lower version is still a regression.
    std::fs::write(repo.path.join("VERSION"), "0.9.0\n").unwrap();
    let output = check(&repo, &[]);
    assert_eq!(output.status.code(), Some(4), "{}", dump(&output));
    assert!(stdout(&output).contains("`0.9.0`") && stdout(&output).contains("`1.0.0`"), "{}", dump(&output));
}

#[test]
fn a_version_that_is_not_semver_exits_2_with_the_text_and_what_is_expected() {
    for (text, shown) in [
        ("latest\n", "`latest`"),
        ("1.2\n", "`1.2`"),
        ("1.1.0+build.7\n", "`+build.7`"),
    ] {
        let repo = bumped_to(text);
        let output = check(&repo, &["--before", "HEAD~1"]);
        assert_eq!(output.status.code(), Some(2), "{text:?}\n{}", dump(&output));
        assert!(stdout(&output).starts_with("refused: VERSION "), "{}", dump(&output));
        assert!(stdout(&output).contains(shown), "{}", dump(&output));
    }
}

#[test]
fn a_missing_version_file_or_a_bad_argument_exits_2() {
    let repo = Repo::with_files(&[("README", "no version here\n")]);
    let output = check(&repo, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(
        stderr(&output).contains("there is no `VERSION` file"),
        "{}",
        dump(&output)
    );
    assert!(stdout(&output).is_empty());

    let repo = bumped_to("1.1.0\n");
    let output = check(&repo, &["--before", "no-such-commit"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(
        stderr(&output).contains("`no-such-commit` does not name a commit"),
        "{}",
        dump(&output)
    );
    assert_eq!(check(&repo, &["--no-such-flag"]).status.code(), Some(2));
}

#[test]
fn json_carries_the_verdict_and_the_facts() {
    let repo = bumped_to("1.1.0\n");
    let (code, json) = check_json(&repo, &["--before", "HEAD~1"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        json,
        serde_json::json!({
            "verdict": "publish",
            "version": "1.1.0",
            "previous": "1.0.0",
            "published": "1.0.0",
            "changed": true,
            "message": "publish `1.1.0`: greater than the published `1.0.0`",
        })
    );

    let cases = [
        ("1.1.0-dev\n", Some(3), "skip-prerelease"),
        ("0.9.0\n", Some(4), "refused"),
        ("nope\n", Some(2), "refused"),
    ];
    for (text, exit, verdict) in cases {
        let repo = bumped_to(text);
        let (code, json) = check_json(&repo, &["--before", "HEAD~1"]);
        assert_eq!((code, json["verdict"].as_str()), (exit, Some(verdict)), "{json}");
        assert_eq!(json["published"], "1.0.0");
        assert_eq!(json["changed"], true);
    }

    let repo = bumped_to("1.1.0\n");
    repo.commit_file("README", "docs\n", "docs only");
    let (code, json) = check_json(&repo, &["--before", "HEAD~1"]);
    assert_eq!(
        (code, &json["verdict"], &json["changed"]),
        (Some(3), &serde_json::json!("unchanged"), &serde_json::json!(false))
    );
}

#[test]
fn the_tag_prefix_chooses_which_tags_are_published_versions() {
    let repo = bumped_to("1.1.0\n");
    git(&repo.path, &["tag", "release-2.0.0"]);
    git(&repo.path, &["tag", "v-not-a-version"]);
    assert_eq!(check(&repo, &["--before", "HEAD~1"]).status.code(), Some(0));
    let output = check(&repo, &["--before", "HEAD~1", "--tag-prefix", "release-"]);
    assert_eq!(output.status.code(), Some(4), "{}", dump(&output));
    assert!(stdout(&output).contains("the published `2.0.0`"), "{}", dump(&output));
}

// --- the variables in pipelines ------------------------------------------------------------

const PIPELINE: &str = r#"
stages: [build, publish]
build:
  stage: build
  script: make
publish:
  stage: publish
  script: echo "publishing $SLUICE_VERSION over $SLUICE_PUBLISHED_VERSION"
  rules:
    - if: $SLUICE_PUBLISH == "true"
versions-seen:
  stage: publish
  script: "true"
  rules:
    - if: $SLUICE_VERSION == "1.1.0" && $SLUICE_PUBLISHED_VERSION == "1.0.0"
"#;

/// The jobs of `sluice plan --json ARGS` that will run.
fn planned(repo: &Repo, args: &[&str]) -> (Vec<String>, std::process::Output) {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    let output = sluice(&repo.path, &all);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let plan: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}\n{}", dump(&output)));
    let jobs = plan["jobs"].as_array().unwrap_or_else(|| panic!("{plan}"));
    let names = jobs
        .iter()
        .filter(|j| j["when"] != "never")
        .map(|j| j["name"].as_str().unwrap_or("").to_owned());
    (names.collect(), output)
}

#[test]
fn plan_runs_the_publish_job_only_when_version_is_raised_above_the_latest_tag() {
    let repo = bumped_to("1.1.0\n");
    let (jobs, output) = planned(&repo, &["--before", "HEAD~1", "--sha", "HEAD"]);
    assert_eq!(jobs, ["build", "publish", "versions-seen"], "{}", dump(&output));
    assert!(stderr(&output).is_empty(), "{}", dump(&output));
    // The working tree (no --sha) reads the same VERSION.
    assert_eq!(
        planned(&repo, &["--before", "HEAD~1"]).0,
        ["build", "publish", "versions-seen"]
    );

    // Once 1.1.0 is tagged, a later push that leaves VERSION alone does not publish again.
    git(&repo.path, &["tag", "v1.1.0"]);
    repo.commit_file("README", "docs\n", "docs only");
    let (jobs, output) = planned(&repo, &["--before", "HEAD~1", "--sha", "HEAD"]);
    assert_eq!(jobs, ["build"], "{}", dump(&output));
    assert!(stderr(&output).is_empty(), "{}", dump(&output));
}

#[test]
fn plan_does_not_publish_a_pre_release_or_an_unchanged_version() {
    let repo = bumped_to("1.1.0-dev\n");
    assert_eq!(planned(&repo, &["--before", "HEAD~1", "--sha", "HEAD"]).0, ["build"]);
    let repo = bumped_to("1.1.0\n");
    // HEAD~1..HEAD~1: VERSION did not change between the before sha and the commit.
    assert_eq!(planned(&repo, &["--before", "HEAD~1", "--sha", "HEAD~1"]).0, ["build"]);
}

#[test]
fn plan_warns_about_a_refused_version_and_still_plans() {
    let repo = bumped_to("0.9.0\n");
    let (jobs, output) = planned(&repo, &["--before", "HEAD~1", "--sha", "HEAD"]);
    assert_eq!(jobs, ["build"], "{}", dump(&output));
    let err = stderr(&output);
    assert!(
        err.contains("warning: VERSION `0.9.0` is not greater than the published `1.0.0`; `SLUICE_PUBLISH` is `false`"),
        "{}",
        dump(&output)
    );

    let repo = bumped_to("one point one\n");
    let (jobs, output) = planned(&repo, &["--before", "HEAD~1", "--sha", "HEAD"]);
    assert_eq!(jobs, ["build"], "{}", dump(&output));
    assert!(
        stderr(&output).contains("warning: VERSION `one point one` is not a semantic version"),
        "{}",
        dump(&output)
    );
}

#[test]
fn plan_without_a_before_sha_compares_with_the_published_tags_only() {
    let repo = bumped_to("1.1.0\n");
    assert_eq!(planned(&repo, &[]).0, ["build", "publish", "versions-seen"]);
    git(&repo.path, &["tag", "v1.1.0"]);
    let (jobs, output) = planned(&repo, &[]);
    assert_eq!(jobs, ["build"], "{}", dump(&output));
    assert!(stderr(&output).is_empty(), "the release itself is no regression:\n{}", dump(&output));
}

#[test]
fn a_repository_without_version_gets_no_variables_and_no_warning() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", PIPELINE)]);
    let (jobs, output) = planned(&repo, &[]);
    assert_eq!(jobs, ["build"], "{}", dump(&output));
    assert!(stderr(&output).is_empty(), "{}", dump(&output));
}

#[test]
fn caller_variables_override_the_gate() {
    let repo = bumped_to("0.9.0\n");
    let args = ["--before", "HEAD~1", "--var", "SLUICE_PUBLISH=true"];
    assert_eq!(planned(&repo, &args).0, ["build", "publish"]);
}

#[test]
fn run_gives_the_variables_to_jobs() {
    let repo = bumped_to("1.1.0\n");
    let output = sluice(&repo.path, &["run", "publish", "--before", "HEAD~1"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(all.contains("publishing 1.1.0 over 1.0.0"), "{}", dump(&output));
}

#[test]
fn a_variables_file_of_sluice_run_overrides_the_gate() {
    let repo = bumped_to("0.9.0\n");
    let file = repo.path.parent().unwrap_or(&repo.path).join("vars.yml");
    std::fs::write(&file, "SLUICE_PUBLISH: \"true\"\n").unwrap();
    let file = file.to_string_lossy().into_owned();
    let output = sluice(
        &repo.path,
        &["run", "publish", "--before", "HEAD~1", "--variables-file", &file],
    );
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(all.contains("publishing 0.9.0 over 1.0.0"), "{}", dump(&output));
}
