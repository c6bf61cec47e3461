//! `sluice serve`: loads and checks the configuration, opens the store, binds the listen
//! address, writes the bound address to `<data_dir>/address`, and runs the daemon until
//! SIGTERM or Ctrl-C (a second signal exits at once).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::config::{self, LoadError, StoreUrl};
use crate::daemon::cron::{ScheduleClock, TEST_CLOCK_VAR};
use crate::daemon::{Daemon, serve};
use crate::executor::process_group::become_subreaper;
use crate::promote::Clock;
use crate::store::Store;

/// Arguments of `sluice serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice serve                               serve with ./sluice.yaml
  sluice serve --config /etc/sluice/sluice.yaml
  SLUICE_LOG=debug sluice serve              more logs (a tracing filter, default `info`)

The address bound (useful with `listen: 127.0.0.1:0`) is written to `<data_dir>/address`.
Logs go to stderr. SIGTERM or Ctrl-C stops taking work and lets running jobs finish for
up to 30 seconds; a second signal exits at once.
Exit codes: 0 stopped cleanly, 2 invalid configuration or the daemon failed.")]
pub struct ServeArgs {
    /// The controller configuration file
    #[arg(long, value_name = "FILE", default_value = "sluice.yaml", env = "SLUICE_CONFIG")]
    config: PathBuf,
    /// For tests only: read promotion's clock from FILE (an RFC 3339 time); honoured only
    /// with `SLUICE_TEST_CLOCK=1`
    #[arg(long, value_name = "FILE", hide = true, env = "SLUICE_CLOCK_FILE")]
    clock_file: Option<PathBuf>,
}

/// Runs `sluice serve`.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitStatus> {
    let file = args.config.display().to_string();
    let loaded = match config::load(&args.config) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid(diagnostics)) => {
            eprintln!("{diagnostics}");
            let errors = diagnostics.errors().count();
            eprintln!(
                "\nerror: `{file}` is invalid: {errors} error{}",
                if errors == 1 { "" } else { "s" }
            );
            return Ok(ExitStatus::Error);
        }
        Err(error @ LoadError::Read { .. }) => return Err(error.into()),
    };
    // Each disabled endpoint is one warning here (the loader reports it once).
    for warning in loaded.warnings.0.iter() {
        eprintln!("{warning}\n");
    }
    let config = loaded.config;
    let clock = test_clock()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data directory `{}`", config.data_dir.display()))?;
    let StoreUrl::Sqlite(db) = &config.store;
    let store = Arc::new(Store::open(db)?);
    become_subreaper().context("cannot become the reaper of job processes")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on `{}`", config.listen))?;
        let address = listener.local_addr().context("cannot read the bound address")?;
        write_address(&config.data_dir, &address.to_string())?;
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        let mut daemon = Daemon::new(config, store);
        daemon.clock = clock;
        daemon.promotion_clock = promotion_clock(args.clock_file.as_deref());
        serve(listener, daemon, shutdown).await
    })?;
    Ok(ExitStatus::Success)
}

/// The schedules' clock: the real one, unless the test hook [`TEST_CLOCK_VAR`] names an
/// RFC 3339 time to start from (with a warning, since schedules then fire at wrong times).
fn test_clock() -> anyhow::Result<ScheduleClock> {
    let Some(start) = std::env::var_os(TEST_CLOCK_VAR) else {
        return Ok(ScheduleClock::default());
    };
    let start = start.to_string_lossy();
    // `1` turns the test hooks on without moving the schedules' clock (promotion's
    // `--clock-file` needs only that).
    if start == "1" {
        return Ok(ScheduleClock::default());
    }
    let start = chrono::DateTime::parse_from_rfc3339(&start)
        .with_context(|| format!("{TEST_CLOCK_VAR}=`{start}` is not an RFC 3339 time such as `2026-03-06T08:59:58Z`"))?;
    eprintln!(
        "warning: {TEST_CLOCK_VAR} is set: cron schedules run on a test clock starting at {start}; it is a test hook, never set it in production\n"
    );
    Ok(ScheduleClock::starting_at(start.to_utc()))
}

/// Promotion's clock: the system clock, or `--clock-file` when the test hook
/// [`TEST_CLOCK_VAR`] is set (`1`, or a start time for the schedules), with a warning.
fn promotion_clock(file: Option<&Path>) -> Clock {
    let Some(file) = file else { return Clock::System };
    if std::env::var_os(TEST_CLOCK_VAR).is_some_and(|value| !value.is_empty()) {
        tracing::warn!(file = %file.display(), "TEST CLOCK: promotion reads the time from a file, not the system clock");
        Clock::File(file.to_owned())
    } else {
        tracing::warn!("`--clock-file` is ignored: it is honoured only with SLUICE_TEST_CLOCK=1");
        Clock::System
    }
}

/// Writes `<data_dir>/address` atomically (a temporary file renamed over it), so a reader
/// never sees half an address.
fn write_address(data_dir: &Path, address: &str) -> anyhow::Result<()> {
    let target = data_dir.join("address");
    let temporary = data_dir.join(".address.tmp");
    let mut file =
        std::fs::File::create(&temporary).with_context(|| format!("cannot write `{}`", temporary.display()))?;
    writeln!(file, "{address}").with_context(|| format!("cannot write `{}`", temporary.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write `{}`", temporary.display()))?;
    std::fs::rename(&temporary, &target).with_context(|| format!("cannot write `{}`", target.display()))
}

/// The first SIGTERM or Ctrl-C starts a graceful shutdown; a second one exits at once.
async fn stop_on_signal(shutdown: CancellationToken) {
    let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        tracing::error!("cannot listen for SIGTERM; stop the daemon with Ctrl-C or SIGKILL");
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: no new work is taken; a second signal stops at once");
    shutdown.cancel();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    std::process::exit(130);
}
