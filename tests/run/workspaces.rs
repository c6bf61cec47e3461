//! Workspaces kept between runs under `.sluice/workspaces/`: the next run resets them
//! instead of copying, and a job still starts from exactly the working tree, whatever an
//! earlier run (finished, killed, or running beside it) did.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{Repo, dump, sluice};
use super::{stdout, wait_with_deadline};

fn run(repo: &Repo, vars: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "--concurrency", "1"];
    for var in vars {
        args.extend(["--var", var]);
    }
    sluice(&repo.path, &args)
}

#[test]
fn a_kept_workspace_is_reset_to_the_working_tree_for_the_next_run() {
    let ci = r#"
look:
  script:
    - echo "seen=$(cat app.txt) stray=$(cat stray.txt 2>/dev/null || echo none)"
    - echo left > stray.txt
    - echo 111 > app.txt
"#;
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci), ("app.txt", "one\n")]);
    let first = run(&repo, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", dump(&first));
    assert!(stdout(&first).contains("seen=one stray=none"), "{}", dump(&first));
    assert!(repo.path.join(".sluice/workspaces/0/app.txt").is_file(), "the workspace was not kept");

    // An uncommitted edit of the same size, right after the run.
    std::fs::write(repo.path.join("app.txt"), "two\n").unwrap();
    let second = run(&repo, &[]);
    assert_eq!(second.status.code(), Some(0), "{}", dump(&second));
    let out = stdout(&second);
    assert!(out.contains("seen=two stray=none"), "{}", dump(&second));
    assert!(out.contains("look | Reused a finished job's workspace"), "the kept workspace was not used\n{}", dump(&second));
    assert_eq!(std::fs::read_to_string(repo.path.join("app.txt")).unwrap(), "two\n", "the job wrote to the repository");
}

#[test]
fn a_workspace_a_killed_run_left_dirty_is_not_handed_to_the_next_run() {
    let ci = r#"
work:
  script:
    - test ! -e dirty || { echo "found a dirty workspace"; exit 1; }
    - touch dirty
    - 'if [ -n "$HANG" ]; then echo $$ > "$HANG"; sleep 300; fi'
"#;
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let warm = run(&repo, &[]);
    assert_eq!(warm.status.code(), Some(0), "{}", dump(&warm));

    // A run whose job takes the kept workspace, dirties it, and is killed with the runner.
    let pid_file = repo.path.with_file_name("job.pid");
    let mut killed = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(&repo.path)
        .args(["run", "--concurrency", "1", "--var"])
        .arg(format!("HANG={}", pid_file.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let job_pid = loop {
        assert!(Instant::now() < deadline, "the job never started");
        match std::fs::read_to_string(&pid_file) {
            Ok(pid) if pid.ends_with('\n') => break pid.trim().to_owned(),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    killed.kill().unwrap();
    wait_with_deadline(&mut killed, Duration::from_secs(60));
    // The job's process group outlives a runner killed with SIGKILL; end it.
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{job_pid}")]).status();

    let next = run(&repo, &[]);
    assert_eq!(next.status.code(), Some(0), "{}", dump(&next));
}

#[test]
fn two_runs_at_once_in_one_directory_never_share_a_workspace() {
    let ci = r#"
hold:
  script:
    - touch "mine-$RUN"
    - touch "$SHARED/$RUN-started"
    - for i in $(seq 600); do test -e "$SHARED/$OTHER-started" && break; sleep 0.1; done
    - test -e "$SHARED/$OTHER-started"
    - echo "mine=$(ls mine-*)"
    - test "$(ls mine-* | wc -l)" = 1
"#;
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let shared = tempfile::tempdir().unwrap();
    let shared_var = format!("SHARED={}", shared.path().display());
    let warm = run(&repo, &["RUN=warm", "OTHER=warm", &shared_var]);
    assert_eq!(warm.status.code(), Some(0), "{}", dump(&warm));

    let spawn = |me: &str, other: &str| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .current_dir(&repo.path)
            .args(["run", "--concurrency", "1", "--var", &format!("RUN={me}"), "--var", &format!("OTHER={other}")])
            .args(["--var", &shared_var])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut a = spawn("a", "b");
    let mut b = spawn("b", "a");
    let a = wait_with_deadline(&mut a, Duration::from_secs(120));
    let b = wait_with_deadline(&mut b, Duration::from_secs(120));
    assert_eq!(a.status.code(), Some(0), "{}", dump(&a));
    assert_eq!(b.status.code(), Some(0), "{}", dump(&b));
    assert!(stdout(&a).contains("mine=mine-a"), "{}", dump(&a));
    assert!(stdout(&b).contains("mine=mine-b"), "{}", dump(&b));
}
