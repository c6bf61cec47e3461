//! The `sluice` binary: parses the command line and hands over to [`sluice::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sluice::cli::Cli::parse();
    sluice::cli::run(cli)
}
