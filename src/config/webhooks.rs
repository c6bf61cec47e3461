//! A project's webhook endpoints (`POST /hooks/{gitlab|github|gerrit}/{project}`) and its
//! forge, the server Sluice reports commit statuses to.

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

/// The kind of forge a project lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    /// GitLab: commit statuses through the REST API (`/api/v4`).
    Gitlab,
    /// GitHub: commit statuses or check runs.
    Github,
    /// Gerrit: `Verified` votes through the REST API.
    Gerrit,
}

impl ForgeKind {
    fn name(self) -> &'static str {
        match self {
            Self::Gitlab => "GitLab",
            Self::Github => "GitHub",
            Self::Gerrit => "Gerrit",
        }
    }
}

/// The `forge:` section of a project: where results are reported.
#[derive(Debug, Clone)]
pub struct Forge {
    /// `type`: `gitlab`, `github` or `gerrit`.
    pub kind: ForgeKind,
    /// `api_url`: the API's base URL (`https://gitlab.example.com/api/v4`,
    /// `https://api.github.com`, `https://review.example.com`).
    pub api_url: String,
    /// `token`: the API token (`env:` or `file:`); reporting is off while it is unavailable.
    pub token: Secret,
}

/// GitHub's API, the default `api_url` of `type: github`.
pub const GITHUB_API_URL: &str = "https://api.github.com";

const FORGE_KEYS: &[&str] = &["type", "api_url", "token"];

/// Reads `forge:` of project `project`.
pub(super) fn read_forge(
    node: &Node,
    path: &str,
    project: &str,
    env: &Environment,
    diags: &mut Diagnostics,
) -> Option<Forge> {
    let fields = Fields::open(node, path, FORGE_KEYS, diags)?;
    let kind = fields.required("type", diags).and_then(|node| {
        let kind = match node.as_str() {
            Some("gitlab") => Some(ForgeKind::Gitlab),
            Some("github") => Some(ForgeKind::Github),
            Some("gerrit") => Some(ForgeKind::Gerrit),
            _ => None,
        };
        if kind.is_none() {
            let shown = node.scalar_to_string().map_or_else(|| node.type_name().to_owned(), |s| format!("`{s}`"));
            diags.push(error_at(
                node,
                &fields.path_of("type"),
                format!("must be `gitlab`, `github` or `gerrit`, not {shown}"),
            ));
        }
        kind
    });
    let api_url = match (fields.string("api_url", diags), kind) {
        (Some((node, url)), _) => read_api_url(node, &fields.path_of("api_url"), url, diags),
        (None, Some(ForgeKind::Github)) => Some(GITHUB_API_URL.to_owned()),
        (None, Some(kind)) if fields.get("api_url").is_none() => {
            let message = format!("missing required key `api_url` (the {} server's API)", kind.name());
            diags.push(error_at(fields.node(), path, message));
            None
        }
        (None, _) => None,
    };
    let disabled = format!("`{project}` reports no statuses to its forge");
    let token = fields
        .required("token", diags)
        .and_then(|node| read_secret(node, &fields.path_of("token"), &Purpose { disabled: &disabled }, env, diags));
    Some(Forge { kind: kind?, api_url: api_url?, token: token? })
}

fn read_api_url(node: &Node, path: &str, url: &str, diags: &mut Diagnostics) -> Option<String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !host.contains('@') && !url.contains(char::is_whitespace) => {
            Some(url.trim_end_matches('/').to_owned())
        }
        Some(host) if host.contains('@') => {
            let message = "must not contain credentials";
            diags.push(
                error_at(node, path, message).with_hint("give the token in `token: env:NAME` or `token: file:PATH`"),
            );
            None
        }
        _ => {
            diags.push(error_at(node, path, format!("`{url}` is not an `https://` or `http://` URL")));
            None
        }
    }
}

#[cfg(test)]
mod tests;
