//! Reads from git repositories with libgit2: the commit a pipeline runs for, files at a
//! revision, the paths changed between two revisions (what `rules:changes` needs), and tags
//! (what the VERSION gate counts as published).
//!
//! All functions here block; async callers run them in `spawn_blocking`.

use std::path::{Path, PathBuf};

mod auth;
pub mod commit;
pub mod known_hosts;
pub mod mirror;
mod reader;
mod tag;
#[cfg(test)]
pub(crate) mod test_cli;

pub use auth::RemoteAuth;
pub use known_hosts::HostKeyRefusal;
pub use mirror::Mirror;
pub use reader::{RepoReader, remote_cache_name};
pub use tag::TagOutcome;

use git2::{ObjectType, Oid, Repository, StatusOptions, TreeWalkMode, TreeWalkResult};

/// A failure to read from a repository, with what was being read.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The directory is not inside a git repository.
    #[error("`{path}` is not a git repository")]
    NotARepository {
        /// The directory given.
        path: PathBuf,
        /// Why libgit2 refused it.
        #[source]
        source: git2::Error,
    },
    /// A revision (sha, branch, tag) does not name a commit.
    #[error("`{rev}` does not name a commit in `{repo}`")]
    UnknownRevision {
        /// The revision as given.
        rev: String,
        /// The repository.
        repo: PathBuf,
        /// Why libgit2 refused it.
        #[source]
        source: git2::Error,
    },
    /// A tag exists on another commit; it is never moved.
    #[error("tag `{name}` already exists on commit {existing}, not on {wanted}; an existing tag is never moved")]
    TagConflict {
        /// The tag.
        name: String,
        /// The commit it names.
        existing: String,
        /// The commit asked for.
        wanted: String,
    },
    /// A remote refused a push.
    #[error("remote `{url}` refused the push: {reason}")]
    PushRejected {
        /// The remote.
        url: String,
        /// Its reason, per reference.
        reason: String,
    },
    /// An SSH server's host key is not the one `known_hosts` lists for it.
    #[error(transparent)]
    HostKey(HostKeyRefusal),
    /// Any other libgit2 failure while doing `action`.
    #[error("git failed to {action}")]
    Other {
        /// What was being done.
        action: String,
        /// The libgit2 error.
        #[source]
        source: git2::Error,
    },
}

/// An open repository.
pub struct Repo {
    repo: Repository,
    path: PathBuf,
}

fn other(action: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let action = action.into();
    move |source| GitError::Other { action, source }
}

impl Repo {
    /// Opens the repository containing `dir` (searching parent directories).
    pub fn discover(dir: &Path) -> Result<Repo, GitError> {
        let repo = Repository::discover(dir).map_err(|source| GitError::NotARepository { path: dir.to_owned(), source })?;
        let path = repo.workdir().unwrap_or_else(|| repo.path()).to_owned();
        Ok(Repo { repo, path })
    }

    /// Opens the repository at exactly `path` (bare or not).
    pub fn open(path: &Path) -> Result<Repo, GitError> {
        let repo = Repository::open(path).map_err(|source| GitError::NotARepository { path: path.to_owned(), source })?;
        Ok(Repo { repo, path: path.to_owned() })
    }

    /// The working directory (or the git directory of a bare repository).
    pub fn root(&self) -> &Path {
        &self.path
    }

    /// The full sha of the commit `rev` names.
    pub fn resolve(&self, rev: &str) -> Result<String, GitError> {
        Ok(self.commit(rev)?.id().to_string())
    }

    fn commit(&self, rev: &str) -> Result<git2::Commit<'_>, GitError> {
        self.repo
            .revparse_single(rev)
            .and_then(|object| object.peel_to_commit())
            .map_err(|source| GitError::UnknownRevision { rev: rev.to_owned(), repo: self.path.clone(), source })
    }

    /// The short name of the checked-out branch, if HEAD is on one.
    pub fn current_branch(&self) -> Option<String> {
        let head = self.repo.head().ok()?;
        if head.is_branch() { head.shorthand().ok().map(str::to_owned) } else { None }
    }

    /// The message of commit `rev`.
    pub fn commit_message(&self, rev: &str) -> Result<String, GitError> {
        Ok(self.commit(rev)?.message().unwrap_or("").to_owned())
    }

    /// The committer time of commit `rev`, in seconds since 1970 (reproducible builds' epoch).
    pub fn commit_time(&self, rev: &str) -> Result<i64, GitError> {
        Ok(self.commit(rev)?.time().seconds())
    }

    /// The merge base of two revisions.
    pub fn merge_base(&self, a: &str, b: &str) -> Result<String, GitError> {
        let (a, b) = (self.commit(a)?.id(), self.commit(b)?.id());
        let base = self.repo.merge_base(a, b).map_err(other(format!("find the merge base of {a} and {b}")))?;
        Ok(base.to_string())
    }

    /// Paths (old and new names) that differ between the trees of two revisions, sorted.
    pub fn changed_paths(&self, from: &str, to: &str) -> Result<Vec<String>, GitError> {
        let old = self.commit(from)?.tree().map_err(other("read a tree"))?;
        let new = self.commit(to)?.tree().map_err(other("read a tree"))?;
        let diff = self.repo.diff_tree_to_tree(Some(&old), Some(&new), None).map_err(other("diff two trees"))?;
        let mut paths = Vec::new();
        for delta in diff.deltas() {
            for file in [delta.old_file(), delta.new_file()] {
                if let Some(path) = file.path().and_then(Path::to_str) {
                    paths.push(path.to_owned());
                }
            }
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// The emails of the author and the committer of commit `rev`.
    pub fn commit_emails(&self, rev: &str) -> Result<Vec<String>, GitError> {
        let commit = self.commit(rev)?;
        let mut emails: Vec<String> =
            [commit.author(), commit.committer()].iter().filter_map(|s| s.email().ok().map(str::to_owned)).collect();
        emails.dedup();
        Ok(emails)
    }

    /// The contents of `path` at revision `rev`, or `None` when the file does not exist there.
    pub fn read_file_at(&self, rev: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let tree = self.commit(rev)?.tree().map_err(other("read a tree"))?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(source) => return Err(GitError::Other { action: format!("look up `{path}`"), source }),
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self.repo.find_blob(entry.id()).map_err(other(format!("read `{path}`")))?;
        Ok(Some(blob.content().to_vec()))
    }

    /// The names of every tag (`v1.2.0`, not `refs/tags/v1.2.0`), sorted; names that are not
    /// UTF-8 are left out.
    pub fn tags(&self) -> Result<Vec<String>, GitError> {
        let names = self.repo.tag_names(None).map_err(other("list tags"))?;
        let mut tags: Vec<String> = names.iter_bytes().filter_map(|name| std::str::from_utf8(name).ok()).map(str::to_owned).collect();
        tags.sort();
        Ok(tags)
    }

    /// Every file path at revision `rev`, sorted.
    pub fn list_files_at(&self, rev: &str) -> Result<Vec<String>, GitError> {
        let tree = self.commit(rev)?.tree().map_err(other("read a tree"))?;
        let mut files = Vec::new();
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(ObjectType::Blob)
                && let Ok(name) = entry.name() {
                    files.push(format!("{dir}{name}"));
                }
            TreeWalkResult::Ok
        })
        .map_err(other("walk a tree"))?;
        files.sort();
        Ok(files)
    }

    /// Files of the working tree that git knows or would add: tracked files still present,
    /// plus untracked files that are not ignored. Sorted.
    pub fn working_tree_files(&self) -> Result<Vec<String>, GitError> {
        let mut files = self.tracked_files()?;
        files.extend(self.untracked_files()?);
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// Tracked files (the index) that are still present in the working tree, sorted.
    pub fn tracked_files(&self) -> Result<Vec<String>, GitError> {
        let index = self.repo.index().map_err(other("read the index"))?;
        let mut files: Vec<String> = index
            .iter()
            .filter_map(|entry| String::from_utf8(entry.path).ok())
            .filter(|path| self.path.join(path).is_file() || self.path.join(path).is_symlink())
            .collect();
        files.sort();
        Ok(files)
    }

    /// Untracked files that are not ignored, sorted.
    pub fn untracked_files(&self) -> Result<Vec<String>, GitError> {
        let mut options = StatusOptions::new();
        options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
        let statuses = self.repo.statuses(Some(&mut options)).map_err(other("read the status"))?;
        let mut files: Vec<String> = statuses
            .iter()
            .filter(|status| status.status().is_wt_new())
            .filter_map(|status| status.path().ok().map(str::to_owned))
            .collect();
        files.sort();
        Ok(files)
    }

    /// The git directory (`.git` of a working tree; the repository itself when bare; for a
    /// linked worktree, its own directory under the main repository's `worktrees/`).
    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }

    /// The directory that holds the objects, refs and `shallow` file: the git directory,
    /// except for a linked worktree, whose objects are the main repository's.
    pub fn common_dir(&self) -> &Path {
        self.repo.commondir()
    }

    /// Every tag as a full reference name (`refs/tags/v1.0.0`) with the object it points to
    /// (the tag object of an annotated tag), sorted; names that are not UTF-8 are left out.
    pub fn tag_refs(&self) -> Result<Vec<(String, String)>, GitError> {
        let mut refs = Vec::new();
        for reference in self.repo.references_glob("refs/tags/*").map_err(other("list tags"))? {
            let reference = reference.map_err(other("read a tag"))?;
            if let (Ok(name), Some(target)) = (std::str::from_utf8(reference.name_bytes()), reference.target()) {
                refs.push((name.to_owned(), target.to_string()));
            }
        }
        refs.sort();
        Ok(refs)
    }

    /// The commits a fetch of `sha` with `--depth depth` leaves without their parents (what
    /// `.git/shallow` lists): those `depth - 1` generations below `sha` that have parents,
    /// plus the commits this repository is itself shallow at, if it is. Sorted.
    pub fn shallow_boundary(&self, sha: &str, depth: u32) -> Result<Vec<String>, GitError> {
        let start = self.commit(sha)?.id();
        let mut boundary = std::collections::BTreeSet::new();
        let mut seen = std::collections::HashSet::from([start]);
        let mut queue = std::collections::VecDeque::from([(start, 1u32)]);
        // Breadth first, so each commit is met at its least distance from `sha`, as git counts.
        while let Some((id, generation)) = queue.pop_front() {
            // A commit missing here is beyond this repository's own shallow boundary.
            let Ok(commit) = self.repo.find_commit(id) else { continue };
            if generation >= depth {
                if commit.parent_count() > 0 {
                    boundary.insert(id.to_string());
                }
                continue;
            }
            for parent in commit.parent_ids() {
                if seen.insert(parent) {
                    queue.push_back((parent, generation + 1));
                }
            }
        }
        if let Ok(own) = std::fs::read_to_string(self.repo.commondir().join("shallow")) {
            boundary.extend(own.lines().filter(|line| !line.is_empty()).map(str::to_owned));
        }
        Ok(boundary.into_iter().collect())
    }

    /// Whether `sha` is a valid object id of a commit here.
    pub fn has_commit(&self, sha: &str) -> bool {
        Oid::from_str(sha).ok().and_then(|oid| self.repo.find_commit(oid).ok()).is_some()
    }
}
