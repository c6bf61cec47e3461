//! `sluice config check`: validates the controller configuration (`sluice.yaml`) or a config
//! repo, and prints every error with its file, line, column and key.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::ExitStatus;
use crate::config::{self, LoadError, repo};

/// Arguments of `sluice config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check the controller configuration or a config repo, reporting every error with its line and key
    #[command(after_help = "Examples:
  sluice config check                        check ./sluice.yaml
  sluice config check --config /etc/sluice/sluice.yaml
  sluice config check --config-repo ../config   check a config repo's working tree

Secrets are read as `sluice serve` reads them: an `env:` variable that is not set is a
warning (the endpoint it protects is disabled), a `file:` that cannot be read is an error.

Exit codes: 0 valid (warnings on stderr), 2 invalid (every error is printed).")]
    Check(CheckArgs),
}

/// Arguments of `sluice config check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The controller configuration file
    #[arg(long, value_name = "FILE", default_value = "sluice.yaml", env = "SLUICE_CONFIG")]
    config: PathBuf,
    /// Check this config repo (a directory: environments, apps, access) instead
    #[arg(long, value_name = "DIR")]
    config_repo: Option<PathBuf>,
}

/// Runs `sluice config …`.
pub fn run(args: &ConfigArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        ConfigCommand::Check(check) => run_check(check),
    }
}

fn run_check(args: &CheckArgs) -> anyhow::Result<ExitStatus> {
    if let Some(dir) = &args.config_repo {
        return check_config_repo(dir);
    }
    let file = args.config.display().to_string();
    match config::load(&args.config) {
        Ok(loaded) => {
            for warning in loaded.warnings.0.iter() {
                eprintln!("{warning}\n");
            }
            let projects = loaded.config.projects.len();
            let schedules: usize = loaded.config.projects.iter().map(|p| p.schedules.len()).sum();
            outln!(
                "`{file}` is valid: {projects} project{}, {schedules} schedule{}",
                plural(projects),
                plural(schedules)
            );
            Ok(ExitStatus::Success)
        }
        Err(LoadError::Invalid(diagnostics)) => {
            eprintln!("{diagnostics}");
            let errors = diagnostics.errors().count();
            eprintln!("\nerror: `{file}` is invalid: {errors} error{}", plural(errors));
            Ok(ExitStatus::Error)
        }
        Err(error @ LoadError::Read { .. }) => Err(anyhow::Error::new(error)),
    }
}

fn check_config_repo(dir: &Path) -> anyhow::Result<ExitStatus> {
    let files = repo::load_dir(dir).map_err(|e| anyhow::anyhow!("cannot read the config repo: {e}"))?;
    let shown = dir.display().to_string();
    let prefix = if shown == "." { String::new() } else { format!("{}/", shown.trim_end_matches('/')) };
    match repo::parse(&files, &prefix) {
        Ok((config, warnings)) => {
            for warning in &warnings.0 {
                eprintln!("{warning}\n");
            }
            let disagreements = recipient_disagreements(dir, &config);
            if !disagreements.is_empty() {
                for disagreement in &disagreements {
                    eprintln!("error: {disagreement}\n");
                }
                let errors = disagreements.len();
                eprintln!("error: config repo `{shown}` is invalid: {errors} error{}", plural(errors));
                return Ok(ExitStatus::Error);
            }
            let (envs, apps) = (config.environments.len(), config.apps.len());
            let order = config.environment_names().join(" → ");
            outln!("`{shown}` is valid: {envs} environment{} ({order}), {apps} app{}", plural(envs), plural(apps));
            Ok(ExitStatus::Success)
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            let errors = diagnostics.errors().count();
            eprintln!("\nerror: config repo `{shown}` is invalid: {errors} error{}", plural(errors));
            Ok(ExitStatus::Error)
        }
    }
}

/// Where an environment's `secrets:` recipients disagree with `.sops.yaml`, as the CD loop
/// would refuse to deploy (see [`crate::deploy::recipients`]).
fn recipient_disagreements(dir: &Path, config: &repo::ConfigRepo) -> Vec<String> {
    let mut found = Vec::new();
    for environment in &config.environments {
        for app in config.apps.keys() {
            let checked = crate::deploy::recipients::check(dir, environment.name.as_str(), app.as_str(), &environment.secrets);
            if let Err(message) = checked {
                found.push(message);
            }
        }
    }
    found
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
