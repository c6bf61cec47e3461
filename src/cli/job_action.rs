//! `sluice retry` and `sluice play`: ask the daemon to run a job (a finished job again, as a
//! new attempt, or a `manual` job) and print the job id that will run on stdout
//! (`sluice logs --server … --follow $(sluice retry 7)`).

use clap::Args;

use super::ExitStatus;
use super::client::{Client, ServerArgs};

/// Arguments of `sluice retry`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice retry 7                       retry job #7; prints the new job's id
  sluice retry 7 --json                 {\"job\": new id, \"event\": id}

Exit codes: 0 queued, 1 refused (the job or its pipeline is not finished, or was already retried; or the token may not write), 2 no daemon, unknown job or bad token.")]
pub struct RetryArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The job's id (from `sluice status`)
    #[arg(value_name = "JOB_ID")]
    job: u64,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Arguments of `sluice play`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice play 9                        start the manual job #9
  sluice play 9 --json                  {\"job\": id, \"event\": id}

Exit codes: 0 queued, 1 refused (the job is not `manual`, or the token may not write), 2 no daemon, unknown job or bad token.")]
pub struct PlayArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The job's id (from `sluice status`)
    #[arg(value_name = "JOB_ID")]
    job: u64,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Runs `sluice retry`.
pub fn retry(args: &RetryArgs) -> anyhow::Result<ExitStatus> {
    post(&args.server, args.job, args.json, "retry", |id, job| format!("Job #{id} will run again as job #{job}"))
}

/// Runs `sluice play`.
pub fn play(args: &PlayArgs) -> anyhow::Result<ExitStatus> {
    post(&args.server, args.job, args.json, "play", |_, job| format!("Manual job #{job} will run"))
}

/// `POST /jobs/{id}/{action}`; prints the job id (or the answer with `--json`) on stdout and
/// `message(id, job)` on stderr.
fn post(server: &ServerArgs, id: u64, json: bool, action: &str, message: impl Fn(u64, i64) -> String) -> anyhow::Result<ExitStatus> {
    let answer = match Client::new(server).and_then(|c| c.json("POST", &format!("/jobs/{id}/{action}"), None)) {
        Ok(answer) => answer,
        Err(failed) => return Ok(failed.report()),
    };
    let job = answer["job"].as_i64().unwrap_or_default();
    if json {
        outln!("{answer}");
    } else {
        outln!("{job}");
    }
    eprintln!("{}", message(id, job));
    Ok(ExitStatus::Success)
}
