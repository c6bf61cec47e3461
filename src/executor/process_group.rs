//! Ending a script's whole process tree: signalling its process group, reaping members that
//! were reparented to us, and waiting until the group is empty.
//!
//! Every script leads its own process group (`process_group(0)`), so background children
//! (`sleep 1000 &`) stay in it unless they call `setsid`/`setpgid` themselves; those escape
//! and are not ours to find (a cgroup would; not done).
//!
//! Zombies: a background child whose shell has exited is reparented to the nearest
//! *subreaper*, or to PID 1. Until someone reaps it, it still counts as a group member
//! (`kill(-pgid, 0)` succeeds), so "the group is gone" needs a reaper. Containers often run
//! a PID 1 that never reaps (this development machine does). [`become_subreaper`] makes the
//! Sluice process that reaper; the functions here then reap the group's reparented members
//! with `waitpid(-pgid, WNOHANG)`. Without it, waiting ends at a deadline instead.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use tokio::process::Child;
use tokio::time::Instant;

/// How often group membership is polled while waiting for it to empty. There is no
/// notification for "a process group became empty" short of pidfds for every member.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long to wait for a SIGKILLed group to disappear before giving up; only processes in
/// uninterruptible sleep or unreaped zombies take longer.
const KILL_SETTLE: Duration = Duration::from_secs(2);

/// Makes this process the reaper of its orphaned descendants (Linux `PR_SET_CHILD_SUBREAPER`),
/// so scripts' background children can be reaped and the group seen as gone.
///
/// Call once at start-up of `sluice run` and the daemon. This is process-wide; it is not done
/// implicitly because a library should not change its host process behind its back.
///
/// # Errors
///
/// The `prctl` call failed (not Linux, or forbidden by a seccomp policy).
pub fn become_subreaper() -> io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    Ok(())
}

/// A process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), which
/// with the pid identifies a process across restarts of Sluice; `None` when there is none.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesised and may contain spaces: count after it.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|field| field.parse().ok())
}

/// A process group of a script, identified by its leader's pid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    pgid: Pid,
}

impl Group {
    /// The group led by `pid`; `None` for pid 0 or values that do not fit.
    pub(crate) fn led_by(pid: u32) -> Option<Self> {
        let raw = i32::try_from(pid).ok()?;
        Some(Self {
            pgid: Pid::from_raw(raw)?,
        })
    }

    /// The group id as a plain number.
    pub(crate) fn id(self) -> u32 {
        self.pgid.as_raw_nonzero().get().unsigned_abs()
    }

    /// Sends `signal` to every member; a group that no longer exists is not an error.
    pub(crate) fn signal(self, signal: Signal) -> io::Result<()> {
        match rustix::process::kill_process_group(self.pgid, signal) {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    }

    /// Reaps members reparented to us, then reports whether any member is left.
    ///
    /// Only call this once the leader has been waited for: `waitpid(-pgid)` would otherwise
    /// steal the leader's exit status from tokio.
    pub(crate) fn is_gone(self) -> io::Result<bool> {
        loop {
            match rustix::process::waitpgid(self.pgid, WaitOptions::NOHANG) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(Errno::CHILD) => break,
                Err(Errno::INTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        match rustix::process::test_kill_process_group(self.pgid) {
            Ok(()) => Ok(false),
            Err(Errno::SRCH) => Ok(true),
            // EPERM: a member changed its credentials (setuid); it is still there.
            Err(Errno::PERM) => Ok(false),
            Err(errno) => Err(errno.into()),
        }
    }

    /// Polls until the group is gone or `deadline` passes; returns whether it is gone.
    pub(crate) async fn wait_gone(self, deadline: Instant) -> io::Result<bool> {
        loop {
            if self.is_gone()? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Reaps a group that was just sent SIGKILL, for up to a couple of seconds; for a
    /// group whose leader is no longer waited for by anyone (its `Child` was dropped).
    pub(crate) async fn reap_killed(self) {
        let _best_effort = self.wait_gone(Instant::now() + KILL_SETTLE).await;
    }

    /// Ends a running script: SIGTERM to the group, up to `grace` for the leader to exit and
    /// the group to empty, then SIGKILL, and waits for the leader.
    ///
    /// Returns the leader's exit status.
    pub(crate) async fn terminate(
        self,
        leader: &mut Child,
        grace: Duration,
    ) -> io::Result<ExitStatus> {
        self.signal(Signal::TERM)?;
        let deadline = Instant::now() + grace;
        let status = match tokio::time::timeout_at(deadline, leader.wait()).await {
            Ok(status) => status?,
            Err(_elapsed) => {
                self.signal(Signal::KILL)?;
                let status = leader.wait().await?;
                self.wait_gone(Instant::now() + KILL_SETTLE).await?;
                return Ok(status);
            }
        };
        self.clear_until(deadline).await?;
        Ok(status)
    }

    /// Ends what is left of a group whose leader has exited (background children): SIGTERM,
    /// up to `grace` to exit, then SIGKILL.
    pub(crate) async fn clear(self, grace: Duration) -> io::Result<()> {
        if self.is_gone()? {
            return Ok(());
        }
        self.signal(Signal::TERM)?;
        self.clear_until(Instant::now() + grace).await
    }

    /// Waits for the group to empty until `deadline`, then SIGKILLs what is left.
    async fn clear_until(self, deadline: Instant) -> io::Result<()> {
        if self.wait_gone(deadline).await? {
            return Ok(());
        }
        self.signal(Signal::KILL)?;
        // Giving up after KILL_SETTLE leaves only unkillable or unreaped processes; the caller
        // cannot do better, so this is not an error.
        self.wait_gone(Instant::now() + KILL_SETTLE).await?;
        Ok(())
    }
}
