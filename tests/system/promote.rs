//! Config repos and promotion through the real binary: `sluice init` writes a valid config
//! repo, `sluice config check --config-repo` accepts it (exit 0) and names file, line and key
//! of every error otherwise (exit 2).

use std::path::Path;

use crate::support::{dump, sluice};

#[test]
fn init_writes_a_config_repo_that_config_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let output = sluice(dir.path(), &["init", "config"]);
    assert!(output.status.success(), "{}", dump(&output));
    let output = sluice(dir.path(), &["config", "check", "--config-repo", "config"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("3 environments (dev → staging → production), 1 app"));
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template");
    let output = sluice(dir.path(), &["config", "check", "--config-repo", template.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let again = sluice(dir.path(), &["init", "config"]);
    assert_eq!(again.status.code(), Some(2), "init refuses a non-empty directory: {}", dump(&again));
}

#[test]
fn config_check_names_file_line_and_key_of_each_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(sluice(dir.path(), &["init", "config"]).status.success());
    let production = dir.path().join("config/environments/production.yaml");
    let text = std::fs::read_to_string(&production).unwrap().replace("quorum: 2", "quorom: 2");
    std::fs::write(&production, text).unwrap();
    std::fs::write(dir.path().join("config/apps/hello/staging.yaml"), "version: 1.2\n").unwrap();
    let output = sluice(dir.path(), &["config", "check", "--config-repo", "config"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "config/environments/production.yaml:13:5: gates.approval.quorom: unknown key `quorom`\n\nhint: did you mean `quorum`?",
        "config/apps/hello/staging.yaml:1:10: version: must be a version `MAJOR.MINOR.PATCH`, not a float",
        "config/apps/hello/staging.yaml:1:1: missing required key `image`",
        "error: config repo `config` is invalid: 4 errors",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?}\n{}", dump(&output));
    }
}
