//! `sluice secrets updatekeys PATH...`: re-wrap the data key of every SOPS file under the
//! paths for the recipients `.sops.yaml` names now, and record the change as one git
//! commit: the re-keying workflow after a key is added or removed. Every file is prepared
//! in memory first; nothing is written unless all of them re-encrypt.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use super::{replace_file, report};
use crate::cli::ExitStatus;
use crate::secrets::{self, Identities, SecretsError, SopsConfig};

/// Runs `updatekeys`; commits when `commit` and the files are in a git repository.
pub(super) fn run(paths: &[PathBuf], identities: &Identities, commit: bool) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("no working directory")?;
    let Some(config_path) = SopsConfig::find(&cwd) else {
        eprintln!("error: no `.sops.yaml` in `{}` or above\n\nhint: run it in the config repo", cwd.display());
        return Ok(ExitStatus::Error);
    };
    let config = match SopsConfig::load(&config_path) {
        Ok(config) => config,
        Err(error) => return Ok(report(&error)),
    };
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files).with_context(|| format!("cannot list `{}`", path.display()))?;
    }
    let mut changes = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let current = match secrets::recipient_names(&name, &text) {
            Ok(current) => current,
            Err(SecretsError::NotEncrypted { .. } | SecretsError::Syntax { .. } | SecretsError::UnknownFormat { .. }) => continue,
            Err(error) => return Ok(report(&error)),
        };
        let result = config.recipients_for(&file).and_then(|wanted| {
            let mut want = wanted.names();
            let mut have = current.clone();
            want.sort();
            have.sort();
            if want == have {
                return Ok(None);
            }
            secrets::rewrap(&name, &text, &wanted, identities, SystemTime::now()).map(|rewrapped| Some((want, rewrapped)))
        });
        match result {
            Ok(Some((recipients, rewrapped))) => {
                eprintln!("{name}: now for {}", recipients.join(", "));
                changes.push((file, rewrapped));
            }
            Ok(None) => {}
            Err(error) => {
                eprintln!("nothing was changed");
                return Ok(report(&error));
            }
        }
    }
    if changes.is_empty() {
        eprintln!("every file already has the recipients `.sops.yaml` names");
        return Ok(ExitStatus::Success);
    }
    let repository = if commit { git2::Repository::discover(&cwd).ok() } else { None };
    if let Some(repository) = &repository {
        refuse_staged_changes(repository)?;
    }
    for (file, text) in &changes {
        replace_file(file, text.as_bytes()).with_context(|| format!("cannot write `{}`", file.display()))?;
    }
    if let Some(repository) = repository {
        let files: Vec<&Path> = changes.iter().map(|(file, _)| file.as_path()).collect();
        let id = commit_files(&repository, &files)?;
        eprintln!("committed {} re-keyed file(s) as {id}", files.len());
    } else {
        eprintln!("re-keyed {} file(s)", changes.len());
    }
    Ok(ExitStatus::Success)
}

/// Adds `path` if it is a file, or every file below it (hidden entries skipped).
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for entry in entries {
        collect(&entry, files)?;
    }
    Ok(())
}

/// The commit must hold the re-keying only: refuse when something else is staged.
fn refuse_staged_changes(repository: &git2::Repository) -> anyhow::Result<()> {
    let head = repository.head().ok().and_then(|head| head.peel_to_tree().ok());
    let index = repository.index().context("cannot read the git index")?;
    let staged = repository.diff_tree_to_index(head.as_ref(), Some(&index), None).context("cannot compare the index")?;
    if staged.deltas().len() > 0 {
        anyhow::bail!("other changes are staged in git; commit or unstage them first (nothing was changed)");
    }
    Ok(())
}

/// One commit of `files` on HEAD, with the author from git's configuration.
fn commit_files(repository: &git2::Repository, files: &[&Path]) -> anyhow::Result<git2::Oid> {
    let workdir = repository.workdir().context("a bare repository has no files to commit")?.canonicalize()?;
    let mut index = repository.index()?;
    let mut names = Vec::new();
    for file in files {
        let relative = file.canonicalize()?.strip_prefix(&workdir).map(Path::to_path_buf).context("a file outside the repository")?;
        index.add_path(&relative)?;
        names.push(relative.display().to_string());
    }
    index.write()?;
    let tree = repository.find_tree(index.write_tree()?)?;
    let signature = repository.signature().context("git has no user.name/user.email to commit with")?;
    let parent = repository.head().ok().and_then(|head| head.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let message = format!(
        "secrets: re-key {} file(s) for the recipients of .sops.yaml\n\n{}\n",
        names.len(),
        names.iter().map(|n| format!("- {n}")).collect::<Vec<_>>().join("\n")
    );
    Ok(repository.commit(Some("HEAD"), &signature, &signature, &message, &tree, &parents)?)
}
