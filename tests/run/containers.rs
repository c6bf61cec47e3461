//! The container executor with a real `podman`: jobs with `image:` run in containers of
//! images built here from a static busybox (`podman import`; nothing is pulled), and no
//! container is left behind.
//!
//! Every test needs a working `podman` ([`super::podman`]); where there is none, it prints
//! `SKIPPED: podman not usable here: <reason>` on stderr and returns.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::podman::{ENTRYPOINT_IMAGE, IMAGE, Podman, podman};
use super::support::{Repo, dump};
use super::{find_in_logs, job, stderr, stdout, wait_with_deadline};

impl Podman {
    /// `sluice ARGS` in `dir`, with this `podman` configuration.
    fn sluice(&self, dir: &Path, args: &[&str]) -> Output {
        self.sluice_command(dir, args).output().expect("sluice runs")
    }

    fn sluice_command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.current_dir(dir).args(args).env_remove("SLUICE_DIR").env("NO_COLOR", "1").envs(self.env());
        command
    }

    fn json(&self, repo: &Repo, args: &[&str]) -> (serde_json::Value, Output) {
        let mut all = vec!["run", "--json"];
        all.extend_from_slice(args);
        let output = self.sluice(&repo.path, &all);
        let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e})\n{}", dump(&output)));
        (json, output)
    }

    /// Asserts that neither the containers named in `output`'s log lines nor their
    /// `after_script` containers exist.
    fn assert_removed(&self, output: &str) {
        let names = container_names(output);
        assert!(!names.is_empty(), "no container was named in the output:\n{output}");
        for name in names {
            for name in [name.clone(), format!("{name}-after")] {
                assert!(!self.exists(&name), "container `{name}` was left behind");
            }
        }
    }
}

/// The containers a run's output names (`Running in a container of image `…` (`NAME`)`).
fn container_names(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.split_once("Running in a container of image ")?.1.rsplit_once("(`"))
        .map(|(_, rest)| rest.trim_end_matches(['`', ')']).to_owned())
        .collect()
}

#[test]
fn a_job_with_an_image_runs_in_its_container_on_the_mounted_workspace() {
    let Some(podman) = podman("a_job_with_an_image_runs_in_its_container") else { return };
    let ci = format!(
        r#"inside:
  image: {IMAGE}
  script:
    - cat /sluice-test-image
    - test ! -e /etc/os-release && echo "no os-release"
    - 'echo "dir=$CI_PROJECT_DIR builds=$CI_BUILDS_DIR pwd=$(pwd)"'
    - test "$CI_PROJECT_DIR" = "/builds/$CI_PROJECT_PATH"
    - cat message.txt
    - cat "$SETTINGS"
nobody:
  image:
    name: {IMAGE}
    docker:
      user: "65534"
  script:
    - 'echo "uid=$(id -u)"'
    - cat message.txt
"#
    );
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &ci), ("message.txt", "from the repository\n")]);
    let vars = repo.path.join("vars.yml");
    std::fs::write(&vars, "SETTINGS:\n  value: from a file variable\n  type: file\n").unwrap();
    let output = podman.sluice(&repo.path, &["run", "--variables-file", vars.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let out = stdout(&output);
    for line in [
        "inside | busybox",
        "inside | no os-release",
        "dir=/builds/local/project builds=/builds pwd=/builds/local/project",
        "inside | from the repository",
        "inside | from a file variable",
        "nobody | uid=65534",
        "nobody | from the repository",
    ] {
        assert!(out.contains(line), "missing `{line}`:\n{out}");
    }
    podman.assert_removed(&out);
}

#[test]
fn artifacts_made_in_a_container_reach_a_later_shell_job_of_the_same_run() {
    let Some(podman) = podman("artifacts_made_in_a_container_reach_a_later_shell_job") else { return };
    let ci = format!(
        r#"stages: [build, test]
build:
  stage: build
  image: {IMAGE}
  script:
    - mkdir -p out && cat /sluice-test-image > out/made-in.txt
  artifacts:
    paths: [out/]
test:
  stage: test
  script:
    - test -e /etc/os-release && echo "on the host"
    - 'echo "artifact: $(cat out/made-in.txt)"'
"#
    );
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &ci)]);
    let (result, output) = podman.json(&repo, &[]);
    assert_eq!(result["status"], "success", "{}", dump(&output));
    let err = stderr(&output);
    assert!(err.contains("test  | on the host"), "{err}");
    assert!(err.contains("test  | artifact: busybox"), "{err}");
    podman.assert_removed(&err);
}

#[test]
fn exit_codes_decide_the_status_and_allowed_failures() {
    let Some(podman) = podman("exit_codes_decide_the_status_and_allowed_failures") else { return };
    let ci = format!(
        "allowed:\n  image: {IMAGE}\n  script: exit 3\n  allow_failure:\n    exit_codes: [3]\nfailing:\n  image: {IMAGE}\n  script: exit 4\n  after_script:\n    - 'echo \"after: $CI_JOB_STATUS\"'\npiped:\n  image: {IMAGE}\n  script:\n    - 'false | true'\n    - echo unreachable\n"
    );
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &ci)]);
    let (result, output) = podman.json(&repo, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", dump(&output));
    // `pipefail` where the image's shell knows it (busybox's does), as GitLab sets it.
    assert_eq!(job(&result, "piped")["exit_code"], 1);
    assert!(!stderr(&output).contains("| unreachable"), "{}", dump(&output));
    assert_eq!(result["status"], "failed");
    assert_eq!(job(&result, "allowed")["exit_code"], 3);
    assert_eq!(job(&result, "allowed")["allow_failure"], true);
    assert_eq!(job(&result, "failing")["exit_code"], 4);
    assert_eq!(job(&result, "failing")["allow_failure"], false);
    assert!(stderr(&output).contains("failing | after: failed"), "{}", dump(&output));
    podman.assert_removed(&stderr(&output));
}

#[test]
fn a_timeout_stops_the_container_with_sigterm_and_after_script_still_runs() {
    let Some(podman) = podman("a_timeout_stops_the_container") else { return };
    let ci = format!(
        "slow:\n  image: {IMAGE}\n  timeout: 2s\n  script:\n    - trap 'echo got SIGTERM; exit 143' TERM\n    - sleep 300 & wait\n  after_script:\n    - 'echo \"after: $CI_JOB_STATUS\"'\n"
    );
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &ci)]);
    let (result, output) = podman.json(&repo, &[]);
    assert_eq!(job(&result, "slow")["status"], "failed", "{}", dump(&output));
    let err = stderr(&output);
    assert!(err.contains("slow | got SIGTERM"), "{err}");
    assert!(err.contains("slow | after: failed"), "{err}");
    assert!(err.contains("execution took longer than the timeout"), "{err}");
    podman.assert_removed(&err);
}

#[test]
fn ctrl_c_stops_the_container_runs_after_script_and_leaves_no_container() {
    let Some(podman) = podman("ctrl_c_stops_the_container") else { return };
    let ci = format!(
        "slow:\n  image: {IMAGE}\n  script:\n    - echo started\n    - sleep 300\n  after_script:\n    - 'echo \"after: $CI_JOB_STATUS\"'\n"
    );
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &ci)]);
    let mut child = podman
        .sluice_command(&repo.path, &["run", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while find_in_logs(&repo.path.join(".sluice/runs"), "started").is_none() {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    // `sleep` as the container's PID 1 ignores SIGTERM: the stop takes the 10 s grace period.
    let output = wait_with_deadline(&mut child, Duration::from_secs(90));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}\n{}", dump(&output)));
    assert_eq!(result["status"], "canceled", "{}", dump(&output));
    assert_eq!(job(&result, "slow")["status"], "canceled");
    let err = stderr(&output);
    assert!(err.contains("slow | after: canceled"), "{err}");
    podman.assert_removed(&err);
}

#[test]
fn masked_variables_are_masked_and_never_on_the_engines_command_line() {
    let Some(podman) = podman("masked_variables_are_masked") else { return };
    let secret = "c2VjcmV0LWluLWEtY29udGFpbmVy";
    let ci = format!(
        "leak:\n  image: {IMAGE}\n  script:\n    - echo \"token=$TOKEN\"\n    - 'echo \"path=$PATH\"'\n    - echo waiting\n    - while [ ! -e released ]; do sleep 0.1; done\n"
    );
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &ci)]);
    let vars = repo.path.join("vars.yml");
    std::fs::write(&vars, format!("TOKEN:\n  value: {secret}\n  masked: true\nPATH: /bin:/opt/job\n")).unwrap();
    let mut child = podman
        .sluice_command(&repo.path, &["run", "--variables-file", vars.to_str().unwrap(), "--keep-workspaces"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runs = repo.path.join(".sluice/runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while find_in_logs(&runs, "waiting").is_none() {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // While the container runs: no process's command line holds the secret.
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&cmdline).contains(secret), "the secret is on the command line of {}", entry.path().display());
    }
    let workspace = find_workspace(&runs).expect("the job's workspace");
    std::fs::write(workspace.join("released"), "").unwrap();
    let output = wait_with_deadline(&mut child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let out = stdout(&output);
    assert!(out.contains("leak | token=[MASKED]"), "{out}");
    assert!(out.contains("leak | path=/bin:/opt/job"), "a job's PATH reaches the container:\n{out}");
    assert!(!out.contains(secret) && !stderr(&output).contains(secret), "{}", dump(&output));
    assert_no_file_holds(&repo.path.join(".sluice"), secret);
    podman.assert_removed(&out);
}

/// The workspace directory under `runs/<pipeline>/builds/` (`--keep-workspaces`).
fn find_workspace(runs: &Path) -> Option<PathBuf> {
    let pipeline = std::fs::read_dir(runs).ok()?.flatten().next()?.path();
    Some(std::fs::read_dir(pipeline.join("builds")).ok()?.flatten().next()?.path())
}

fn assert_no_file_holds(dir: &Path, secret: &str) {
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let content = std::fs::read(&path).unwrap_or_default();
                assert!(!String::from_utf8_lossy(&content).contains(secret), "`{}` holds the secret", path.display());
            }
        }
    }
}

#[test]
fn the_images_entrypoint_runs_unless_overridden() {
    let Some(podman) = podman("the_images_entrypoint_runs_unless_overridden") else { return };
    let ci = format!(
        "kept:\n  image: {ENTRYPOINT_IMAGE}\n  script: echo kept-script\ncleared:\n  image:\n    name: {ENTRYPOINT_IMAGE}\n    entrypoint: [\"\"]\n  script: echo cleared-script\n"
    );
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &ci)]);
    let (result, output) = podman.json(&repo, &["--executor", "podman"]);
    assert_eq!(result["status"], "success", "{}", dump(&output));
    let err = stderr(&output);
    assert!(err.contains("kept    | entrypoint-ran") && err.contains("kept    | kept-script"), "{err}");
    assert!(err.contains("cleared | cleared-script"), "{err}");
    assert!(!err.contains("cleared | entrypoint-ran"), "{err}");
    podman.assert_removed(&err);
}

#[test]
fn pull_policy_never_fails_a_job_whose_image_is_missing() {
    let Some(podman) = podman("pull_policy_never_fails_a_job_whose_image_is_missing") else { return };
    let ci = "absent:\n  image:\n    name: localhost/sluice-test-absent:0\n    pull_policy: never\n  script: echo never-printed\n";
    let repo = Repo::with_files(&[(".gitlab-ci.yml", ci)]);
    let (result, output) = podman.json(&repo, &[]);
    assert_eq!(job(&result, "absent")["status"], "failed", "{}", dump(&output));
    assert!(!stderr(&output).contains("absent | never-printed"), "{}", dump(&output));
}

#[test]
fn services_run_beside_the_job_with_their_aliases_and_variables_and_are_removed() {
    let Some(podman) = podman("services_run_beside_the_job") else { return };
    // The service is busybox's `httpd`, serving a page written from its variables.
    let ci = format!(
        r#"web-test:
  image: {IMAGE}
  variables:
    FROM_JOB: job-value
  services:
    - name: {IMAGE}
      alias: web
      entrypoint: ["sh", "-c"]
      command: ['mkdir -p /www && echo "$GREETING $FROM_JOB" > /www/index.html && exec httpd -f -p 8080 -h /www']
      variables:
        GREETING: hello
  script:
    - for i in $(seq 1 100); do wget -q -O - http://web:8080/ && break; sleep 0.1; done
    - wget -q -O - http://localhost-sluice-test-busybox:8080/
"#
    );
    let repo = Repo::with_files(&[(".gitlab-ci.yml", &ci)]);
    let output = podman.sluice(&repo.path, &["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let out = stdout(&output);
    assert!(out.contains("web-test | Starting service `localhost/sluice-test-busybox:1` as `localhost__sluice-test-busybox`, `localhost-sluice-test-busybox`, `web`"), "{out}");
    assert_eq!(out.matches("web-test | hello job-value").count(), 2, "{out}");
    podman.assert_removed(&out);
    for name in container_names(&out) {
        assert!(!podman.exists(&format!("{name}-svc-0")), "the service of `{name}` was left behind");
        let network = podman.command().args(["network", "exists", &format!("{name}-net")]).status().unwrap();
        assert!(!network.success(), "the network of `{name}` was left behind");
    }
}
