//! Each job's clean workspace: a copy of the repository's files as the developer has them
//! now, so `sluice run` tests uncommitted work without touching the working tree.
//!
//! The caller lists the files (it reads the git index with libgit2); this module only copies.
//! What is copied:
//!
//! - tracked files as they are in the working tree (uncommitted edits included; tracked files
//!   deleted from the working tree are absent and counted in [`WorkspaceStats::missing`]);
//! - untracked, non-ignored files only when [`SourceTree::include_untracked`] is set;
//! - never anything under a `.git` component: the workspace's own `.git` is written by
//!   [`super::git_dir`] (the runner does it after the copy, unless `GIT_STRATEGY` is `none`).
//!
//! Files are copy-on-write clones, never hard links, and symbolic links are recreated verbatim
//! (a link pointing outside the tree stays such a link: the job could follow it, as it could
//! in the developer's checkout; artifact collection refuses them). Directories in the list
//! (submodule gitlinks) are skipped: submodules are not checked out, as with GitLab's default
//! `GIT_SUBMODULE_STRATEGY: none`. Copying is sequential; parallel copying has not been
//! measured to help and is not done.
//!
//! [`prepare`] blocks; call it from `spawn_blocking`.

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use super::copy::{self, TreeWriter};

/// The repository files a workspace is made from.
#[derive(Debug, Clone, Default)]
pub struct SourceTree {
    /// The working tree's root directory.
    pub root: PathBuf,
    /// Tracked files, relative to `root` with `/` separators (as the git index lists them).
    pub files: Vec<String>,
    /// Untracked files that are not ignored, relative to `root`.
    pub untracked: Vec<String>,
    /// Whether `untracked` is copied too.
    pub include_untracked: bool,
    /// What each workspace's `.git` is made from; `None`: workspaces have no `.git`.
    pub git: Option<super::git_dir::GitSource>,
}

/// What [`prepare`] did; the runner reports workspace time apart from per-job overhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceStats {
    /// Regular files copied.
    pub files: u64,
    /// Symbolic links recreated.
    pub symlinks: u64,
    /// Bytes of the regular files.
    pub bytes: u64,
    /// Listed files not found in the working tree (deleted but not committed).
    pub missing: u64,
    /// Wall time of the whole copy.
    pub duration: Duration,
}

/// Why a workspace could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The destination exists and is not an empty directory.
    #[error("workspace `{}` already exists and is not empty", path.display())]
    DestinationNotEmpty {
        /// The destination.
        path: PathBuf,
    },
    /// A listed path is absolute, contains `..`, or lies under `.git`.
    #[error("refusing to copy `{path}`: not a plain path inside the repository")]
    InvalidPath {
        /// The path as listed.
        path: String,
    },
    /// A source file could not be inspected or read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The source path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The workspace could not be written.
    #[error("cannot write `{}` in the workspace", path.display())]
    Write {
        /// The path relative to the workspace.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Makes `dest` (absent or an empty directory) a copy of `source`'s files; see the
/// [module documentation](self) for what is copied.
///
/// # Errors
///
/// [`WorkspaceError`]: `dest` is not empty, a listed path is invalid (nothing is copied
/// then), or I/O failed (the partial workspace is left for the caller to remove).
pub fn prepare(source: &SourceTree, dest: &Path) -> Result<WorkspaceStats, WorkspaceError> {
    prepare_listed(source, dest).map(|(stats, _)| stats)
}

/// As [`prepare`], also returning the listing the copy was made from.
pub(crate) fn prepare_listed(source: &SourceTree, dest: &Path) -> Result<(WorkspaceStats, Listing), WorkspaceError> {
    let started = Instant::now();
    let listing = Listing::of(source)?;
    create_empty(dest)?;
    let stats = listing.write(source, dest, |_| true, started)?;
    Ok((stats, listing))
}

/// The listed paths of a source tree by what they are there now.
pub(crate) struct Listing {
    /// Regular files.
    pub files: Vec<PathBuf>,
    /// What each of `files` was when listed (same order), for [`super::reuse::Snapshot`].
    pub file_stats: Vec<std::fs::Metadata>,
    /// Symbolic links.
    pub symlinks: Vec<PathBuf>,
    /// Listed but absent (deleted and not committed).
    pub missing: u64,
}

impl Listing {
    /// Lists `source`'s paths (validated) and looks at each in the working tree.
    pub(crate) fn of(source: &SourceTree) -> Result<Self, WorkspaceError> {
        let mut listing = Listing { files: Vec::new(), file_stats: Vec::new(), symlinks: Vec::new(), missing: 0 };
        for rel in listed_paths(source)? {
            let path = source.root.join(&rel);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    listing.files.push(rel);
                    listing.file_stats.push(meta);
                }
                Ok(meta) if meta.is_symlink() => listing.symlinks.push(rel),
                // Submodule directories, sockets, FIFOs: nothing a job needs from the tree.
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => listing.missing += 1,
                Err(source) => return Err(WorkspaceError::Read { path, source }),
            }
        }
        Ok(listing)
    }

    /// Copies the entries `wanted` accepts from `source` into `dest`; `started` is when the
    /// preparation began, for the stats.
    pub(crate) fn write(
        &self,
        source: &SourceTree,
        dest: &Path,
        wanted: impl Fn(&Path) -> bool,
        started: Instant,
    ) -> Result<WorkspaceStats, WorkspaceError> {
        // Links last: a listed link can then never be a parent directory of a file written later.
        let mut writer = TreeWriter::new(dest);
        for rel in self.files.iter().filter(|rel| wanted(rel)) {
            writer
                .file(&source.root.join(rel), rel)
                .map_err(|error| copy_error(&source.root, rel, error))?;
        }
        for rel in self.symlinks.iter().filter(|rel| wanted(rel)) {
            writer
                .symlink(&source.root.join(rel), rel)
                .map_err(|error| copy_error(&source.root, rel, error))?;
        }
        let counts = writer.counts();
        Ok(WorkspaceStats {
            files: counts.files,
            symlinks: counts.symlinks,
            bytes: counts.bytes,
            missing: self.missing,
            duration: started.elapsed(),
        })
    }
}

/// The paths to copy, validated, deduplicated and sorted.
fn listed_paths(source: &SourceTree) -> Result<BTreeSet<PathBuf>, WorkspaceError> {
    let untracked = source.untracked.iter().filter(|_| source.include_untracked);
    source
        .files
        .iter()
        .chain(untracked)
        .map(|text| match copy::contained_path(text) {
            Some(path)
                if !path
                    .components()
                    .any(|c| c == Component::Normal(".git".as_ref())) =>
            {
                Ok(path)
            }
            _ => Err(WorkspaceError::InvalidPath { path: text.clone() }),
        })
        .collect()
}

/// Creates `dest`, or accepts it if it is an empty directory.
fn create_empty(dest: &Path) -> Result<(), WorkspaceError> {
    let write_error = |source| WorkspaceError::Write {
        path: dest.to_path_buf(),
        source,
    };
    match std::fs::read_dir(dest) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(WorkspaceError::DestinationNotEmpty {
                path: dest.to_path_buf(),
            }),
        },
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dest).map_err(write_error)
        }
        Err(error) => Err(write_error(error)),
    }
}

/// Attributes a copy failure to the side it came from.
fn copy_error(root: &Path, rel: &Path, error: io::Error) -> WorkspaceError {
    match std::fs::symlink_metadata(root.join(rel)) {
        Err(_) => WorkspaceError::Read {
            path: root.join(rel),
            source: error,
        },
        Ok(_) => WorkspaceError::Write {
            path: rel.to_path_buf(),
            source: error,
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// Writes `content` to `root/rel`, creating directories.
    pub(crate) fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, content).expect("write");
    }

    fn repo() -> (tempfile::TempDir, SourceTree) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("repo");
        write(&root, "README.md", "modified in the working tree");
        write(&root, "src/main.rs", "fn main() {}");
        write(&root, "build.sh", "#!/bin/sh\n");
        std::fs::set_permissions(
            root.join("build.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        write(&root, "notes.txt", "untracked");
        write(&root, ".git/config", "[core]");
        write(&root, ".git/HEAD", "ref: refs/heads/main");
        std::os::unix::fs::symlink("src/main.rs", root.join("link")).expect("symlink");
        let source = SourceTree {
            root,
            files: [
                "README.md",
                "src/main.rs",
                "build.sh",
                "link",
                "deleted.txt",
            ]
            .map(String::from)
            .to_vec(),
            untracked: vec!["notes.txt".to_owned()],
            include_untracked: false,
            git: None,
        };
        (dir, source)
    }

    #[test]
    fn copies_tracked_files_as_they_are_now() {
        let (dir, source) = repo();
        let dest = dir.path().join("ws");
        let stats = prepare(&source, &dest).expect("prepare");
        assert_eq!((stats.files, stats.symlinks, stats.missing), (3, 1, 1));
        assert_eq!(
            std::fs::read_to_string(dest.join("README.md")).expect("read"),
            "modified in the working tree"
        );
        assert!(!dest.join("deleted.txt").exists());
        assert!(
            !dest.join("notes.txt").exists(),
            "untracked copied without being asked"
        );
        assert!(!dest.join(".git").exists());
        let mode = std::fs::metadata(dest.join("build.sh"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "exec bit lost: {mode:o}");
        assert_eq!(
            std::fs::read_link(dest.join("link")).expect("link"),
            Path::new("src/main.rs")
        );
        assert_eq!(stats.bytes, 28 + 12 + 10);
    }

    #[test]
    fn copies_untracked_files_when_asked() {
        let (dir, mut source) = repo();
        source.include_untracked = true;
        let dest = dir.path().join("ws");
        prepare(&source, &dest).expect("prepare");
        assert_eq!(
            std::fs::read_to_string(dest.join("notes.txt")).expect("read"),
            "untracked"
        );
    }

    #[test]
    fn writing_the_workspace_leaves_the_source_alone() {
        let (dir, source) = repo();
        let dest = dir.path().join("ws");
        prepare(&source, &dest).expect("prepare");
        std::fs::write(dest.join("README.md"), "changed by a job").expect("write");
        assert_eq!(
            std::fs::read_to_string(source.root.join("README.md")).expect("read"),
            "modified in the working tree"
        );
    }

    #[test]
    fn refuses_git_dirs_and_escapes() {
        let (dir, mut source) = repo();
        for bad in [".git/config", "../outside", "/etc/passwd", "sub/.git/HEAD"] {
            source.files = vec![bad.to_owned()];
            let result = prepare(&source, &dir.path().join("ws"));
            assert!(
                matches!(result, Err(WorkspaceError::InvalidPath { .. })),
                "{bad}: {result:?}"
            );
        }
    }

    #[test]
    fn refuses_a_non_empty_destination() {
        let (dir, source) = repo();
        let dest = dir.path().join("ws");
        write(&dest, "stale", "");
        assert!(matches!(
            prepare(&source, &dest),
            Err(WorkspaceError::DestinationNotEmpty { .. })
        ));
    }
}
