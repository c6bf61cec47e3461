//! Test support: fixture cases copied into real git repositories, and the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fixture root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ci")
}

/// Every case directory, sorted.
pub fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures/ci exists")
        .map(|e| e.expect("readable fixture dir").path())
        .filter(|p| p.join("repo").is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixture cases found");
    cases
}

/// Runs git in `dir`, panicking with its output on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@sluice.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed in {}:\n{}", dir.display(), String::from_utf8_lossy(&out.stderr));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A git repository with `files` committed on `main` (and an `origin` remote, which
/// gitlab-ci-local needs).
pub struct Repo {
    _dir: tempfile::TempDir,
    /// The repository's working directory.
    pub path: PathBuf,
}

impl Repo {
    /// A repository holding a copy of `source`, committed.
    pub fn from_dir(source: &Path) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("project");
        copy_dir(source, &path);
        let repo = Repo { _dir: dir, path };
        repo.init();
        repo
    }

    /// A repository holding `files` (path, contents), committed.
    pub fn with_files(files: &[(&str, &str)]) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("project");
        for (name, contents) in files {
            let file = path.join(name);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, contents).unwrap();
        }
        let repo = Repo { _dir: dir, path };
        repo.init();
        repo
    }

    fn init(&self) {
        std::fs::create_dir_all(&self.path).unwrap();
        git(&self.path, &["init", "-q", "-b", "main"]);
        git(&self.path, &["remote", "add", "origin", "https://gitlab.example.com/group/project.git"]);
        git(&self.path, &["add", "-A"]);
        git(&self.path, &["commit", "-q", "--allow-empty", "-m", "initial"]);
        // gitlab-ci-local asks for the remote's default branch.
        git(&self.path, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
        git(&self.path, &["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"]);
    }

    /// Writes a file and commits it.
    pub fn commit_file(&self, name: &str, contents: &str, message: &str) {
        let file = self.path.join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
        git(&self.path, &["add", "-A"]);
        git(&self.path, &["commit", "-q", "-m", message]);
    }
}

/// Runs the real `sluice` binary with `args` in `dir`.
pub fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir)
        .args(args)
        .env_remove("SLUICE_DIR")
        .env("NO_COLOR", "1")
        .output()
        .expect("sluice runs")
}

/// A readable dump of a command's output for assertion messages.
pub fn dump(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether every key of `expected` is in `actual` with a matching value: objects are matched
/// as subsets (an expected `null` also accepts an absent key), arrays element by element with
/// equal length, scalars exactly. Returns the path of the first difference.
pub fn json_subset(expected: &serde_json::Value, actual: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let Some(actual_value) = a.get(key) else {
                    if value.is_null() {
                        continue;
                    }
                    return Err(format!("{path}.{key}: missing"));
                };
                json_subset(value, actual_value, &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: expected {} elements, got {}: {}", e.len(), a.len(), actual));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                json_subset(ev, av, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}
