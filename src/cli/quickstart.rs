//! `sluice quickstart`: the whole flow on one machine (see [`crate::quickstart`]). Progress
//! goes to stderr; with `--until dev`, the URL that answered goes to stdout.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::executor::process_group::become_subreaper;
use crate::quickstart::{self, Options, QuickstartError, Until};

/// How far `--until` goes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Stop {
    /// Exit 0 once dev's health check passed and its URL answered
    Dev,
}

/// Arguments of `sluice quickstart`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice quickstart --dir /tmp/sluice-quickstart              watch the flow; Ctrl-C stops it
  sluice quickstart --dir /tmp/sluice-quickstart --until dev  unattended: exit 0 once dev answers

Everything lives in DIR: the sample app's repository (`hello`, remote `hello.git`), the
config repo (`config`, remote `config.git`), the demo age identity (`identity.txt`, never
committed), the demo approver's API token (`approver.token`), `sluice.yaml`, the daemon's
data (`data/`) and log (`logs/sluice.log`). A DIR made by an earlier quickstart is emptied
and reused (after stopping what that run left running); any other non-empty DIR is refused.
Needs `git` and `python3`.
Exit codes: 0 done (with `--until dev`: dev answered; without: stopped by Ctrl-C),
1 a step failed or timed out (the message says which log to read), 2 DIR refused or setup failed.")]
pub struct QuickstartArgs {
    /// The directory to create everything in
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Run unattended and stop at this step
    #[arg(long, value_enum, value_name = "STEP")]
    until: Option<Stop>,
    /// The longest the flow may take to get dev running, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    timeout: u64,
}

/// Runs `sluice quickstart`.
pub fn run(args: &QuickstartArgs) -> anyhow::Result<ExitStatus> {
    let options = Options {
        dir: args.dir.clone(),
        until: match args.until {
            Some(Stop::Dev) => Until::Dev,
            None => Until::Interrupted,
        },
        timeout: Duration::from_secs(args.timeout),
        sluice: std::env::current_exe().context("cannot find the `sluice` binary to run the daemon with")?,
    };
    // The daemon's apps are re-parented here when it stops; this process reaps them.
    if let Err(e) = become_subreaper() {
        eprintln!("warning: cannot become the reaper of the apps the daemon starts: {e}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let interrupt = CancellationToken::new();
        tokio::spawn(interrupt_on_signal(interrupt.clone()));
        quickstart::run(&options, interrupt, &mut std::io::stderr()).await
    });
    match result {
        Ok(Some(outcome)) => {
            if options.until == Until::Dev {
                outln!("{}", outcome.dev_url);
            }
            eprintln!("done: dev answered at {}: {}", outcome.dev_url, outcome.dev_answer);
            Ok(ExitStatus::Success)
        }
        Ok(None) => Ok(ExitStatus::Success),
        Err(error @ (QuickstartError::NotAQuickstartDir(_) | QuickstartError::Setup(_))) => {
            eprintln!("error: {error}");
            Ok(ExitStatus::Error)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitStatus::Failure)
        }
    }
}

/// Ctrl-C or SIGTERM fires `interrupt` (the quickstart then stops what it started).
async fn interrupt_on_signal(interrupt: CancellationToken) {
    let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    interrupt.cancel();
}
