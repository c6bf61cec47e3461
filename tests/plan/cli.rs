//! `sluice lint` and `sluice plan` as a user runs them: help, exit codes, output forms, and
//! the pipeline context taken from real git history.

use crate::support::{Repo, dump, sluice};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn plan_json(repo: &Repo, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    let output = sluice(&repo.path, &all);
    assert!(output.status.success(), "{}", dump(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", dump(&output)))
}

fn job_names(plan: &serde_json::Value) -> Vec<String> {
    plan["jobs"].as_array().unwrap().iter().filter(|j| j["when"] != "never").map(|j| j["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn help_lists_commands_with_descriptions_and_examples() {
    let dir = tempfile::tempdir().unwrap();
    let help = sluice(dir.path(), &["--help"]);
    assert!(help.status.success());
    let text = stdout(&help);
    assert!(text.contains("lint") && text.contains("Check a `.gitlab-ci.yml`"), "{text}");
    assert!(text.contains("plan") && text.contains("Show the pipeline"), "{text}");
    for command in ["lint", "plan"] {
        let help = sluice(dir.path(), &[command, "--help"]);
        assert!(stdout(&help).contains("Examples:"), "{command} --help has no examples:\n{}", dump(&help));
    }
}

#[test]
fn lint_accepts_a_valid_file_with_a_summary_line() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "build:\n  script: make\ntest:\n  script: make test\n")]);
    let output = sluice(&repo.path, &["lint"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert_eq!(stdout(&output).trim(), "`.gitlab-ci.yml` is valid: 2 jobs in 1 stage");
}

#[test]
fn lint_rejects_broken_yaml_with_a_location_and_exit_2() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "build:\n  script: [make\n")]);
    let output = sluice(&repo.path, &["lint"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(stderr(&output).contains(".gitlab-ci.yml:"), "{}", dump(&output));
    assert!(stdout(&output).is_empty());
}

#[test]
fn lint_reports_every_error_not_just_the_first() {
    let repo = Repo::with_files(&[(
        ".gitlab-ci.yml",
        "a:\n  script: x\n  scirpt: y\nb:\n  script: x\n  when: sometimes\n",
    )]);
    let output = sluice(&repo.path, &["lint"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    let err = stderr(&output);
    assert!(err.contains(".gitlab-ci.yml:3:3"), "{err}");
    assert!(err.contains("scirpt"), "{err}");
    assert!(err.contains(".gitlab-ci.yml:6:"), "{err}");
    assert!(err.contains("2 errors"), "{err}");
}

#[test]
fn outside_a_repository_is_an_error_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let output = sluice(dir.path(), &["plan"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(stderr(&output).contains("is not a git repository"), "{}", dump(&output));
}

#[test]
fn plan_text_shows_stages_jobs_and_needs() {
    let repo = Repo::with_files(&[(
        ".gitlab-ci.yml",
        "build:\n  stage: build\n  script: make\ntest:\n  needs: [build]\n  script: make test\n",
    )]);
    let output = sluice(&repo.path, &["plan"]);
    assert!(output.status.success(), "{}", dump(&output));
    let text = stdout(&output);
    assert!(text.contains("build\n  build"), "{text}");
    assert!(text.contains("needs [build]"), "{text}");
    assert!(text.contains("2 of 2 jobs will run"), "{text}");
}

const CHANGES_CI: &str = r#"
docs:
  script: make docs
  rules:
    - changes: ["docs/**/*"]
code:
  script: make
  rules:
    - changes: ["src/*.rs"]
"#;

#[test]
fn push_changes_come_from_the_real_diff_between_before_and_sha() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", CHANGES_CI), ("src/main.rs", "fn main() {}")]);
    repo.commit_file("docs/guide/intro.md", "# intro", "docs");
    let plan = plan_json(&repo, &["--before", "HEAD~1", "--sha", "HEAD"]);
    assert_eq!(job_names(&plan), ["docs"]);
    // With no before sha GitLab treats `changes` as true.
    let plan = plan_json(&repo, &["--sha", "HEAD"]);
    assert_eq!(job_names(&plan), ["docs", "code"]);
    // So does a schedule.
    let plan = plan_json(&repo, &["--before", "HEAD~1", "--sha", "HEAD", "--source", "schedule"]);
    assert_eq!(job_names(&plan), ["docs", "code"]);
    // `--changed` overrides the diff.
    let plan = plan_json(&repo, &["--before", "HEAD~1", "--sha", "HEAD", "--changed", "src/lib.rs"]);
    assert_eq!(job_names(&plan), ["code"]);
}

#[test]
fn merge_request_changes_come_from_the_merge_base() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", CHANGES_CI), ("src/main.rs", "fn main() {}")]);
    crate::support::git(&repo.path, &["checkout", "-q", "-b", "feature"]);
    repo.commit_file("src/lib.rs", "", "code");
    repo.commit_file("README.md", "", "readme");
    let plan = plan_json(&repo, &["--source", "merge_request_event", "--target-branch", "main"]);
    assert_eq!(job_names(&plan), ["code"]);
}

#[test]
fn include_rules_compare_to_diffs_against_the_named_ref() {
    let ci = r#"
include:
  - local: ci/docs.yml
    rules:
      - changes:
          paths: ["docs/**/*"]
          compare_to: refs/heads/main
  - local: ci/code.yml
    rules:
      - changes:
          paths: ["src/**/*"]
          compare_to: refs/heads/main
always:
  script: x
"#;
    let repo = Repo::with_files(&[
        (".gitlab-ci.yml", ci),
        ("ci/docs.yml", "docs:\n  script: make docs\n"),
        ("ci/code.yml", "code:\n  script: make\n"),
        ("src/main.rs", ""),
    ]);
    crate::support::git(&repo.path, &["checkout", "-q", "-b", "feature"]);
    repo.commit_file("docs/intro.md", "# intro", "docs");
    repo.commit_file("README.md", "", "readme");
    // A push whose own diff (the last commit) touches neither: compare_to sees the branch's docs change.
    let plan = plan_json(&repo, &["--before", "HEAD~1", "--sha", "HEAD"]);
    assert_eq!(job_names(&plan), ["docs", "always"]);
}

#[test]
fn a_tag_pipeline_sets_the_tag_and_not_the_branch() {
    let ci = "on_tag:\n  script: x\n  rules:\n    - if: $CI_COMMIT_TAG == \"v1.0.0\"\non_branch:\n  script: x\n  rules:\n    - if: $CI_COMMIT_BRANCH\n";
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    assert_eq!(job_names(&plan_json(&repo, &["--tag", "v1.0.0"])), ["on_tag"]);
    assert_eq!(job_names(&plan_json(&repo, &[])), ["on_branch"]);
}

#[test]
fn caller_variables_override_yaml_variables() {
    let ci = "variables:\n  MODE: slow\nfast:\n  script: x\n  rules:\n    - if: $MODE == \"fast\"\n";
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    assert!(job_names(&plan_json(&repo, &[])).is_empty());
    assert_eq!(job_names(&plan_json(&repo, &["--var", "MODE=fast"])), ["fast"]);
}

#[test]
fn uncommitted_changes_to_tracked_files_are_planned() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "a:\n  script: x\n")]);
    std::fs::write(repo.path.join(".gitlab-ci.yml"), "b:\n  script: x\n").unwrap();
    assert_eq!(job_names(&plan_json(&repo, &[])), ["b"]);
    // A committed revision is read from git, not from the working tree.
    assert_eq!(job_names(&plan_json(&repo, &["--sha", "HEAD"])), ["a"]);
}

#[test]
fn include_project_reads_another_repository_at_a_ref() {
    let shared = Repo::with_files(&[("templates/lint.yml", "lint:\n  script: make lint\n")]);
    let repo = Repo::with_files(&[(
        ".gitlab-ci.yml",
        "include:\n  - project: group/shared\n    ref: main\n    file: templates/lint.yml\n",
    )]);
    let arg = format!("group/shared={}", shared.path.display());
    assert_eq!(job_names(&plan_json(&repo, &["--project-repo", &arg])), ["lint"]);
    let output = sluice(&repo.path, &["plan"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(stderr(&output).contains("--project-repo group/shared=PATH"), "{}", dump(&output));
}

#[test]
fn bundled_templates_are_included_by_name() {
    let ci = "include:\n  - template: Sluice/Verify.gitlab-ci.yml\n    inputs:\n      command: cargo test\n";
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let plan = plan_json(&repo, &[]);
    assert_eq!(job_names(&plan), ["verify"]);
    assert_eq!(plan["jobs"][0]["script"], serde_json::json!(["cargo test"]));
}

#[test]
fn a_closed_stdout_ends_quietly_without_a_panic() {
    let jobs: String = (0..400).map(|i| format!("job{i}:\n  script: echo {i}\n")).collect();
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &jobs)]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(&repo.path)
        .args(["plan", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", dump(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", dump(&output));
}
