//! Promotion: the commit that pins a release in an environment, made when every gate is
//! open, by an authorised user (`sluice promote`) or by Sluice itself for environments with
//! `promotion: auto`. Gates are judged again under the config repo's write lock, so a
//! promotion never rests on a stale verdict and two racing requests make one commit. Blocks.

use serde::Serialize;

use super::candidate::candidate;
use super::config_repo::{Change, WriteError};
use super::gate::Evaluation;
use super::inputs::judge;
use super::message::{PinChange, commit_message};
use super::{Actor, Audited, OpError, Promoter};
use crate::config::repo::pin::render_pin;
use crate::config::repo::{Action, Pin, Promotion};
use crate::store::{NewPromotion, PromotionKind};

/// A promotion done (or found already done).
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The version pinned.
    pub version: String,
    /// The config-repo commit; `None` when the pin already named this version.
    pub commit: Option<String>,
    /// The gates as judged for the commit.
    pub evaluation: Option<Evaluation>,
    /// Closed gates passed by override.
    pub overridden: Vec<String>,
}

impl Promoter {
    /// Promotes `app` `version` to `env` for `actor`: allowed by `access.yaml`, and every gate
    /// open, or, with `override_gates` and the `override` permission, only the window and
    /// freeze gates closed.
    ///
    /// # Errors
    /// [`OpError::Refused`] naming the closed gates or the missing permission;
    /// [`OpError::NotFound`]; [`OpError::ConfigRepo`]; store failures.
    pub fn promote(&self, actor: &Actor, (app, env, version): (&str, &str, &str), override_gates: bool) -> Result<Promoted, OpError> {
        let result = (|| {
            let version = super::approve::parse_version(version)?;
            let snapshot = self.snapshot()?;
            let identity = self.authorize(&snapshot.repo, actor, Action::Promote, env)?.to_owned();
            let overrider = if override_gates {
                Some(self.authorize(&snapshot.repo, actor, Action::Override, env)?.to_owned())
            } else {
                None
            };
            self.commit_promotion(app, env, &version, Some(&identity), overrider.as_deref())
        })();
        let detail = match &result {
            Ok(done) => describe(done),
            Err(_) => String::new(),
        };
        let action = if override_gates { "promote --override" } else { "promote" };
        self.audit(Some(actor), Audited { action, app: Some(app), env: Some(env), version: Some(version), detail }, result)
    }

    /// Promotes every release whose environment has `promotion: auto` and whose gates are
    /// all open; returns what was promoted. Failures are logged and audited, not returned.
    pub fn promote_automatically(&self) -> Vec<Promoted> {
        let Some(snapshot) = self.config_repo.snapshot() else { return Vec::new() };
        // Nothing is written on top of an invalid tip: trying at each pass would only fill
        // the audit log with the same failure. The config repo's status says why.
        if self.config_repo.status().refused.is_some() {
            return Vec::new();
        }
        let repo = &snapshot.repo;
        let mut done = Vec::new();
        for env in repo.environments.iter().filter(|e| e.promotion == Promotion::Auto) {
            for app in repo.apps.keys() {
                let released = match self.store.list_releases(Some(app.as_str()), 1000) {
                    Ok(rows) => rows.iter().filter_map(|r| semver::Version::parse(&r.version).ok()).collect::<Vec<_>>(),
                    Err(error) => {
                        tracing::error!("cannot list the releases of `{app}`: {error:#}");
                        continue;
                    }
                };
                let Some(version) = candidate(repo, app.as_str(), env, &released) else { continue };
                let open = judge(repo, &self.store, &self.clock, &self.mirrors_dir, (app.as_str(), env.name.as_str(), &version))
                    .is_ok_and(|judged| judged.evaluation.all_open());
                if !open {
                    continue;
                }
                let result = self.commit_promotion(app.as_str(), env.name.as_str(), &version, None, None);
                let detail = result.as_ref().map(describe).unwrap_or_default();
                let what = Audited {
                    action: "promote (automatic)",
                    app: Some(app.as_str()),
                    env: Some(env.name.as_str()),
                    version: Some(&version.to_string()),
                    detail,
                };
                match self.audit(None, what, result) {
                    Ok(promoted) if promoted.commit.is_some() => done.push(promoted),
                    Ok(_) => {}
                    Err(error) => tracing::warn!("automatic promotion of {app} {version} to {} failed: {error}", env.name),
                }
            }
        }
        done
    }

    /// Judges the gates under the write lock and commits the pin. `requested_by`: the
    /// identity asking (`None`: automatic); `overrider`: the identity allowed to override
    /// the window and freeze gates.
    fn commit_promotion(
        &self,
        app: &str,
        env: &str,
        version: &semver::Version,
        requested_by: Option<&str>,
        overrider: Option<&str>,
    ) -> Result<Promoted, OpError> {
        let mut judged_for_commit = None;
        let mut overridden = Vec::new();
        let mut previous = None;
        let written = self.config_repo.write(|snapshot, _mirror| {
            let repo = &snapshot.repo;
            let judged = judge(repo, &self.store, &self.clock, &self.mirrors_dir, (app, env, version))
                .map_err(|e| WriteError::Refused(e.to_string()))?;
            let current = repo.pin(app, env);
            if current.is_some_and(|pin| &pin.version == version) {
                judged_for_commit = Some(judged.evaluation);
                return Ok(None);
            }
            overridden = Vec::new();
            if !judged.evaluation.all_open() {
                let closed: Vec<String> = judged.evaluation.closed().map(|g| format!("{}: {}", g.gate, g.why)).collect();
                if overrider.is_none() || !judged.evaluation.only_overridable_closed() {
                    return Err(WriteError::Refused(format!(
                        "{app} {version} cannot be promoted to {env}; closed: {}",
                        closed.join("; ")
                    )));
                }
                overridden = judged.evaluation.closed().map(|g| format!("{} (by {})", g.gate, overrider.unwrap_or(""))).collect();
            }
            previous = current.map(|pin| pin.version.to_string());
            let pin = Pin {
                version: version.clone(),
                image: judged.release.image.clone(),
                digest: judged.release.digest.clone(),
                values: current.map_or_else(|| serde_json::json!({}), |pin| pin.values.clone()),
                blocked: current.map(|pin| pin.blocked.clone()).unwrap_or_default(),
            };
            let image = format!("{}@{}", pin.image, pin.digest);
            let change = PinChange {
                verb: "promote",
                app,
                env,
                version: &version.to_string(),
                image: &image,
                previous: previous.as_deref(),
                requested_by,
                overridden: &overridden,
                reason: None,
            };
            let message = commit_message(&change, Some(&judged.evaluation));
            judged_for_commit = Some(judged.evaluation);
            Ok(Some(Change { path: format!("apps/{app}/{env}.yaml"), contents: render_pin(&pin).into_bytes(), message }))
        })?;
        let commit = written.map(|(sha, _)| sha);
        if let (Some(sha), Some(evaluation)) = (&commit, &judged_for_commit) {
            let pin = PinCommit { app, env, version: &version.to_string(), sha, previous, identity: requested_by };
            self.record_pin_commit(pin, PromotionKind::Promote, Some(evaluation))?;
        }
        Ok(Promoted {
            app: app.to_owned(),
            env: env.to_owned(),
            version: version.to_string(),
            commit,
            evaluation: judged_for_commit,
            overridden,
        })
    }
}

/// A pin commit pushed, to record in the store.
pub(super) struct PinCommit<'a> {
    pub(super) app: &'a str,
    pub(super) env: &'a str,
    pub(super) version: &'a str,
    pub(super) sha: &'a str,
    pub(super) previous: Option<String>,
    pub(super) identity: Option<&'a str>,
}

impl Promoter {
    /// Records a pushed pin commit (promotion or rollback) in the store's history.
    pub(super) fn record_pin_commit(&self, pin: PinCommit<'_>, kind: PromotionKind, evaluation: Option<&Evaluation>) -> Result<(), OpError> {
        let new = NewPromotion {
            app: pin.app.to_owned(),
            env: pin.env.to_owned(),
            version: pin.version.to_owned(),
            kind,
            previous_version: pin.previous,
            commit_sha: pin.sha.to_owned(),
            identity: pin.identity.map(str::to_owned),
            gates: evaluation.map_or_else(|| serde_json::json!([]), |e| serde_json::to_value(&e.gates).unwrap_or_default()),
            approvers: evaluation
                .map_or_else(|| serde_json::json!([]), |e| serde_json::to_value(&e.approvers).unwrap_or_default()),
        };
        self.store.record_promotion(&new, self.clock.timestamp())?;
        Ok(())
    }
}

fn describe(done: &Promoted) -> String {
    let approvers = done.evaluation.as_ref().map(|e| e.approvers.join(", ")).filter(|a| !a.is_empty());
    let approvers = approvers.map(|a| format!("; approvers: {a}")).unwrap_or_default();
    let overridden = if done.overridden.is_empty() { String::new() } else { format!("; overridden: {}", done.overridden.join(", ")) };
    match &done.commit {
        Some(sha) => format!("pinned {} {} in {} by commit {sha}{approvers}{overridden}", done.app, done.version, done.env),
        None => format!("{} {} was already pinned in {}", done.app, done.version, done.env),
    }
}
