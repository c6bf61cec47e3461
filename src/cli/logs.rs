//! `sluice logs`: prints a job's log from the last local run, or with `--server` (or
//! `SLUICE_SERVER`) a job's log from the daemon, following it live with `--follow`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::ExitStatus;
use super::client::Client;
use crate::git::Repo;
use crate::run::last_run_log;
use crate::store::Store;

/// How many recent pipelines are searched for the job.
const SEARCH: u32 = 50;

/// Arguments of `sluice logs`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice logs build                  the log of `build` in the last run that had it
  sluice logs 'test 2/3'             one instance of a parallel job
  sluice logs 'deploy: [aws, eu]'    one instance of a matrix job
  sluice logs --server http://127.0.0.1:8470 42 --follow
                                     job #42 from the daemon, live until it finishes

Exit codes: 0 printed (with `--follow`: the job succeeded), 1 no run of that job is recorded
(with `--follow`: the job failed or was canceled; or the token may not read), 2 no state
directory or store, no daemon, unknown job or bad token.")]
pub struct LogsArgs {
    /// The job's name
    job: String,
    /// The repository (any directory inside it)
    #[arg(long, default_value = ".", env = "SLUICE_DIR")]
    dir: PathBuf,
    /// State directory (default: `.sluice` in the repository)
    #[arg(long, value_name = "DIR", env = "SLUICE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Ask the daemon at this address (`http://HOST:PORT`); JOB is then a job id
    #[arg(long, value_name = "URL", env = "SLUICE_SERVER")]
    server: Option<String>,
    /// An API token for `--server` (prefer the environment variable)
    #[arg(long, value_name = "TOKEN", env = "SLUICE_TOKEN", hide_env_values = true, value_parser = super::client::parse_secret)]
    token: Option<secrecy::SecretString>,
    /// With `--server`: stream the log until the job finishes
    #[arg(long, short = 'f', requires = "server")]
    follow: bool,
}

/// Runs `sluice logs`.
pub fn run(args: &LogsArgs) -> anyhow::Result<ExitStatus> {
    if let Some(server) = &args.server {
        return remote(args, server);
    }
    let state_dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => Repo::discover(&args.dir)?.root().join(".sluice"),
    };
    let database = state_dir.join("sluice.db");
    if !database.exists() {
        anyhow::bail!("no local runs are recorded in `{}`\n\nhint: run a pipeline first with `sluice run`", state_dir.display());
    }
    let store = Store::open(&database)?;
    let Some(job) = last_run_log(&store, &args.job, SEARCH)? else {
        eprintln!("error: no run of job `{}` is recorded in the last {SEARCH} pipelines", args.job);
        return Ok(ExitStatus::Failure);
    };
    let Some(path) = job.log_path else {
        anyhow::bail!(
            "job `{}` (#{}) has no log recorded (it is `{}`)\n\nhint: a job that has not started has no log yet; `sluice status` shows its pipeline",
            job.name,
            job.id.get(),
            job.status
        );
    };
    let log = std::fs::read(&path).with_context(|| format!("cannot read the log `{}`", path.display()))?;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`sluice logs x | head`) is not an error.
    let _ = stdout.write_all(&log).and_then(|()| stdout.flush());
    Ok(ExitStatus::Success)
}

/// `sluice logs --server URL JOB_ID [--follow]`.
fn remote(args: &LogsArgs, server: &str) -> anyhow::Result<ExitStatus> {
    let Ok(id) = args.job.parse::<u64>() else {
        eprintln!("error: with `--server`, JOB is a job id, not `{}`\n\nhint: `sluice status` lists job ids", args.job);
        return Ok(ExitStatus::Error);
    };
    let client = match Client::for_server(server, args.token.clone()) {
        Ok(client) => client,
        Err(failed) => return Ok(failed.report()),
    };
    let path = format!("/jobs/{id}/log");
    let mut stdout = std::io::stdout().lock();
    if !args.follow {
        return match client.text(&path) {
            Ok(text) => {
                let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
                Ok(ExitStatus::Success)
            }
            Err(failed) => Ok(failed.report()),
        };
    }
    let mut status = None;
    let streamed = client.events(&path, |event| {
        if event.event == "end" {
            let end: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
            status = Some(end["status"].as_str().unwrap_or("unknown").to_owned());
            return false;
        }
        // A closed pipe (`| head`) ends the stream.
        writeln!(stdout, "{}", event.data).and_then(|()| stdout.flush()).is_ok()
    });
    if let Err(failed) = streamed {
        return Ok(failed.report());
    }
    match status.as_deref() {
        Some("success") => Ok(ExitStatus::Success),
        Some(other) => {
            eprintln!("Job #{id} finished: {other}");
            Ok(ExitStatus::Failure)
        }
        None => Ok(ExitStatus::Success),
    }
}
