//! The container executor: runs a job that has `image:` in a container of that image with
//! `podman` or `docker` (one code path: both CLIs take the same `run`, `stop` and `rm`
//! arguments), and every other job with the [shell executor](super::shell).
//!
//! # What runs, as GitLab Runner's Docker executor does it
//!
//! ```text
//! podman run --rm --name sluice-<store>-<pipeline>-<job>-<attempt> --log-driver none
//!   --volume <workspace>:/builds/<project path> --volume <scratch>:/builds/<project path>.tmp:ro
//!   --workdir /builds/<project path> --env NAME ... [--pull ..] [--user ..] [--entrypoint ..]
//!   IMAGE sh -c '<find bash, else sh>' sh /builds/<project path>.tmp/script-….sh
//! ```
//!
//! The job's workspace is bind-mounted at `/builds/<project path>` (`CI_PROJECT_DIR`;
//! `CI_BUILDS_DIR` is `/builds`), so artifacts, caches and dotenv reports are collected on
//! the host as for the shell executor. The private scratch directory (the script, `file`
//! variables) is mounted read-only at `CI_PROJECT_DIR.tmp`, where GitLab Runner keeps them
//! too. The source repository's object directory, which the workspace's `.git` borrows, is
//! mounted read-only at its own path, so `git` works inside. The command runs through the
//! image's entrypoint unless `entrypoint:` overrides it (`[""]` clears it), and the script
//! runs with `bash` when the image has it, else `sh` (busybox images have only `sh`):
//! `set -e`, and `pipefail` where the shell knows it. A recorded script waits for the
//! [gate](super::shell::GATE) on its stdin (`--interactive`) as the shell's does, so a
//! controller killed before the record leaves no container running. The container's log driver is `none`:
//! output reaches Sluice through the CLI's pipes only and is never stored by the engine.
//!
//! A job's `services:` run beside it ([`services`]).
//!
//! # Variables
//!
//! Job variables (masked ones included) never appear on the engine's command line, which any
//! user can read in `/proc`: each is passed as `--env NAME` with its value in the CLI
//! process's own environment, from where the engine copies it. Names the engine itself
//! reads (`PATH`, `HOME`, `TMPDIR`, `XDG_*`, `CONTAINERS_*`, `DOCKER_*`, proxies, `LD_*`, …)
//! cannot go that way without changing how the engine runs; they go through an env file in
//! the private scratch directory (mode 0600) that is removed when the script ends.
//!
//! # Stopping
//!
//! The container is not in the CLI's process group (the engine's monitor process starts
//! it), so killing the CLI alone would leave it running. On timeout or cancellation the
//! container is stopped by its unique name (`stop` with the grace period: SIGTERM, then
//! SIGKILL) and removed (`rm --force`), then the CLI's process group is ended, and the
//! removal is repeated in case the engine created the container meanwhile. A crashed
//! daemon's leftovers are removed by name at its restart ([`remove_containers`]).
//!
//! Engine configuration is the engine's: Sluice passes its own environment on, so a host
//! that needs, say, another OCI runtime sets `CONTAINERS_CONF` for `podman`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::shell::{GATE, ShellExecutor, push_commands, validate, write_script};
use super::supervise::{Teardown, run_process};
use super::{BoxFuture, Executor, ExecutorError, OutputSink, ScriptOutcome, ScriptRun};
use crate::ci::pipeline::Image;

mod services;
pub use services::ServiceSpec;

/// Where workspaces are mounted in containers: `CI_BUILDS_DIR`.
pub const BUILDS_DIR: &str = "/builds";

/// Finds a shell in the image as GitLab Runner's detection script does, and runs the
/// script (`$1`) with it.
const DETECT_SHELL: &str = r#"for shell in /usr/local/bin/bash /usr/bin/bash /bin/bash; do
  if [ -x "$shell" ]; then exec "$shell" --noprofile --norc "$1"; fi
done
for shell in /usr/local/bin/sh /usr/bin/sh /bin/sh /busybox/sh; do
  if [ -x "$shell" ]; then exec "$shell" "$1"; fi
done
echo "ERROR: no shell found in the image (bash or sh)" >&2
exit 127"#;

/// How long `stop` and `rm` may take beyond the grace period before Sluice gives up on them.
const ENGINE_COMMAND_SLACK: Duration = Duration::from_secs(30);

/// A container engine's command-line client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    program: String,
}

impl Engine {
    /// The `podman` on the `PATH`.
    pub fn podman() -> Self {
        Self {
            program: "podman".to_owned(),
        }
    }

    /// The `docker` on the `PATH`.
    pub fn docker() -> Self {
        Self {
            program: "docker".to_owned(),
        }
    }

    /// The program's name (`podman`, `docker`).
    pub fn name(&self) -> &str {
        &self.program
    }

    /// Whether `<engine> info` succeeds, that is, whether the engine can run containers here.
    ///
    /// # Errors
    ///
    /// Why not: the program is missing, or the last line it printed on failure.
    pub fn probe(&self) -> Result<(), String> {
        let output = std::process::Command::new(&self.program)
            .arg("info")
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("`{} info` cannot start: {error}", self.program))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("no message");
        Err(format!("`{} info` failed: {}", self.program, last.trim()))
    }

    /// The first engine whose [`probe`](Self::probe) succeeds, `podman` before `docker`;
    /// probed once per process, as the answer does not change during a run.
    ///
    /// # Errors
    ///
    /// Why each engine cannot be used, in one line.
    pub fn detect() -> Result<Engine, String> {
        static DETECTED: OnceLock<Result<Engine, String>> = OnceLock::new();
        DETECTED
            .get_or_init(|| {
                let mut reasons = Vec::new();
                for engine in [Engine::podman(), Engine::docker()] {
                    match engine.probe() {
                        Ok(()) => return Ok(engine),
                        Err(reason) => reasons.push(reason),
                    }
                }
                Err(reasons.join("; "))
            })
            .clone()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// The container a [`ScriptRun`] runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The container's name, unique per script run: how it is stopped and removed.
    pub name: String,
    /// The image reference, variables expanded.
    pub image: String,
    /// Replaces the image's entrypoint; an empty list (or `[""]`) clears it.
    pub entrypoint: Option<Vec<String>>,
    /// The engine's `--pull` value: `always`, `missing` or `never`; `None` for the engine's
    /// default (`missing`).
    pub pull: Option<&'static str>,
    /// `--user`, from `image: docker: user:`.
    pub user: Option<String>,
    /// `--platform`, from `image: docker: platform:`.
    pub platform: Option<String>,
    /// Where the workspace is mounted and the script starts: `CI_PROJECT_DIR`.
    pub project_dir: String,
    /// Host directories mounted read-only at the same path.
    pub read_only: Vec<PathBuf>,
    /// The services started beside it ([`services`]).
    pub services: Vec<ServiceSpec>,
}

impl ContainerSpec {
    /// The container for a job with `image` (its name already expanded: `image_name`) whose
    /// project is `project_path`, named `name`.
    pub fn new(image: &Image, image_name: String, project_path: &str, name: String) -> Self {
        let docker = image.executor_opts.as_ref().and_then(|opts| opts.get("docker"));
        let option = |key: &str| {
            docker
                .and_then(|d| d.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        Self {
            name,
            image: image_name,
            entrypoint: image.entrypoint.clone(),
            pull: image.pull_policy.first().and_then(|policy| pull_flag(policy)),
            user: option("user"),
            platform: option("platform"),
            project_dir: project_dir(project_path),
            read_only: Vec::new(),
            services: Vec::new(),
        }
    }

    /// Where the scratch directory is mounted: `CI_PROJECT_DIR.tmp`, as GitLab Runner keeps
    /// `file` variables there.
    pub fn scratch_dir(&self) -> String {
        format!("{}.tmp", self.project_dir)
    }

    /// The engine's arguments: `run`, its options (`extra` among them: an env file, the
    /// services' network) and the command, for a script at `script` (in-container path) of
    /// `spec`.
    fn run_args(&self, spec: &ScriptRun, script: &str, extra: &[String]) -> Result<Vec<String>, ExecutorError> {
        let mut args: Vec<String> = ["run", "--rm", "--name", &self.name, "--log-driver", "none"]
            .map(str::to_owned)
            .into();
        if spec.on_spawn.is_some() {
            // The script's stdin carries the gate (see `run_process`).
            args.push("--interactive".to_owned());
        }
        let mut volume = |host: &Path, target: &str, options: &str| -> Result<(), ExecutorError> {
            let host = host
                .to_str()
                .filter(|h| !h.contains([':', ',']))
                .ok_or_else(|| ExecutorError::MountPath { path: host.to_owned() })?;
            args.push("--volume".to_owned());
            args.push(format!("{host}:{target}{options}"));
            Ok(())
        };
        volume(&spec.workdir, &self.project_dir, "")?;
        volume(&spec.scratch_dir, &self.scratch_dir(), ":ro")?;
        for dir in &self.read_only {
            volume(dir, &dir.display().to_string(), ":ro")?;
        }
        args.extend(["--workdir".to_owned(), self.project_dir.clone()]);
        for (name, _) in spec.env.iter().filter(|(name, _)| !read_by_engine(name)) {
            args.extend(["--env".to_owned(), name.clone()]);
        }
        args.extend(extra.iter().cloned());
        for (flag, value) in [
            ("--pull", self.pull.map(str::to_owned)),
            ("--user", self.user.clone()),
            ("--platform", self.platform.clone()),
        ] {
            if let Some(value) = value {
                args.push(format!("{flag}={value}"));
            }
        }
        let entrypoint_args = entrypoint_args(&mut args, self.entrypoint.as_deref());
        args.push(self.image.clone());
        args.extend(entrypoint_args);
        args.extend(["sh", "-c", DETECT_SHELL, "sh", script].map(str::to_owned));
        Ok(args)
    }
}

/// Adds `--entrypoint=PROGRAM` to `args` for an `entrypoint:` and returns its further
/// arguments: both CLIs take one program as `--entrypoint`, and its arguments go before the
/// command, which is where the engine would put them anyway. `[""]` (or `[]`) clears it.
fn entrypoint_args(args: &mut Vec<String>, entrypoint: Option<&[String]>) -> Vec<String> {
    let Some(entrypoint) = entrypoint else {
        return Vec::new();
    };
    let mut parts = entrypoint.iter().skip_while(|part| part.is_empty());
    args.push(format!("--entrypoint={}", parts.next().map_or("", String::as_str)));
    parts.cloned().collect()
}

/// `CI_PROJECT_DIR` in a container: `/builds/<project path>`.
pub fn project_dir(project_path: &str) -> String {
    format!("{BUILDS_DIR}/{}", project_path.trim_matches('/'))
}

/// The name of the container of attempt `attempt` of job `job` of pipeline `pipeline`,
/// recorded in the store at `store`: `sluice-<8 hex digits of the store's path>-<pipeline>-
/// <job>-<attempt>`, unique on the host while each store has its own directory. Its
/// `after_script` runs in `<name>-after`.
pub fn container_name(store: &Path, pipeline: i64, job: i64, attempt: u32) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(store.as_os_str().as_encoded_bytes());
    let short: String = hash[..4].iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sluice-{short}-{pipeline}-{job}-{attempt}")
}

/// The `after_script` container's name for a job's container `name`.
pub fn after_script_name(name: &str) -> String {
    format!("{name}-after")
}

/// Removes the container `name` of a job, its `after_script` container and the `services`
/// services and network of each, with the engine that works here, if any; blocking, best
/// effort. For crash recovery: containers outlive the CLI killed with the job's process
/// group.
pub fn remove_containers(name: &str, services: usize) {
    let Ok(engine) = Engine::detect() else { return };
    for name in [name.to_owned(), after_script_name(name)] {
        // One name per command: `podman rm --force a b` (4.3) removes nothing when `b` does
        // not exist, and says nothing either. `kill` first: `rm --force` would wait for the
        // stop timeout of a main process that ignores SIGTERM.
        let mut commands = vec![
            vec!["kill".to_owned(), name.clone()],
            vec!["rm".to_owned(), "--force".to_owned(), name.clone()],
        ];
        if services > 0 {
            commands.extend(services::removal_commands(&name, services));
        }
        for command in commands {
            let _best_effort = std::process::Command::new(engine.name())
                .args(command)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The engine's `--pull` value for a GitLab `pull_policy`.
fn pull_flag(policy: &str) -> Option<&'static str> {
    match policy {
        "always" => Some("always"),
        "if-not-present" => Some("missing"),
        "never" => Some("never"),
        _ => None,
    }
}

/// Whether the engine's CLI reads `name` from its own environment, so a job's value must not
/// be put there (see the [module documentation](self)).
fn read_by_engine(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "HOME",
        "USER",
        "TMPDIR",
        "NOTIFY_SOCKET",
        "REGISTRY_AUTH_FILE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "STORAGE_DRIVER",
        "STORAGE_OPTS",
    ];
    const PREFIXES: &[&str] = &[
        "XDG_",
        "CONTAINERS_",
        "CONTAINER_",
        "DOCKER_",
        "PODMAN_",
        "BUILDAH_",
        "LD_",
        "GO",
    ];
    NAMES.contains(&name)
        || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"]
            .iter()
            .any(|proxy| name.eq_ignore_ascii_case(proxy))
}

/// Where scripts run: in a container for a [`ScriptRun`] with a [`ContainerSpec`], with the
/// shell otherwise.
#[derive(Debug)]
pub struct ContainerExecutor {
    engine: Option<Engine>,
    shell: ShellExecutor,
}

impl ContainerExecutor {
    /// Containers run with `engine`; scripts without one with `shell`.
    pub fn new(engine: Engine, shell: ShellExecutor) -> Self {
        Self {
            engine: Some(engine),
            shell,
        }
    }

    /// Containers run with the engine [`Engine::detect`] finds when the first one is needed;
    /// without one, such a script fails with [`ExecutorError::NoContainerEngine`].
    pub fn detecting(shell: ShellExecutor) -> Self {
        Self { engine: None, shell }
    }

    async fn engine(&self, image: &str) -> Result<Engine, ExecutorError> {
        if let Some(engine) = &self.engine {
            return Ok(engine.clone());
        }
        tokio::task::spawn_blocking(Engine::detect)
            .await
            .unwrap_or_else(|error| Err(format!("the engine probe failed: {error}")))
            .map_err(|reason| ExecutorError::NoContainerEngine {
                image: image.to_owned(),
                reason,
            })
    }

    async fn run_container(
        &self,
        spec: &ScriptRun,
        container: &ContainerSpec,
        output: &mut dyn OutputSink,
        cancel: &CancellationToken,
    ) -> Result<ScriptOutcome, ExecutorError> {
        validate(spec)?;
        if let Some((name, _)) = spec.env.iter().find(|(name, value)| {
            !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || (read_by_engine(name) && value.contains('\n'))
        }) {
            return Err(ExecutorError::ContainerVariable { name: name.clone() });
        }
        let engine = self.engine(&container.image).await?;
        let mut text = String::from("exec 2>&1\nset -e\nif (set -o pipefail) 2>/dev/null; then set -o pipefail; fi\n");
        if spec.on_spawn.is_some() {
            text.insert_str(0, GATE);
        }
        push_commands(&mut text, &spec.script);
        let script = write_script(&spec.scratch_dir, text).await?;
        if container.user.is_some() {
            open_script_to_any_user(&spec.scratch_dir, &script).await?;
        }
        // Best effort removals: the caller removes the whole scratch directory anyway.
        let outcome = match write_env_file(&spec.scratch_dir, &spec.env, &container.name).await {
            Ok(env_file) => {
                let outcome =
                    with_services(&engine, spec, container, &script, env_file.as_deref(), output, cancel).await;
                if let Some(file) = env_file {
                    let _ignored = tokio::fs::remove_file(file).await;
                }
                outcome
            }
            Err(source) => Err(ExecutorError::WriteScript {
                path: spec.scratch_dir.clone(),
                source,
            }),
        };
        let _ignored = tokio::fs::remove_file(&script).await;
        outcome
    }
}

/// Starts the services of `container` (if any), runs it, and removes them.
async fn with_services(
    engine: &Engine,
    spec: &ScriptRun,
    container: &ContainerSpec,
    script: &Path,
    env_file: Option<&Path>,
    output: &mut dyn OutputSink,
    cancel: &CancellationToken,
) -> Result<ScriptOutcome, ExecutorError> {
    let mut extra = Vec::new();
    if let Some(file) = env_file {
        extra.extend(["--env-file".to_owned(), file.display().to_string()]);
    }
    let services = match container.services.is_empty() {
        true => None,
        false => Some(services::Started::start(engine, &container.name, &container.services, spec, output).await?),
    };
    if let Some(services) = &services {
        extra.extend(services.args.iter().cloned());
    }
    let outcome = start(engine.clone(), spec, container, script, &extra, output, cancel).await;
    if let Some(services) = services {
        services.remove().await;
    }
    outcome
}

/// Runs the container of `spec` whose script was written to `script` (a host path in the
/// scratch directory).
async fn start(
    engine: Engine,
    spec: &ScriptRun,
    container: &ContainerSpec,
    script: &Path,
    extra: &[String],
    output: &mut dyn OutputSink,
    cancel: &CancellationToken,
) -> Result<ScriptOutcome, ExecutorError> {
    let file_name = script.file_name().unwrap_or_default().to_string_lossy();
    let args = container.run_args(spec, &format!("{}/{file_name}", container.scratch_dir()), extra)?;
    let mut command = Command::new(engine.name());
    command.args(args).current_dir(&spec.workdir).envs(
        spec.env
            .iter()
            .filter(|(name, _)| !read_by_engine(name))
            .map(|(k, v)| (k, v)),
    );
    let teardown = Stop {
        engine,
        name: container.name.clone(),
    };
    run_process(command, teardown.engine.name(), spec, output, cancel, Some(&teardown), true).await
}

impl Executor for ContainerExecutor {
    fn run<'a>(
        &'a self,
        spec: &'a ScriptRun,
        output: &'a mut dyn OutputSink,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ScriptOutcome, ExecutorError>> {
        match &spec.container {
            Some(container) => Box::pin(self.run_container(spec, container, output, cancel)),
            None => self.shell.run(spec, output, cancel),
        }
    }

    fn runs_images(&self) -> bool {
        true
    }
}

/// Lets a container user other than root run `script`: its directory becomes traversable
/// (0711) and the script readable (0644); the `file` variables and the env file in that
/// directory stay 0600. The script holds the job's commands, never a variable's value.
async fn open_script_to_any_user(scratch_dir: &Path, script: &Path) -> Result<(), ExecutorError> {
    use std::os::unix::fs::PermissionsExt as _;
    for (path, mode) in [(scratch_dir, 0o711), (script, 0o644)] {
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .await
            .map_err(|source| ExecutorError::WriteScript {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(())
}

/// Writes the variables of `env` that the engine reads itself (see [`read_by_engine`]) to a
/// 0600 env file `container-env-<tag>` in `dir`; `None` when there are none.
async fn write_env_file(dir: &Path, env: &[(String, String)], tag: &str) -> std::io::Result<Option<PathBuf>> {
    let lines: String = env
        .iter()
        .filter(|(name, _)| read_by_engine(name))
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let path = dir.join(format!("container-env-{tag}"));
    let file = path.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&file)?;
        out.write_all(lines.as_bytes())
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(Some(path))
}

/// Stops and removes a container by name.
struct Stop {
    engine: Engine,
    name: String,
}

impl Teardown for Stop {
    fn stop(&self, grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let seconds = (grace.as_secs() + u64::from(grace.subsec_nanos() > 0)).to_string();
            let limit = grace + ENGINE_COMMAND_SLACK;
            let mut stop = self.engine.command();
            stop.args(["stop", "-t", &seconds, &self.name]);
            let _best_effort = tokio::time::timeout(limit, stop.status()).await;
            let mut remove = self.engine.command();
            remove.args(["rm", "--force", &self.name]);
            let _best_effort = tokio::time::timeout(limit, remove.status()).await;
        })
    }

    fn abandon(&self) {
        let mut remove = self.engine.command();
        remove.args(["rm", "--force", &self.name]).kill_on_drop(false);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _best_effort = remove.status().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entrypoint: Option<Vec<&str>>) -> Image {
        Image {
            name: "alpine:3".to_owned(),
            entrypoint: entrypoint.map(|parts| parts.into_iter().map(str::to_owned).collect()),
            pull_policy: vec!["if-not-present".to_owned(), "always".to_owned()],
            executor_opts: Some(serde_json::json!({"docker": {"user": "1000"}})),
        }
    }

    fn args_of(container: &ContainerSpec, env: &[(&str, &str)]) -> Vec<String> {
        let mut spec = ScriptRun::new("/w/ws", "/w/scratch", vec![]);
        spec.env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        container
            .run_args(
                &spec,
                "/builds/g/p.tmp/s.sh",
                &["--env-file".to_owned(), "/w/scratch/env".to_owned()],
            )
            .expect("args")
    }

    #[test]
    fn values_never_reach_the_command_line() {
        let container = ContainerSpec::new(&image(None), "alpine:3".to_owned(), "g/p", "sluice-x-1-2-1".to_owned());
        let args = args_of(&container, &[("TOKEN", "s3cr3t-value"), ("PATH", "/opt/bin")]).join(" ");
        assert!(!args.contains("s3cr3t") && !args.contains("/opt/bin"), "{args}");
        assert!(args.contains("--env TOKEN ") && !args.contains("--env PATH"), "{args}");
        assert!(
            args.contains("--volume /w/ws:/builds/g/p --volume /w/scratch:/builds/g/p.tmp:ro --workdir /builds/g/p"),
            "{args}"
        );
        assert!(args.contains("--pull=missing --user=1000 alpine:3 sh -c"), "{args}");
        assert!(args.ends_with("sh /builds/g/p.tmp/s.sh"), "{args}");
    }

    #[test]
    fn entrypoints_are_replaced_or_cleared() {
        let cleared = ContainerSpec::new(&image(Some(vec![""])), "a".to_owned(), "p", "n".to_owned());
        assert!(args_of(&cleared, &[]).join(" ").contains("--entrypoint= a sh -c"));
        let replaced = ContainerSpec::new(
            &image(Some(vec!["/bin/tini", "--"])),
            "a".to_owned(),
            "p",
            "n".to_owned(),
        );
        assert!(
            args_of(&replaced, &[])
                .join(" ")
                .contains("--entrypoint=/bin/tini a -- sh -c")
        );
    }

    #[test]
    fn paths_that_break_volume_syntax_are_refused() {
        let container = ContainerSpec::new(&image(None), "a".to_owned(), "p", "n".to_owned());
        let spec = ScriptRun::new("/w/a:b", "/w/scratch", vec![]);
        assert!(matches!(
            container.run_args(&spec, "/s", &[]),
            Err(ExecutorError::MountPath { .. })
        ));
    }

    #[test]
    fn names_are_stable_per_store_and_distinct_across_stores() {
        let a = container_name(Path::new("/repo/.sluice/sluice.db"), 3, 7, 1);
        assert_eq!(a, container_name(Path::new("/repo/.sluice/sluice.db"), 3, 7, 1));
        assert_ne!(a, container_name(Path::new("/other/.sluice/sluice.db"), 3, 7, 1));
        assert!(a.starts_with("sluice-") && a.ends_with("-3-7-1"), "{a}");
        assert!(read_by_engine("PATH") && read_by_engine("https_proxy") && read_by_engine("XDG_RUNTIME_DIR"));
        assert!(!read_by_engine("TOKEN") && !read_by_engine("CI_PROJECT_DIR"));
    }
}
