//! The daemon's set of project mirrors under `<data_dir>/mirrors/<project>.git`, with one
//! lock per project so the poller and the worker never fetch into the same mirror at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::ProjectConfig;
use crate::git::{GitError, Mirror, RemoteAuth};

/// Every project's mirror. Cheap to clone; call [`Mirrors::with`] from blocking code only.
#[derive(Clone)]
pub struct Mirrors {
    dir: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl Mirrors {
    /// Mirrors kept under `dir` (`<data_dir>/mirrors`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Mirrors {
            dir: dir.into(),
            locks: Arc::default(),
        }
    }

    /// The directory of `project`'s mirror.
    pub fn path_of(&self, project: &str) -> PathBuf {
        self.dir.join(format!("{project}.git"))
    }

    /// Runs `f` on `project`'s mirror (created if missing) while holding its lock. Blocks.
    ///
    /// # Errors
    /// What opening the mirror or `f` returns.
    pub fn with<T>(
        &self,
        project: &ProjectConfig,
        f: impl FnOnce(&Mirror) -> Result<T, GitError>,
    ) -> Result<T, GitError> {
        let lock = self.lock_of(project.name.as_str());
        // A panic while fetching leaves nothing half-done that the next fetch cannot redo.
        let _held = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mirror = Mirror::open_or_init(&self.path_of(project.name.as_str()), &project.repo.to_git_url())?
            .with_auth(RemoteAuth::from(&project.credentials));
        f(&mirror)
    }

    /// The lock of `project`'s mirror, for writers outside [`Mirrors::with`] (the release tag
    /// made in the mirror must not be pruned by a fetch before it is pushed).
    pub fn lock_of(&self, project: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(project.to_owned()).or_default().clone()
    }

    /// The directory holding every mirror.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
