//! The shell executor: runs a script with `bash` on this machine, in the job's workspace, as
//! GitLab Runner's shell executor does.
//!
//! # The generated script
//!
//! ```text
//! exec 2>&1
//! set -eo pipefail
//! printf '%s\n' '$ make test'
//! eval 'make test'
//! ```
//!
//! Each command is echoed as `$ command` (multi-line commands as their first line followed by
//! `# collapsed multi-line command`, as GitLab prints them) and then run with `eval`, both
//! single-quoted, so a command with a syntax error fails alone instead of breaking the parse
//! of the whole file. `set -eo pipefail` stops at the first failing command, with bash's
//! usual `set -e` exceptions (conditions, `&&`/`||` lists), which is what GitLab does.
//! `exec 2>&1` merges stderr into stdout so the output keeps its real interleaving. A script
//! whose process is recorded ([`ScriptRun::on_spawn`]: every job's) starts with [`GATE`]: it
//! waits on stdin until the record is stored, so a controller killed in between leaves no
//! job running that its recovery could not find.
//!
//! # Environment
//!
//! Variables reach the script **only** through the process environment, never through its
//! text: branch names, commit messages and other values chosen by whoever pushes are data
//! to the shell, not code. The environment is cleared and rebuilt from the executor's base
//! ([`ShellExecutor::from_process_env`]: `PATH`, `HOME`, `USER`, `LOGNAME`, `LANG`,
//! `LC_ALL`, `TZ`, `TMPDIR` as Sluice sees them, plus `TERM=dumb` because output goes to a
//! log, not a terminal) and then the job's variables, which win.
//!
//! # Process handling
//!
//! `bash --noprofile --norc <file>` (no login shell, unlike GitLab's `bash --login`, so a
//! developer's dotfiles cannot change a job's behaviour) runs with stdin from `/dev/null`,
//! leads its own process group, and is killed if the future is dropped. The script file is
//! written into the caller's private scratch directory and removed afterwards. On timeout
//! or cancellation the group gets SIGTERM, then SIGKILL after the grace period; when the
//! shell exits on its own, what is left of its group (background children) gets the same
//! treatment, so no process of a job outlives it ([`super::process_group`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::{BoxFuture, Executor, ExecutorError, OutputSink, ScriptOutcome, ScriptRun};

/// Environment variables copied from the Sluice process into every script's base environment.
pub const INHERITED_VARIABLES: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
];

/// `PATH` used when the Sluice process has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs scripts with `bash` on the local machine.
#[derive(Debug, Clone)]
pub struct ShellExecutor {
    base_env: Vec<(String, String)>,
}

impl ShellExecutor {
    /// An executor whose scripts start from exactly `base_env` (plus each job's variables).
    pub fn new(base_env: Vec<(String, String)>) -> Self {
        Self { base_env }
    }

    /// An executor whose base environment is [`INHERITED_VARIABLES`] as this process sees
    /// them (a default `PATH` if unset) plus `TERM=dumb`.
    pub fn from_process_env() -> Self {
        let mut base_env: Vec<(String, String)> = INHERITED_VARIABLES
            .iter()
            .filter_map(|name| {
                std::env::var(name)
                    .ok()
                    .map(|value| ((*name).to_owned(), value))
            })
            .collect();
        if !base_env.iter().any(|(name, _)| name == "PATH") {
            base_env.push(("PATH".to_owned(), DEFAULT_PATH.to_owned()));
        }
        base_env.push(("TERM".to_owned(), "dumb".to_owned()));
        Self { base_env }
    }

    /// The base environment every script starts from.
    pub fn base_env(&self) -> &[(String, String)] {
        &self.base_env
    }
}

impl Executor for ShellExecutor {
    fn run<'a>(
        &'a self,
        spec: &'a ScriptRun,
        output: &'a mut dyn OutputSink,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ScriptOutcome, ExecutorError>> {
        Box::pin(self.run_script(spec, output, cancel))
    }
}

/// The first lines of a script whose process is recorded ([`ScriptRun::on_spawn`]): wait
/// for the go on stdin, which comes once the record is stored; end of file (the controller
/// died before) exits, so a job never runs where crash recovery could not find and kill it.
pub(super) const GATE: &str = "IFS= read -r _ || exit 1\nexec </dev/null\n";

/// The bash script for `commands`: echo each as `$ command`, then run it; stop at the first
/// failure. See the [module documentation](self).
pub fn render_script(commands: &[String]) -> String {
    let mut script = String::from("exec 2>&1\nset -eo pipefail\n");
    push_commands(&mut script, commands);
    script
}

/// Appends each command of `commands` to `script`, echoed as `$ command` and then run with
/// `eval`; POSIX `sh`, so the [container executor](super::container) uses it too.
pub(super) fn push_commands(script: &mut String, commands: &[String]) {
    for command in commands {
        let echo = match command.trim_end().split_once('\n') {
            Some((first, _)) => format!("$ {first} # collapsed multi-line command"),
            None => format!("$ {}", command.trim_end()),
        };
        script.push_str("printf '%s\\n' ");
        script.push_str(&single_quote(&echo));
        script.push_str("\neval ");
        script.push_str(&single_quote(command));
        script.push('\n');
    }
}

/// Quotes `text` as one bash word that expands to exactly `text` (anything but NUL).
pub(super) fn single_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl ShellExecutor {
    async fn run_script(
        &self,
        spec: &ScriptRun,
        output: &mut dyn OutputSink,
        cancel: &CancellationToken,
    ) -> Result<ScriptOutcome, ExecutorError> {
        validate(spec)?;
        let mut text = render_script(&spec.script);
        if spec.on_spawn.is_some() {
            text.insert_str(0, GATE);
        }
        let path = write_script(&spec.scratch_dir, text).await?;
        let outcome = self.run_file(spec, &path, output, cancel).await;
        // Best effort: the caller removes the whole scratch directory anyway.
        let _ignored = tokio::fs::remove_file(&path).await;
        outcome
    }

    async fn run_file(
        &self,
        spec: &ScriptRun,
        path: &Path,
        output: &mut dyn OutputSink,
        cancel: &CancellationToken,
    ) -> Result<ScriptOutcome, ExecutorError> {
        let mut command = Command::new(self.find_bash(spec));
        command
            .arg0("bash")
            .arg("--noprofile")
            .arg("--norc")
            .arg(path)
            .current_dir(&spec.workdir)
            .env_clear()
            .envs(self.base_env.iter().map(|(k, v)| (k, v)))
            .envs(spec.env.iter().map(|(k, v)| (k, v)));
        super::supervise::run_process(command, "bash", spec, output, cancel, None, true).await
    }
}

impl ShellExecutor {
    /// `bash` as the script's own `PATH` finds it (the job's `PATH` variable if it has one,
    /// else the base environment's; relative entries from the workspace), or plain `bash` if
    /// it finds none, which then fails to spawn with the usual error.
    ///
    /// Why not let the spawn search: a `Command` whose environment sets `PATH` and whose
    /// program is a bare name falls back from `posix_spawn` (a vfork) to `fork` + `execvp`,
    /// which copies this process's page tables and tries each `PATH` entry in the child;
    /// that cost about 1 to 6 ms per script here. With a full path the standard library
    /// uses `posix_spawn`. The search mimics `execvp`: the first regular file with an
    /// execute bit wins.
    fn find_bash(&self, spec: &ScriptRun) -> PathBuf {
        // The job's variables are applied after the base environment: the last `PATH` wins.
        self.base_env
            .iter()
            .chain(spec.env.iter())
            .rev()
            .find(|(name, _)| name == "PATH")
            .and_then(|(_, path)| find_program("bash", path, &spec.workdir))
            .unwrap_or_else(|| PathBuf::from("bash"))
    }
}

/// The first `dir/name` along `path` (`:`-separated; an empty entry is `cwd`, a relative
/// one is taken from `cwd`) that is a regular file with an execute bit.
fn find_program(name: &str, path: &str, cwd: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':').find_map(|dir| {
        let candidate = cwd.join(dir).join(name);
        let metadata = std::fs::metadata(&candidate).ok()?;
        (metadata.is_file() && metadata.permissions().mode() & 0o111 != 0).then_some(candidate)
    })
}

/// Rejects what cannot be passed to a process: NUL bytes anywhere, `=` in names.
pub(super) fn validate(spec: &ScriptRun) -> Result<(), ExecutorError> {
    for (name, value) in &spec.env {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            return Err(ExecutorError::InvalidVariable {
                name: name.replace('\0', "\\0"),
            });
        }
    }
    if let Some(index) = spec
        .script
        .iter()
        .position(|command| command.contains('\0'))
    {
        return Err(ExecutorError::InvalidCommand { index });
    }
    Ok(())
}

/// Writes `text` to a fresh file in `scratch_dir` (a name unique within this process) and
/// returns its path; the caller removes it.
pub(super) async fn write_script(scratch_dir: &Path, text: String) -> Result<PathBuf, ExecutorError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = scratch_dir.join(format!("script-{}-{n}.sh", std::process::id()));
    tokio::fs::write(&path, text)
        .await
        .map_err(|source| ExecutorError::WriteScript { path: path.clone(), source })?;
    Ok(path)
}

#[cfg(test)]
mod tests;
