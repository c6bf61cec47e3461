//! Release tags: an annotated tag on a commit, and its push to a remote. A tag that exists is
//! never moved, locally or on the remote (the push has no `+`, so the remote refuses to
//! move it).

use git2::{ObjectType, Signature};

use super::commit::push_without_force;
use super::{GitError, RemoteAuth, Repo, other};

/// What [`Repo::tag_annotated`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOutcome {
    /// The tag was made.
    Created,
    /// The tag already named that commit (a resumed publication).
    AlreadyThere,
}

impl Repo {
    /// Tags commit `sha` as `name` with an annotated tag carrying `message`, by the
    /// repository's configured user or else `Sluice <sluice@localhost>`.
    ///
    /// # Errors
    ///
    /// [`GitError::TagConflict`] when `name` already names another commit;
    /// [`GitError::UnknownRevision`]; [`GitError::Other`].
    pub fn tag_annotated(&self, name: &str, sha: &str, message: &str) -> Result<TagOutcome, GitError> {
        let target = self.commit(sha)?;
        if let Ok(existing) = self.repo.revparse_single(&format!("refs/tags/{name}")) {
            let points_to = existing.peel(ObjectType::Commit).map_err(other(format!("read tag `{name}`")))?.id();
            if points_to == target.id() {
                return Ok(TagOutcome::AlreadyThere);
            }
            return Err(GitError::TagConflict {
                name: name.to_owned(),
                existing: points_to.to_string(),
                wanted: sha.to_owned(),
            });
        }
        let tagger = self
            .repo
            .signature()
            .or_else(|_| Signature::now("Sluice", "sluice@localhost"))
            .map_err(other("make the tagger's signature"))?;
        self.repo
            .tag(name, target.as_object(), &tagger, message, false)
            .map_err(other(format!("create tag `{name}`")))?;
        Ok(TagOutcome::Created)
    }

    /// The URL of remote `name` (`origin`), if the repository has it.
    pub fn remote_url(&self, name: &str) -> Option<String> {
        self.repo.find_remote(name).ok()?.url().ok().map(str::to_owned)
    }

    /// Pushes tag `name` to `url` with `auth`, without force.
    ///
    /// # Errors
    ///
    /// [`GitError::PushRejected`] when the remote refuses (it has another tag of that name);
    /// [`GitError::HostKey`] for a refused SSH host key; [`GitError::Other`] when it cannot be
    /// reached or refuses the credentials.
    pub fn push_tag(&self, url: &str, name: &str, auth: &RemoteAuth) -> Result<(), GitError> {
        match push_without_force(&self.repo, url, auth, &format!("refs/tags/{name}"))? {
            Some(reason) => Err(GitError::PushRejected { url: url.to_owned(), reason }),
            None => Ok(()),
        }
    }
}
