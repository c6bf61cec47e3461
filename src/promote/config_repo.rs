//! The daemon's handle on the config repo: a bare mirror under the data directory, the
//! validated snapshot of its branch tip, and the one place that commits to it.
//!
//! A tip that fails validation is never used: the last valid snapshot stays in force, and
//! [`Status`] says which commit was refused and why. Every write takes the handle's lock,
//! fetches, re-reads the tip and decides again, so two racing requests (two approvals that
//! each complete a quorum) give one commit: the second finds the pin already changed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::Notify;

use crate::config::repo::{self, ConfigRepo, ConfigRepoSource};
use crate::git::commit::{PushError, Pushed};
use crate::git::{GitError, Mirror, RemoteAuth};

/// The validated config repo at a commit.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The commit.
    pub sha: String,
    /// Its contents.
    pub repo: Arc<ConfigRepo>,
}

/// What the daemon knows of the config repo, for `GET /api/v1/config-repo`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The commit in force (the last valid one).
    pub applied: Option<String>,
    /// The branch tip when it failed validation, and why.
    pub refused: Option<Refused>,
    /// The last fetch error, if the last fetch failed.
    pub fetch_error: Option<String>,
}

/// A refused commit.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    /// The commit.
    pub sha: String,
    /// Every error, rendered.
    pub errors: String,
}

/// Why the config repo could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The branch tip fails validation; nothing is written on top of it.
    #[error("the config repo's commit {sha} is invalid, so nothing is written until it is fixed:\n{errors}")]
    Invalid {
        /// The tip.
        sha: String,
        /// Every error.
        errors: String,
    },
    /// The change itself is refused (its closure said why).
    #[error("{0}")]
    Refused(String),
    /// Git failed, or the remote kept moving.
    #[error("cannot write the config repo: {0}")]
    Git(String),
}

/// A change to one file, as a write closure decides it.
pub struct Change {
    /// The path in the repo.
    pub path: String,
    /// The new contents.
    pub contents: Vec<u8>,
    /// The commit message.
    pub message: String,
}

/// The daemon's config repo.
pub struct ConfigRepoHandle {
    source: ConfigRepoSource,
    path: PathBuf,
    lock: Mutex<()>,
    current: Mutex<(Option<Snapshot>, Status)>,
    pushed: Option<Arc<Notify>>,
}

impl ConfigRepoHandle {
    /// A handle on `source`, mirrored at `path` (created on first fetch).
    pub fn new(source: ConfigRepoSource, path: PathBuf) -> Self {
        Self { source, path, lock: Mutex::new(()), current: Mutex::new((None, Status::default())), pushed: None }
    }

    /// Notifies `pushed` after every commit this handle pushes, so the daemon's deploy loop
    /// applies a promotion at once instead of at its next poll.
    #[must_use]
    pub fn notify_pushes(mut self, pushed: Arc<Notify>) -> Self {
        self.pushed = Some(pushed);
        self
    }

    /// The snapshot in force, if any commit was valid yet.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).0.clone()
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).1.clone()
    }

    fn mirror(&self) -> Result<Mirror, GitError> {
        Ok(Mirror::open_or_init(&self.path, &self.source.repo.to_git_url())?.with_auth(RemoteAuth::from(&self.source.credentials)))
    }

    /// Fetches and validates the branch tip; a valid tip becomes the snapshot. Blocks.
    pub fn refresh(&self) {
        let _held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.refresh_locked();
    }

    /// Fetches, then reads the tip: `Ok(Some)` valid, `Err` invalid (sha, errors). The
    /// snapshot's lock is not held while fetching or parsing, so readers never wait for git.
    fn refresh_locked(&self) -> Option<Result<Snapshot, (String, String)>> {
        let fetched = self.mirror().and_then(|mirror| {
            mirror.fetch(&[])?;
            Ok(mirror)
        });
        let mirror = match fetched {
            Ok(mirror) => mirror,
            Err(error) => {
                let message = format!("{:#}", anyhow::Error::from(error));
                tracing::warn!("cannot fetch the config repo: {message}");
                self.current.lock().unwrap_or_else(PoisonError::into_inner).1.fetch_error = Some(message);
                return None;
            }
        };
        let sha = mirror.resolve(&format!("refs/heads/{}", self.source.branch))?;
        {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            current.1.fetch_error = None;
            if let Some(snapshot) = &current.0
                && snapshot.sha == sha
            {
                return Some(Ok(snapshot.clone()));
            }
            if let Some(refused) = current.1.refused.as_ref().filter(|r| r.sha == sha) {
                return Some(Err((sha, refused.errors.clone())));
            }
        }
        let parsed = mirror
            .reader()
            .and_then(|reader| repo::load_at(&reader, &sha))
            .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
            .and_then(|files| repo::parse(&files, "").map_err(|diags| diags.to_string()));
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match parsed {
            Ok((config, _warnings)) => {
                let snapshot = Snapshot { sha: sha.clone(), repo: Arc::new(config) };
                tracing::info!(commit = %sha, "config repo commit applied");
                current.0 = Some(snapshot.clone());
                current.1.applied = Some(sha);
                current.1.refused = None;
                Some(Ok(snapshot))
            }
            Err(errors) => {
                tracing::warn!(commit = %sha, "config repo commit refused: it fails validation:\n{errors}");
                current.1.refused = Some(Refused { sha: sha.clone(), errors: errors.clone() });
                Some(Err((sha, errors)))
            }
        }
    }

    /// Changes one file: under the lock, fetches, validates the tip, asks `decide` for the
    /// change (`Ok(None)`: nothing to do), commits and pushes it, and refreshes. A push the
    /// remote refuses because it moved is retried from the fetch, a few times. Blocks.
    ///
    /// # Errors
    /// [`WriteError::Invalid`] when the tip fails validation; what `decide` refuses;
    /// [`WriteError::Git`].
    pub fn write(
        &self,
        mut decide: impl FnMut(&Snapshot, &Mirror) -> Result<Option<Change>, WriteError>,
    ) -> Result<Option<(String, Snapshot)>, WriteError> {
        let _held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        for _attempt in 0..5 {
            let snapshot = match self.refresh_locked() {
                Some(Ok(snapshot)) => snapshot,
                Some(Err((sha, errors))) => return Err(WriteError::Invalid { sha, errors }),
                None => {
                    let why = self.status().fetch_error.unwrap_or_else(|| "the branch does not exist".into());
                    return Err(WriteError::Git(why));
                }
            };
            let mirror = self.mirror().map_err(|e| WriteError::Git(format!("{:#}", anyhow::Error::from(e))))?;
            let Some(change) = decide(&snapshot, &mirror)? else { return Ok(None) };
            check_change(&mirror, &snapshot.sha, &change)?;
            let author = (self.source.author.name.as_str(), self.source.author.email.as_str());
            match mirror.commit_file_on(&self.source.branch, &snapshot.sha, &change.path, &change.contents, &change.message, author) {
                Ok(Pushed::Commit(sha)) => {
                    if let Some(pushed) = &self.pushed {
                        pushed.notify_one();
                    }
                    let snapshot = match self.refresh_locked() {
                        Some(Ok(snapshot)) => snapshot,
                        _ => snapshot,
                    };
                    return Ok(Some((sha, snapshot)));
                }
                Ok(Pushed::Unchanged) => return Ok(None),
                Err(PushError::Rejected { message, .. }) => {
                    tracing::info!("the config repo moved while writing ({message}); trying again");
                }
                Err(PushError::Git(error)) => return Err(WriteError::Git(format!("{:#}", anyhow::Error::from(error)))),
            }
        }
        Err(WriteError::Git("the config repo kept moving; gave up after 5 attempts".into()))
    }
}

/// Refuses a change that would make the config repo invalid: Sluice never pushes a commit
/// it would itself refuse to apply.
fn check_change(mirror: &Mirror, sha: &str, change: &Change) -> Result<(), WriteError> {
    let git = |e: GitError| WriteError::Git(format!("{:#}", anyhow::Error::from(e)));
    let mut files = repo::load_at(&mirror.reader().map_err(git)?, sha).map_err(git)?;
    files.insert(change.path.clone(), change.contents.clone());
    match repo::parse(&files, "") {
        Ok(_) => Ok(()),
        Err(diags) => Err(WriteError::Refused(format!("the change would make the config repo invalid:\n{diags}"))),
    }
}
