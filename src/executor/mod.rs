//! Where a job's script runs: one small [`Executor`] trait and its implementations
//! ([`shell`], and [`container`] for jobs with `image:` through `podman` or `docker`;
//! `kubernetes` later).
//!
//! An executor owns one thing: running a list of commands as a process tree in a prepared
//! working directory, streaming its output to an [`OutputSink`] and ending the whole tree on
//! timeout or cancellation. It does not decide *what* runs (that is `ci` and `run`), does not
//! mask or store logs (the sink does), and never touches the store itself: it reports the
//! spawned process through [`ScriptRun::on_spawn`] and the runner persists it.
//!
//! A job's `script` (with `before_script` prepended) and its `after_script` are two separate
//! [`ScriptRun`]s issued by the runner; `after_script` gets `CI_JOB_STATUS` in its
//! environment and its own timeout ([`AFTER_SCRIPT_TIMEOUT`]).

pub mod container;
pub mod process_group;
pub mod shell;
mod supervise;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

pub use self::container::{ContainerExecutor, ContainerSpec, ServiceSpec};
pub use self::shell::ShellExecutor;

/// A boxed, `Send` future: what [`Executor::run`] and [`OnSpawn`] return, so that executors
/// can be chosen at run time (`Arc<dyn Executor>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long an `after_script` may run by default, as in GitLab (5 minutes).
pub const AFTER_SCRIPT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long a process group gets between SIGTERM and SIGKILL when nothing else is configured.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Runs one [`ScriptRun`] to completion.
pub trait Executor: Send + Sync {
    /// Runs `spec`, streaming merged stdout and stderr to `output`, until the script ends, its
    /// timeout expires or `cancel` fires.
    ///
    /// # Guarantees
    ///
    /// When this returns `Ok`, every process of the script's process group has been signalled
    /// and the group is gone (see [`process_group`] for the one caveat about zombies).
    /// A failing script is `Ok` with a non-zero [`Exit`]; `Err` means the executor itself could
    /// not do its job (invalid input, no `bash`, I/O failure, `on_spawn` failed).
    fn run<'a>(
        &'a self,
        spec: &'a ScriptRun,
        output: &'a mut dyn OutputSink,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ScriptOutcome, ExecutorError>>;

    /// Whether a job's `image:` decides where it runs ([`ScriptRun::container`]); the runner
    /// then gives the job the in-container paths (`CI_PROJECT_DIR`, …). `false`: images are
    /// ignored.
    fn runs_images(&self) -> bool {
        false
    }
}

/// Receives a script's output as raw byte chunks, stdout and stderr merged in arrival order.
///
/// Chunks are not aligned to lines or UTF-8 characters. `write` is called from the executor's
/// task and should not block for long: a sink that logs to disk or the network should buffer
/// or forward to a channel.
pub trait OutputSink: Send {
    /// Appends one chunk of output.
    fn write(&mut self, chunk: &[u8]);
}

impl OutputSink for Vec<u8> {
    fn write(&mut self, chunk: &[u8]) {
        self.extend_from_slice(chunk);
    }
}

/// The shell a script is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    /// GNU bash, run as `bash --noprofile --norc` (see [`shell`]).
    #[default]
    Bash,
}

/// The process an executor started for a [`ScriptRun`], reported before it is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnedProcess {
    /// Process id of the shell.
    pub pid: u32,
    /// Process group id of the whole script; equal to `pid` (the shell leads its own group).
    pub pgid: u32,
    /// Wall-clock time just after the spawn.
    pub started_at: SystemTime,
}

/// Error returned by an [`OnSpawn`] callback (typically: the store could not record the pid).
pub type OnSpawnError = Box<dyn std::error::Error + Send + Sync>;

/// Called once, right after the script's process is spawned and before the executor waits for
/// it, so the runner can persist pid, pgid and start time (and find orphans after a crash).
///
/// The executor awaits the returned future while already reading output. If it fails, the
/// process group is terminated and [`Executor::run`] returns [`ExecutorError::RecordSpawn`]:
/// a job whose process cannot be recorded must not keep running.
pub type OnSpawn =
    Arc<dyn Fn(SpawnedProcess) -> BoxFuture<'static, Result<(), OnSpawnError>> + Send + Sync>;

/// One script to run: the `script` of a job (with `before_script`), or its `after_script`.
#[derive(Clone)]
pub struct ScriptRun {
    /// Working directory of the script: the job's workspace.
    pub workdir: PathBuf,
    /// A private per-job directory (mode 0700, outside the workspace) where the executor may
    /// write the generated script. The caller creates and removes it.
    pub scratch_dir: PathBuf,
    /// Job variables, passed to the process environment only; never written into the script.
    /// Later entries override earlier ones and the executor's base environment.
    pub env: Vec<(String, String)>,
    /// The commands, in order; each may span several lines.
    pub script: Vec<String>,
    /// Shell the commands are written for.
    pub shell: Shell,
    /// How long the script may run; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL to the process group on timeout or cancellation.
    pub grace: Duration,
    /// Called with the spawned process before it is waited for.
    pub on_spawn: Option<OnSpawn>,
    /// The container to run in, for an executor that [runs images](Executor::runs_images);
    /// `None`: on this machine.
    pub container: Option<ContainerSpec>,
}

impl ScriptRun {
    /// A bash script with no variables, no timeout, [`DEFAULT_GRACE`] and no `on_spawn`.
    pub fn new(
        workdir: impl Into<PathBuf>,
        scratch_dir: impl Into<PathBuf>,
        script: Vec<String>,
    ) -> Self {
        Self {
            workdir: workdir.into(),
            scratch_dir: scratch_dir.into(),
            env: Vec::new(),
            script,
            shell: Shell::Bash,
            timeout: None,
            grace: DEFAULT_GRACE,
            on_spawn: None,
            container: None,
        }
    }
}

/// Prints variable names only: values may be secrets.
impl fmt::Debug for ScriptRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ScriptRun")
            .field("workdir", &self.workdir)
            .field("scratch_dir", &self.scratch_dir)
            .field("env_names", &env_names)
            .field("script", &self.script)
            .field("shell", &self.shell)
            .field("timeout", &self.timeout)
            .field("grace", &self.grace)
            .field("on_spawn", &self.on_spawn.as_ref().map(|_| "Fn"))
            .field("container", &self.container)
            .finish()
    }
}

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The shell exited with this code (0 is success).
    Code(i32),
    /// The shell was killed by this signal, not by us.
    Signal(i32),
    /// The timeout expired and the process group was terminated.
    TimedOut,
    /// The cancellation token fired and the process group was terminated.
    Canceled,
}

impl Exit {
    /// Whether the script succeeded (exit code 0).
    pub fn is_success(self) -> bool {
        self == Exit::Code(0)
    }
}

/// The result of a script that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptOutcome {
    /// How it ended.
    pub exit: Exit,
    /// From spawn until the process group was gone.
    pub duration: Duration,
}

/// Why an executor could not run a script (a failing script is not an error).
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// A variable name is empty or contains `=` or NUL, or its value contains NUL.
    #[error(
        "variable `{name}` cannot be passed through the environment (empty name, `=` or NUL byte)"
    )]
    InvalidVariable {
        /// The offending name (lossy if it contains NUL).
        name: String,
    },
    /// A command contains a NUL byte, which no shell can run.
    #[error("command {index} of the script contains a NUL byte")]
    InvalidCommand {
        /// 0-based position of the command in the script.
        index: usize,
    },
    /// The generated script could not be written to the scratch directory.
    #[error("cannot write the script to `{}`", path.display())]
    WriteScript {
        /// Path of the script file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The shell could not be started.
    #[error("cannot start `{program}` in `{}`", workdir.display())]
    Spawn {
        /// The program, such as `bash`.
        program: String,
        /// The working directory it was started in.
        workdir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for or signalling the process group failed.
    #[error("cannot supervise process group {pgid}")]
    Supervise {
        /// The process group.
        pgid: u32,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A script has a container but no container engine works on this machine.
    #[error("no container engine can run image `{image}`: {reason}")]
    NoContainerEngine {
        /// The image.
        image: String,
        /// Why each engine could not be used.
        reason: String,
    },
    /// A variable cannot be passed into a container: its name has characters other than
    /// ASCII letters, digits and `_`, or it is a name the engine reads itself (passed
    /// through an env file) and its value has a line break.
    #[error("variable `{name}` cannot be passed into the container (a name of letters, digits and `_` only; and no line break in the value of a name the engine reads itself, such as `PATH`)")]
    ContainerVariable {
        /// The variable's name.
        name: String,
    },
    /// A service of a job could not be started (or its network created).
    #[error("cannot start service `{image}`: {message}")]
    Service {
        /// The service's image (or the network's name).
        image: String,
        /// The engine's last line of error.
        message: String,
    },
    /// A directory to mount has `:` or `,` in its path, which the engines' `--volume` syntax
    /// cannot take.
    #[error("cannot mount `{}` into a container: its path contains `:` or `,`", path.display())]
    MountPath {
        /// The directory.
        path: PathBuf,
    },
    /// The [`ScriptRun::on_spawn`] callback failed; the script was terminated.
    #[error("cannot record the started process {pid}; the script was stopped")]
    RecordSpawn {
        /// The process that was started and then terminated.
        pid: u32,
        /// The callback's error.
        #[source]
        source: OnSpawnError,
    },
}
