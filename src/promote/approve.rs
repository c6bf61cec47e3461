//! Approvals and rejections of a release for an environment. Blocks.

use semver::Version;

use super::gate::Evaluation;
use super::inputs::{authors_of, judge, lookup};
use super::{Actor, Audited, OpError, Promoter};
use crate::config::repo::Action;
use crate::store::Verdict;

/// Parses a version given by a user.
///
/// # Errors
/// [`OpError::BadRequest`].
pub fn parse_version(text: &str) -> Result<Version, OpError> {
    Version::parse(text.trim_start_matches('v'))
        .map_err(|e| OpError::BadRequest(format!("`{text}` is not a version `MAJOR.MINOR.PATCH`: {e}")))
}

impl Promoter {
    /// Records `actor`'s approval or rejection of `app` `version` for `env`, and returns the
    /// gates as they stand after it.
    ///
    /// # Errors
    /// [`OpError::Refused`] when `access.yaml` does not allow it, or the approver authored the
    /// release and the environment excludes authors; [`OpError::NotFound`]; store failures.
    pub fn decide(
        &self,
        actor: &Actor,
        (app, env, version): (&str, &str, &str),
        verdict: Verdict,
        comment: Option<&str>,
    ) -> Result<Evaluation, OpError> {
        let action = if verdict == Verdict::Approve { Action::Approve } else { Action::Reject };
        let result = self.decide_unaudited(actor, (app, env, version), verdict, comment);
        let detail = match &result {
            Ok((identity, evaluation)) => {
                let word = if verdict == Verdict::Approve { "approved" } else { "rejected" };
                let comment = comment.map(|c| format!(": {c}")).unwrap_or_default();
                let open = if evaluation.all_open() { "; every gate is open" } else { "" };
                format!("{identity} {word} {app} {version} for {env}{comment}{open}")
            }
            Err(_) => String::new(),
        };
        let what = Audited { action: action.as_str(), app: Some(app), env: Some(env), version: Some(version), detail };
        self.audit(Some(actor), what, result.map(|(_, evaluation)| evaluation))
    }

    fn decide_unaudited(
        &self,
        actor: &Actor,
        (app, env, version): (&str, &str, &str),
        verdict: Verdict,
        comment: Option<&str>,
    ) -> Result<(String, Evaluation), OpError> {
        let version = parse_version(version)?;
        let snapshot = self.snapshot()?;
        let repo = &snapshot.repo;
        let action = if verdict == Verdict::Approve { Action::Approve } else { Action::Reject };
        let (app_config, env_config, release) = lookup(repo, &self.store, app, env, &version)?;
        let identity = self.authorize(repo, actor, action, env)?.to_owned();
        let excludes = env_config.gates.approval.as_ref().is_some_and(|p| p.exclude_author);
        if verdict == Verdict::Approve
            && excludes
            && authors_of(repo, &self.mirrors_dir, &app_config.project, &release.sha).contains(&identity)
        {
            return Err(OpError::Refused(format!("`{identity}` authored {app} {version} and may not approve it in {env}")));
        }
        let release = (app, env, version.to_string());
        self.store.record_approval((release.0, release.1, &release.2), &identity, verdict, comment, self.clock.timestamp())?;
        let after = judge(repo, &self.store, &self.clock, &self.mirrors_dir, (app, env, &version))?;
        Ok((identity, after.evaluation))
    }
}
