//! `sluice play`: starts a `manual` job of a finished or blocked pipeline, through the daemon.
//! Prints the job id on stdout.

use clap::Args;

use super::ExitStatus;
use super::client::{Client, ServerArgs};

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

/// Runs `sluice play`.
pub fn run(args: &PlayArgs) -> anyhow::Result<ExitStatus> {
    let id = args.job;
    let answer = match Client::new(&args.server).and_then(|c| c.json("POST", &format!("/jobs/{id}/play"), None)) {
        Ok(answer) => answer,
        Err(failed) => return Ok(failed.report()),
    };
    let job = answer["job"].as_i64().unwrap_or_default();
    if args.json {
        outln!("{answer}");
    } else {
        outln!("{job}");
    }
    eprintln!("Manual job #{job} will run");
    Ok(ExitStatus::Success)
}
