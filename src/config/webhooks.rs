//! A project's webhook endpoints (`POST /hooks/{gitlab|github|gerrit}/{project}`).

use regex::Regex;

use super::Environment;
use super::fields::{Fields, error_at};
use super::refs::regex_error_reason;
use super::secret::{Purpose, Secret, read_secret};
use super::units::parse_size;
use crate::ci::node::{Node, Value};
use crate::diagnostic::Diagnostics;

/// The default `recheck_pattern`: a comment that is only `recheck` or `/recheck`.
pub const DEFAULT_RECHECK_PATTERN: &str = r"(?i)^\s*/?recheck\s*$";
/// The default `max_body_bytes`: 25 MiB, GitLab's own limit for webhook payloads.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 25 * 1024 * 1024;

/// The `webhooks:` section of a project, validated and with its secrets resolved.
///
/// An endpoint whose secret is absent, or whose `env:` variable is unset, accepts nothing:
/// every delivery gets `401`.
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// `gitlab_token`: the secret token GitLab sends in `X-Gitlab-Token`.
    pub gitlab_token: Option<Secret>,
    /// `gitlab_signing_token`: GitLab's signing token; when set, the `webhook-signature`
    /// header is verified too, and the endpoint is disabled while the token is unavailable.
    pub gitlab_signing_token: Option<Secret>,
    /// `github_secret`: the secret GitHub signs deliveries with (`X-Hub-Signature-256`).
    pub github_secret: Option<Secret>,
    /// `gerrit_secret`: the token Gerrit's webhooks plugin sends as `?token=` in the hook URL.
    pub gerrit_secret: Option<Secret>,
    /// `recheck_pattern`: a comment matching it re-runs the merge request's pipeline.
    pub recheck_pattern: Regex,
    /// `max_body_bytes`: larger deliveries get `413`.
    pub max_body_bytes: u64,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self {
            gitlab_token: None,
            gitlab_signing_token: None,
            github_secret: None,
            gerrit_secret: None,
            recheck_pattern: default_recheck_pattern(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

fn default_recheck_pattern() -> Regex {
    // A constant pattern, covered by a test; `Regex::new` cannot fail on it.
    Regex::new(DEFAULT_RECHECK_PATTERN).unwrap_or_else(|_| unreachable!("the default recheck pattern compiles"))
}

const WEBHOOK_KEYS: &[&str] =
    &["gitlab_token", "gitlab_signing_token", "github_secret", "gerrit_secret", "recheck_pattern", "max_body_bytes"];

/// Reads `webhooks:` of project `project`.
pub(super) fn read_webhooks(
    node: &Node,
    path: &str,
    project: &str,
    env: &Environment,
    diags: &mut Diagnostics,
) -> Webhooks {
    let mut webhooks = Webhooks::default();
    let Some(fields) = Fields::open(node, path, WEBHOOK_KEYS, diags) else {
        return webhooks;
    };
    let secret = |key: &str, forge: &str, diags: &mut Diagnostics| {
        let disabled = format!("{forge} webhooks of `{project}` are disabled (every delivery gets 401)");
        let node = fields.get(key)?;
        read_secret(node, &fields.path_of(key), &Purpose { disabled: &disabled }, env, diags)
    };
    webhooks.gitlab_token = secret("gitlab_token", "GitLab", diags);
    webhooks.gitlab_signing_token = secret("gitlab_signing_token", "GitLab", diags);
    webhooks.github_secret = secret("github_secret", "GitHub", diags);
    webhooks.gerrit_secret = secret("gerrit_secret", "Gerrit", diags);
    if let Some((node, pattern)) = fields.string("recheck_pattern", diags) {
        match Regex::new(pattern) {
            Ok(regex) => webhooks.recheck_pattern = regex,
            Err(error) => {
                let reason = regex_error_reason(&error);
                let message = format!("`{pattern}` is not a valid regular expression: {reason}");
                diags.push(error_at(node, &fields.path_of("recheck_pattern"), message));
            }
        }
    }
    if let Some(node) = fields.get("max_body_bytes") {
        let parsed = match &node.value {
            Value::Int(n) => u64::try_from(*n).map_err(|_| "must not be negative"),
            Value::Str(text) => parse_size(text),
            _ => Err("must be a number of bytes, optionally with a unit"),
        };
        match parsed {
            Ok(0) => diags.push(error_at(node, &fields.path_of("max_body_bytes"), "must be more than 0")),
            Ok(bytes) => webhooks.max_body_bytes = bytes,
            Err(reason) => {
                let shown = node.scalar_to_string().unwrap_or_default();
                let message = format!("`{shown}` {reason}");
                let hint = "write bytes (`26214400`) or a size with `KB`, `MB` or `GB` (powers of 1024), as in `25MB`";
                diags.push(error_at(node, &fields.path_of("max_body_bytes"), message).with_hint(hint));
            }
        }
    }
    webhooks
}

#[cfg(test)]
mod tests;
