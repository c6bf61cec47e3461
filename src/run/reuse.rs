//! Reusing a finished job's workspace for the next job, as GitLab Runner's `fetch` strategy
//! reuses a build directory: the workspace is reset to exactly what [`super::workspace::prepare`]
//! would make, rewriting only what the previous job changed.
//!
//! Why: creating and removing every file of every workspace was what a run of short jobs
//! cost (on ext4 a file creation or removal is a journal transaction, two orders of magnitude
//! dearer than a `statx`); resetting a workspace stats its files and rewrites only those a job
//! touched. Figures are in README's Development section.
//!
//! # Guarantees
//!
//! After [`reset`], the workspace holds the listed files and symbolic links with the source's
//! current contents, modes and link targets, the directories above them (with a fresh
//! directory's mode), and nothing else: every other entry is removed. The `.git` of a source
//! with one is pruned to the files [`super::git_dir::write`] makes (which then rewrites those
//! that differ); without one it is removed. A job therefore never sees what an earlier job
//! wrote. Nothing is followed through a symbolic link a job left behind. [`super::pool`]
//! keeps reset workspaces between runs.
//!
//! A file is kept without reading it only when both it and its source still have the inode,
//! size, mode, modification and status-change times recorded in the [`Snapshot`] taken when
//! the previous job was handed the workspace, and both times were at least [`RACY`] older than
//! that hand-over (a change within the same tick of the file system's coarse clock could
//! otherwise keep the recorded times, the "racy git" problem). Other files of the right size
//! and mode are compared byte for byte with their source; the rest are copied again. Like
//! git's index, this trusts the clock not to be set back while a run lasts.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::workspace::{Listing, SourceTree, WorkspaceError, WorkspaceStats};

/// How much older than the hand-over a recorded change time must be for the file to be
/// trusted without reading it: more than a tick of the kernel's coarse clock (1 to 10 ms).
pub const RACY: Duration = Duration::from_millis(50);

/// What identifies a file's state without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stat {
    fn of(metadata: &std::fs::Metadata) -> Self {
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mode: metadata.mode(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// Whether the status-change time is before `limit` (seconds, nanoseconds since the epoch).
    fn changed_before(&self, limit: (i64, i64)) -> bool {
        self.ctime < limit
    }
}

/// A regular file of a workspace as it was handed to a job, beside its source.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Recorded {
    source: Stat,
    copy: Stat,
}

/// The state of a prepared workspace when its job started: what [`reset`] compares against.
/// [`super::pool`] keeps it with the workspace between runs.
/// The default trusts no record (every file is compared by contents).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The source's root: records of another source's files are not trusted.
    root: PathBuf,
    files: HashMap<PathBuf, Recorded>,
    /// The hand-over time minus [`RACY`], as (seconds, nanoseconds) since the epoch.
    trusted_before: (i64, i64),
}

/// Prepares `dest` (absent or an empty directory) as [`super::workspace::prepare`] does, and
/// records it for a later [`reset`].
///
/// # Errors
/// As [`super::workspace::prepare`].
pub fn prepare_recorded(source: &SourceTree, dest: &Path) -> Result<(WorkspaceStats, Snapshot), WorkspaceError> {
    let trusted_before = trust_limit();
    let (stats, listing) = super::workspace::prepare_listed(source, dest)?;
    let mut files = HashMap::new();
    for (rel, source_meta) in listing.files.into_iter().zip(&listing.file_stats) {
        record(&mut files, dest, rel, source_meta);
    }
    Ok((stats, Snapshot { root: source.root.clone(), files, trusted_before }))
}

/// [`RACY`] before now, as (seconds, nanoseconds) since the epoch: records taken from now on
/// are trusted only for files whose last change is older than that.
fn trust_limit() -> (i64, i64) {
    let limit = SystemTime::now().checked_sub(RACY).unwrap_or(UNIX_EPOCH);
    let since = limit.duration_since(UNIX_EPOCH).unwrap_or_default();
    (i64::try_from(since.as_secs()).unwrap_or(i64::MAX), i64::from(since.subsec_nanos()))
}

/// Records the workspace file `dest/rel`, equal to its source when that was `source_meta`.
/// A copy that cannot be inspected is left out (and will be compared by contents).
fn record(files: &mut HashMap<PathBuf, Recorded>, dest: &Path, rel: PathBuf, source_meta: &std::fs::Metadata) {
    if let Ok(copy) = std::fs::symlink_metadata(dest.join(&rel))
        && copy.is_file()
    {
        files.insert(rel, Recorded { source: Stat::of(source_meta), copy: Stat::of(&copy) });
    }
}

/// Resets `dest`, a workspace handed to a job with `snapshot`, to what
/// [`super::workspace::prepare`] would make of `source` now (without `.git`, or with a
/// pruned one; see the [module documentation](self)), and records it anew.
///
/// # Errors
/// [`WorkspaceError`]: a listed path is invalid, or I/O failed. The workspace is then in no
/// defined state: remove it and prepare a new one.
pub fn reset(source: &SourceTree, dest: &Path, snapshot: &Snapshot) -> Result<(WorkspaceStats, Snapshot), WorkspaceError> {
    let started = Instant::now();
    let trusted_before = trust_limit();
    let write_error = |path: &Path, source: io::Error| WorkspaceError::Write { path: path.to_path_buf(), source };
    let listing = Listing::of(source)?;
    let mut wanted: HashMap<&Path, Option<&std::fs::Metadata>> = HashMap::new();
    let mut dirs: HashSet<&Path> = HashSet::new();
    let files = listing.files.iter().zip(&listing.file_stats).map(|(rel, meta)| (rel, Some(meta)));
    for (rel, meta) in files.chain(listing.symlinks.iter().map(|rel| (rel, None))) {
        dirs.extend(rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()));
        wanted.insert(rel.as_path(), meta);
    }
    // Records of another source's files say nothing about this one's.
    let records = (snapshot.root == source.root).then_some(&snapshot.files);
    let mut recorded = HashMap::new();
    let mut keep: HashSet<PathBuf> = HashSet::new();
    let mut pending = vec![PathBuf::new()];
    let dir_mode = 0o777 & !super::copy::umask();
    let root_mode = std::fs::symlink_metadata(dest).map_err(|e| write_error(Path::new(""), e))?.mode() & 0o7777;
    if root_mode != dir_mode {
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(dir_mode)).map_err(|e| write_error(Path::new(""), e))?;
    }
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(dest.join(&dir)).map_err(|e| write_error(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| write_error(&dir, e))?;
            let rel = dir.join(entry.file_name());
            let file_type = entry.file_type().map_err(|e| write_error(&rel, e))?;
            let path = dest.join(&rel);
            if file_type.is_dir() && dirs.contains(rel.as_path()) {
                let mode = entry.metadata().map_err(|e| write_error(&rel, e))?.mode() & 0o7777;
                if mode != dir_mode {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(dir_mode)).map_err(|e| write_error(&rel, e))?;
                }
                pending.push(rel);
                continue;
            }
            if file_type.is_dir() && source.git.is_some() && rel.as_os_str() == ".git" {
                // Kept for [`super::git_dir::write`], which rewrites what differs.
                super::git_dir::prune(&path).map_err(|e| write_error(&rel, e))?;
                continue;
            }
            let unchanged = match wanted.get(rel.as_path()) {
                Some(Some(source_meta)) if file_type.is_file() => {
                    let copy_meta = std::fs::symlink_metadata(&path).map_err(|e| write_error(&rel, e))?;
                    let before = records.and_then(|r| r.get(&rel));
                    let same = file_unchanged(&source.root.join(&rel), &path, source_meta, &copy_meta, before, snapshot.trusted_before)
                        .map_err(|e| write_error(&rel, e))?;
                    if same {
                        recorded.insert(rel.clone(), Recorded { source: Stat::of(source_meta), copy: Stat::of(&copy_meta) });
                    }
                    same
                }
                Some(None) if file_type.is_symlink() => {
                    std::fs::read_link(&path).ok() == std::fs::read_link(source.root.join(&rel)).ok()
                }
                _ => false,
            };
            if unchanged {
                keep.insert(rel);
            } else if file_type.is_dir() {
                std::fs::remove_dir_all(&path).map_err(|e| write_error(&rel, e))?;
            } else {
                std::fs::remove_file(&path).map_err(|e| write_error(&rel, e))?;
            }
        }
    }
    let stats = listing.write(source, dest, |rel| !keep.contains(rel), started)?;
    for (rel, source_meta) in listing.files.iter().zip(&listing.file_stats) {
        if !keep.contains(rel) {
            record(&mut recorded, dest, rel.clone(), source_meta);
        }
    }
    Ok((stats, Snapshot { root: source.root.clone(), files: recorded, trusted_before }))
}

/// Whether the workspace file `copy` still equals its `source`: by the recorded state when
/// that can be trusted, else by mode and contents.
fn file_unchanged(
    source: &Path,
    copy: &Path,
    source_meta: &std::fs::Metadata,
    copy_meta: &std::fs::Metadata,
    recorded: Option<&Recorded>,
    trusted_before: (i64, i64),
) -> io::Result<bool> {
    let now_source = Stat::of(source_meta);
    let now_copy = Stat::of(copy_meta);
    if let Some(recorded) = recorded
        && recorded.source == now_source
            && recorded.copy == now_copy
            && recorded.source.changed_before(trusted_before)
            && recorded.copy.changed_before(trusted_before)
        {
            return Ok(true);
        }
    if now_source.size != now_copy.size || now_source.mode & 0o7777 != now_copy.mode & 0o7777 {
        return Ok(false);
    }
    Ok(std::fs::read(source)? == std::fs::read(copy)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::copy::EntryKind;
    use crate::run::workspace::prepare;
    use crate::run::workspace::tests::write;

    fn tree(root: &Path) -> Vec<(String, String)> {
        crate::run::copy::list_tree(root, Path::new(""))
            .expect("list")
            .into_iter()
            .map(|e| {
                let path = root.join(&e.path);
                let what = match e.kind {
                    EntryKind::File => format!(
                        "file {:o} {}",
                        std::fs::metadata(&path).expect("meta").mode() & 0o7777,
                        std::fs::read_to_string(&path).expect("read")
                    ),
                    EntryKind::Symlink => format!("link {}", std::fs::read_link(&path).expect("link").display()),
                    EntryKind::Dir => format!("dir {:o}", std::fs::metadata(&path).expect("meta").mode() & 0o7777),
                };
                (e.path.display().to_string(), what)
            })
            .collect()
    }

    fn source() -> (tempfile::TempDir, SourceTree) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("repo");
        write(&root, "a.txt", "alpha");
        write(&root, "src/b.txt", "beta");
        write(&root, "src/deep/c.txt", "gamma");
        std::os::unix::fs::symlink("a.txt", root.join("link")).expect("symlink");
        let source = SourceTree {
            root,
            files: ["a.txt", "src/b.txt", "src/deep/c.txt", "link"].map(String::from).to_vec(),
            ..SourceTree::default()
        };
        (dir, source)
    }

    /// What a job may do to its workspace; after a reset it must look like a fresh one.
    #[test]
    fn a_reset_workspace_equals_a_fresh_one_whatever_the_job_did() {
        let (dir, source) = source();
        let used = dir.path().join("used");
        let (_, snap) = prepare_recorded(&source, &used).expect("prepare");
        // The job: edits in place (same size), appends, deletes, adds files and directories,
        // chmods, replaces a file by a link to outside and a directory by a link.
        std::fs::write(used.join("a.txt"), "ALPHA").expect("same size edit");
        std::fs::write(used.join("src/b.txt"), "beta and more").expect("append");
        std::fs::remove_file(used.join("src/deep/c.txt")).expect("delete");
        write(&used, "new/file.txt", "left behind");
        write(&used, ".git/objects/xx", "job's object");
        std::fs::set_permissions(used.join("src"), std::fs::Permissions::from_mode(0o700)).expect("chmod dir");
        std::fs::remove_file(used.join("link")).expect("rm link");
        std::os::unix::fs::symlink("/etc", used.join("link")).expect("link out");
        std::fs::remove_dir_all(used.join("src/deep")).expect("rm dir");
        std::os::unix::fs::symlink(dir.path(), used.join("src/deep")).expect("dir to link");
        reset(&source, &used, &snap).expect("reset");

        let fresh = dir.path().join("fresh");
        prepare(&source, &fresh).expect("fresh");
        assert_eq!(tree(&used), tree(&fresh));
        assert!(!dir.path().join("c.txt").exists(), "wrote through the job's link");
    }

    /// A source edited between two jobs reaches the next job, as a fresh copy would.
    #[test]
    fn a_reset_takes_the_sources_current_contents() {
        let (dir, source) = source();
        let used = dir.path().join("used");
        let (_, snap) = prepare_recorded(&source, &used).expect("prepare");
        std::fs::write(source.root.join("a.txt"), "edited").expect("edit source");
        std::fs::set_permissions(source.root.join("src/b.txt"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        reset(&source, &used, &snap).expect("reset");
        let fresh = dir.path().join("fresh");
        prepare(&source, &fresh).expect("fresh");
        assert_eq!(tree(&used), tree(&fresh));
    }

    /// Unchanged files are kept, not written again (which is the point of reuse), even when
    /// the previous job started within the racy window and they had to be read.
    #[test]
    fn unchanged_files_are_not_rewritten() {
        let (dir, source) = source();
        let used = dir.path().join("used");
        let (_, snap) = prepare_recorded(&source, &used).expect("prepare");
        let inode = |rel: &str| std::fs::metadata(used.join(rel)).expect("meta").ino();
        let before = inode("src/b.txt");
        std::fs::write(used.join("a.txt"), "other").expect("edit");
        let (stats, _) = reset(&source, &used, &snap).expect("reset");
        assert_eq!((stats.files, stats.symlinks), (1, 0), "only a.txt is written again");
        assert_eq!(inode("src/b.txt"), before);
    }

    /// The `.git` of a reused workspace is what a fresh one's would be, whatever the job did
    /// to it, and its unchanged files keep their inodes.
    #[test]
    fn a_reset_git_dir_equals_a_fresh_one() {
        let (dir, mut source) = source();
        let git_dir = dir.path().join("repo-git");
        write(&git_dir, "index", "index bytes");
        source.git = Some(crate::run::git_dir::GitSource {
            git_dir: git_dir.clone(),
            common_dir: git_dir,
            origin: source.root.clone(),
            sha: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            refs: vec![("refs/tags/v1".to_owned(), "89abcdef0123456789abcdef0123456789abcdef".to_owned())],
            copy_index: true,
        });
        let git = source.git.clone().expect("git");
        let used = dir.path().join("used");
        let (_, snap) = prepare_recorded(&source, &used).expect("prepare");
        crate::run::git_dir::write(&git, &used, None).expect("git dir");
        let inode = |rel: &str| std::fs::metadata(used.join(rel)).expect("meta").ino();
        let packed_refs = inode(".git/packed-refs");
        // The job: commits, branches, hooks, edits config, chmods HEAD, links refs away.
        write(&used, ".git/objects/ab/cdef", "object");
        write(&used, ".git/refs/heads/topic", "ref");
        write(&used, ".git/hooks/post-checkout", "#!/bin/sh");
        write(&used, ".git/shallow", "0123456789abcdef0123456789abcdef01234567");
        std::fs::write(used.join(".git/config"), "[core]\n\tbare = true\n").expect("config");
        std::fs::set_permissions(used.join(".git/HEAD"), std::fs::Permissions::from_mode(0o400)).expect("chmod");
        std::fs::remove_dir_all(used.join(".git/refs/tags")).expect("rm tags");
        std::os::unix::fs::symlink(dir.path(), used.join(".git/refs/tags")).expect("link");
        reset(&source, &used, &snap).expect("reset");
        crate::run::git_dir::write(&git, &used, None).expect("git dir again");

        let fresh = dir.path().join("fresh");
        prepare(&source, &fresh).expect("fresh");
        crate::run::git_dir::write(&git, &fresh, None).expect("fresh git dir");
        assert_eq!(tree(&used), tree(&fresh));
        assert_eq!(inode(".git/packed-refs"), packed_refs, "an unchanged file was written again");
    }
}
