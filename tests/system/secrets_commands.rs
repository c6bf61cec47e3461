//! `sluice secrets edit|set|rotate|updatekeys` and the git diff and merge drivers, on real
//! files checked with the real `sops` (MAC verified) and driven by the real `git`.

use std::path::Path;
use std::process::{Command, Output};

use super::secrets::{dump, ok, run};
use super::secrets_repo::{AgeKey, ConfigRepo, age_recipients};

const APP: &str = "db:\n  user: app\n  password: pw-alpha-123\n  port: 5432\ntoken: tok-beta-456\n";

/// The `ENC[…]` lines of an encrypted YAML file, for comparing which values changed.
fn enc_lines(text: &str) -> Vec<String> {
    text.lines().filter(|line| line.contains("ENC[") && !line.trim_start().starts_with("mac:")).map(String::from).collect()
}

/// The repo with `secrets/dev/app.yaml` encrypted by its `.sops.yaml` rules.
fn repo_with_app() -> ConfigRepo {
    let repo = ConfigRepo::new();
    repo.write("secrets/dev/app.yaml", APP);
    ok(repo.sluice(&["secrets", "encrypt", "-i", "secrets/dev/app.yaml"]), "encrypt");
    repo
}

fn sluice_with_key(repo: &ConfigRepo, key: &AgeKey, args: &[&str], editor: Option<&Path>) -> Output {
    let mut command = repo.sluice_command(args);
    command.env("SOPS_AGE_KEY_FILE", &key.file).env_remove("VISUAL");
    if let Some(editor) = editor {
        command.env("EDITOR", editor);
    }
    run(&mut command)
}

/// A scripted editor: records the path and mode of the file it gets, then runs `body`.
fn editor(repo: &ConfigRepo, body: &str) -> std::path::PathBuf {
    let script = repo.keys.path().join(format!("editor-{}.sh", body.len()));
    let log = repo.keys.path().join("editor.log");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$1 $(stat -c %a \"$1\")\" > '{}'\n{body}\n", log.display())).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn editor_log(repo: &ConfigRepo) -> (String, String) {
    let log = std::fs::read_to_string(repo.keys.path().join("editor.log")).expect("the editor ran");
    let (path, mode) = log.trim().rsplit_once(' ').unwrap();
    (path.to_string(), mode.to_string())
}

#[test]
fn edit_uses_a_0600_tmpfs_file_changes_only_edited_values_and_always_removes_it() {
    let repo = repo_with_app();
    let before = repo.read("secrets/dev/app.yaml");

    let script = editor(&repo, "sed -i 's/pw-alpha-123/pw-gamma-789/' \"$1\"");
    ok(sluice_with_key(&repo, &repo.dev, &["secrets", "edit", "secrets/dev/app.yaml"], Some(&script)), "edit");
    let (path, mode) = editor_log(&repo);
    assert_eq!(mode, "600");
    let runtime = std::env::var("XDG_RUNTIME_DIR").unwrap_or_default();
    assert!(path.starts_with("/dev/shm/") || (!runtime.is_empty() && path.starts_with(&runtime)), "{path}");
    assert!(!Path::new(&path).exists(), "the clear copy {path} is left behind");
    let after = repo.read("secrets/dev/app.yaml");
    let (old, new) = (enc_lines(&before), enc_lines(&after));
    let changed: Vec<_> = old.iter().zip(&new).filter(|(a, b)| a != b).map(|(a, _)| a.trim().split(':').next().unwrap().to_string()).collect();
    assert_eq!(changed, ["password"], "only the edited value is re-encrypted:\n{before}\n{after}");
    let clear = ok(repo.sops(&repo.dev, &["--decrypt", "secrets/dev/app.yaml"]), "sops --decrypt after edit");
    assert!(clear.contains("pw-gamma-789") && clear.contains("tok-beta-456"), "{clear}");

    // A failing editor, invalid YAML, and SIGTERM to Sluice: the file stays, the copy goes.
    for (body, code) in [
        ("exit 3", 1),
        ("printf 'a: [unclosed\\n' > \"$1\"", 2),
        ("sed -i 's/tok-beta-456/changed/' \"$1\"; kill -TERM $PPID; sleep 0.2", 1),
    ] {
        let script = editor(&repo, body);
        let out = sluice_with_key(&repo, &repo.dev, &["secrets", "edit", "secrets/dev/app.yaml"], Some(&script));
        assert_eq!(out.status.code(), Some(code), "{body}: {}", dump(&out));
        let (path, _) = editor_log(&repo);
        assert!(!Path::new(&path).exists(), "{body}: the clear copy {path} is left behind");
        assert_eq!(repo.read("secrets/dev/app.yaml"), after, "{body}: the file changed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("pw-gamma-789") && !stderr.contains("tok-beta-456"), "{body}: {stderr}");
    }
}

#[test]
fn set_and_rotate_keep_the_file_valid_for_sops() {
    let repo = repo_with_app();
    let before = repo.read("secrets/dev/app.yaml");
    let mut command = repo.sluice_command(&["secrets", "set", "secrets/dev/app.yaml", r#"["db"]["password"]"#]);
    command.env("SOPS_AGE_KEY_FILE", &repo.dev.file).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"pw-set-000\n").unwrap();
    drop(child.stdin.take());
    ok(child.wait_with_output().unwrap(), "set");
    let mut command = repo.sluice_command(&["secrets", "set", "--json", "secrets/dev/app.yaml", "db.replicas"]);
    command.env("SOPS_AGE_KEY_FILE", &repo.dev.file).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"3").unwrap();
    drop(child.stdin.take());
    ok(child.wait_with_output().unwrap(), "set --json");
    let after = repo.read("secrets/dev/app.yaml");
    assert!(enc_lines(&after).iter().any(|line| line.contains("type:int") && line.contains("replicas")), "{after}");
    assert_eq!(enc_lines(&before).iter().filter(|l| enc_lines(&after).contains(l)).count(), 3, "user, port and token keep their ciphertext");
    let clear = ok(repo.sops(&repo.dev, &["--decrypt", "secrets/dev/app.yaml"]), "sops --decrypt after set");
    assert!(clear.contains("pw-set-000") && clear.contains("replicas: 3"), "{clear}");

    ok(sluice_with_key(&repo, &repo.dev, &["secrets", "rotate", "--in-place", "secrets/dev/app.yaml"], None), "rotate");
    let rotated = repo.read("secrets/dev/app.yaml");
    assert!(enc_lines(&after).iter().all(|line| !enc_lines(&rotated).contains(line)), "every value is re-encrypted");
    assert_eq!(age_recipients(&rotated), std::slice::from_ref(&repo.dev.recipient));
    let again = ok(repo.sops(&repo.dev, &["--decrypt", "secrets/dev/app.yaml"]), "sops --decrypt after rotate");
    assert_eq!(again, clear);
}

/// `git` in the repo, with an identity, the Sluice drivers configured and the dev key.
fn git(repo: &ConfigRepo, args: &[&str]) -> Output {
    run(Command::new("git")
        .args(args)
        .current_dir(repo.repo.path())
        .env("SOPS_AGE_KEY_FILE", &repo.dev.file)
        .env_remove("SOPS_AGE_KEY")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1"))
}

fn init_git(repo: &ConfigRepo) {
    let sluice = env!("CARGO_BIN_EXE_sluice");
    ok(git(repo, &["init", "-q", "-b", "main"]), "git init");
    for (key, value) in [
        ("user.name", "Tester".to_string()),
        ("user.email", "tester@example.com".to_string()),
        ("diff.sluice.textconv", format!("{sluice} secrets diff")),
        ("merge.sluice.driver", format!("{sluice} secrets merge %O %A %B %P")),
    ] {
        ok(git(repo, &["config", key, &value]), "git config");
    }
    repo.write(".gitattributes", "secrets/** diff=sluice merge=sluice\n");
    ok(git(repo, &["add", "-A"]), "git add");
    ok(git(repo, &["commit", "-q", "-m", "base"]), "git commit");
}

#[test]
fn updatekeys_rewraps_every_file_for_new_rules_in_one_commit() {
    let repo = repo_with_app();
    repo.write("secrets/dev/app.env", "API=env-delta-321\n");
    ok(repo.sluice(&["secrets", "encrypt", "-i", "secrets/dev/app.env"]), "encrypt env");
    init_git(&repo);
    let added = AgeKey::new(repo.keys.path(), "added");
    let rules = repo.read(".sops.yaml").replace(&format!("      {}", repo.dev.recipient), &format!("      {},{}", repo.dev.recipient, added.recipient));
    repo.write(".sops.yaml", &rules);
    ok(git(&repo, &["commit", "-q", "-am", "rules: add a key"]), "git commit rules");
    let before = repo.read("secrets/dev/app.yaml");

    ok(sluice_with_key(&repo, &repo.dev, &["secrets", "updatekeys", "secrets"], None), "updatekeys");
    let log = ok(git(&repo, &["log", "--format=%s", "--name-only", "-1"]), "git log");
    assert!(log.contains("re-key 2 file(s)") && log.contains("secrets/dev/app.yaml") && log.contains("secrets/dev/app.env"), "{log}");
    assert!(ok(git(&repo, &["status", "--porcelain"]), "git status").trim().is_empty(), "everything is committed");
    let after = repo.read("secrets/dev/app.yaml");
    let mut wanted = vec![repo.dev.recipient.clone(), added.recipient.clone()];
    wanted.sort();
    assert_eq!(age_recipients(&after), wanted);
    assert_eq!(enc_lines(&before), enc_lines(&after), "values keep their ciphertext");
    let clear = ok(repo.sops(&added, &["--decrypt", "secrets/dev/app.yaml"]), "sops --decrypt with the added key");
    assert!(clear.contains("pw-alpha-123"), "{clear}");
    ok(repo.sops(&added, &["--decrypt", "secrets/dev/app.env"]), "sops --decrypt env with the added key");

    // Nothing to do the second time, and no new commit.
    ok(sluice_with_key(&repo, &repo.dev, &["secrets", "updatekeys", "secrets"], None), "updatekeys again");
    assert_eq!(ok(git(&repo, &["rev-list", "--count", "HEAD"]), "git rev-list").trim(), "3");
}

#[test]
fn git_merges_edits_of_different_keys_and_diffs_in_clear() {
    let repo = repo_with_app();
    init_git(&repo);
    let edit = |from: &str, to: &str| {
        let script = editor(&repo, &format!("sed -i 's/{from}/{to}/' \"$1\""));
        ok(sluice_with_key(&repo, &repo.dev, &["secrets", "edit", "secrets/dev/app.yaml"], Some(&script)), "edit");
    };
    ok(git(&repo, &["checkout", "-q", "-b", "other"]), "git checkout");
    edit("pw-alpha-123", "pw-other-111");
    ok(git(&repo, &["commit", "-q", "-am", "other: password"]), "commit other");
    let diff = ok(git(&repo, &["diff", "HEAD~1", "--", "secrets/dev/app.yaml"]), "git diff");
    assert!(diff.contains("-    password: pw-alpha-123") && diff.contains("+    password: pw-other-111"), "{diff}");

    ok(git(&repo, &["checkout", "-q", "main"]), "git checkout main");
    edit("tok-beta-456", "tok-main-222");
    ok(git(&repo, &["commit", "-q", "-am", "main: token"]), "commit main");
    let merged = git(&repo, &["merge", "-q", "--no-edit", "other"]);
    assert!(merged.status.success(), "git merge with the Sluice driver:\n{}", dump(&merged));
    let clear = ok(repo.sops(&repo.dev, &["--decrypt", "secrets/dev/app.yaml"]), "sops --decrypt the merge");
    assert!(clear.contains("pw-other-111") && clear.contains("tok-main-222"), "{clear}");

    // The same key changed on both sides: a conflict naming the key, no value shown.
    ok(git(&repo, &["checkout", "-q", "-b", "third"]), "git checkout");
    edit("pw-other-111", "pw-third-333");
    ok(git(&repo, &["commit", "-q", "-am", "third"]), "commit third");
    ok(git(&repo, &["checkout", "-q", "main"]), "git checkout main");
    edit("pw-other-111", "pw-main-444");
    ok(git(&repo, &["commit", "-q", "-am", "main again"]), "commit main again");
    let conflict = git(&repo, &["merge", "--no-edit", "third"]);
    assert!(!conflict.status.success(), "{}", dump(&conflict));
    let output = format!("{}{}", String::from_utf8_lossy(&conflict.stdout), String::from_utf8_lossy(&conflict.stderr));
    assert!(output.contains("`db.password`") && !output.contains("pw-third-333") && !output.contains("pw-main-444"), "{output}");
    let ours = ok(repo.sops(&repo.dev, &["--decrypt", "secrets/dev/app.yaml"]), "sops --decrypt ours after the conflict");
    assert!(ours.contains("pw-main-444"), "{ours}");
}
