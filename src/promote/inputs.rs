//! Gathers what the gates look at for one release from the store, the config repo and the
//! code repo's mirror, and evaluates them. Blocks (store and git reads).

use std::path::Path;

use semver::Version;

use super::clock::Clock;
use super::gate::{Evaluation, GateInput, evaluate};
use super::OpError;
use crate::config::repo::{App, ConfigRepo, Environment};
use crate::store::{ReleaseRow, Store};

/// A release judged for an environment.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The release.
    pub release: ReleaseRow,
    /// The gates' verdict.
    pub evaluation: Evaluation,
}

/// The app, environment and release named, or a not-found error naming what is missing.
///
/// # Errors
/// [`OpError::NotFound`].
pub fn lookup<'a>(
    repo: &'a ConfigRepo,
    store: &Store,
    app: &str,
    env: &str,
    version: &Version,
) -> Result<(&'a App, &'a Environment, ReleaseRow), OpError> {
    let app_config = repo.app(app).ok_or_else(|| {
        let hint = crate::config::repo::hint_among(app, "apps", repo.apps.keys().map(|a| a.as_str()));
        OpError::NotFound(format!("the config repo has no app `{app}`; {hint}"))
    })?;
    let env_config = repo.environment(env).ok_or_else(|| {
        let hint = crate::config::repo::hint_among(env, "environments", repo.environment_names());
        OpError::NotFound(format!("the config repo has no environment `{env}`; {hint}"))
    })?;
    let release = store
        .get_release(app, &version.to_string())?
        .ok_or_else(|| OpError::NotFound(format!("`{app}` has no release {version}")))?;
    Ok((app_config, env_config, release))
}

/// Evaluates the gates of `env` for `app` `version`.
///
/// # Errors
/// [`OpError::NotFound`] for an unknown app, environment or release; store failures.
pub fn judge(
    repo: &ConfigRepo,
    store: &Store,
    clock: &Clock,
    mirrors_dir: &Path,
    (app, env, version): (&str, &str, &Version),
) -> Result<Judged, OpError> {
    let (app_config, env_config, release) = lookup(repo, store, app, env, version)?;
    let (previous, attempt) = match &env_config.promote_from {
        Some(from) => {
            let current = store.current_deployment(app, from.as_str())?;
            let latest = store.latest_deployment(app, from.as_str())?;
            let attempt = latest.filter(|latest| current.as_ref().is_none_or(|current| current.id != latest.id));
            (current, attempt)
        }
        None => (None, None),
    };
    let passed = if env_config.gates.pipelines.is_empty() { Vec::new() } else { store.passed_names(&release.sha)? };
    let approvals = store.approvals_of(app, env, &version.to_string())?;
    let authors = authors_of(repo, mirrors_dir, &app_config.project, &release.sha);
    let evaluation = evaluate(&GateInput {
        env: env_config,
        version,
        now: clock.now(),
        previous: previous.as_ref(),
        attempt: attempt.as_ref(),
        passed: &passed,
        approvals: &approvals,
        access: &repo.access,
        authors: &authors,
        pin: repo.pin(app, env),
    });
    Ok(Judged { release, evaluation })
}

/// The identities (access.yaml `emails`) of the author and committer of `sha` in the
/// project's mirror; none when the mirror or the commit is not there.
pub(super) fn authors_of(repo: &ConfigRepo, mirrors_dir: &Path, project: &str, sha: &str) -> Vec<String> {
    let Ok(code) = crate::git::Repo::open(&mirrors_dir.join(format!("{project}.git"))) else { return Vec::new() };
    let Ok(emails) = code.commit_emails(sha) else { return Vec::new() };
    let mut identities: Vec<String> = emails.iter().filter_map(|email| repo.access.identity_of_email(email)).map(str::to_owned).collect();
    identities.dedup();
    identities
}
