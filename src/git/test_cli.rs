//! Test support: runs the `git` command line, to build the repositories that the libgit2
//! code under test reads. Test builds only.

use std::path::Path;
use std::process::Command;

/// Runs `git -C dir args…` with a fixed identity and no signing; panics with git's stderr
/// when it fails. Returns stdout, trimmed.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@sluice.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
