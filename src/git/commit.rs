//! Commits to a repository Sluice writes to (the config repo), without a working tree: the
//! change is made on the mirror's copy of the branch tip, committed there and pushed without
//! force; when the remote moved meanwhile, the mirror is fetched and the change made again.

use std::cell::RefCell;
use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, PushOptions, RemoteCallbacks, Repository, Signature};

use super::{GitError, Mirror, other};

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
            let blob = self.repo.blob(&contents).map_err(other(format!("write `{path}`")))?;
            let mut update = TreeUpdateBuilder::new();
            update.upsert(path, blob, FileMode::Blob);
            let new_tree = update.create_updated(&self.repo, &tree).map_err(other("write a tree"))?;
            let new_tree = self.repo.find_tree(new_tree).map_err(other("read a tree"))?;
            let signature = Signature::now(author.0, author.1).map_err(other("make the commit's signature"))?;
            let commit = self
                .repo
                .commit(None, &signature, &signature, message, &new_tree, &[&tip])
                .map_err(other("write a commit"))?;
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

    /// Points `reference` at `commit` and pushes it without force; `Some(reason)` when the
    /// remote refused (it moved).
    fn push_branch(&self, reference: &str, commit: Oid) -> Result<Option<String>, GitError> {
        self.repo
            .reference(reference, commit, true, "sluice: commit to push")
            .map_err(other(format!("update `{reference}`")))?;
        push_without_force(&self.repo, &self.url, reference)
    }
}

/// Pushes `reference` of `repo` to the same name at `url`, without force. `Some(reason)` when
/// the remote refused the update (it has another commit or tag there).
pub(super) fn push_without_force(repo: &Repository, url: &str, reference: &str) -> Result<Option<String>, GitError> {
    let mut remote = repo.remote_anonymous(url).map_err(other(format!("use remote `{url}`")))?;
    let rejected: RefCell<Option<String>> = RefCell::new(None);
    let mut callbacks = RemoteCallbacks::new();
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
        (Err(err), _) => Err(GitError::Other {
            action: format!("push `{reference}` to `{url}`"),
            source: err,
        }),
    }
}
