//! The quickstart directory: where everything goes, and making it ready for a new run.
//!
//! A directory is reused only when it is empty or a previous quickstart made it (it holds
//! the [`MARKER`] file); then what that run may have left running (its daemon, recorded in
//! `daemon.pid`, and the apps recorded in each process target's `current.json`) is stopped
//! before the directory's contents are removed. Anything else is refused untouched.

use std::path::{Path, PathBuf};

use super::QuickstartError;
use crate::deploy::target::process::ProcessTarget;

/// The file that marks a directory as made by `sluice quickstart`.
pub const MARKER: &str = ".sluice-quickstart";

/// Every path of a quickstart directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The directory itself (absolute).
    pub root: PathBuf,
    /// The sample app's working clone.
    pub app: PathBuf,
    /// Its bare remote, which the daemon polls.
    pub app_remote: PathBuf,
    /// The config repo's working clone.
    pub config: PathBuf,
    /// Its bare remote, which the daemon reads and pushes promotions to.
    pub config_remote: PathBuf,
    /// The demo age identity (private key; 0600; in no repository).
    pub identity: PathBuf,
    /// The API token of the demo approver (0600).
    pub token: PathBuf,
    /// `sluice.yaml`.
    pub config_file: PathBuf,
    /// The daemon's data directory (store, mirrors, checkouts, images, deployments).
    pub data: PathBuf,
    /// The OCI image layout the app's images are published to.
    pub images: PathBuf,
    /// Log files.
    pub logs: PathBuf,
    /// The daemon's log.
    pub daemon_log: PathBuf,
    /// The running daemon's pid and start time.
    pub daemon_pid: PathBuf,
}

impl Layout {
    /// The paths under `root` (absolute).
    pub fn new(root: PathBuf) -> Layout {
        let data = root.join("data");
        let logs = root.join("logs");
        Layout {
            app: root.join(super::APP),
            app_remote: root.join(format!("{}.git", super::APP)),
            config: root.join("config"),
            config_remote: root.join("config.git"),
            identity: root.join("identity.txt"),
            token: root.join("approver.token"),
            config_file: root.join("sluice.yaml"),
            images: data.join("images").join(super::APP),
            daemon_log: logs.join("sluice.log"),
            daemon_pid: root.join("daemon.pid"),
            data,
            logs,
            root,
        }
    }

    /// The state directory of the process target `local` of `env`.
    pub fn target_dir(&self, env: &str) -> PathBuf {
        self.data.join("deploy").join(super::APP).join(env).join("local")
    }
}

/// Makes `dir` an empty quickstart directory (created if missing) and returns its layout.
///
/// # Errors
///
/// [`QuickstartError::NotAQuickstartDir`] when `dir` holds anything and no [`MARKER`];
/// [`QuickstartError::Setup`] when it cannot be created or emptied.
pub async fn prepare(dir: &Path) -> Result<Layout, QuickstartError> {
    let setup = |what: &str, path: &Path, e: std::io::Error| QuickstartError::Setup(format!("cannot {what} `{}`: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(|e| setup("create", dir, e))?;
    let root = std::fs::canonicalize(dir).map_err(|e| setup("read", dir, e))?;
    let layout = Layout::new(root.clone());
    let mut entries = std::fs::read_dir(&root).map_err(|e| setup("read", &root, e))?.peekable();
    if entries.peek().is_some() {
        if !root.join(MARKER).is_file() {
            return Err(QuickstartError::NotAQuickstartDir(dir.to_path_buf()));
        }
        super::daemon::stop_leftover(&layout).await;
        stop_apps(&layout).await?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|name| name == MARKER) {
                continue;
            }
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| setup("remove", &path, e))?;
        }
    }
    std::fs::write(root.join(MARKER), "made by `sluice quickstart`; it deletes this directory's contents on its next run\n")
        .map_err(|e| setup("write", &root.join(MARKER), e))?;
    std::fs::create_dir_all(&layout.logs).map_err(|e| setup("create", &layout.logs, e))?;
    Ok(layout)
}

/// Stops the app processes recorded in every process target of the quickstart's app.
///
/// # Errors
///
/// [`QuickstartError::Setup`] when a target's record cannot be removed.
pub async fn stop_apps(layout: &Layout) -> Result<(), QuickstartError> {
    let envs = layout.data.join("deploy").join(super::APP);
    for entry in std::fs::read_dir(&envs).into_iter().flatten().flatten() {
        for target in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            let target = ProcessTarget { dir: target.path(), layout: layout.images.clone(), base_port: 0 };
            target
                .stop()
                .await
                .map_err(|e| QuickstartError::Setup(format!("cannot stop the app in `{}`: {e}", target.dir.display())))?;
        }
    }
    Ok(())
}
