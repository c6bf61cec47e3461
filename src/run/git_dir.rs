//! A job workspace's `.git`, so `git rev-parse HEAD`, `git describe`, `git log` and
//! `git status` work in jobs as they do after GitLab Runner's fetch.
//!
//! GitLab Runner initialises a repository in the build directory, fetches the pipeline's ref
//! (tags pointing into the fetched history come along) to `GIT_DEPTH` commits, and checks the
//! commit out with a detached `HEAD`. Here the workspace's files are already copied, so the
//! `.git` is written directly, in well under a millisecond: `HEAD` is the commit (detached);
//! objects are borrowed from the source repository through `objects/info/alternates` (nothing
//! is copied, and objects a job writes stay in the workspace); the pipeline's branch is
//! `refs/remotes/origin/<branch>` and the source's tags are tags here (`packed-refs`);
//! `origin` is the source repository; with `GIT_DEPTH` the history is cut there (`shallow`),
//! as a shallow fetch cuts it; and, for a run of a working tree, the source's index is
//! copied, so `git status` and `git diff` show the uncommitted changes the workspace holds.
//!
//! Not reproduced: the `refs/pipelines/<id>` ref and the fetch refspecs of GitLab's project
//! settings; remote branches other than the pipeline's. Blocking; call it off the runtime.

use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::git::{GitError, Repo};

/// What a workspace's `.git` is made from.
#[derive(Debug, Clone)]
pub struct GitSource {
    /// The source repository's git directory (`.git` of a working tree, or a bare mirror):
    /// where its index is.
    pub git_dir: PathBuf,
    /// Where its objects and `shallow` file are: the git directory, or for a linked worktree
    /// the main repository's.
    pub common_dir: PathBuf,
    /// Where `origin` points: the working tree or the mirror.
    pub origin: PathBuf,
    /// The pipeline's commit, checked out with a detached `HEAD`.
    pub sha: String,
    /// References besides `HEAD`: full names (`refs/remotes/origin/main`, `refs/tags/v1.0.0`)
    /// to object ids.
    pub refs: Vec<(String, String)>,
    /// Copy the source's index (a run of a working tree, whose uncommitted changes the
    /// workspace holds).
    pub copy_index: bool,
}

/// Why a workspace's `.git` could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GitDirError {
    /// Writing a file of the `.git` failed.
    #[error("cannot write `{}` in the workspace's .git", path.display())]
    Write {
        /// The file, relative to `.git`.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// `GIT_DEPTH`'s history cut could not be computed.
    #[error("cannot cut the history at GIT_DEPTH")]
    Depth(#[source] GitError),
}

impl GitSource {
    /// The `.git` of a pipeline of `repo` at commit `sha` on `branch` (none for a tag
    /// pipeline or a detached `HEAD`), with every tag of the repository; `copy_index` for a
    /// run of `repo`'s working tree.
    ///
    /// # Errors
    /// The repository's tags cannot be read.
    pub fn new(repo: &Repo, sha: &str, branch: Option<&str>, copy_index: bool) -> Result<GitSource, GitError> {
        let mut refs = repo.tag_refs()?;
        if let Some(branch) = branch {
            refs.push((format!("refs/remotes/origin/{branch}"), sha.to_owned()));
        }
        Ok(GitSource {
            git_dir: repo.git_dir().to_owned(),
            common_dir: repo.common_dir().to_owned(),
            origin: repo.root().to_owned(),
            sha: sha.to_owned(),
            refs,
            copy_index,
        })
    }
}

/// The directories of a workspace's `.git`, relative to it.
const DIRS: [&str; 6] = ["refs", "refs/heads", "refs/tags", "objects", "objects/pack", "objects/info"];

/// The files [`write`] may make, relative to `.git`.
const FILES: [&str; 6] = ["HEAD", "config", "objects/info/alternates", "packed-refs", "shallow", "index"];

/// Writes `workspace/.git` from `source`; `depth` is `GIT_DEPTH` (`None` or 0: the whole
/// history). A `.git` already there (a reused workspace's, pruned by [`prune`]) keeps the
/// files whose contents and modes are already right: only the others are written.
///
/// # Errors
/// [`GitDirError`]: a file could not be written, or the depth not computed.
pub fn write(source: &GitSource, workspace: &Path, depth: Option<u32>) -> Result<(), GitDirError> {
    let git = workspace.join(".git");
    let file_mode = 0o666 & !super::copy::umask();
    let put = |rel: &str, content: &[u8], mode: u32| {
        sync_file(&git.join(rel), content, mode).map_err(|source| GitDirError::Write { path: rel.into(), source })
    };
    for dir in ["refs/heads", "refs/tags", "objects/pack", "objects/info"] {
        std::fs::create_dir_all(git.join(dir)).map_err(|source| GitDirError::Write { path: dir.into(), source })?;
    }
    put("HEAD", format!("{}\n", source.sha).as_bytes(), file_mode)?;
    let origin = source.origin.display();
    put(
        "config",
        format!(
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n\
             [remote \"origin\"]\n\turl = {origin}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        )
        .as_bytes(),
        file_mode,
    )?;
    let objects = source.common_dir.join("objects");
    put("objects/info/alternates", format!("{}\n", objects.display()).as_bytes(), file_mode)?;
    let mut refs = source.refs.clone();
    refs.sort();
    refs.dedup_by(|a, b| a.0 == b.0);
    let mut packed = String::from("# pack-refs with: sorted \n");
    for (name, id) in &refs {
        let _ = writeln!(packed, "{id} {name}");
    }
    put("packed-refs", packed.as_bytes(), file_mode)?;
    let shallow = if let Some(depth) = depth.filter(|d| *d > 0) {
        let repo = Repo::open(&source.origin).map_err(GitDirError::Depth)?;
        let boundary = repo.shallow_boundary(&source.sha, depth).map_err(GitDirError::Depth)?;
        (!boundary.is_empty()).then(|| boundary.iter().map(|sha| format!("{sha}\n")).collect::<String>().into_bytes())
    } else {
        // A shallow source: the workspace must not look for parents it does not have either.
        std::fs::read(source.common_dir.join("shallow")).ok()
    };
    match shallow {
        Some(content) => put("shallow", &content, file_mode)?,
        None => remove_file(&git, "shallow")?,
    }
    let index = source.git_dir.join("index");
    // A split index names a shared file beside it, which the copy would not have.
    let split = source.copy_index && std::fs::read_dir(&source.git_dir).is_ok_and(|entries| {
        entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("sharedindex."))
    });
    let own_index = (source.copy_index && !split)
        .then(|| std::fs::metadata(&index).ok().filter(std::fs::Metadata::is_file))
        .flatten();
    match own_index {
        Some(meta) => {
            let content = std::fs::read(&index).map_err(|source| GitDirError::Write { path: "index".into(), source })?;
            put("index", &content, meta.mode() & 0o7777)?;
        }
        None => remove_file(&git, "index")?,
    }
    Ok(())
}

/// Makes `path` a regular file holding `content` with `mode`, writing only what differs (an
/// existing file keeps its inode: creating one is the dear part on most file systems).
fn sync_file(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {
            if meta.mode() & 0o7777 != mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            if meta.len() == content.len() as u64 && std::fs::read(path)? == content {
                return Ok(());
            }
        }
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path)?,
        Ok(_) => std::fs::remove_file(path)?,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    std::fs::write(path, content)?;
    if std::fs::metadata(path)?.mode() & 0o7777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Removes `.git/rel` if it is there.
fn remove_file(git: &Path, rel: &str) -> Result<(), GitDirError> {
    match std::fs::remove_file(git.join(rel)) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(GitDirError::Write { path: rel.into(), source: error }),
        _ => Ok(()),
    }
}

/// Prunes the `.git` of a workspace a job used (`git`, a real directory) to what [`write`]
/// makes: every other entry (objects, refs, logs, hooks a job wrote) is removed, and the
/// directories get a fresh directory's mode. Nothing is followed through a symbolic link.
///
/// # Errors
/// An entry could not be read, removed or changed.
pub fn prune(git: &Path) -> io::Result<()> {
    let dir_mode = 0o777 & !super::copy::umask();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let here = git.join(&dir);
        if std::fs::symlink_metadata(&here)?.mode() & 0o7777 != dir_mode {
            std::fs::set_permissions(&here, std::fs::Permissions::from_mode(dir_mode))?;
        }
        for entry in std::fs::read_dir(&here)? {
            let entry = entry?;
            let rel = dir.join(entry.file_name());
            let file_type = entry.file_type()?;
            let known = |names: &[&str]| rel.to_str().is_some_and(|r| names.contains(&r));
            if file_type.is_dir() && known(&DIRS) {
                pending.push(rel);
            } else if file_type.is_file() && known(&FILES) {
                // Its contents and mode are checked by `write`.
            } else if file_type.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}
