//! `sluice retry`: runs a finished job again, as a new attempt, through the daemon.
//! Prints the new attempt's job id on stdout (`sluice logs --server … --follow $(sluice retry 7)`).

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

/// Runs `sluice retry`.
pub fn run(args: &RetryArgs) -> anyhow::Result<ExitStatus> {
    let id = args.job;
    let answer = match Client::new(&args.server).and_then(|c| c.json("POST", &format!("/jobs/{id}/retry"), None)) {
        Ok(answer) => answer,
        Err(failed) => return Ok(failed.report()),
    };
    let job = answer["job"].as_i64().unwrap_or_default();
    if args.json {
        outln!("{answer}");
    } else {
        outln!("{job}");
    }
    eprintln!("Job #{id} will run again as job #{job}");
    Ok(ExitStatus::Success)
}
