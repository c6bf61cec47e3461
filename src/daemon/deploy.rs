//! The CD loop: watches the config repo's branch and, at each new valid commit, reconciles
//! every pinned (app, environment) with [`crate::deploy::reconcile`], in promotion order.
//!
//! The config repo is mirrored under `<data_dir>/deploy/config.git` and each commit deployed
//! is checked out under `<data_dir>/deploy/config/<sha>/` (older checkouts are removed); a
//! commit that fails validation is logged and skipped, and the last deployments stay. The
//! secrets of each app are decrypted with the controller's identity (`SLUICE_IDENTITY_FILE`
//! or `SLUICE_IDENTITY`) just before its reconcile and dropped right after, once the
//! environment's `secrets:` recipients are found to agree with `.sops.yaml`
//! ([`crate::deploy::recipients`]); a disagreement is recorded as a refused deployment. After
//! each pass, the image cache is pruned of images no environment runs or rolls back to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::health::InProgress;
use crate::config::repo::{self, ConfigRepo, ConfigRepoSource, Recipients};
use crate::deploy::SecretValues;
use crate::deploy::reconcile::Deployer;
use crate::git::{Mirror, RemoteAuth};
use crate::secrets::{self, Identities};

/// The loop's settings and state.
pub struct DeployLoop {
    /// Where the config repo is.
    pub source: ConfigRepoSource,
    /// `<data_dir>/deploy`.
    pub dir: PathBuf,
    /// Reconciles and records.
    pub deployer: Deployer,
    /// Notified when Sluice pushed to the config repo: fetch at once rather than at the next poll.
    pub wake: Arc<Notify>,
    /// Notified after each pass that deployed something (the promotion loop: deployments feed
    /// the `from` and `soak` gates).
    pub deployed: Arc<Notify>,
    /// The config repo as last applied, after each pass (the health watch reads it).
    pub applied: watch::Sender<Option<Arc<ConfigRepo>>>,
    /// The (app, environment) being deployed (the health watch leaves it alone).
    pub in_progress: InProgress,
}

/// A valid commit of the config repo, checked out.
struct Checkout {
    sha: String,
    dir: PathBuf,
    repo: Arc<ConfigRepo>,
}

impl DeployLoop {
    /// Polls every `config_repo.poll`, and at once when woken, until `shutdown`; a reconcile in
    /// progress finishes first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut last: Option<String> = None;
        loop {
            match self.next_commit(last.clone()).await {
                Ok(Some(Ok(checkout))) => {
                    last = Some(checkout.sha.clone());
                    self.deploy_all(&checkout, &shutdown).await;
                    self.applied.send_replace(Some(checkout.repo.clone()));
                    self.prune_images().await;
                    self.deployed.notify_one();
                }
                Ok(Some(Err(sha))) => last = Some(sha),
                Ok(None) => {}
                Err(e) => tracing::warn!("config repo: {e}"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.source.poll) => {}
            }
        }
    }

    /// Fetches; `Some(Ok)` for a new valid tip (checked out), `Some(Err(sha))` for a new
    /// invalid one (logged), `None` when the tip did not move.
    async fn next_commit(&self, last: Option<String>) -> Result<Option<Result<Checkout, String>>, String> {
        let (source, dir) = (self.source.clone(), self.dir.clone());
        tokio::task::spawn_blocking(move || {
            let mirror = Mirror::open_or_init(&dir.join("config.git"), &source.repo.to_git_url())
                .map_err(|e| e.to_string())?
                .with_auth(RemoteAuth::from(&source.credentials));
            mirror.fetch(&[]).map_err(|e| e.to_string())?;
            let Some(sha) = mirror.resolve(&format!("refs/heads/{}", source.branch)) else {
                return Err(format!("the config repo has no branch `{}`", source.branch));
            };
            if last.as_deref() == Some(sha.as_str()) {
                return Ok(None);
            }
            let files = repo::load_at(&mirror.reader().map_err(|e| e.to_string())?, &sha).map_err(|e| e.to_string())?;
            let parsed = match repo::parse(&files, "") {
                Ok((parsed, _warnings)) => parsed,
                Err(errors) => {
                    tracing::warn!(commit = %sha, "the config repo's commit is invalid and is not deployed:\n{errors}");
                    return Ok(Some(Err(sha)));
                }
            };
            let checkouts = dir.join("config");
            let target = checkouts.join(&sha);
            mirror.checkout(&sha, &target).map_err(|e| e.to_string())?;
            remove_others(&checkouts, &sha);
            Ok(Some(Ok(Checkout {
                sha,
                dir: target,
                repo: Arc::new(parsed),
            })))
        })
        .await
        .map_err(|e| format!("reading the config repo panicked: {e}"))?
    }

    /// Reconciles every pinned (app, environment) of `checkout`, environments in promotion order.
    async fn deploy_all(&self, checkout: &Checkout, shutdown: &CancellationToken) {
        let identities = Arc::new(secrets::controller_identities(None).unwrap_or_else(|_| Identities::new()));
        for environment in &checkout.repo.environments {
            for app in checkout.repo.apps.keys() {
                if shutdown.is_cancelled() {
                    return;
                }
                let (app, env) = (app.as_str(), environment.name.as_str());
                if checkout.repo.pin(app, env).is_none() {
                    continue;
                }
                let _deploying = self.in_progress.start(app, env);
                let recipients = environment.secrets.clone();
                let outcome = match load_secrets(&checkout.dir, (env, app), recipients, &identities).await {
                    Ok(secrets) => {
                        self.deployer
                            .reconcile(&checkout.dir, &checkout.sha, &checkout.repo, app, env, &secrets)
                            .await
                    }
                    Err(message) => self.deployer.refuse(&checkout.sha, &checkout.repo, app, env, message),
                };
                if let Err(e) = outcome {
                    tracing::error!(app, env, "cannot record the deployment: {e}");
                }
            }
        }
    }
}

impl DeployLoop {
    /// Removes from the image cache (`<data_dir>/deploy/images`) the images no environment
    /// runs or returns to on a rollback: only those of the latest [`RELEASES_KEPT`] releases
    /// deployed healthy in each (app, environment), and of deployments in progress, stay.
    async fn prune_images(&self) {
        let (store, cache) = (self.deployer.store.clone(), self.dir.join("images"));
        let pruned = tokio::task::spawn_blocking(move || {
            let keep = store.digests_in_use(RELEASES_KEPT).map_err(|e| e.to_string())?;
            crate::deploy::image::prune::prune(&cache, &keep).map_err(|e| e.to_string())
        })
        .await;
        match pruned {
            Ok(Ok(removed)) if !removed.is_empty() => {
                tracing::info!(blobs = removed.len(), "removed images no longer deployed from the image cache");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("cannot prune the image cache: {e}"),
            Err(e) => tracing::warn!("pruning the image cache panicked: {e}"),
        }
    }
}

/// How many releases of each (app, environment) the image cache keeps: the current one and
/// the one before it (what a rollback applies again).
const RELEASES_KEPT: u32 = 2;

/// Checks the environment's recipients against `.sops.yaml`, then decrypts the app's secrets.
async fn load_secrets(
    dir: &Path,
    (env, app): (&str, &str),
    recipients: Recipients,
    identities: &Arc<Identities>,
) -> Result<SecretValues, String> {
    let (dir, owned_env, owned_app, identities) =
        (dir.to_path_buf(), env.to_string(), app.to_string(), identities.clone());
    tokio::task::spawn_blocking(move || {
        crate::deploy::recipients::check(&dir, &owned_env, &owned_app, &recipients)?;
        secrets::load_app_secrets(&dir, &owned_env, &owned_app, &identities)
            .map(SecretValues::from)
            .map_err(|e| format!("the secrets of `{owned_app}` in `{owned_env}` cannot be decrypted: {e}"))
    })
    .await
    .map_err(|e| format!("decrypting secrets panicked: {e}"))?
}

/// Removes every checkout in `dir` but `keep`.
fn remove_others(dir: &Path, keep: &str) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name() != keep {
            let _best_effort = std::fs::remove_dir_all(entry.path());
        }
    }
}
