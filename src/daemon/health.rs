//! The health watch: checks every environment's current deployment again every
//! `health.period` of its app (default 10 s), and at once when a process that a process
//! target started ends, with [`crate::deploy::watch`], and records each transition in the
//! store (`unhealthy_since`, or back to healthy with `healthy_since` moved to the recovery),
//! never each check. The promotion loop is woken after a transition: the `from` and `soak`
//! gates of the next environment read it.
//!
//! It reads the config repo as the deploy loop last applied it, and leaves an (app,
//! environment) alone while the deploy loop deploys it ([`InProgress`]): that deployment's
//! own health check decides, and a process target switches processes meanwhile. (Not the
//! store's `deploying` status: a row a crashed daemon left `deploying` would hide the
//! environment from the watch for good.) Times come from the promotion clock, as
//! deployments' do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::repo::ConfigRepo;
use crate::deploy::from_config;
use crate::deploy::render::Rendered;
use crate::deploy::target::TargetContext;
use crate::deploy::watch::{self as health_watch, Judge};
use crate::promote::Clock;
use crate::store::{DeploymentRow, Store, StoreError};

/// How long the watch sleeps when nothing is due (no config repo applied yet, nothing pinned).
const IDLE: Duration = Duration::from_secs(10);

/// The (app, environment) the deploy loop is deploying now, if any.
#[derive(Debug, Clone, Default)]
pub struct InProgress(Arc<Mutex<Option<(String, String)>>>);

impl InProgress {
    /// Marks `app` in `env` as being deployed until the guard is dropped.
    pub fn start(&self, app: &str, env: &str) -> Deploying<'_> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((app.to_string(), env.to_string()));
        Deploying(self)
    }

    fn is(&self, app: &str, env: &str) -> bool {
        let now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        now.as_ref().is_some_and(|(a, e)| a == app && e == env)
    }
}

/// Clears [`InProgress`] when dropped, on every path out of a deployment.
#[derive(Debug)]
pub struct Deploying<'a>(&'a InProgress);

impl Drop for Deploying<'_> {
    fn drop(&mut self) {
        *self.0.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The watch's inputs.
pub struct HealthLoop {
    /// The store of record.
    pub store: Arc<Store>,
    /// Where targets keep their state; its `exits` wake the watch.
    pub targets: TargetContext,
    /// The time transitions are recorded at.
    pub clock: Clock,
    /// The config repo the deploy loop last applied.
    pub config: watch::Receiver<Option<Arc<ConfigRepo>>>,
    /// What the deploy loop deploys now.
    pub in_progress: InProgress,
    /// Notified after a transition (the promotion loop).
    pub changed: Arc<Notify>,
}

impl HealthLoop {
    /// Checks what is due, then sleeps until the next check is due, a process ends or the
    /// config repo changes; until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut judge = Judge::default();
        let mut due: HashMap<(String, String), Instant> = HashMap::new();
        let mut all_due = false;
        loop {
            let repo = self.config.borrow().clone();
            let mut next = Instant::now() + IDLE;
            for (app, env, period) in repo.as_deref().map(pinned).unwrap_or_default() {
                if shutdown.is_cancelled() {
                    return;
                }
                let key = (app, env);
                match due.get(&key) {
                    Some(at) if !all_due && *at > Instant::now() => next = next.min(*at),
                    _ => {
                        if let Some(repo) = &repo
                            && let Err(e) = self.check(repo, &key.0, &key.1, &mut judge).await
                        {
                            tracing::error!(app = %key.0, env = %key.1, "cannot check health: {e}");
                        }
                        let at = Instant::now() + period;
                        next = next.min(at);
                        due.insert(key, at);
                    }
                }
            }
            all_due = false;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.targets.exits.ended() => all_due = true,
                changed = self.config.changed() => {
                    if changed.is_err() {
                        // The deploy loop has stopped: so does the daemon.
                        shutdown.cancelled().await;
                        return;
                    }
                }
                () = tokio::time::sleep_until(next) => {}
            }
        }
    }

    /// Checks the current deployment of `app` in `env` once and records a transition.
    async fn check(&self, repo: &ConfigRepo, app: &str, env: &str, judge: &mut Judge) -> Result<(), StoreError> {
        let Some(current) = self.settled(app, env)? else {
            return Ok(());
        };
        let Ok(Some(spec)) = from_config::spec(repo, app, env) else {
            return Ok(());
        };
        let rendered = self
            .store
            .deployment_details(current.id)?
            .and_then(|details| Rendered::from_stored(&details.rendered).ok())
            .unwrap_or_default();
        let found = health_watch::check(&self.targets, &spec, &current, &rendered).await;
        tracing::debug!(app, env, deployment = current.id, ?found, "checked health");
        let threshold = repo.app(app).map(|a| a.watch).unwrap_or_default().failure_threshold;
        let Some((health, message)) = judge.judge(current.id, found, threshold) else {
            return Ok(());
        };
        // A deployment that started meanwhile decides instead.
        if self.settled(app, env)?.is_none_or(|now| now.id != current.id) {
            return Ok(());
        }
        if self.store.record_health(current.id, health, &message, self.clock.timestamp())? {
            tracing::warn!(app, env, version = %current.version, deployment = current.id, health = %health, "{message}");
            self.changed.notify_one();
        }
        Ok(())
    }

    /// The current deployment of `app` in `env`, unless none is, or it is being deployed.
    fn settled(&self, app: &str, env: &str) -> Result<Option<DeploymentRow>, StoreError> {
        if self.in_progress.is(app, env) {
            return Ok(None);
        }
        self.store.current_deployment(app, env)
    }
}

/// Every pinned (app, environment) of `repo` with its app's `health.period`.
fn pinned(repo: &ConfigRepo) -> Vec<(String, String, Duration)> {
    let mut pinned = Vec::new();
    for environment in &repo.environments {
        for (name, app) in &repo.apps {
            if repo.pin(name.as_str(), environment.name.as_str()).is_some() {
                pinned.push((name.to_string(), environment.name.to_string(), app.watch.period));
            }
        }
    }
    pinned
}
