//! The `.git` of job workspaces: `git` works in jobs as after GitLab Runner's fetch, with
//! `GIT_DEPTH` and `GIT_STRATEGY`, and the developer's repository is left alone.

use super::support::{Repo, dump, git, sluice};
use super::stdout;

fn git_output(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository with three commits, the second tagged `v1.0.0` (annotated).
fn tagged_repo(ci: &str) -> Repo {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci), ("app.txt", "one\n")]);
    repo.commit_file("app.txt", "two\n", "second");
    git(&repo.path, &["tag", "-a", "v1.0.0", "-m", "release 1.0.0"]);
    repo.commit_file("app.txt", "three\n", "third");
    repo
}

#[test]
fn jobs_see_the_commit_its_tags_its_branch_and_the_uncommitted_changes() {
    let ci = r#"
show:
  script:
    - echo "head=$(git rev-parse HEAD)"
    - echo "describe=$(git describe --tags)"
    - echo "branch=$(git rev-parse origin/main)"
    - echo "status=$(git status --porcelain app.txt)"
    - echo "count=$(git rev-list --count HEAD)"
    - git -c user.name=job -c user.email=job@example.invalid commit -q -am "made by the job"
"#;
    let repo = tagged_repo(ci);
    std::fs::write(repo.path.join("app.txt"), "edited\n").unwrap();
    let head = git_output(&repo.path, &["rev-parse", "HEAD"]);
    let output = sluice(&repo.path, &["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let out = stdout(&output);
    assert!(out.contains(&format!("show | head={head}")), "{out}");
    assert!(out.contains("show | describe=v1.0.0-1-g"), "{out}");
    assert!(out.contains(&format!("show | branch={head}")), "{out}");
    assert!(out.contains("show | status= M app.txt") || out.contains("show | status=M  app.txt"), "{out}");
    assert!(out.contains("show | count=3"), "{out}");
    // The job's commit stayed in its workspace: the developer's repository did not move.
    assert_eq!(git_output(&repo.path, &["rev-parse", "HEAD"]), head);
    assert_eq!(git_output(&repo.path, &["rev-list", "--count", "--all"]), "3");
    assert_eq!(std::fs::read_to_string(repo.path.join("app.txt")).unwrap(), "edited\n");
}

#[test]
fn git_depth_cuts_the_history_and_git_strategy_none_leaves_the_repository_out() {
    let ci = r#"
shallow:
  variables: {GIT_DEPTH: "2"}
  script:
    - echo "count=$(git rev-list --count HEAD) shallow=$(git rev-parse --is-shallow-repository)"
full:
  script:
    - echo "count=$(git rev-list --count HEAD) shallow=$(git rev-parse --is-shallow-repository)"
nothing:
  variables: {GIT_STRATEGY: none}
  script:
    - echo "files=$(ls -A | wc -l)"
"#;
    let repo = tagged_repo(ci);
    let output = sluice(&repo.path, &["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let out = stdout(&output);
    assert!(out.contains("shallow | count=2 shallow=true"), "{out}");
    assert!(out.contains("full    | count=3 shallow=false"), "{out}");
    assert!(out.contains("nothing | files=0"), "{out}");
}

#[test]
fn a_linked_worktree_lends_its_main_repositorys_objects() {
    let ci = "show:\n  script:\n    - echo \"count=$(git rev-list --count HEAD) head=$(git rev-parse HEAD)\"\n";
    let repo = tagged_repo(ci);
    let linked = repo.path.with_file_name("linked");
    git(&repo.path, &["worktree", "add", "-q", linked.to_str().unwrap(), "-b", "linked"]);
    let head = git_output(&linked, &["rev-parse", "HEAD"]);
    let output = sluice(&linked, &["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert!(stdout(&output).contains(&format!("show | count=3 head={head}")), "{}", dump(&output));
}

