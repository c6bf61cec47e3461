//! One reconcile of an (app, environment): compare what the config repo asks for with what
//! was last deployed, and if it differs, render, roll out and record the outcome in the store.
//!
//! Level-triggered and idempotent: what was deployed is identified by a fingerprint of the
//! release, the render, the targets, the run overrides and the health check, kept with the
//! deployment's details (migration 0006). A fingerprint that is the latest attempt's (healthy
//! or not) or the current deployment's is not deployed again, so a failing release is tried
//! once per change of the config repo, not in a loop.
//!
//! Every attempt is a row of `deployments` (0005): `deploying`, then `healthy`, `failed` or
//! `rolled_back`. The environment's current deployment, what the promote gates read, is the
//! latest `healthy` row ([`Store::current_deployment`]): a failed attempt leaves the release
//! before it running (each target keeps it where it can, a rollback puts it back), so it stays
//! current. Only when an attempt leaves it running on some targets but not all (a failed
//! rollout without rollback after a target took the new release, or a rollback that failed)
//! is that row marked `failed` too, and the environment has no current deployment until one
//! becomes healthy. Times come from the promotion [`Clock`], so `soak` counts from when the
//! release became healthy on the same clock the gates read; a new deployment of the release
//! that is current keeps its `healthy_since`, unless the health watch found it unhealthy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::from_config;
use super::render::{self, Rendered};
use super::rollout::{self, Outcome, RolloutReport};
use super::spec::{DeploySpec, SecretValues};
use super::target::TargetContext;
use crate::config::repo::ConfigRepo;
use crate::promote::Clock;
use crate::store::{DeploymentDetails, DeploymentRow, DeploymentStatus, NewDeployment, Store, StoreError};

/// What a reconcile did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// The app has no pin in the environment.
    NothingPinned,
    /// The environment has no targets: nothing runs there, so nothing is recorded (a
    /// deployment to no target would open the next environment's `from` and `soak` gates).
    NoTargets,
    /// What the config repo asks for was deployed already (see the latest deployment).
    UpToDate,
    /// A deployment was made and recorded.
    Deployed {
        /// Its row in `deployments`.
        id: i64,
        /// How it ended.
        status: DeploymentStatus,
        /// One line on why.
        message: String,
        /// Where the release answers, when a target said.
        url: Option<String>,
    },
}

/// Why a reconcile could not run (a failed deployment is not an error: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking task panicked.
    #[error("the deploy step panicked: {0}")]
    Panicked(String),
}

/// What deploying needs: the store of record and where targets keep their state.
#[derive(Debug, Clone)]
pub struct Deployer {
    /// The store.
    pub store: Arc<Store>,
    /// Target state under the data directory.
    pub targets: TargetContext,
    /// The time deployments are recorded at (the promotion clock, so tests can move it).
    pub clock: Clock,
}

impl Deployer {
    /// Reconciles `app` in `env` with the config repo `repo` checked out at `checkout`
    /// (commit `config_sha`), delivering `secrets` (decrypted by the caller) to the targets.
    ///
    /// # Errors
    ///
    /// [`DeployError`] when the store fails; everything about the deployment itself,
    /// including a spec or render that is refused, is recorded as a failed deployment.
    pub async fn reconcile(
        &self,
        checkout: &Path,
        config_sha: &str,
        repo: &ConfigRepo,
        app: &str,
        env: &str,
        secrets: &SecretValues,
    ) -> Result<Reconciled, DeployError> {
        let latest = self.store.latest_deployment(app, env)?;
        let latest_details = match &latest {
            Some(row) if matches!(row.status, DeploymentStatus::Deploying | DeploymentStatus::Pending) => {
                self.settle_interrupted(row)?;
                None
            }
            row => self.details_of(row.as_ref())?,
        };
        let current = self.store.current_deployment(app, env)?;
        let current_details = self.details_of(current.as_ref())?;
        let mut spec = match from_config::spec(repo, app, env) {
            Ok(Some(spec)) if spec.targets.is_empty() => return Ok(Reconciled::NoTargets),
            Ok(Some(spec)) => spec,
            Ok(None) => return Ok(Reconciled::NothingPinned),
            Err(message) => {
                let failed = Failed {
                    config_sha,
                    fingerprint: fingerprint_of_error(app, env, &message),
                    message,
                };
                return self.record_refused(app, env, repo, failed, latest_details.as_ref());
            }
        };
        let rendered = {
            let (checkout, spec) = (PathBuf::from(checkout), spec.clone());
            tokio::task::spawn_blocking(move || render::render(&checkout, &spec))
                .await
                .map_err(|e| DeployError::Panicked(e.to_string()))?
        };
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(e) => {
                let message = format!("render refused: {e}");
                let failed = Failed {
                    config_sha,
                    fingerprint: fingerprint_of_error(app, env, &message),
                    message,
                };
                return self.record_refused(app, env, repo, failed, latest_details.as_ref());
            }
        };
        let fingerprint = fingerprint(&spec, &rendered, &encrypted_secrets(checkout, env, app));
        if [&latest_details, &current_details].iter().any(|d| d.as_ref().is_some_and(|d| d.fingerprint == fingerprint)) {
            return Ok(Reconciled::UpToDate);
        }
        spec.revision.clone_from(&fingerprint);
        let previous = current
            .as_ref()
            .zip(current_details.as_ref())
            .and_then(|(row, details)| previous_release(&spec, row, details));
        let new = NewDeployment {
            app: app.to_string(),
            env: env.to_string(),
            version: spec.version.clone(),
            digest: spec.digest.clone(),
            status: DeploymentStatus::Deploying,
        };
        let id = self.store.insert_deployment(&new, self.clock.timestamp())?;
        tracing::info!(app, env, version = %spec.version, deployment = id, "deploying");
        let report = rollout::rollout(
            &self.targets,
            &spec,
            &rendered,
            secrets,
            previous.as_ref().map(|(spec, rendered)| (spec, rendered)),
        )
        .await;
        let (status, message) = summary(&spec, &report);
        let url = report.url().map(str::to_string);
        let details = DeploymentDetails {
            config_sha: config_sha.to_string(),
            fingerprint,
            rendered: rendered.to_stored(),
            report: report_json(&report),
            url: url.clone(),
        };
        self.store.record_deployment_details(id, &details)?;
        // The same release deployed again (new values, secrets or run overrides) was healthy
        // all along: the previous one served until the new one passed its check. Unless the
        // health watch found the previous one unhealthy: then soak counts from now.
        let same_release = current
            .as_ref()
            .filter(|c| c.version == spec.version && c.digest == spec.digest && c.unhealthy_since.is_none());
        if let Some(since) = same_release.and_then(|c| c.healthy_since).filter(|_| status == DeploymentStatus::Healthy) {
            self.store.keep_healthy_since(id, since)?;
        }
        self.store
            .set_deployment_status(id, status, Some(&message), self.clock.timestamp())?;
        tracing::info!(app, env, version = %spec.version, deployment = id, status = ?status, "{message}");
        if let (Some(current), Some(why)) = (&current, displaced(&spec, id, &report)) {
            self.displace(current, &why)?;
        }
        Ok(Reconciled::Deployed {
            id,
            status,
            message,
            url,
        })
    }

    /// Records that `app` could not be deployed to `env` at `config_sha` for a reason found
    /// before reconciling (its secrets do not decrypt), once per distinct message.
    ///
    /// # Errors
    ///
    /// [`DeployError::Store`].
    pub fn refuse(
        &self,
        config_sha: &str,
        repo: &ConfigRepo,
        app: &str,
        env: &str,
        message: String,
    ) -> Result<Reconciled, DeployError> {
        let latest = self.store.latest_deployment(app, env)?;
        let latest = self.details_of(latest.as_ref())?;
        let failed = Failed {
            config_sha,
            fingerprint: fingerprint_of_error(app, env, &message),
            message,
        };
        self.record_refused(app, env, repo, failed, latest.as_ref())
    }

    fn details_of(&self, row: Option<&DeploymentRow>) -> Result<Option<DeploymentDetails>, StoreError> {
        match row {
            Some(row) => self.store.deployment_details(row.id),
            None => Ok(None),
        }
    }

    /// Marks `row`, left `deploying` (or `pending`) by a daemon that stopped during it, `failed`,
    /// so that its stored render does not make its release look deployed and the caller deploys
    /// it again. Only the deploy loop deploys, one (app, environment) at a time, and it settles
    /// every attempt before the next: a row still `deploying` here was a crashed daemon's.
    fn settle_interrupted(&self, row: &DeploymentRow) -> Result<(), StoreError> {
        let message = format!(
            "interrupted: the daemon stopped while {} was being deployed; deploying it again",
            row.version
        );
        tracing::warn!(app = %row.app, env = %row.env, deployment = row.id, "{message}");
        self.store
            .set_deployment_status(row.id, DeploymentStatus::Failed, Some(&message), self.clock.timestamp())?;
        Ok(())
    }

    /// Marks the current deployment `failed`: a later attempt left its release on only some
    /// targets, so the environment no longer runs it (healthy) as a whole.
    fn displace(&self, current: &DeploymentRow, why: &str) -> Result<(), StoreError> {
        let message = format!("{} no longer runs on every target: {why}", current.version);
        tracing::warn!(app = %current.app, env = %current.env, deployment = current.id, "{message}");
        self.store
            .set_deployment_status(current.id, DeploymentStatus::Failed, Some(&message), self.clock.timestamp())?;
        Ok(())
    }

    /// Records a deployment that could not even start (bad spec or render), once per
    /// fingerprint of the error.
    fn record_refused(
        &self,
        app: &str,
        env: &str,
        repo: &ConfigRepo,
        failed: Failed<'_>,
        latest: Option<&DeploymentDetails>,
    ) -> Result<Reconciled, DeployError> {
        if latest.is_some_and(|d| d.fingerprint == failed.fingerprint) {
            return Ok(Reconciled::UpToDate);
        }
        let pin = repo.pin(app, env);
        let new = NewDeployment {
            app: app.to_string(),
            env: env.to_string(),
            version: pin.map(|p| p.version.to_string()).unwrap_or_default(),
            digest: pin.map(|p| p.digest.clone()).unwrap_or_default(),
            status: DeploymentStatus::Failed,
        };
        let now = self.clock.timestamp();
        let id = self.store.insert_deployment(&new, now)?;
        let details = DeploymentDetails {
            config_sha: failed.config_sha.to_string(),
            fingerprint: failed.fingerprint,
            rendered: "[]".to_string(),
            report: "[]".to_string(),
            url: None,
        };
        self.store.record_deployment_details(id, &details)?;
        self.store
            .set_deployment_status(id, DeploymentStatus::Failed, Some(&failed.message), now)?;
        tracing::warn!(app, env, deployment = id, "{}", failed.message);
        Ok(Reconciled::Deployed {
            id,
            status: DeploymentStatus::Failed,
            message: failed.message,
            url: None,
        })
    }
}

/// A deployment refused before any target was touched.
struct Failed<'a> {
    config_sha: &'a str,
    fingerprint: String,
    message: String,
}

/// The release to roll back to: the spec with the previous version, digest and revision, and
/// the render stored with that deployment. The image keeps its repository with the old tag.
fn previous_release(spec: &DeploySpec, row: &DeploymentRow, details: &DeploymentDetails) -> Option<(DeploySpec, Rendered)> {
    let rendered = Rendered::from_stored(&details.rendered).ok()?;
    let mut previous = spec.clone();
    previous.image = match spec.image.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => format!("{repository}:{}", row.version),
        _ => spec.image.clone(),
    };
    previous.version.clone_from(&row.version);
    previous.digest.clone_from(&row.digest);
    previous.revision.clone_from(&details.fingerprint);
    Some((previous, rendered))
}

/// The status and message a rollout's outcome records.
fn summary(spec: &DeploySpec, report: &RolloutReport) -> (DeploymentStatus, String) {
    match &report.outcome {
        Outcome::Healthy => (
            DeploymentStatus::Healthy,
            format!("{} is healthy on {} target(s)", spec.version, spec.targets.len()),
        ),
        Outcome::Failed { target, reason } => (
            DeploymentStatus::Failed,
            format!("target `{target}` failed, rollout stopped: {reason}"),
        ),
        Outcome::RolledBack {
            target,
            reason,
            rollback_failures,
        } => {
            let mut message = format!("target `{target}` failed, rolled back: {reason}");
            for failure in rollback_failures {
                if let Err(e) = &failure.result {
                    message.push_str(&format!("; rollback of `{}` failed too: {e}", failure.target));
                }
            }
            (DeploymentStatus::RolledBack, message)
        }
    }
}

/// Why a rollout that did not end healthy leaves the release before it on only some targets:
/// targets that took the new release and kept it, or where rolling back failed. `None` when
/// every target still runs the previous release (or the rollout was healthy).
fn displaced(spec: &DeploySpec, id: i64, report: &RolloutReport) -> Option<String> {
    let names = |targets: Vec<&str>| targets.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
    match &report.outcome {
        Outcome::Healthy => None,
        Outcome::Failed { .. } => {
            let changed: Vec<&str> = report
                .steps
                .iter()
                .flat_map(|(_, targets)| targets)
                .filter(|t| t.result.is_ok())
                .map(|t| t.target.as_str())
                .collect();
            (!changed.is_empty()).then(|| {
                format!("{} runs {} after the failed rollout of deployment {id}", names(changed), spec.version)
            })
        }
        Outcome::RolledBack { rollback_failures, .. } => (!rollback_failures.is_empty()).then(|| {
            let failed = rollback_failures.iter().map(|t| t.target.as_str()).collect();
            format!("rolling back to it failed on {} in deployment {id}", names(failed))
        }),
    }
}

fn report_json(report: &RolloutReport) -> String {
    let entries: Vec<_> = report
        .steps
        .iter()
        .enumerate()
        .flat_map(|(step, (_, targets))| {
            targets.iter().map(move |t| match &t.result {
                Ok(applied) => json!({"step": step + 1, "target": t.target, "ok": true, "message": applied.message}),
                Err(reason) => json!({"step": step + 1, "target": t.target, "ok": false, "message": reason}),
            })
        })
        .collect();
    serde_json::to_string(&entries).unwrap_or_else(|_| "[]".to_string())
}

/// A hash of everything a deployment is made of; the secrets only through `secrets`, the
/// hash of their encrypted files, so a changed secret is deployed again.
fn fingerprint(spec: &DeploySpec, rendered: &Rendered, secrets: &str) -> String {
    let text = format!(
        "{}\n{}\n{}\n{:?}\n{:?}\n{:?}\n{:?}\n{}\n{secrets}",
        spec.version,
        spec.digest,
        spec.image,
        spec.targets,
        spec.run,
        spec.health,
        spec.rollout,
        rendered.to_stored()
    );
    hex(&Sha256::digest(text.as_bytes()))
}

/// A hash of the app's encrypted secret files in the checkout (`secrets/<env>/<app>.*` and
/// the files of `secrets/<env>/<app>/`), ciphertext only, as git holds them: what the secrets
/// add to the fingerprint. Symlinks are not followed (decrypting refuses those that leave).
fn encrypted_secrets(checkout: &Path, env: &str, app: &str) -> String {
    let dir = checkout.join("secrets").join(env);
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match entry.file_type() {
            Ok(t) if t.is_file() && name.starts_with(&format!("{app}.")) => files.push(entry.path()),
            Ok(t) if t.is_dir() && name == app => {
                let inner = std::fs::read_dir(entry.path()).into_iter().flatten().flatten();
                files.extend(inner.filter(|e| e.file_type().is_ok_and(|t| t.is_file())).map(|e| e.path()));
            }
            _ => {}
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(file.strip_prefix(checkout).unwrap_or(file).to_string_lossy().as_bytes());
        hasher.update(std::fs::read(file).unwrap_or_default());
    }
    hex(&hasher.finalize())
}

fn fingerprint_of_error(app: &str, env: &str, message: &str) -> String {
    hex(&Sha256::digest(format!("refused\n{app}\n{env}\n{message}").as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
