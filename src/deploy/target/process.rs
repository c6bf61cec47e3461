//! The process target: the all-in-one development environment. The image's layers are
//! unpacked under the data directory (once per digest) and its entrypoint and cmd (or the
//! app's `run:` overrides) run as a local process with the image's environment, the app's
//! `run.env`, the secrets and `PORT`: no chroot, no namespaces, the same user as Sluice.
//!
//! Releases alternate between two ports, `base_port` and `base_port + 1`, so the previous
//! release keeps serving until the new one passes its health check; only then is it stopped
//! and `current.json` switched, and the unpacked trees of other releases than these two
//! are removed. A release that does not become healthy is stopped and the
//! previous one keeps running, still recorded as current. A new release is recorded in
//! `starting.json` from its spawn until it is current or stopped, so a release whose daemon
//! died during its health wait is stopped by the next deploy instead of holding its port.
//!
//! Program lookup without a chroot: an absolute program that exists inside the image runs
//! from the unpacked tree, a bare name is looked up in the image's `PATH` (inside the tree)
//! and then the host's; the working directory is the image's `WorkingDir` inside the tree.
//! Absolute paths in arguments are not rewritten.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{Applied, TargetError};
use crate::deploy::health::{self, Probe};
use crate::deploy::image::{self, ImageConfig};
use crate::deploy::private_dir::PrivateDir;
use crate::deploy::spec::{DeploySpec, SecretValues};
use crate::executor::process_group::{Group, start_time};

/// How long a stopped release gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a release without a health check must stay up to count as started.
const SETTLE: Duration = Duration::from_millis(300);

/// One target's state directory and settings.
#[derive(Debug, Clone)]
pub struct ProcessTarget {
    /// `<data_dir>/deploy/<app>/<env>/<target>/`.
    pub dir: PathBuf,
    /// The OCI image layout holding the app's images.
    pub layout: PathBuf,
    /// The first of the two ports releases alternate between.
    pub base_port: u16,
}

/// The release a process target runs, as recorded in `current.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    /// The version.
    pub version: String,
    /// The image manifest digest.
    pub digest: String,
    /// The process (and process group) id.
    pub pid: u32,
    /// Its start time in clock ticks since boot, to recognise it after a restart.
    pub start_time: u64,
    /// The port it listens on.
    pub port: u16,
    /// The deployment's revision ([`DeploySpec::revision`]): the same release with another
    /// revision (new secrets, run overrides) is started again.
    #[serde(default)]
    pub revision: String,
    /// The working directory of a command health check (the image's `WorkingDir` inside
    /// the unpacked tree); `None` in records written before it was kept.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
}

impl Running {
    /// Whether the recorded process still runs (same pid, same start time, not a zombie).
    pub fn is_alive(&self) -> bool {
        start_time(self.pid) == Some(self.start_time) && !is_zombie(self.pid)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where its health check runs: its port, and for a command check its working
    /// directory, `PORT` and `SLUICE_URL`.
    pub fn probe(&self) -> Probe {
        Probe {
            addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], self.port))),
            dir: self.workdir.clone(),
            env: vec![("PORT".into(), self.port.to_string()), ("SLUICE_URL".into(), self.url())],
        }
    }
}

/// How many ended processes [`Exits`] remembers.
const EXITS_KEPT: usize = 64;

/// How the processes that this daemon started ended, as the tasks reaping them saw it: the
/// health watch is woken when one ends and reads how (`signal: 9 (SIGKILL)`). A process
/// started by an earlier daemon is not this one's child; its end is noticed at the next
/// periodic check instead.
#[derive(Debug, Default)]
pub struct Exits {
    ended: Mutex<VecDeque<(u32, String)>>,
    notify: Notify,
}

impl Exits {
    fn record(&self, pid: u32, how: String) {
        {
            let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
            if ended.len() == EXITS_KEPT {
                ended.pop_front();
            }
            ended.push_back((pid, how));
        }
        self.notify.notify_one();
    }

    /// How process `pid` ended (its exit status), if this daemon reaped it.
    pub fn how_ended(&self, pid: u32) -> Option<String> {
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        ended.iter().rev().find(|(p, _)| *p == pid).map(|(_, how)| how.clone())
    }

    /// Waits until a process ends (at once if one ended since the last wait).
    pub async fn ended(&self) {
        self.notify.notified().await;
    }
}

impl ProcessTarget {
    /// The release recorded as running, if any (whether or not it is still alive).
    pub fn current(&self) -> Option<Running> {
        recorded(&self.dir)
    }

    /// Makes `spec`'s release run and be healthy; see the module documentation. When the
    /// new process ends later, how it ended is recorded in `exits`.
    ///
    /// # Guarantees
    ///
    /// On success `current.json` names the new release and the previous one is stopped. On
    /// failure the new process is stopped and `current.json` is unchanged. Applying the
    /// release that already runs (same version, digest and revision, alive) does nothing.
    ///
    /// # Errors
    ///
    /// [`TargetError`]: the image, starting the program, or the health check.
    pub async fn deploy(&self, spec: &DeploySpec, secrets: &SecretValues, exits: &Arc<Exits>) -> Result<Applied, TargetError> {
        self.stop_interrupted().await?;
        let previous = self.current().filter(Running::is_alive);
        if let Some(running) = previous
            .as_ref()
            .filter(|r| r.digest == spec.digest && r.version == spec.version && r.revision == spec.revision)
        {
            return Ok(Applied {
                url: Some(running.url()),
                message: format!("{} already runs", spec.version),
            });
        }
        let (root, image) = self.unpacked(&spec.digest).await?;
        let port = match &previous {
            Some(running) if running.port == self.base_port => self.base_port.wrapping_add(1),
            _ => self.base_port,
        };
        let mut child = self.spawn(spec, secrets, &root, &image, port)?;
        let pid = child.id().unwrap_or(0);
        let running = Running {
            version: spec.version.clone(),
            digest: spec.digest.clone(),
            pid,
            start_time: start_time(pid).unwrap_or(0),
            port,
            revision: spec.revision.clone(),
            workdir: Some(workdir(&root, &image)),
        };
        if let Err(e) = self.record(STARTING, &running) {
            stop(&running).await;
            return Err(e);
        }
        let probe = running.probe();
        let healthy = tokio::select! {
            verdict = wait_up(spec, &probe) => verdict,
            status = child.wait() => Err(match status {
                Ok(status) => format!("the process exited ({status}) before it was healthy"),
                Err(e) => format!("the process could not be waited for: {e}"),
            }),
        };
        if let Err(reason) = healthy {
            if let Some(group) = Group::led_by(pid) {
                let _ = group.clear(STOP_GRACE).await;
            }
            let _ = child.wait().await;
            self.forget(STARTING)?;
            return Err(TargetError::Unhealthy {
                version: spec.version.clone(),
                reason,
            });
        }
        let exits = exits.clone();
        tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(status) => status.to_string(),
                // Stopping a group reaps its members itself (`Group::clear`), leader included.
                Err(_) => "exit status unknown".to_string(),
            };
            exits.record(pid, how);
        });
        self.record(CURRENT, &running)?;
        self.forget(STARTING)?;
        if let Some(old) = &previous {
            stop(old).await;
        }
        self.remove_other_trees(&[Some(&spec.digest), previous.as_ref().map(|old| &old.digest)]);
        Ok(Applied {
            url: Some(running.url()),
            message: format!("{} runs as pid {pid} on port {port}", spec.version),
        })
    }

    /// Stops the recorded release (if it still runs) and forgets it.
    ///
    /// # Errors
    ///
    /// [`TargetError::Io`] when `current.json` cannot be removed.
    pub async fn stop(&self) -> Result<(), TargetError> {
        if let Some(running) = self.current() {
            stop(&running).await;
        }
        self.forget(CURRENT)
    }

    /// Stops the release `starting.json` names unless it is the current one: a deploy that
    /// its daemon's death interrupted during the health wait left it running, recorded
    /// nowhere else.
    async fn stop_interrupted(&self) -> Result<(), TargetError> {
        let Some(starting) = read_record(&self.dir, STARTING) else {
            return Ok(());
        };
        let current = self.current();
        if current.as_ref().is_none_or(|c| (c.pid, c.start_time) != (starting.pid, starting.start_time)) {
            tracing::warn!(version = %starting.version, pid = starting.pid, "stopping a release whose deploy was interrupted");
            stop(&starting).await;
        }
        self.forget(STARTING)
    }

    /// Removes the record `name`, if there is one.
    fn forget(&self, name: &str) -> Result<(), TargetError> {
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(TargetError::Io { path, source }),
        }
    }

    /// The image's unpacked tree under `releases/<hex>/rootfs`, unpacked now if needed (into
    /// a scratch directory renamed into place, so a crash never leaves half a tree).
    async fn unpacked(&self, digest: &str) -> Result<(PathBuf, ImageConfig), TargetError> {
        let layout = self.layout.clone();
        let releases = self.dir.join("releases");
        let hex = digest.rsplit(':').next().unwrap_or(digest).to_string();
        let digest = digest.to_string();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TargetError::Io { path, source }
        };
        tokio::task::spawn_blocking(move || {
            let image = image::read(&layout, &digest)?;
            let root = releases.join(&hex).join("rootfs");
            if !root.is_dir() {
                let parent = releases.join(&hex);
                std::fs::create_dir_all(&parent).map_err(io(&parent))?;
                let scratch = PrivateDir::create(&parent, "unpacking").map_err(io(&parent))?;
                image::unpack(&image, scratch.path())?;
                std::fs::rename(scratch.path(), &root).map_err(io(&root))?;
            }
            Ok((root, image))
        })
        .await
        .map_err(|e| TargetError::Config(format!("unpacking the image panicked: {e}")))?
    }

    /// Removes the unpacked trees (`releases/<hex>/`) of every image but `keep` (the running
    /// release and the one before it, which a rollback starts again). Best effort: a tree
    /// that cannot be removed now is tried again after the next deployment.
    fn remove_other_trees(&self, keep: &[Option<&String>]) {
        let kept: Vec<&str> = keep.iter().flatten().map(|digest| digest.rsplit(':').next().unwrap_or(digest)).collect();
        for entry in std::fs::read_dir(self.dir.join("releases")).into_iter().flatten().flatten() {
            if !kept.iter().any(|hex| entry.file_name() == *hex) {
                let _best_effort = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Starts the release in its own process group, output appended to `app.log` beside its tree.
    fn spawn(
        &self,
        spec: &DeploySpec,
        secrets: &SecretValues,
        root: &Path,
        image: &ImageConfig,
        port: u16,
    ) -> Result<tokio::process::Child, TargetError> {
        let argv = match &spec.run.command {
            Some(command) => command.clone(),
            None => image.entrypoint.iter().chain(&image.cmd).cloned().collect(),
        };
        let Some((program, args)) = argv.split_first() else {
            return Err(TargetError::Config(format!(
                "the image of {} has no entrypoint or cmd; set `run: command:` in `apps/{}/app.yaml`",
                spec.version, spec.app
            )));
        };
        let log_path = root.with_file_name("app.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| TargetError::Io {
                path: log_path.clone(),
                source,
            })?;
        let log_err = log
            .try_clone()
            .map_err(|source| TargetError::Io { path: log_path, source })?;
        let in_image = root.join(program.trim_start_matches('/'));
        let program_path = if program.starts_with('/') && in_image.exists() {
            in_image
        } else {
            PathBuf::from(program)
        };
        let mut command = tokio::process::Command::new(&program_path);
        command
            .args(args)
            .env_clear()
            .envs(environment(spec, root, image, port))
            .current_dir(workdir(root, image))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .kill_on_drop(false);
        for (name, value) in &secrets.0 {
            command.env(name, OsStr::from_bytes(value.expose()));
        }
        command.spawn().map_err(|source| TargetError::Spawn {
            program: program.clone(),
            source,
        })
    }

    /// Writes the record `name` (`current.json` or `starting.json`) atomically (a temporary
    /// file renamed over it).
    fn record(&self, name: &str, running: &Running) -> Result<(), TargetError> {
        let path = self.dir.join(name);
        let scratch = self.dir.join(format!("{name}.tmp"));
        let text = serde_json::to_vec_pretty(running).unwrap_or_default();
        std::fs::write(&scratch, text)
            .and_then(|()| std::fs::File::open(&scratch).and_then(|f| f.sync_all()))
            .and_then(|()| std::fs::rename(&scratch, &path))
            .map_err(|source| TargetError::Io { path, source })
    }
}

/// Whether process `pid` has exited but was not reaped: a release started by an earlier
/// daemon was reparented when that daemon died, and a container's PID 1 may never reap it.
fn is_zombie(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state (field 3) follows the parenthesised command name, which may hold spaces.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("Z")
}

/// The release recorded as running in the target directory `dir` (`current.json`), if any,
/// whether or not it is still alive.
pub fn recorded(dir: &Path) -> Option<Running> {
    read_record(dir, CURRENT)
}

/// The record of the release that runs.
const CURRENT: &str = "current.json";

/// The record of a release between its spawn and its health verdict.
const STARTING: &str = "starting.json";

fn read_record(dir: &Path, name: &str) -> Option<Running> {
    let text = std::fs::read(dir.join(name)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The environment of a release: the image's (its `PATH` entries moved inside the tree, then
/// the host's `PATH`), `run.env`, `PORT` and `SLUICE_*`; nothing else of Sluice's own.
fn environment(spec: &DeploySpec, root: &Path, image: &ImageConfig, port: u16) -> Vec<(String, String)> {
    let host_path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string());
    let mut env: Vec<(String, String)> = Vec::new();
    let mut path = Vec::new();
    for (name, value) in &image.env {
        if name == "PATH" {
            path.extend(
                value
                    .split(':')
                    .filter(|d| d.starts_with('/'))
                    .map(|d| root.join(&d[1..]).display().to_string()),
            );
        } else {
            env.push((name.clone(), value.clone()));
        }
    }
    path.push(host_path);
    env.push(("PATH".into(), path.join(":")));
    env.push(("HOME".into(), root.display().to_string()));
    env.push(("LANG".into(), "C.UTF-8".into()));
    env.extend(spec.run.env.iter().cloned());
    env.push(("PORT".into(), port.to_string()));
    env.push(("SLUICE_APP".into(), spec.app.clone()));
    env.push(("SLUICE_ENV".into(), spec.env.clone()));
    env.push(("SLUICE_VERSION".into(), spec.version.clone()));
    env
}

fn workdir(root: &Path, image: &ImageConfig) -> PathBuf {
    root.join(image.working_dir.trim_start_matches('/'))
}

/// Waits for the app's health check, or, without one, for it to stay up briefly.
async fn wait_up(spec: &DeploySpec, probe: &Probe) -> Result<(), String> {
    match &spec.health {
        Some(check) => health::wait_healthy(check, probe).await,
        None => {
            tokio::time::sleep(SETTLE).await;
            Ok(())
        }
    }
}

/// Stops a recorded release if it is still the same process: SIGTERM to its group, then
/// SIGKILL after [`STOP_GRACE`].
async fn stop(running: &Running) {
    if !running.is_alive() {
        return;
    }
    if let Some(group) = Group::led_by(running.pid) {
        let _best_effort = group.clear(STOP_GRACE).await;
    }
}

#[cfg(test)]
mod tests;
