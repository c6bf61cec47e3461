//! A fresh directory only its owner can enter (0700), removed with everything in it when
//! dropped: where the command target puts the render and the secrets, and Helm its values.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// A directory created 0700 under a parent, removed recursively on drop.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Creates `<parent>/<prefix>-<16 random hex digits>` with mode 0700.
    ///
    /// # Errors
    ///
    /// The I/O error of creating it (an existing name is never reused).
    pub(crate) fn create(parent: &Path, prefix: &str) -> io::Result<PrivateDir> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let path = parent.join(format!("{prefix}-{name}"));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateDir { path })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
