//! `sluice quickstart`: the whole flow, push to running software, on one machine and in one
//! directory. It lays out a quickstart directory ([`workspace`]: the sample app's repository
//! with a bare remote, a config repo made from the template, a demo age identity, an
//! encrypted demo secret, `sluice.yaml`), starts `sluice serve` as a child process
//! ([`daemon`]), pushes a `VERSION` bump, and reports what the daemon does as it happens
//! ([`watch`]): the pipeline and its jobs, the image published, dev deployed and answering,
//! staging waiting for an approval (and, when the user approves, deployed too).
//!
//! # Guarantees
//!
//! Everything it creates lives in the directory; it deletes a directory only when a previous
//! quickstart made it (a marker file says so), after stopping what that run left running.
//! On every exit (success, failure, timeout, Ctrl-C) it stops the daemon and every app
//! process the daemon started. The demo secret's clear value exists only in memory here and
//! in the processes it is deployed to; the private key stays in the directory, outside every
//! git repository.

pub mod daemon;
mod fetch;
pub mod setup;
pub mod watch;
pub mod workspace;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use workspace::Layout;

/// The app the quickstart publishes and deploys (the config repo template's app).
pub const APP: &str = "hello";

/// The version the quickstart's push raises `VERSION` to.
pub const BUMPED_VERSION: &str = "0.2.0";

/// How far an unattended run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Stop once dev's health check passed and its URL answered.
    Dev,
    /// Keep reporting until interrupted.
    Interrupted,
}

/// What `sluice quickstart` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The quickstart directory.
    pub dir: PathBuf,
    /// How far to go.
    pub until: Until,
    /// The longest the flow may take to reach dev (and, without `--until`, between steps).
    pub timeout: Duration,
    /// The `sluice` binary to run the daemon with (normally this very program).
    pub sluice: PathBuf,
}

/// Why the quickstart stopped short. Every message names what failed and where its logs are.
#[derive(Debug, thiserror::Error)]
pub enum QuickstartError {
    /// The directory exists and a quickstart did not make it: nothing was touched.
    #[error(
        "`{0}` exists, is not empty and was not made by `sluice quickstart`; nothing was touched\n\nhint: name a new or empty directory"
    )]
    NotAQuickstartDir(PathBuf),
    /// Laying out the directory failed.
    #[error("cannot set up the quickstart: {0}")]
    Setup(String),
    /// The daemon could not start or stopped on its own.
    #[error("{message}\n\nhint: the daemon's log is `{log}`")]
    Daemon {
        /// What happened.
        message: String,
        /// The daemon's log file.
        log: PathBuf,
    },
    /// A step of the flow failed or did not happen in time.
    #[error("{message}\n\nhint: logs are in `{logs}`: {where_}")]
    Flow {
        /// What failed, with the last state seen.
        message: String,
        /// The logs directory.
        logs: PathBuf,
        /// Which log says more.
        where_: String,
    },
}

/// What a successful run saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The URL of dev that answered.
    pub dev_url: String,
    /// Its answer.
    pub dev_answer: String,
}

/// Runs the quickstart, writing progress to `progress`, until [`Options::until`] is reached,
/// a step fails, the timeout passes or `interrupt` fires; then stops everything it started.
///
/// # Errors
///
/// [`QuickstartError`]; the daemon and app processes are stopped in every case once started.
pub async fn run(
    options: &Options,
    interrupt: CancellationToken,
    progress: &mut dyn Write,
) -> Result<Option<Outcome>, QuickstartError> {
    let started = Instant::now();
    let layout = workspace::prepare(&options.dir).await?;
    say(progress, started, &format!("quickstart directory `{}`", layout.root.display()));
    let prepared = setup::write_all(&layout)?;
    say(
        progress,
        started,
        &format!(
            "sample app in `{}` (remote `{}`), config repo `{}`, demo age identity `{}` (never committed), demo secret encrypted in `secrets/dev/{APP}.yaml` and `secrets/staging/{APP}.yaml`",
            layout.app.display(),
            layout.app_remote.display(),
            layout.config_remote.display(),
            layout.identity.display(),
        ),
    );
    let mut daemon = daemon::Daemon::start(&layout, &options.sluice).await?;
    say(
        progress,
        started,
        &format!(
            "daemon `sluice serve --config {}` runs as pid {} on http://{} (log `{}`)",
            layout.config_file.display(),
            daemon.pid(),
            daemon.address(),
            layout.daemon_log.display()
        ),
    );
    let flow = async {
        setup::approver_token(&layout)?;
        setup::push_bump(&layout)?;
        say(progress, started, &format!("pushed `main` to `{}`: VERSION 0.1.0 → {BUMPED_VERSION}", layout.app_remote.display()));
        let mut watcher = watch::Watcher::new(&layout, &prepared, &options.sluice, daemon.address());
        watcher.follow(options, &mut daemon, &interrupt, progress, started).await
    };
    let result = flow.await;
    say(progress, started, "stopping the daemon and the apps it started");
    let stopped = daemon.stop().await;
    let apps = workspace::stop_apps(&layout).await;
    match (&result, stopped, apps) {
        (Ok(_), Err(e), _) | (Ok(_), Ok(()), Err(e)) => Err(e),
        _ => result,
    }
}

/// One progress line, prefixed with the seconds since the start.
fn say(progress: &mut dyn Write, started: Instant, line: &str) {
    let _best_effort = writeln!(progress, "[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
}
