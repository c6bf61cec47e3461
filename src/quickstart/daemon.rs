//! The quickstart's daemon: `sluice serve --config DIR/sluice.yaml` as a child process in a
//! process group of its own (so a Ctrl-C in the terminal reaches the quickstart, which then
//! stops the daemon in order), its output in `DIR/logs/sluice.log`, its pid and start time
//! in `DIR/daemon.pid` so that a later run can stop it if this one was killed.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Layout, QuickstartError};
use crate::executor::process_group::{Group, start_time};

/// How long the daemon may take to bind its address.
const START_WITHIN: Duration = Duration::from_secs(30);

/// How long the daemon gets to drain after SIGTERM before SIGKILL (its own grace for running
/// jobs is 30 s).
const STOP_GRACE: Duration = Duration::from_secs(40);

/// A running daemon.
pub struct Daemon {
    child: tokio::process::Child,
    pid: u32,
    address: SocketAddr,
    log: std::path::PathBuf,
}

impl Daemon {
    /// Starts `sluice serve` and waits until it has bound its address.
    ///
    /// # Errors
    ///
    /// [`QuickstartError::Daemon`] when it cannot start, exits, or binds nothing in time.
    pub async fn start(layout: &Layout, sluice: &Path) -> Result<Daemon, QuickstartError> {
        let fail = |message: String| QuickstartError::Daemon { message, log: layout.daemon_log.clone() };
        let log = std::fs::File::create(&layout.daemon_log)
            .map_err(|e| fail(format!("cannot create `{}`: {e}", layout.daemon_log.display())))?;
        let log_err = log.try_clone().map_err(|e| fail(format!("cannot share the log file: {e}")))?;
        let mut command = tokio::process::Command::new(sluice);
        command
            .arg("serve")
            .arg("--config")
            .arg(&layout.config_file)
            .current_dir(&layout.root)
            .env("SLUICE_IDENTITY_FILE", &layout.identity)
            .env("NO_COLOR", "1")
            .env_remove("SLUICE_IDENTITY")
            .env_remove("SLUICE_CONFIG")
            .env_remove("SLUICE_TEST_CLOCK")
            .env_remove("SLUICE_CLOCK_FILE")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .kill_on_drop(false);
        let mut child = command
            .spawn()
            .map_err(|e| fail(format!("cannot start `{} serve`: {e}", sluice.display())))?;
        let pid = child.id().unwrap_or(0);
        let record = format!("{pid} {}\n", start_time(pid).unwrap_or(0));
        std::fs::write(&layout.daemon_pid, record)
            .map_err(|e| fail(format!("cannot write `{}`: {e}", layout.daemon_pid.display())))?;
        let address_file = layout.data.join("address");
        let deadline = Instant::now() + START_WITHIN;
        let address = loop {
            if let Some(address) = std::fs::read_to_string(&address_file).ok().and_then(|t| t.trim().parse().ok()) {
                break address;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(fail(format!("the daemon exited at start ({status})")));
            }
            if Instant::now() >= deadline {
                let mut daemon = Daemon { child, pid, address: SocketAddr::from(([127, 0, 0, 1], 0)), log: layout.daemon_log.clone() };
                let _best_effort = daemon.stop().await;
                return Err(fail(format!("the daemon bound no address within {} s", START_WITHIN.as_secs())));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Ok(Daemon { child, pid, address, log: layout.daemon_log.clone() })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The address its API listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `Some(error)` when the daemon has exited on its own.
    pub fn exited(&mut self) -> Option<QuickstartError> {
        let status = self.child.try_wait().ok().flatten()?;
        Some(QuickstartError::Daemon { message: format!("the daemon stopped on its own ({status})"), log: self.log.clone() })
    }

    /// SIGTERM, time to drain, then SIGKILL; waits until its process group is gone.
    ///
    /// # Errors
    ///
    /// [`QuickstartError::Daemon`] when it cannot be signalled or waited for.
    pub async fn stop(&mut self) -> Result<(), QuickstartError> {
        if self.child.try_wait().ok().flatten().is_some() {
            return Ok(());
        }
        let Some(group) = Group::led_by(self.pid) else { return Ok(()) };
        group.terminate(&mut self.child, STOP_GRACE).await.map(drop).map_err(|e| QuickstartError::Daemon {
            message: format!("cannot stop the daemon (pid {}): {e}", self.pid),
            log: self.log.clone(),
        })
    }
}

/// Stops the daemon a previous run recorded in `daemon.pid`, if that very process still runs.
pub async fn stop_leftover(layout: &Layout) {
    let Ok(text) = std::fs::read_to_string(&layout.daemon_pid) else { return };
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(pid)), Some(Ok(started))) = (fields.next(), fields.next()) else { return };
    let Ok(pid) = u32::try_from(pid) else { return };
    if start_time(pid) != Some(started) {
        return;
    }
    if let Some(group) = Group::led_by(pid) {
        let _best_effort = group.clear(STOP_GRACE).await;
    }
}
