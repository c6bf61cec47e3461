//! Secrets in a config repo: `.sops.yaml` creation rules pick the recipients per
//! environment exactly as the real `sops` does, so a dev key cannot read production secrets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::secrets::{dump, ok, run};

/// An age key pair made by the real `age-keygen`.
pub(crate) struct AgeKey {
    pub(crate) file: PathBuf,
    pub(crate) recipient: String,
}

impl AgeKey {
    pub(crate) fn new(dir: &Path, name: &str) -> AgeKey {
        let file = dir.join(format!("{name}.key"));
        ok(run(Command::new("age-keygen").arg("-o").arg(&file)), "age-keygen");
        let recipient = ok(run(Command::new("age-keygen").arg("-y").arg(&file)), "age-keygen -y").trim().to_string();
        AgeKey { file, recipient }
    }
}

/// A config repo directory with a dev and a production key outside it.
pub(crate) struct ConfigRepo {
    pub(crate) keys: tempfile::TempDir,
    pub(crate) repo: tempfile::TempDir,
    pub(crate) dev: AgeKey,
    pub(crate) production: AgeKey,
}

impl ConfigRepo {
    pub(crate) fn new() -> ConfigRepo {
        let keys = tempfile::tempdir().expect("temp dir");
        let repo = tempfile::tempdir().expect("temp dir");
        let dev = AgeKey::new(keys.path(), "dev");
        let production = AgeKey::new(keys.path(), "production");
        let rules = format!(
            "creation_rules:\n  - path_regex: ^secrets/production/\n    age: {}\n  - path_regex: ^secrets/\n    age: >-\n      {}\n",
            production.recipient, dev.recipient
        );
        std::fs::write(repo.path().join(".sops.yaml"), rules).expect("write .sops.yaml");
        ConfigRepo { keys, repo, dev, production }
    }

    pub(crate) fn write(&self, relative: &str, text: &str) {
        let path = self.repo.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.repo.path().join(relative)).expect("read")
    }

    /// `sluice` run in the repo with no ambient keys.
    pub(crate) fn sluice(&self, args: &[&str]) -> Output {
        run(&mut self.sluice_command(args))
    }

    pub(crate) fn sluice_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .args(args)
            .current_dir(self.repo.path())
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .env_remove("SOPS_PGP_FP")
            .env_remove("SLUICE_IDENTITY_FILE")
            .env_remove("SLUICE_IDENTITY")
            .env("XDG_CONFIG_HOME", self.keys.path().join("no-config"));
        command
    }

    /// `sops` run in the repo with `key`'s identity.
    pub(crate) fn sops(&self, key: &AgeKey, args: &[&str]) -> Output {
        let sops = std::env::var("SLUICE_SOPS").unwrap_or_else(|_| "sops".to_string());
        run(Command::new(sops).args(args).current_dir(self.repo.path()).env("SOPS_AGE_KEY_FILE", &key.file).env_remove("SOPS_AGE_KEY"))
    }
}

/// The `recipient:` values of an encrypted YAML file's `age` entries.
pub(crate) fn age_recipients(encrypted: &str) -> Vec<String> {
    let mut recipients: Vec<String> = encrypted
        .lines()
        .filter_map(|line| line.trim().trim_start_matches("- ").strip_prefix("recipient: "))
        .map(|r| r.trim().to_string())
        .collect();
    recipients.sort();
    recipients
}

#[test]
fn creation_rules_keep_production_secrets_from_the_dev_key() {
    let repo = ConfigRepo::new();
    repo.write("secrets/production/app.yaml", "DB_PASSWORD: prod-secret-888\n");
    repo.write("secrets/dev/app.yaml", "DB_PASSWORD: dev-secret-999\n");
    for file in ["secrets/production/app.yaml", "secrets/dev/app.yaml"] {
        ok(repo.sluice(&["secrets", "encrypt", "--in-place", file]), &format!("sluice secrets encrypt -i {file}"));
    }
    let production = repo.read("secrets/production/app.yaml");
    assert_eq!(age_recipients(&production), std::slice::from_ref(&repo.production.recipient), "{production}");
    assert_eq!(age_recipients(&repo.read("secrets/dev/app.yaml")), std::slice::from_ref(&repo.dev.recipient));

    // `sops` with the same `.sops.yaml` picks the same recipients.
    repo.write("secrets/production/other.yaml", "A: b\n");
    let by_sops = ok(repo.sops(&repo.production, &["--encrypt", "secrets/production/other.yaml"]), "sops --encrypt");
    assert_eq!(age_recipients(&by_sops), std::slice::from_ref(&repo.production.recipient));

    let dev_key = repo.dev.file.to_string_lossy().into_owned();
    let out = repo.sluice(&["secrets", "decrypt", "--identity", &dev_key, "secrets/dev/app.yaml"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dev-secret-999"), "{}", dump(&out));
    let out = repo.sluice(&["secrets", "decrypt", "--identity", &dev_key, "secrets/production/app.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&repo.production.recipient) && !stderr.contains("prod-secret-888"), "{}", dump(&out));
    let out = repo.sops(&repo.dev, &["--decrypt", "secrets/production/app.yaml"]);
    assert!(!out.status.success(), "sops with the dev key must fail too:\n{}", dump(&out));
    let clear = ok(repo.sops(&repo.production, &["--decrypt", "secrets/production/app.yaml"]), "sops --decrypt");
    assert!(clear.contains("prod-secret-888"), "{clear}");
}

#[test]
fn a_file_no_rule_matches_and_a_bad_rule_are_clear_errors() {
    let repo = ConfigRepo::new();
    repo.write("elsewhere/app.yaml", "A: b\n");
    let out = repo.sluice(&["secrets", "encrypt", "elsewhere/app.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no creation rule"), "{}", dump(&out));

    repo.write(".sops.yaml", "creation_rules:\n  - path_regex: ^secrets/\n    encrypted_regex: ^data$\n    age: age1x\n");
    repo.write("secrets/dev/app.yaml", "A: b\n");
    let out = repo.sluice(&["secrets", "encrypt", "secrets/dev/app.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(".sops.yaml:3:") && stderr.contains("encrypted_regex"), "{}", dump(&out));
}
