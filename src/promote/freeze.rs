//! Freezes: a dated period without promotions in an environment, written as a commit to its
//! `freezes:` list. Blocks.

use chrono::{DateTime, Utc};

use super::config_repo::{Change, WriteError};
use super::gate::show_time;
use super::{Actor, Audited, OpError, Promoter};
use crate::config::repo::Action;
use crate::config::repo::environment::{Freeze, add_freeze};

impl Promoter {
    /// Freezes `env` until `until` (RFC 3339), from now or `from`; returns the commit.
    ///
    /// # Errors
    /// [`OpError::BadRequest`] for a time that is not RFC 3339 or not in the future;
    /// [`OpError::Refused`] when `access.yaml` does not allow it.
    pub fn freeze(&self, actor: &Actor, env: &str, until: &str, from: Option<&str>, reason: Option<&str>) -> Result<String, OpError> {
        let result = self.freeze_unaudited(actor, env, until, from, reason);
        let detail = match &result {
            Ok(sha) => format!("froze {env} until {until} by commit {sha}{}", reason.map(|r| format!(": {r}")).unwrap_or_default()),
            Err(_) => String::new(),
        };
        self.audit(Some(actor), Audited { action: "freeze", env: Some(env), detail, ..Audited::default() }, result)
    }

    fn freeze_unaudited(&self, actor: &Actor, env: &str, until: &str, from: Option<&str>, reason: Option<&str>) -> Result<String, OpError> {
        let time = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| OpError::BadRequest(format!("`{text}` is not an RFC 3339 time such as `2026-12-27T00:00:00Z`")))
        };
        let until = time(until)?;
        let from = from.map(time).transpose()?;
        let now = self.clock.now();
        if until <= now {
            return Err(OpError::BadRequest(format!("`--until {}` is not in the future (now is {})", show_time(until), show_time(now))));
        }
        let snapshot = self.snapshot()?;
        if snapshot.repo.environment(env).is_none() {
            let hint = crate::config::repo::hint_among(env, "environments", snapshot.repo.environment_names());
            return Err(OpError::NotFound(format!("the config repo has no environment `{env}`; {hint}")));
        }
        let identity = self.authorize(&snapshot.repo, actor, Action::Freeze, env)?.to_owned();
        let freeze = Freeze { from: Some(from.unwrap_or(now)), until, reason: reason.map(str::to_owned), by: Some(identity.clone()) };
        let path = format!("environments/{env}.yaml");
        let written = self.config_repo.write(|snapshot, mirror| {
            let reader = mirror.reader().map_err(|e| WriteError::Git(e.to_string()))?;
            let text = reader.read_file_at(&snapshot.sha, &path).map_err(|e| WriteError::Git(e.to_string()))?.unwrap_or_default();
            let text = String::from_utf8(text).map_err(|_| WriteError::Refused(format!("`{path}` is not UTF-8")))?;
            let contents = add_freeze(&text, &freeze).map_err(|why| WriteError::Refused(format!("`{path}`: {why}")))?;
            let reason = reason.map(|r| format!("\n\nReason: {r}")).unwrap_or_default();
            let message = format!("freeze {env} until {}{reason}\n\nRequested-by: {identity}\n", show_time(until));
            Ok(Some(Change { path: path.clone(), contents: contents.into_bytes(), message }))
        })?;
        written.map(|(sha, _)| sha).ok_or_else(|| OpError::ConfigRepo("the freeze was already written".into()))
    }
}
