//! `sluice serve` wired together: the HTTP server, one poller per polled project, one
//! scheduler per project with cron schedules, the worker that turns recorded events into
//! pipelines, the reporter that sends pipeline statuses to the forges and, with
//! `config_repo:`, the CD loop that deploys the config repo's pins and the health watch that
//! keeps checking what it deployed, under one shutdown tree.
//!
//! [`serve`] takes resources already made (a bound listener, an open store, a cancellation
//! token) so tests and the CLI start it the same way. It owns a [`TaskTracker`]: every loop
//! is spawned on it and `select!`s on the token. Shutdown: the token fires (SIGTERM or
//! Ctrl-C in the CLI); the server stops accepting and finishes the requests in flight,
//! pollers stop, the worker takes no new event and lets a running pipeline finish for
//! [`Daemon::grace`], then cancels it; `serve` returns when every task has ended.

pub mod auto_cancel;
pub mod cancel;
pub mod cron;
pub mod deploy;
pub mod health;
pub mod mirrors;
pub mod poll;
pub mod promote;
pub mod recheck;
pub mod recover;
pub mod reports;
pub mod rerun;
pub mod worker;
#[cfg(test)]
mod test_pipeline;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{AppState, ProjectHooks, router};
use crate::config::ControllerConfig;
use crate::promote::{Clock, ConfigRepoHandle, Promoter};
use crate::store::{Store, Timestamp};

/// Default time running jobs get to finish after a shutdown signal before they are canceled.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Everything the daemon needs besides its listener and shutdown token.
pub struct Daemon {
    /// The validated controller configuration.
    pub config: ControllerConfig,
    /// The store of record, already open.
    pub store: Arc<Store>,
    /// How long running jobs may go on after shutdown starts.
    pub grace: Duration,
    /// The clock cron schedules are read against (the real one but in tests).
    pub clock: cron::ScheduleClock,
    /// The clock promotion decisions are made at.
    pub promotion_clock: Clock,
}

impl Daemon {
    /// A daemon for `config` on `store` with the default grace period.
    pub fn new(config: ControllerConfig, store: Arc<Store>) -> Self {
        Daemon {
            config,
            store,
            grace: DEFAULT_GRACE,
            clock: cron::ScheduleClock::default(),
            promotion_clock: Clock::System,
        }
    }
}

/// Serves webhooks on `listener` and runs the pollers and the worker until `shutdown` fires
/// and everything has drained.
///
/// # Errors
///
/// When the store cannot record the configured projects, or the HTTP server fails.
pub async fn serve(listener: TcpListener, daemon: Daemon, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Daemon { config, store, grace, clock, promotion_clock } = daemon;
    let config = Arc::new(config);
    let wake_worker = Arc::new(Notify::new());
    // Promotion and deployment wake each other: a finished pipeline or deployment may open
    // gates, and a promotion commit is deployed at once.
    let wake_promoter = Arc::new(Notify::new());
    let config_pushed = Arc::new(Notify::new());
    let tracker = TaskTracker::new();

    let mut hooks = HashMap::new();
    let mut projects = Vec::new();
    for project in &config.projects {
        let name = project.name.as_str().to_owned();
        let id = {
            let (store, owned) = (store.clone(), name.clone());
            tokio::task::spawn_blocking(move || store.ensure_project(&owned, Timestamp::now()))
                .await
                .context("recording the projects panicked")?
                .with_context(|| format!("cannot record project `{name}` in the store"))?
        };
        let fetch_now = Arc::new(Notify::new());
        hooks.insert(name, ProjectHooks::new(project, id, fetch_now.clone()));
        projects.push((project.clone(), id, fetch_now));
    }
    let mirrors = mirrors::Mirrors::new(mirrors_dir(&config.data_dir));
    let bound = listener.local_addr().context("the listener has no address")?;
    let report_projects: Vec<_> = projects.iter().map(|(project, id, _)| (project.clone(), *id)).collect();
    let outbox = reports::outbox(&report_projects, &store, bound).await?;

    // Jobs a previous process left `running` are settled, and the pipelines it left unfinished
    // queued to resume, before anything new starts.
    {
        let store = store.clone();
        tokio::task::spawn_blocking(move || recover::settle_interrupted_jobs(&store))
            .await
            .context("recovering interrupted jobs panicked")?
            .context("cannot recover the jobs a previous process left running")?;
    }

    if let Some(outbox) = outbox {
        tracker.spawn(outbox.run(shutdown.clone()));
    }
    for (project, id, fetch_now) in projects {
        if !project.schedules.is_empty() {
            let scheduler = cron::Scheduler {
                project: Arc::new(project.clone()),
                project_id: id,
                store: store.clone(),
                wake_worker: wake_worker.clone(),
                clock,
            };
            tracker.spawn(scheduler.run(shutdown.clone()));
        }
        if project.poll.is_some() {
            let poller = poll::Poller {
                project: Arc::new(project),
                project_id: id,
                mirrors: mirrors.clone(),
                store: store.clone(),
                wake_worker: wake_worker.clone(),
                fetch_now,
            };
            tracker.spawn(poller.run(shutdown.clone()));
        }
    }
    if let Some(source) = &config.config_repo {
        let targets = crate::deploy::target::TargetContext::new(config.data_dir.clone());
        let (applied, applied_repo) = tokio::sync::watch::channel(None);
        let in_progress = health::InProgress::default();
        let deploy_loop = deploy::DeployLoop {
            source: source.clone(),
            dir: config.data_dir.join("deploy"),
            deployer: crate::deploy::reconcile::Deployer {
                store: store.clone(),
                targets: targets.clone(),
                clock: promotion_clock.clone(),
            },
            wake: config_pushed.clone(),
            deployed: wake_promoter.clone(),
            applied,
            in_progress: in_progress.clone(),
        };
        tracker.spawn(deploy_loop.run(shutdown.clone()));
        let health_loop = health::HealthLoop {
            store: store.clone(),
            targets,
            clock: promotion_clock.clone(),
            config: applied_repo,
            in_progress,
            changed: wake_promoter.clone(),
        };
        tracker.spawn(health_loop.run(shutdown.clone()));
    }
    let mut state = AppState::new(store.clone(), hooks, wake_worker.clone());
    if let Some(source) = &config.config_repo {
        let promoter = Promoter {
            store: store.clone(),
            config_repo: Arc::new(
                ConfigRepoHandle::new(source.clone(), config.data_dir.join("config-repo.git")).notify_pushes(config_pushed),
            ),
            clock: promotion_clock,
            mirrors_dir: mirrors_dir(&config.data_dir),
        };
        state = state.with_promoter(promoter.clone(), wake_promoter.clone());
        tracker.spawn(promote::run(promoter, wake_promoter.clone(), source.poll, shutdown.clone()));
    }
    let worker = worker::Worker {
        config: config.clone(),
        store: store.clone(),
        mirrors,
        wake: wake_worker.clone(),
        grace,
        running: state.running(),
        metrics: state.metrics(),
        slots: worker::JobSlots::for_config(&config),
        pipeline_finished: wake_promoter,
    };
    tracker.spawn(Arc::new(worker).run(shutdown.clone()));

    {
        let (state, shutdown) = (state.clone(), shutdown.clone());
        tracker.spawn(async move {
            shutdown.cancelled().await;
            state.stop_streams();
        });
    }
    state.set_ready();
    tracing::info!(address = %listener.local_addr().map_or_else(|_| "?".to_owned(), |a| a.to_string()), "sluice is serving");
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let served = server.await.context("the HTTP server failed");
    // Whatever ended the server, everything else stops too.
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    tracing::info!("sluice stopped");
    served
}

/// `<data_dir>/mirrors`: one bare mirror per project.
pub fn mirrors_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("mirrors")
}
