//! Supervising a script's process once it is built: spawning it as the leader of its own
//! process group, streaming its output, recording it, and ending it (and everything it
//! started) when it exits, times out or is canceled. Shared by the [`super::shell`] and
//! [`super::container`] executors, which differ only in the command they build and in what
//! else must be stopped (a container lives outside the CLI's process group: [`Teardown`]).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::process_group::Group;
use super::{BoxFuture, ExecutorError, Exit, OutputSink, ScriptOutcome, ScriptRun, SpawnedProcess};

/// How long output is still read after the process group is gone. Only a process that
/// escaped the group (`setsid`) can keep the pipes open that long; its output is dropped.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// What must stop besides the process group when a script is stopped early.
pub(super) trait Teardown: Send + Sync {
    /// Stops it on timeout, cancellation or a failed [`ScriptRun::on_spawn`], before the
    /// process group gets SIGTERM (and once more after the group is gone): up to `grace` for
    /// it to end, then by force. What is not there is not an error.
    fn stop(&self, grace: Duration) -> BoxFuture<'_, ()>;
    /// Best effort, without waiting: the run future was dropped or supervision failed.
    fn abandon(&self);
}

/// Runs `command` (stdin, stdout, stderr and the process group are set here) as the script
/// of `spec`: reports it to `spec.on_spawn`, streams its output into `output`, and ends it
/// on its exit, its timeout or `cancel`, with `teardown` first when it is stopped early.
/// `program` names it in errors. With `gated` and an `on_spawn`, the script's stdin is the
/// [gate](super::shell::GATE): a line once `on_spawn` has recorded the process, so it starts
/// only once it can be found again, and end of file if this process dies before that.
pub(super) async fn run_process(
    mut command: Command,
    program: &str,
    spec: &ScriptRun,
    output: &mut dyn OutputSink,
    cancel: &CancellationToken,
    teardown: Option<&dyn Teardown>,
    gated: bool,
) -> Result<ScriptOutcome, ExecutorError> {
    let gated = gated && spec.on_spawn.is_some();
    command
        .stdin(if gated { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| ExecutorError::Spawn {
        program: program.to_owned(),
        workdir: spec.workdir.clone(),
        source,
    })?;
    let started = Instant::now();
    let started_at = SystemTime::now();
    let group = child
        .id()
        .and_then(Group::led_by)
        .ok_or_else(|| ExecutorError::Supervise {
            pgid: 0,
            source: io::Error::other("the shell exited before its pid was read"),
        })?;
    let guard = KillGroupOnDrop(Some((group, teardown)));
    let spawned = SpawnedProcess {
        pid: group.id(),
        pgid: group.id(),
        started_at,
    };

    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let gate = child.stdin.take();
    let pump = pump(stdout, stderr, output);
    tokio::pin!(pump);
    let control = supervise(&mut child, group, spec, cancel, spawned, teardown, gate);
    tokio::pin!(control);
    let mut pumped = false;
    let exit = loop {
        tokio::select! {
            exit = &mut control => break exit,
            () = &mut pump, if !pumped => pumped = true,
        }
    };
    if !pumped {
        let _output_may_be_truncated = tokio::time::timeout(DRAIN_AFTER_EXIT, &mut pump).await;
    }
    // On error the group may still be alive: the armed guard kills it.
    let exit = exit?;
    guard.disarm();
    Ok(ScriptOutcome {
        exit,
        duration: started.elapsed(),
    })
}

/// Waits for the script to end, for its timeout or for cancellation, and ends its group.
async fn supervise(
    child: &mut Child,
    group: Group,
    spec: &ScriptRun,
    cancel: &CancellationToken,
    spawned: SpawnedProcess,
    teardown: Option<&dyn Teardown>,
    gate: Option<tokio::process::ChildStdin>,
) -> Result<Exit, ExecutorError> {
    let supervise_error = |source| ExecutorError::Supervise {
        pgid: group.id(),
        source,
    };
    let deadline = spec.timeout.map(|timeout| Instant::now() + timeout);
    if let Some(on_spawn) = &spec.on_spawn {
        let recorded = tokio::select! {
            recorded = on_spawn(spawned) => recorded,
            () = cancel.cancelled() => Ok(()),
        };
        if let Err(source) = recorded {
            stop_early(child, group, spec.grace, teardown)
                .await
                .map_err(supervise_error)?;
            return Err(ExecutorError::RecordSpawn {
                pid: spawned.pid,
                source,
            });
        }
    }
    if let Some(mut gate) = gate {
        // Recorded (or canceled, and stopped below): the script may start. One that has
        // already exited cannot read it, which its exit status tells.
        let _exited_is_fine = gate.write_all(b"\n").await;
    }
    let stop = tokio::select! {
        status = child.wait() => {
            let status = status.map_err(supervise_error)?;
            group.clear(spec.grace).await.map_err(supervise_error)?;
            return Ok(exit_of(status));
        }
        () = sleep_until(deadline) => Exit::TimedOut,
        () = cancel.cancelled() => Exit::Canceled,
    };
    stop_early(child, group, spec.grace, teardown)
        .await
        .map_err(supervise_error)?;
    Ok(stop)
}

/// Ends a script before it ended on its own: `teardown` (given `grace`), then the process
/// group (SIGTERM, `grace`, SIGKILL), then `teardown` once more, quickly, for what the
/// process may have started meanwhile (an engine creating the container after a slow pull).
async fn stop_early(
    child: &mut Child,
    group: Group,
    grace: Duration,
    teardown: Option<&dyn Teardown>,
) -> io::Result<()> {
    if let Some(teardown) = teardown {
        teardown.stop(grace).await;
    }
    group.terminate(child, grace).await?;
    if let Some(teardown) = teardown {
        teardown.stop(Duration::ZERO).await;
    }
    Ok(())
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        // wait() only reports exited or killed processes; keep a failing value regardless.
        (None, None) => Exit::Code(-1),
    }
}

/// Copies both pipes into `sink` as chunks arrive, until both reach end of file.
///
/// A read error ends that stream like end of file: the script keeps running, and its exit
/// status, not a broken log pipe, decides the job.
async fn pump(
    mut stdout: Option<impl AsyncRead + Unpin>,
    mut stderr: Option<impl AsyncRead + Unpin>,
    sink: &mut dyn OutputSink,
) {
    let mut out_buf = vec![0_u8; 8192];
    let mut err_buf = vec![0_u8; 8192];
    while stdout.is_some() || stderr.is_some() {
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buf) => match read {
                Ok(0) | Err(_) => stdout = None,
                Ok(n) => sink.write(&out_buf[..n]),
            },
            read = read_some(&mut stderr, &mut err_buf) => match read {
                Ok(0) | Err(_) => stderr = None,
                Ok(n) => sink.write(&err_buf[..n]),
            },
        }
    }
}

/// Reads from `reader`, or never completes if it is closed.
async fn read_some(reader: &mut Option<impl AsyncRead + Unpin>, buf: &mut [u8]) -> io::Result<usize> {
    match reader {
        Some(reader) => reader.read(buf).await,
        None => std::future::pending().await,
    }
}

/// SIGKILLs the group (and abandons the [`Teardown`]) if the run future is dropped before it finished (the runner's task was
/// aborted) or supervision failed: `kill_on_drop` alone would reach only the shell, not its
/// children. The reparented children are then reaped by a background task, if a runtime is
/// there to run it.
struct KillGroupOnDrop<'t>(Option<(Group, Option<&'t dyn Teardown>)>);

impl KillGroupOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillGroupOnDrop<'_> {
    fn drop(&mut self) {
        if let Some((group, teardown)) = self.0.take() {
            if let Some(teardown) = teardown {
                teardown.abandon();
            }
            let _best_effort = group.signal(rustix::process::Signal::KILL);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(group.reap_killed());
            }
        }
    }
}
