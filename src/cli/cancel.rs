//! `sluice cancel`: cancels a running pipeline through the daemon (its running jobs are
//! stopped, the others `canceled`).

use clap::Args;

use super::ExitStatus;
use super::client::{Client, ServerArgs};

/// Arguments of `sluice cancel`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice cancel 12                      cancel pipeline #12

Exit codes: 0 canceling, 1 refused (the pipeline is not running, or the token may not write),
2 no daemon, unknown pipeline or bad token.")]
pub struct CancelArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The pipeline's id (from `sluice status`)
    #[arg(value_name = "PIPELINE_ID")]
    pipeline: u64,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Runs `sluice cancel`.
pub fn run(args: &CancelArgs) -> anyhow::Result<ExitStatus> {
    let id = args.pipeline;
    let answer = match Client::new(&args.server).and_then(|c| c.json("POST", &format!("/pipelines/{id}/cancel"), None))
    {
        Ok(answer) => answer,
        Err(failed) => return Ok(failed.report()),
    };
    if args.json {
        outln!("{answer}");
    }
    eprintln!("Pipeline #{id} is being canceled");
    Ok(ExitStatus::Success)
}
