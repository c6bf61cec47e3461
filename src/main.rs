//! The `sluice` binary: parses the command line, sets up logging to stderr and hands over to
//! [`sluice::cli`].

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = sluice::cli::Cli::parse();
    // `SLUICE_LOG` is a tracing filter (`info`, `sluice=debug`, …); only the daemon logs much.
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // kube-client logs API statuses at debug and, when a body does not parse, the body at
    // warn: a refused Secret's status or a Secret's apply response could carry its values.
    let filter = filter.add_directive("kube_client=error".parse().expect("a constant directive"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    sluice::cli::run(cli)
}
