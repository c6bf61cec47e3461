//! `sluice logs`: prints a job's log from the last local run.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::ExitStatus;
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

Exit codes: 0 printed, 1 no run of that job is recorded, 2 no state directory or store.")]
pub struct LogsArgs {
    /// The job's name
    job: String,
    /// The repository (any directory inside it)
    #[arg(long, default_value = ".", env = "SLUICE_DIR")]
    dir: PathBuf,
    /// State directory (default: `.sluice` in the repository)
    #[arg(long, value_name = "DIR", env = "SLUICE_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

/// Runs `sluice logs`.
pub fn run(args: &LogsArgs) -> anyhow::Result<ExitStatus> {
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
    let path = job.log_path.context("the job has no log")?;
    let log = std::fs::read(&path).with_context(|| format!("cannot read the log `{}`", path.display()))?;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`sluice logs x | head`) is not an error.
    let _ = stdout.write_all(&log).and_then(|()| stdout.flush());
    Ok(ExitStatus::Success)
}
