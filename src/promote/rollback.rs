//! Rollback: pins an environment back to an earlier release and blocks the current one
//! there, so continuous reconciliation never deploys it again; only a newer release that
//! passes its gates replaces the pin. Blocks.

use super::config_repo::{Change, WriteError};
use super::message::{PinChange, commit_message};
use super::promotion::{PinCommit, Promoted};
use super::{Actor, Audited, OpError, Promoter};
use crate::config::repo::pin::render_pin;
use crate::config::repo::{Action, Blocked, Pin};
use crate::store::PromotionKind;

impl Promoter {
    /// Rolls `app` in `env` back to `to`, or to the release pinned before the current one.
    ///
    /// # Errors
    /// [`OpError::Refused`] when `access.yaml` does not allow it, nothing is pinned, or no
    /// earlier release is known; [`OpError::NotFound`] for an unknown release.
    pub fn rollback(&self, actor: &Actor, app: &str, env: &str, to: Option<&str>, reason: Option<&str>) -> Result<Promoted, OpError> {
        let result = self.rollback_unaudited(actor, app, env, to, reason);
        let detail = match &result {
            Ok(done) => format!(
                "pinned {app} {} in {env} by commit {}",
                done.version,
                done.commit.as_deref().unwrap_or("(none)")
            ),
            Err(_) => String::new(),
        };
        let version = result.as_ref().ok().map(|done| done.version.clone());
        let what = Audited { action: "rollback", app: Some(app), env: Some(env), version: version.as_deref().or(to), detail };
        self.audit(Some(actor), what, result)
    }

    fn rollback_unaudited(&self, actor: &Actor, app: &str, env: &str, to: Option<&str>, reason: Option<&str>) -> Result<Promoted, OpError> {
        let to = to.map(super::approve::parse_version).transpose()?;
        let snapshot = self.snapshot()?;
        let identity = self.authorize(&snapshot.repo, actor, Action::Rollback, env)?.to_owned();
        let history = self.store.promotions_of(app, env, 1000)?;
        let mut target_version = None;
        let mut previous = None;
        let written = self.config_repo.write(|snapshot, _mirror| {
            let repo = &snapshot.repo;
            if repo.environment(env).is_none() || repo.app(app).is_none() {
                return Err(WriteError::Refused(format!("the config repo has no app `{app}` or no environment `{env}`")));
            }
            let current = repo.pin(app, env).ok_or_else(|| WriteError::Refused(format!("{app} is not pinned in {env}: nothing to roll back")))?;
            let target = match &to {
                Some(version) => version.clone(),
                None => history
                    .iter()
                    .find(|row| row.version == current.version.to_string() && row.previous_version.is_some())
                    .and_then(|row| row.previous_version.as_deref())
                    .and_then(|v| semver::Version::parse(v).ok())
                    .ok_or_else(|| {
                        WriteError::Refused(format!(
                            "no release before {} is known in {env}; name one with `--to VERSION`",
                            current.version
                        ))
                    })?,
            };
            if target == current.version {
                return Err(WriteError::Refused(format!("{app} {target} is already pinned in {env}")));
            }
            let release = self
                .store
                .get_release(app, &target.to_string())
                .map_err(|e| WriteError::Git(e.to_string()))?
                .ok_or_else(|| WriteError::Refused(format!("`{app}` has no release {target}")))?;
            let why = format!("rolled back by {identity}{}", reason.map(|r| format!(": {r}")).unwrap_or_default());
            let mut blocked: Vec<Blocked> = current.blocked.iter().filter(|b| b.version != target).cloned().collect();
            if !blocked.iter().any(|b| b.version == current.version) {
                blocked.push(Blocked { version: current.version.clone(), reason: Some(why.clone()) });
            }
            let pin = Pin { version: target.clone(), image: release.image, digest: release.digest, values: current.values.clone(), blocked };
            let image = format!("{}@{}", pin.image, pin.digest);
            previous = Some(current.version.to_string());
            let change = PinChange {
                verb: "rollback",
                app,
                env,
                version: &target.to_string(),
                image: &image,
                previous: previous.as_deref(),
                requested_by: Some(&identity),
                overridden: &[],
                reason: Some(&why),
            };
            let message = commit_message(&change, None);
            target_version = Some(target);
            Ok(Some(Change { path: format!("apps/{app}/{env}.yaml"), contents: render_pin(&pin).into_bytes(), message }))
        })?;
        let commit = written.map(|(sha, _)| sha);
        let version = target_version.map(|v| v.to_string()).unwrap_or_default();
        if let Some(sha) = &commit {
            let pin = PinCommit { app, env, version: &version, sha, previous, identity: Some(&identity) };
            self.record_pin_commit(pin, PromotionKind::Rollback, None)?;
        }
        Ok(Promoted { app: app.to_owned(), env: env.to_owned(), version, commit, evaluation: None, overridden: Vec::new() })
    }
}
