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

/// Writes `workspace/.git` from `source`; `depth` is `GIT_DEPTH` (`None` or 0: the whole
/// history).
///
/// # Errors
/// [`GitDirError`]: a file could not be written, or the depth not computed.
pub fn write(source: &GitSource, workspace: &Path, depth: Option<u32>) -> Result<(), GitDirError> {
    let git = workspace.join(".git");
    let put = |rel: &str, content: &[u8]| {
        let path = git.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| GitDirError::Write { path: rel.into(), source })?;
        }
        std::fs::write(&path, content).map_err(|source| GitDirError::Write { path: rel.into(), source })
    };
    for dir in ["refs/heads", "refs/tags", "objects/pack"] {
        std::fs::create_dir_all(git.join(dir)).map_err(|source| GitDirError::Write { path: dir.into(), source })?;
    }
    put("HEAD", format!("{}\n", source.sha).as_bytes())?;
    let origin = source.origin.display();
    put(
        "config",
        format!(
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n\
             [remote \"origin\"]\n\turl = {origin}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        )
        .as_bytes(),
    )?;
    let objects = source.common_dir.join("objects");
    put("objects/info/alternates", format!("{}\n", objects.display()).as_bytes())?;
    let mut refs = source.refs.clone();
    refs.sort();
    refs.dedup_by(|a, b| a.0 == b.0);
    let mut packed = String::from("# pack-refs with: sorted \n");
    for (name, id) in &refs {
        let _ = writeln!(packed, "{id} {name}");
    }
    put("packed-refs", packed.as_bytes())?;
    if let Some(depth) = depth.filter(|d| *d > 0) {
        let repo = Repo::open(&source.origin).map_err(GitDirError::Depth)?;
        let boundary = repo.shallow_boundary(&source.sha, depth).map_err(GitDirError::Depth)?;
        if !boundary.is_empty() {
            put("shallow", boundary.iter().map(|sha| format!("{sha}\n")).collect::<String>().as_bytes())?;
        }
    } else if let Ok(own) = std::fs::read(source.common_dir.join("shallow")) {
        // A shallow source: the workspace must not look for parents it does not have either.
        put("shallow", &own)?;
    }
    let index = source.git_dir.join("index");
    // A split index names a shared file beside it, which the copy would not have.
    let split = source.copy_index && std::fs::read_dir(&source.git_dir).is_ok_and(|entries| {
        entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("sharedindex."))
    });
    if source.copy_index && !split && index.is_file() {
        std::fs::copy(&index, git.join("index")).map_err(|source| GitDirError::Write { path: "index".into(), source })?;
    }
    Ok(())
}
