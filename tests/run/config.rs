//! `sluice config check` through the real binary: exit codes, the summary line, warnings for
//! unset variables, and located errors.

use std::process::Command;

use crate::support::dump;

const MINIMAL: &str = r#"listen: "127.0.0.1:8470"
data_dir: "/var/lib/sluice"
projects:
  - name: demo
    repo: "file:///srv/git/demo.git"
    branches: ["main"]
    poll: "2s"
    webhooks:
      gitlab_token: "env:DEMO_GITLAB_TOKEN"
      github_secret: "env:DEMO_GITHUB_SECRET"
      gerrit_secret: "env:DEMO_GERRIT_SECRET"
    schedules:
      - cron: "H 2 * * 1-5"
"#;

fn check(dir: &std::path::Path, file: &str, contents: &str) -> std::process::Output {
    std::fs::write(dir.join(file), contents).unwrap();
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir)
        .args(["config", "check", "--config", file])
        .env_remove("SLUICE_CONFIG")
        .env("DEMO_GITHUB_SECRET", "set-in-the-test")
        .env_remove("DEMO_GITLAB_TOKEN")
        .env_remove("DEMO_GERRIT_SECRET")
        .env("NO_COLOR", "1")
        .output()
        .expect("sluice runs")
}

#[test]
fn a_valid_file_exits_0_with_a_summary_and_warnings_for_unset_variables() {
    let dir = tempfile::tempdir().unwrap();
    let output = check(dir.path(), "sluice.yaml", MINIMAL);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout, "`sluice.yaml` is valid: 1 project, 1 schedule\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sluice.yaml:9:21: warning: projects[0].webhooks.gitlab_token: environment variable `DEMO_GITLAB_TOKEN` is not set"), "{stderr}");
    assert!(stderr.contains("`DEMO_GERRIT_SECRET` is not set"), "{stderr}");
    assert!(!stderr.contains("DEMO_GITHUB_SECRET"), "a set variable is not a warning:\n{stderr}");
    assert!(!stderr.contains("set-in-the-test"), "a secret value was printed:\n{stderr}");
}

#[test]
fn an_invalid_file_exits_2_with_every_error_located() {
    let dir = tempfile::tempdir().unwrap();
    let text = "listen: nowhere\nprojects:\n  - name: demo\n    repo: /srv/git/demo\n    pol: 1m\n    webhooks:\n      github_secret: hunter2\n";
    let output = check(dir.path(), "bad.yaml", text);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.yaml:1:9: listen: `nowhere` is not an IP address with a port"), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:5:5: projects[0].pol: unknown key `pol`\n\nhint: did you mean `poll`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.yaml:7:22: projects[0].webhooks.github_secret: must name where the secret is"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "the literal secret was echoed:\n{stderr}");
    assert!(stderr.contains("error: `bad.yaml` is invalid: 3 errors"), "{stderr}");
    assert!(output.stdout.is_empty(), "{}", dump(&output));
}

#[test]
fn a_missing_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir.path())
        .args(["config", "check"])
        .env("SLUICE_CONFIG", "nope.yaml")
        .output()
        .expect("sluice runs");
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read `nope.yaml`"), "{}", dump(&output));
}
