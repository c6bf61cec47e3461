//! Decrypted values never land where they must not: after encrypting, editing, setting,
//! merging with the git driver and a series of failures (wrong key, tampering, a merge
//! conflict, an invalid edit), the clear values are searched for in every git object of the
//! config repo, every file of its working tree, the tmpfs directories `edit` uses, and every
//! message Sluice printed on stderr.

use std::path::Path;
use std::process::{Command, Output};

use super::secrets::{dump, ok, run};
use super::secrets_repo::ConfigRepo;

const SECRETS: &[&str] = &["leak-alpha-5550", "leak-beta-5551", "leak-gamma-5552", "leak-delta-5553"];

fn assert_absent(haystack: &[u8], what: &str) {
    let text = String::from_utf8_lossy(haystack);
    for secret in SECRETS {
        assert!(!text.contains(secret), "`{secret}` found in {what}");
    }
}

/// Every file below `dir` (skipping `.git`, searched through git itself).
fn search_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            search_tree(&path);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert_absent(&bytes, &path.display().to_string());
        }
    }
}

#[test]
fn clear_values_are_in_no_git_object_file_tmpfs_or_message() {
    let repo = ConfigRepo::new();
    let sluice = env!("CARGO_BIN_EXE_sluice");
    let git = |args: &[&str]| -> Output {
        run(Command::new("git")
            .args(args)
            .current_dir(repo.repo.path())
            .env("SOPS_AGE_KEY_FILE", &repo.dev.file)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1"))
    };
    let mut stderr = Vec::new();
    let mut sluice_run = |args: &[&str], editor: Option<&str>, expect_ok: bool| {
        let mut command = repo.sluice_command(args);
        command.env("SOPS_AGE_KEY_FILE", &repo.dev.file).env_remove("VISUAL");
        if let Some(editor) = editor {
            command.env("EDITOR", editor);
        }
        let out = run(&mut command);
        assert_eq!(out.status.success(), expect_ok, "{args:?}: {}", dump(&out));
        stderr.extend_from_slice(&out.stderr);
    };

    repo.write("secrets/dev/app.yaml", &format!("a: {}\nb: {}\n", SECRETS[0], SECRETS[1]));
    sluice_run(&["secrets", "encrypt", "-i", "secrets/dev/app.yaml"], None, true);
    ok(git(&["init", "-q", "-b", "main"]), "git init");
    for (key, value) in [
        ("user.name", "Tester".to_string()),
        ("user.email", "tester@example.com".to_string()),
        ("merge.sluice.driver", format!("{sluice} secrets merge %O %A %B %P")),
    ] {
        ok(git(&["config", key, &value]), "git config");
    }
    repo.write(".gitattributes", "secrets/** merge=sluice\n");
    ok(git(&["add", "-A"]), "git add");
    ok(git(&["commit", "-q", "-m", "base"]), "git commit");

    // Edits on two branches, merged by the driver; then a conflicting pair.
    let script = repo.keys.path().join("edit.sh");
    let edit = |from: &str, to: &str| {
        std::fs::write(&script, format!("#!/bin/sh\nsed -i 's/{from}/{to}/' \"$1\"\n")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script.display().to_string()
    };
    ok(git(&["checkout", "-q", "-b", "other"]), "checkout");
    let e = edit(SECRETS[0], SECRETS[2]);
    sluice_run(&["secrets", "edit", "secrets/dev/app.yaml"], Some(&e), true);
    ok(git(&["commit", "-q", "-am", "other"]), "commit");
    ok(git(&["checkout", "-q", "main"]), "checkout");
    let e = edit(SECRETS[1], SECRETS[3]);
    sluice_run(&["secrets", "edit", "secrets/dev/app.yaml"], Some(&e), true);
    ok(git(&["commit", "-q", "-am", "main"]), "commit");
    ok(git(&["merge", "-q", "--no-edit", "other"]), "git merge");
    ok(git(&["checkout", "-q", "-b", "clash"]), "checkout");
    let e = edit(SECRETS[2], SECRETS[0]);
    sluice_run(&["secrets", "edit", "secrets/dev/app.yaml"], Some(&e), true);
    ok(git(&["commit", "-q", "-am", "clash"]), "commit");
    ok(git(&["checkout", "-q", "main"]), "checkout");
    let e = edit(SECRETS[2], SECRETS[1]);
    sluice_run(&["secrets", "edit", "secrets/dev/app.yaml"], Some(&e), true);
    ok(git(&["commit", "-q", "-am", "main 2"]), "commit");
    let conflict = git(&["merge", "--no-edit", "clash"]);
    assert!(!conflict.status.success(), "{}", dump(&conflict));
    assert_absent(&conflict.stdout, "git merge's output");
    assert_absent(&conflict.stderr, "git merge's output");
    ok(git(&["merge", "--abort"]), "git merge --abort");

    // Failures: an invalid edit, a wrong key, a tampered file.
    std::fs::write(&script, "#!/bin/sh\nprintf 'x: [\\n' > \"$1\"\n").unwrap();
    sluice_run(&["secrets", "edit", "secrets/dev/app.yaml"], Some(&script.display().to_string()), false);
    let production = repo.production.file.display().to_string();
    let wrong = repo.sluice(&["secrets", "decrypt", "--identity", &production, "secrets/dev/app.yaml"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", dump(&wrong));
    assert_absent(&wrong.stderr, "the wrong-key error");
    assert_absent(&wrong.stdout, "the wrong-key output");
    let tampered = repo.read("secrets/dev/app.yaml").replacen("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:AA", 1);
    repo.write("tampered/app.yaml", &tampered);
    sluice_run(&["secrets", "decrypt", "tampered/app.yaml"], None, false);

    assert_absent(&stderr, "Sluice's messages");
    let objects = git(&["cat-file", "--batch-all-objects", "--batch"]);
    assert!(objects.status.success(), "{}", dump(&objects));
    assert!(String::from_utf8_lossy(&objects.stdout).contains("sops:"), "the search reached the encrypted blobs");
    assert_absent(&objects.stdout, "a git object");
    search_tree(repo.repo.path());
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from);
    for dir in [Some(std::path::PathBuf::from("/dev/shm")), runtime].into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("sluice-edit-")
                && name.ends_with("app.yaml")
                && let Ok(bytes) = std::fs::read(entry.path())
            {
                assert_absent(&bytes, &entry.path().display().to_string());
            }
        }
    }
    // The decrypted file still holds the merged values: the search looked for real values.
    let clear = ok(repo.sops(&repo.dev, &["--decrypt", "secrets/dev/app.yaml"]), "sops --decrypt");
    assert!(clear.contains(SECRETS[1]) || clear.contains(SECRETS[3]), "{clear}");
}
