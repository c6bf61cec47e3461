//! Commits to a repository Sluice writes to (the config repo), without a working tree: the
//! change is made on the mirror's copy of the branch tip, committed there and pushed without
//! force; when the remote moved meanwhile, the mirror is fetched and the change made again.

use std::cell::RefCell;
use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, PushOptions, Repository, Signature};

use super::auth::Session;
use super::{GitError, Mirror, RemoteAuth, other};

/// How [`Mirror::commit_file_on`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The commit (this sha) is on the remote branch.
    Commit(String),
    /// The file already had these contents: nothing was committed.
    Unchanged,
}

/// Why [`Mirror::commit_file_on`] pushed nothing.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The remote branch moved (someone else pushed); fetch and decide again.
    #[error("the remote refused the push of `{branch}`: {message}")]
    Rejected {
        /// The branch.
        branch: String,
        /// What the remote said.
        message: String,
    },
    /// Reading, committing or pushing failed.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// How often a commit is redone on a remote that moved under it.
const ATTEMPTS: usize = 3;

impl Mirror {
    /// Replaces file `path` on `branch` with what `edit` makes of its current contents
    /// (`None`: the file does not exist), commits it as `author` with `message`, and pushes.
    /// `edit` returning `None` means nothing to change.
    ///
    /// Returns the new commit's sha, `None` when nothing changed.
    ///
    /// # Errors
    ///
    /// [`GitError::Other`] when fetching, committing or pushing fails (a remote that keeps
    /// refusing the push after [`ATTEMPTS`] fetches included).
    pub fn commit_file(
        &self,
        branch: &str,
        path: &str,
        edit: impl Fn(Option<&[u8]>) -> Option<Vec<u8>>,
        message: &str,
        author: (&str, &str),
    ) -> Result<Option<String>, GitError> {
        let reference = format!("refs/heads/{branch}");
        let mut last_refusal = String::new();
        for _ in 0..ATTEMPTS {
            self.fetch(&[])?;
            let tip = self
                .repo
                .revparse_single(&reference)
                .and_then(|o| o.peel_to_commit())
                .map_err(other(format!("find branch `{branch}` of `{}`", self.url)))?;
            let tree = tip.tree().map_err(other("read a tree"))?;
            let current = match tree.get_path(Path::new(path)) {
                Ok(entry) => Some(self.repo.find_blob(entry.id()).map_err(other(format!("read `{path}`")))?.content().to_vec()),
                Err(_) => None,
            };
            let Some(contents) = edit(current.as_deref()) else { return Ok(None) };
            let Some(commit) = self.commit_on(&tip, path, &contents, message, author)? else { return Ok(None) };
            match self.push_branch(&reference, commit)? {
                None => return Ok(Some(commit.to_string())),
                Some(refusal) => last_refusal = refusal,
            }
        }
        Err(GitError::PushRejected {
            url: self.url.clone(),
            reason: last_refusal,
        })
    }

    /// Commits `contents` as `path` on top of commit `parent` (a sha the mirror has, such as
    /// a branch tip that was validated), and pushes it as `branch` without force. Unlike
    /// [`Mirror::commit_file`] it does not fetch or retry: the caller decided on `parent`'s
    /// contents and must decide again when the remote moved.
    ///
    /// # Errors
    /// [`PushError::Rejected`] when the remote's branch is not `parent` any more (fetch, judge
    /// again); [`PushError::Git`] for anything else.
    pub fn commit_file_on(
        &self,
        branch: &str,
        parent: &str,
        path: &str,
        contents: &[u8],
        message: &str,
        author: (&str, &str),
    ) -> Result<Pushed, PushError> {
        let tip = Oid::from_str(parent)
            .and_then(|oid| self.repo.find_commit(oid))
            .map_err(other(format!("find commit {parent} of `{}`", self.url)))?;
        let Some(commit) = self.commit_on(&tip, path, contents, message, author)? else { return Ok(Pushed::Unchanged) };
        match self.push_branch(&format!("refs/heads/{branch}"), commit)? {
            None => Ok(Pushed::Commit(commit.to_string())),
            // The next fetch puts the mirror's branch back where the remote has it.
            Some(message) => Err(PushError::Rejected { branch: branch.to_owned(), message }),
        }
    }

    /// A commit of `tip`'s tree with `path` set to `contents`; `None` when `path` already
    /// holds exactly that.
    fn commit_on(
        &self,
        tip: &git2::Commit<'_>,
        path: &str,
        contents: &[u8],
        message: &str,
        author: (&str, &str),
    ) -> Result<Option<Oid>, GitError> {
        let tree = tip.tree().map_err(other("read a tree"))?;
        let blob = self.repo.blob(contents).map_err(other(format!("write `{path}`")))?;
        if tree.get_path(Path::new(path)).is_ok_and(|entry| entry.id() == blob) {
            return Ok(None);
        }
        let mut update = TreeUpdateBuilder::new();
        update.upsert(path, blob, FileMode::Blob);
        let new_tree = update.create_updated(&self.repo, &tree).map_err(other("write a tree"))?;
        let new_tree = self.repo.find_tree(new_tree).map_err(other("read a tree"))?;
        let signature = Signature::now(author.0, author.1).map_err(other("make the commit's signature"))?;
        let commit = self
            .repo
            .commit(None, &signature, &signature, message, &new_tree, &[tip])
            .map_err(other("write a commit"))?;
        Ok(Some(commit))
    }

    /// Points `reference` at `commit` and pushes it without force; `Some(reason)` when the
    /// remote refused (it moved).
    fn push_branch(&self, reference: &str, commit: Oid) -> Result<Option<String>, GitError> {
        self.repo
            .reference(reference, commit, true, "sluice: commit to push")
            .map_err(other(format!("update `{reference}`")))?;
        push_without_force(&self.repo, &self.url, &self.auth, reference)
    }
}

/// Pushes `reference` of `repo` to the same name at `url` with `auth`, without force.
/// `Some(reason)` when the remote refused the update (it has another commit or tag there).
pub(super) fn push_without_force(
    repo: &Repository,
    url: &str,
    auth: &RemoteAuth,
    reference: &str,
) -> Result<Option<String>, GitError> {
    let mut remote = repo.remote_anonymous(url).map_err(other(format!("use remote `{url}`")))?;
    let rejected: RefCell<Option<String>> = RefCell::new(None);
    let session = Session::new(auth, url);
    let mut callbacks = session.callbacks();
    callbacks.push_update_reference(|name, status| {
        if let Some(status) = status {
            *rejected.borrow_mut() = Some(format!("{name}: {status}"));
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks);
    let refspec = format!("{reference}:{reference}");
    let pushed = remote.push(&[refspec.as_str()], Some(&mut options));
    drop(options);
    match (pushed, rejected.into_inner()) {
        (Ok(()), None) => Ok(None),
        (Ok(()), Some(reason)) => Ok(Some(reason)),
        // libgit2 reports a refused update of a local remote as an error.
        (Err(err), _) if matches!(err.code(), git2::ErrorCode::NotFastForward | git2::ErrorCode::Exists) => {
            Ok(Some(err.message().to_owned()))
        }
        (Err(err), _) => Err(session.error(format!("push `{reference}` to `{url}`"), err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_cli::git;

    #[test]
    fn a_commit_is_pushed_as_a_fast_forward_and_refused_when_the_remote_moved() {
        let dir = tempfile::tempdir().expect("temp");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(&work, &["init", "-q", "-b", "main"]);
        std::fs::write(work.join("a.txt"), "one\n").expect("write");
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "first"]);
        let bare = dir.path().join("remote.git");
        git(dir.path(), &["clone", "-q", "--bare", work.to_str().expect("utf-8"), bare.to_str().expect("utf-8")]);

        let mirror = Mirror::open_or_init(&dir.path().join("mirror.git"), bare.to_str().expect("utf-8")).expect("mirror");
        mirror.fetch(&[]).expect("fetch");
        let author = ("Sluice", "sluice@localhost");
        let tip = |m: &Mirror| m.resolve("refs/heads/main").expect("tip");
        let pushed = mirror.commit_file_on("main", &tip(&mirror), "apps/x/dev.yaml", b"version: 1\n", "pin x", author).expect("push");
        let Pushed::Commit(sha) = pushed else { panic!("expected a commit") };
        assert_eq!(git(&bare, &["rev-parse", "main"]), sha);
        assert_eq!(git(&bare, &["show", "main:apps/x/dev.yaml"]), "version: 1");
        assert_eq!(git(&bare, &["log", "-1", "--format=%an <%ae> %s", "main"]), "Sluice <sluice@localhost> pin x");
        let same = mirror.commit_file_on("main", &tip(&mirror), "apps/x/dev.yaml", b"version: 1\n", "again", author).expect("no-op");
        assert_eq!(same, Pushed::Unchanged);

        // Someone else pushes: the mirror's next commit is refused and changes nothing.
        let other = dir.path().join("other");
        git(dir.path(), &["clone", "-q", bare.to_str().expect("utf-8"), other.to_str().expect("utf-8")]);
        std::fs::write(other.join("b.txt"), "two\n").expect("write");
        git(&other, &["add", "."]);
        git(&other, &["commit", "-q", "-m", "other"]);
        git(&other, &["push", "-q", "origin", "main"]);
        let theirs = git(&bare, &["rev-parse", "main"]);
        let refused = mirror.commit_file_on("main", &sha, "apps/x/dev.yaml", b"version: 2\n", "pin x 2", author);
        assert!(matches!(refused, Err(PushError::Rejected { .. })), "{refused:?}");
        assert_eq!(git(&bare, &["rev-parse", "main"]), theirs);
        mirror.fetch(&[]).expect("fetch");
        assert_eq!(mirror.resolve("refs/heads/main"), Some(theirs.clone()));
        let again = mirror.commit_file_on("main", &theirs, "apps/x/dev.yaml", b"version: 2\n", "pin x 2", author);
        assert!(matches!(again, Ok(Pushed::Commit(_))), "{again:?}");
    }
}
