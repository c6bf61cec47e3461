//! `run`: `sluice run` and `sluice logs` through the real binary, on real git repositories,
//! with real shell processes: exit codes, live output, the summary, `--json`, masking,
//! the state directory, logs, cancellation with Ctrl-C, workspaces kept between runs (in
//! [`workspaces`]); jobs in containers with a real `podman` (in [`containers`]); and
//! `sluice config check` (in [`config`]).

#[path = "../plan/support.rs"]
#[allow(dead_code)]
mod support;

mod config;
mod containers;
mod git;
#[allow(dead_code)]
mod podman;
mod variables;
mod workspaces;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Repo, dump, sluice};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run_json(repo: &Repo, args: &[&str]) -> (Option<i32>, serde_json::Value, std::process::Output) {
    let mut all = vec!["run", "--json"];
    all.extend_from_slice(args);
    let output = sluice(&repo.path, &all);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e})\n{}", dump(&output)));
    (output.status.code(), json, output)
}

fn job<'a>(result: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    result["jobs"].as_array().unwrap().iter().find(|j| j["name"] == name).unwrap_or_else(|| panic!("no job {name} in {result}"))
}

const PIPELINE: &str = r#"
stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out && echo built > out/app.txt
  artifacts:
    paths: [out/]
test:
  stage: test
  script:
    - test "$(cat out/app.txt)" = built
    - echo "tested $CI_JOB_NAME in $CI_JOB_STAGE"
flaky:
  stage: test
  script: exit 3
  allow_failure: true
"#;

#[test]
fn a_passing_pipeline_exits_0_with_live_output_and_a_summary() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", PIPELINE)]);
    let output = sluice(&repo.path, &["run", "--concurrency", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let out = stdout(&output);
    assert!(out.contains("test  | tested test in test"), "{out}");
    assert!(out.contains("build | $ mkdir -p out"), "{out}");
    assert!(out.contains("JOB    STAGE  STATUS   DURATION  ALLOWED FAILURE"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("flaky") && l.contains("failed") && l.ends_with("yes")), "{out}");
    assert!(out.contains("Pipeline #1 success"), "{out}");
}

#[test]
fn json_reports_every_job_and_the_pipeline_status() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", PIPELINE)]);
    let (code, result, output) = run_json(&repo, &[]);
    assert_eq!(code, Some(0), "{}", dump(&output));
    assert_eq!(result["status"], "success");
    assert_eq!(job(&result, "build")["status"], "success");
    assert_eq!(job(&result, "build")["exit_code"], 0);
    assert_eq!(job(&result, "flaky")["status"], "failed");
    assert_eq!(job(&result, "flaky")["exit_code"], 3);
    assert_eq!(job(&result, "flaky")["allow_failure"], true);
    assert!(job(&result, "test")["duration_ms"].is_u64());
    // Live output went to stderr, so stdout is only the JSON.
    assert!(stderr(&output).contains("build | $ mkdir -p out"), "{}", dump(&output));
}

#[test]
fn a_failing_job_fails_the_pipeline_with_exit_1_and_skips_later_stages() {
    let ci = "a:\n  stage: build\n  script: exit 4\nb:\n  stage: test\n  script: echo never\nc:\n  stage: test\n  when: on_failure\n  script: echo cleanup\n";
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let (code, result, output) = run_json(&repo, &[]);
    assert_eq!(code, Some(1), "{}", dump(&output));
    assert_eq!(result["status"], "failed");
    assert_eq!(job(&result, "a")["status"], "failed");
    assert_eq!(job(&result, "a")["exit_code"], 4);
    assert_eq!(job(&result, "b")["status"], "skipped");
    assert_eq!(job(&result, "c")["status"], "success");
}

#[test]
fn an_invalid_configuration_exits_2_and_runs_nothing() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "a:\n  script: touch ran\n  needs: [missing]\n")]);
    let output = sluice(&repo.path, &["run"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(stderr(&output).contains(".gitlab-ci.yml:3:"), "{}", dump(&output));
    assert!(stderr(&output).contains("nothing ran"), "{}", dump(&output));
    assert!(!repo.path.join(".sluice").exists(), "no state may be created for an invalid configuration");
}

#[test]
fn uncommitted_changes_to_tracked_files_are_what_runs() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "show:\n  script: cat message.txt\n"), ("message.txt", "committed\n")]);
    std::fs::write(repo.path.join("message.txt"), "edited\n").unwrap();
    std::fs::write(repo.path.join("untracked.txt"), "x\n").unwrap();
    let output = sluice(&repo.path, &["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert!(stdout(&output).contains("show | edited"), "{}", dump(&output));
}

#[test]
fn masked_variables_never_reach_the_terminal_or_the_log() {
    let secret = "c2VjcmV0LXRva2Vu";
    let ci = "leak:\n  script:\n    - echo \"token=$TOKEN\"\n    - printf '%s' \"${TOKEN:0:5}\"; printf '%s\\n' \"${TOKEN:5}\"\n";
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let vars = repo.path.join("vars.yml");
    std::fs::write(&vars, format!("TOKEN:\n  value: {secret}\n  masked: true\n")).unwrap();
    let output = sluice(&repo.path, &["run", "--variables-file", vars.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let out = stdout(&output);
    assert!(out.contains("leak | token=[MASKED]"), "{out}");
    assert!(!out.contains(secret) && !stderr(&output).contains(secret), "{}", dump(&output));
    let logs = sluice(&repo.path, &["logs", "leak"]);
    assert_eq!(logs.status.code(), Some(0), "{}", dump(&logs));
    let log = stdout(&logs);
    assert!(log.contains("token=[MASKED]"), "{log}");
    assert!(!log.contains(secret), "{log}");
    let database = std::fs::read(repo.path.join(".sluice/sluice.db")).unwrap();
    assert!(!String::from_utf8_lossy(&database).contains(secret), "the secret reached the store");
}

#[test]
fn a_masked_value_that_breaks_gitlabs_rules_is_refused_by_name() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "a:\n  script: touch ran\n")]);
    let vars = repo.path.join("vars.yml");
    std::fs::write(&vars, "SHORT:\n  value: abc\n  masked: true\n").unwrap();
    let output = sluice(&repo.path, &["run", "--variables-file", vars.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(stderr(&output).contains("SHORT"), "{}", dump(&output));
    assert!(!stderr(&output).contains("abc"), "the refused value was printed:\n{}", dump(&output));
}

#[test]
fn a_bad_variables_file_is_located() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "a:\n  script: exit 0\n")]);
    let vars = repo.path.join("vars.yml");
    std::fs::write(&vars, "A:\n  value: x\n  masekd: true\n").unwrap();
    let output = sluice(&repo.path, &["run", "--variables-file", vars.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(stderr(&output).contains("vars.yml:3:3: A.masekd: unknown key `masekd`"), "{}", dump(&output));
}

#[test]
fn jobs_with_an_image_stop_the_run_before_it_starts_when_no_engine_works() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "a:\n  image: ruby:3.3\n  script: echo in-shell\n")]);
    // A PATH without `podman` and `docker`: no engine can work.
    let empty = tempfile::tempdir().unwrap();
    let without_engines = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sluice")).current_dir(&repo.path).args(args).env("PATH", empty.path()).env("NO_COLOR", "1").output().unwrap()
    };
    let output = without_engines(&["run"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    for expected in ["1 job needs a container: `a` (image `ruby:3.3`)", "`podman info` cannot start", "`docker info` cannot start", "hint: run their scripts on this machine instead with `--executor shell`"] {
        assert!(stderr(&output).contains(expected), "missing `{expected}`:\n{}", dump(&output));
    }
    let output = without_engines(&["run", "--executor", "podman"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(stderr(&output).contains("`--executor podman` cannot be used: `podman info` cannot start"), "{}", dump(&output));
    assert!(!repo.path.join(".sluice").exists(), "a refused run must not start");
    let output = sluice(&repo.path, &["run", "--executor", "shell"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert!(stdout(&output).contains("a | in-shell"), "{}", dump(&output));
}

#[test]
fn the_state_directory_hides_itself_from_git() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "a:\n  script: exit 0\n")]);
    assert_eq!(sluice(&repo.path, &["run"]).status.code(), Some(0));
    let status = Command::new("git").arg("-C").arg(&repo.path).args(["status", "--porcelain"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "", "git sees Sluice's state");
}

#[test]
fn a_relative_state_directory_works() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "a:\n  script: echo ran\n")]);
    let output = sluice(&repo.path, &["run", "--state-dir", "../state"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert!(repo.path.parent().unwrap().join("state/sluice.db").exists());
    let logs = sluice(&repo.path, &["logs", "--state-dir", "../state", "a"]);
    assert!(stdout(&logs).contains("ran"), "{}", dump(&logs));
}

#[test]
fn logs_of_an_unknown_job_exit_1() {
    let repo = Repo::with_files(&[(".gitlab-ci.yml", "a:\n  script: exit 0\n")]);
    assert_eq!(sluice(&repo.path, &["run"]).status.code(), Some(0));
    let output = sluice(&repo.path, &["logs", "nope"]);
    assert_eq!(output.status.code(), Some(1), "{}", dump(&output));
}

#[test]
fn selected_jobs_run_with_their_needs() {
    let ci = "a:\n  stage: build\n  script: echo a\nb:\n  stage: test\n  needs: [a]\n  script: echo b\nc:\n  stage: test\n  script: echo c\n";
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let (code, result, output) = run_json(&repo, &["b", "--needs"]);
    assert_eq!(code, Some(0), "{}", dump(&output));
    let names: Vec<&str> = result["jobs"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"]);
    let output = sluice(&repo.path, &["run", "nope"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(stderr(&output).contains("`nope` is not in the pipeline"), "{}", dump(&output));
}

#[test]
fn ctrl_c_cancels_running_jobs_runs_after_script_and_leaves_no_process() {
    let ci = "slow:\n  script:\n    - sleep 300 &\n    - echo \"child=$!\"\n    - sleep 300\n  after_script:\n    - 'echo \"after: $CI_JOB_STATUS\"'\n";
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(&repo.path)
        .args(["run", "--json"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the job's script runs (its log file says so), then interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    let log_dir = repo.path.join(".sluice/runs");
    let mut child_pid = None;
    while child_pid.is_none() {
        assert!(Instant::now() < deadline, "the job never started");
        child_pid = find_in_logs(&log_dir, "child=");
        std::thread::sleep(Duration::from_millis(50));
    }
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let output = wait_with_deadline(&mut child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", dump(&output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}\n{}", dump(&output)));
    assert_eq!(result["status"], "canceled");
    assert_eq!(job(&result, "slow")["status"], "canceled");
    assert!(stderr(&output).contains("after: canceled"), "{}", dump(&output));
    let pid = child_pid.unwrap();
    let alive = Command::new("kill").args(["-0", &pid]).stderr(Stdio::null()).status().unwrap().success();
    assert!(!alive, "the job's background process {pid} survived");
}

fn find_in_logs(dir: &std::path::Path, prefix: &str) -> Option<String> {
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if let Some(line) = text.lines().find(|l| l.starts_with(prefix)) {
                    return Some(line[prefix.len()..].trim().to_owned());
                }
            }
        }
    }
    None
}

fn wait_with_deadline(child: &mut std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    std::process::Output { status: child.wait().unwrap(), stdout, stderr }
}
