//! `services:` of a job that runs in a container, as GitLab Runner's Docker executor starts
//! them: each service is a container of its image on a network of the job's own
//! (`<container>-net`), started before the script and removed after it; the job's container
//! joins that network and reaches each service by its aliases (`--add-host`, so no DNS
//! plugin is needed): the image name without its tag with `/` as `__` and as `-`
//! (`tutum/wordpress:latest` → `tutum__wordpress`, `tutum-wordpress`), and `alias:` (several
//! may be separated by commas or spaces). A service gets the job's variables and its own
//! `variables:` (which win), passed as for the job's container; its `entrypoint:` and
//! `command:` replace the image's.
//!
//! Not done: waiting until a service accepts connections (GitLab probes its exposed ports
//! for up to 30 s); a script waits for its services itself. `after_script` runs with new
//! instances of the services: they are started for each script of the job.

use std::process::Stdio;

use super::{Engine, read_by_engine, write_env_file};
use crate::ci::pipeline::Service;
use crate::executor::{ExecutorError, OutputSink, ScriptRun};

/// A service to start beside a job's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The image reference, variables expanded.
    pub image: String,
    /// Replaces the image's entrypoint; an empty list (or `[""]`) clears it.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's command.
    pub command: Option<Vec<String>>,
    /// Host names the job reaches it at.
    pub aliases: Vec<String>,
    /// Its own variables, expanded; they win over the job's.
    pub variables: Vec<(String, String)>,
    /// The engine's `--pull` value, as for the job's image.
    pub pull: Option<&'static str>,
}

impl ServiceSpec {
    /// The service `service` of a job, its image name already expanded (`image`) and its
    /// variables too (`variables`).
    pub fn new(service: &Service, image: String, variables: Vec<(String, String)>) -> Self {
        let mut aliases = default_aliases(&image);
        for alias in service
            .alias
            .iter()
            .flat_map(|a| a.split([',', ' ']))
            .filter(|a| !a.is_empty())
        {
            if !aliases.iter().any(|known| known == alias) {
                aliases.push(alias.to_owned());
            }
        }
        Self {
            pull: service.pull_policy.first().and_then(|policy| super::pull_flag(policy)),
            image,
            entrypoint: service.entrypoint.clone(),
            command: service.command.clone(),
            aliases,
            variables,
        }
    }

    /// The engine's arguments to start it detached as `name` on `network`.
    fn run_args(&self, name: &str, network: &str, env_names: &[String], env_file: Option<&str>) -> Vec<String> {
        let mut args: Vec<String> = [
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            network,
            "--log-driver",
            "none",
        ]
        .map(str::to_owned)
        .into();
        for env_name in env_names {
            args.extend(["--env".to_owned(), env_name.clone()]);
        }
        if let Some(file) = env_file {
            args.extend(["--env-file".to_owned(), file.to_owned()]);
        }
        if let Some(pull) = self.pull {
            args.push(format!("--pull={pull}"));
        }
        let entrypoint_args = super::entrypoint_args(&mut args, self.entrypoint.as_deref());
        args.push(self.image.clone());
        args.extend(entrypoint_args);
        args.extend(self.command.iter().flatten().cloned());
        args
    }
}

/// GitLab's aliases of a service image: the name without tag or digest, with each `/` as
/// `__` and as `-`.
fn default_aliases(image: &str) -> Vec<String> {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let name = match name.rsplit_once(':') {
        Some((before, tag)) if !tag.contains('/') => before,
        _ => name,
    };
    let mut aliases = vec![name.replace('/', "__")];
    let dashed = name.replace('/', "-");
    if dashed != aliases[0] {
        aliases.push(dashed);
    }
    aliases
}

/// The network of container `container`'s services.
fn network_name(container: &str) -> String {
    format!("{container}-net")
}

/// The container of service `index` (0-based) of container `container`.
fn service_name(container: &str, index: usize) -> String {
    format!("{container}-svc-{index}")
}

/// The engine commands that remove `count` services of container `container` and their
/// network, in order; each may fail harmlessly (what is not there is not an error).
/// `kill` comes before `rm --force`, which would first wait for a stop timeout.
pub(super) fn removal_commands(container: &str, count: usize) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for index in 0..count {
        let name = service_name(container, index);
        commands.push(vec!["kill".to_owned(), name.clone()]);
        commands.push(vec!["rm".to_owned(), "--force".to_owned(), name]);
    }
    commands.push(vec!["network".to_owned(), "rm".to_owned(), network_name(container)]);
    commands
}

/// Services started for one container; [`remove`](Self::remove) them, or they are removed
/// in the background when this is dropped.
pub(super) struct Started {
    engine: Engine,
    container: String,
    count: usize,
    removed: bool,
    /// `--network <network>` and `--add-host <alias>:<address>` for the job's container.
    pub(super) args: Vec<String>,
}

impl Started {
    /// Creates the network and starts `services` for the container `container` of `spec`,
    /// each announced in `output`.
    ///
    /// # Errors
    ///
    /// [`ExecutorError::Service`]: the network or a service could not be started (what was
    /// started is removed again).
    pub(super) async fn start(
        engine: &Engine,
        container: &str,
        services: &[ServiceSpec],
        spec: &ScriptRun,
        output: &mut dyn OutputSink,
    ) -> Result<Started, ExecutorError> {
        let network = network_name(container);
        let mut started = Started {
            engine: engine.clone(),
            container: container.to_owned(),
            count: 0,
            removed: false,
            args: Vec::new(),
        };
        engine_output(engine, &["network", "create", &network], &[])
            .await
            .map_err(|message| ExecutorError::Service {
                image: network.clone(),
                message,
            })?;
        started.args = vec!["--network".to_owned(), network.clone()];
        for (index, service) in services.iter().enumerate() {
            output.write(format!("Starting service `{}` as {}\n", service.image, quoted(&service.aliases)).as_bytes());
            let name = service_name(container, index);
            started.count = index + 1;
            let address = start_one(engine, service, &name, &network, spec)
                .await
                .map_err(|message| ExecutorError::Service {
                    image: service.image.clone(),
                    message,
                })?;
            for alias in &service.aliases {
                started
                    .args
                    .extend(["--add-host".to_owned(), format!("{alias}:{address}")]);
            }
        }
        Ok(started)
    }

    /// Removes the services and their network.
    pub(super) async fn remove(mut self) {
        for command in removal_commands(&self.container, self.count) {
            let _best_effort = self.engine.command().args(command).status().await;
        }
        self.removed = true;
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let commands = removal_commands(&self.container, self.count);
        let engine = self.engine.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for command in commands {
                    let _best_effort = engine.command().args(command).kill_on_drop(false).status().await;
                }
            });
        }
    }
}

/// Starts one service and returns its address on `network`.
async fn start_one(
    engine: &Engine,
    service: &ServiceSpec,
    name: &str,
    network: &str,
    spec: &ScriptRun,
) -> Result<String, String> {
    // The job's variables, then the service's own, which win.
    let mut env: Vec<(String, String)> = spec.env.clone();
    for (variable, value) in &service.variables {
        env.retain(|(known, _)| known != variable);
        env.push((variable.clone(), value.clone()));
    }
    let names: Vec<String> = env
        .iter()
        .filter(|(n, _)| !read_by_engine(n))
        .map(|(n, _)| n.clone())
        .collect();
    let env_file = write_env_file(&spec.scratch_dir, &env, name)
        .await
        .map_err(|e| format!("cannot write its env file: {e}"))?;
    let file = env_file.as_ref().map(|path| path.display().to_string());
    let args = service.run_args(name, network, &names, file.as_deref());
    let started = engine_output(engine, &args.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    if let Some(path) = env_file {
        let _ignored = tokio::fs::remove_file(path).await;
    }
    started?;
    let template = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    let address = engine_output(engine, &["inspect", "--format", &template, name], &[]).await?;
    let address = address.trim();
    if address.is_empty() {
        return Err(format!("`{name}` has no address on `{network}`"));
    }
    Ok(address.to_owned())
}

/// Runs the engine with `args` (and `env` in its environment, names the engine reads left
/// out) and returns its stdout; on failure, its last line of stderr.
async fn engine_output(engine: &Engine, args: &[&str], env: &[(String, String)]) -> Result<String, String> {
    let output = tokio::process::Command::new(engine.name())
        .args(args)
        .envs(
            env.iter()
                .filter(|(name, _)| !read_by_engine(name))
                .map(|(k, v)| (k, v)),
        )
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|error| format!("`{}` cannot start: {error}", engine.name()))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_owned())
}

fn quoted(aliases: &[String]) -> String {
    aliases
        .iter()
        .map(|alias| format!("`{alias}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_gitlabs_rules() {
        assert_eq!(default_aliases("postgres:16"), ["postgres"]);
        assert_eq!(
            default_aliases("tutum/wordpress:latest"),
            ["tutum__wordpress", "tutum-wordpress"]
        );
        assert_eq!(
            default_aliases("registry.example.com:5000/group/db"),
            [
                "registry.example.com:5000__group__db",
                "registry.example.com:5000-group-db"
            ]
        );
        assert_eq!(default_aliases("redis@sha256:abc"), ["redis"]);
        let service = Service {
            name: "postgres:16".to_owned(),
            alias: Some("db, database".to_owned()),
            entrypoint: None,
            command: Some(vec!["postgres".to_owned(), "-c".to_owned(), "fsync=off".to_owned()]),
            variables: Vec::new(),
            pull_policy: vec!["never".to_owned()],
        };
        let spec = ServiceSpec::new(
            &service,
            "postgres:16".to_owned(),
            vec![("POSTGRES_PASSWORD".to_owned(), "x".to_owned())],
        );
        assert_eq!(spec.aliases, ["postgres", "db", "database"]);
        let args = spec
            .run_args("c-svc-0", "c-net", &["POSTGRES_PASSWORD".to_owned()], None)
            .join(" ");
        assert_eq!(
            args,
            "run --detach --name c-svc-0 --network c-net --log-driver none --env POSTGRES_PASSWORD --pull=never postgres:16 postgres -c fsync=off"
        );
        assert!(!args.contains("=x"), "a value reached the command line: {args}");
    }

    #[test]
    fn removal_kills_before_removing_and_drops_the_network_last() {
        let commands: Vec<String> = removal_commands("c", 2).iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            commands,
            [
                "kill c-svc-0",
                "rm --force c-svc-0",
                "kill c-svc-1",
                "rm --force c-svc-1",
                "network rm c-net"
            ]
        );
        assert_eq!(removal_commands("c", 0), [["network", "rm", "c-net"]]);
    }
}
