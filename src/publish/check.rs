//! Gathers the VERSION gate's inputs from a repository and decides: the `VERSION` file at the
//! pipeline's commit (or in the working tree), the `VERSION` at the before sha, and the
//! published versions, which are the repository's tags `<prefix>X.Y.Z`.
//!
//! Blocks on git; async callers run it in `spawn_blocking`. Never writes.

use std::path::PathBuf;

use super::version::{Decision, Version, decide, published_versions};
use crate::git::{GitError, Repo};

/// The file the gate reads, at the repository root.
pub const VERSION_FILE: &str = "VERSION";

/// The tag prefix of published versions unless configured: tags `v1.2.3`.
pub const DEFAULT_TAG_PREFIX: &str = "v";

/// A failure to read what the gate needs.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// `VERSION` in the working tree exists but cannot be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// git failed reading `VERSION` at a revision or listing tags.
    #[error("cannot read the VERSION gate's inputs from git")]
    Git(#[source] GitError),
}

/// Reads the gate's inputs from `repo` and decides.
///
/// `at` is the pipeline's commit, `None` for the working tree as it is (uncommitted changes
/// included). `before` is the previous tip of the ref; `None` (or an all-zero sha) means a new
/// ref, and the push then counts as changing `VERSION`. Published versions are the tags
/// `tag_prefix` + SemVer; other tags are ignored.
///
/// Returns `None` when there is no `VERSION` file at `at`: such a repository does not take part
/// in publication, and callers say so (`sluice version check` fails with exit 2, planning adds
/// no `SLUICE_*` variable).
///
/// # Errors
/// [`CheckError`] when a file or git cannot be read; an unknown `before` revision is
/// [`GitError::UnknownRevision`] inside [`CheckError::Git`].
pub fn check(
    repo: &Repo,
    at: Option<&str>,
    before: Option<&str>,
    tag_prefix: &str,
) -> Result<Option<Decision>, CheckError> {
    check_with(repo, at, before, tag_prefix, &[])
}

/// [`check`], with `also_published` counted as published besides the repository's tags (the
/// tags of the app's registry repository, say).
///
/// # Errors
/// As [`check`].
pub fn check_with(
    repo: &Repo,
    at: Option<&str>,
    before: Option<&str>,
    tag_prefix: &str,
    also_published: &[Version],
) -> Result<Option<Decision>, CheckError> {
    let current = match at {
        Some(rev) => repo.read_file_at(rev, VERSION_FILE).map_err(CheckError::Git)?,
        None => read_working_tree(repo)?,
    };
    let Some(current) = current else { return Ok(None) };
    let before = before.filter(|sha| sha.bytes().any(|b| b != b'0'));
    let previous = match before {
        Some(rev) => repo.read_file_at(rev, VERSION_FILE).map_err(CheckError::Git)?,
        None => None,
    };
    let previous = previous.and_then(|bytes| Version::parse_bytes(&bytes).ok());
    let tags = repo.tags().map_err(CheckError::Git)?;
    let mut published = published_versions(tags.iter().map(String::as_str), tag_prefix);
    published.extend(also_published.iter().cloned());
    Ok(Some(decide(Version::parse_bytes(&current), previous, &published)))
}

fn read_working_tree(repo: &Repo) -> Result<Option<Vec<u8>>, CheckError> {
    let path = repo.root().join(VERSION_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckError::Read { path, source }),
    }
}
