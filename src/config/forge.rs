//! `forge:` of a project: the server Sluice reports pipeline results to (GitLab commit
//! statuses, GitHub commit statuses or check runs, Gerrit `Verified` votes) and how it
//! authenticates there.

use super::Environment;
use super::RepoUrl;
use super::fields::{Fields, error_at};
use super::secret::{Purpose, Secret, read_secret};
use crate::ci::node::Node;
use crate::diagnostic::Diagnostics;

/// The kind of forge a project lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    /// GitLab: commit statuses through the REST API (`/api/v4`).
    Gitlab,
    /// GitHub: commit statuses (with a token) or check runs (as a GitHub App).
    Github,
    /// Gerrit: `Verified` votes through the REST API.
    Gerrit,
}

impl ForgeKind {
    /// The product's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gitlab => "GitLab",
            Self::Github => "GitHub",
            Self::Gerrit => "Gerrit",
        }
    }
}

/// How Sluice authenticates to its forge.
#[derive(Debug, Clone)]
pub enum ForgeAuth {
    /// `token`: a GitLab access token (sent as `PRIVATE-TOKEN`) or a GitHub token (sent as
    /// `Authorization: Bearer`); GitHub then gets commit statuses.
    Token(Secret),
    /// `app_id` + `private_key`: a GitHub App; GitHub then gets check runs.
    GithubApp {
        /// The App's id (not secret).
        app_id: String,
        /// The App's private key, PEM (PKCS#1 as GitHub issues it, or PKCS#8).
        private_key: Secret,
    },
    /// `user` + `password`: a Gerrit account and its HTTP password (HTTP basic auth).
    Basic {
        /// The account's user name (not secret).
        user: String,
        /// The account's HTTP password.
        password: Secret,
    },
}

impl ForgeAuth {
    /// The secret this needs; reporting is off while it is unavailable.
    pub fn secret(&self) -> &Secret {
        match self {
            Self::Token(secret) => secret,
            Self::GithubApp { private_key, .. } => private_key,
            Self::Basic { password, .. } => password,
        }
    }
}

/// The `forge:` section of a project: where results are reported.
#[derive(Debug, Clone)]
pub struct Forge {
    /// `type`: `gitlab`, `github` or `gerrit`.
    pub kind: ForgeKind,
    /// `api_url`: the API's base URL (`https://gitlab.example.com/api/v4`,
    /// `https://api.github.com`, `https://review.example.com`), without a trailing `/`.
    pub api_url: String,
    /// How Sluice authenticates.
    pub auth: ForgeAuth,
    /// `project`: the GitLab project (numeric id or `group/name` path) or the GitHub
    /// repository (`owner/name`); `None`: taken from the project's `repo` URL.
    pub project: Option<String>,
    /// `context`: the prefix of the status name (`<context>/<pipeline source>`), default
    /// `sluice`.
    pub context: String,
    /// `public_url`: the daemon's address as the forge's users reach it, for the link of each
    /// status (`<public_url>/api/v1/pipelines/<id>`); `None`: `http://<listen>`.
    pub public_url: Option<String>,
}

/// GitHub's API, the default `api_url` of `type: github`.
pub const GITHUB_API_URL: &str = "https://api.github.com";
/// The default `context`.
pub const DEFAULT_CONTEXT: &str = "sluice";

const FORGE_KEYS: &[&str] =
    &["type", "api_url", "token", "app_id", "private_key", "user", "password", "project", "context", "public_url"];

/// Reads `forge:` of project `project`.
pub(super) fn read_forge(
    node: &Node,
    path: &str,
    project: &str,
    env: &Environment,
    diags: &mut Diagnostics,
) -> Option<Forge> {
    let fields = Fields::open(node, path, FORGE_KEYS, diags)?;
    let kind = read_kind(&fields, diags);
    let api_url = match (fields.string("api_url", diags), kind) {
        (Some((node, url)), _) => read_url(node, &fields.path_of("api_url"), url, diags),
        (None, Some(ForgeKind::Github)) => Some(GITHUB_API_URL.to_owned()),
        (None, Some(kind)) if fields.get("api_url").is_none() => {
            let message = format!("missing required key `api_url` (the {} server's API)", kind.name());
            diags.push(error_at(fields.node(), path, message));
            None
        }
        (None, _) => None,
    };
    let auth = kind.and_then(|kind| read_auth(&fields, kind, project, env, diags));
    let project_path = fields.string("project", diags).and_then(|(node, text)| {
        let github_shape = text.split('/').count() == 2 && !text.starts_with('/') && !text.ends_with('/');
        if text.trim().is_empty() || (kind == Some(ForgeKind::Github) && !github_shape) {
            let wanted = if kind == Some(ForgeKind::Github) { "`owner/name`" } else { "a project id or path" };
            diags.push(error_at(node, &fields.path_of("project"), format!("`{text}` is not {wanted}")));
            return None;
        }
        Some(text.to_owned())
    });
    let context = match fields.string("context", diags) {
        Some((node, text)) if text.trim().is_empty() || text.contains(char::is_control) => {
            diags.push(error_at(node, &fields.path_of("context"), "must be a non-empty name, as in `sluice`"));
            None
        }
        Some((_, text)) => Some(text.to_owned()),
        None => Some(DEFAULT_CONTEXT.to_owned()),
    };
    let public_url = match fields.string("public_url", diags) {
        Some((node, url)) => Some(read_url(node, &fields.path_of("public_url"), url, diags)?),
        None => None,
    };
    Some(Forge {
        kind: kind?,
        api_url: api_url?,
        auth: auth?,
        project: project_path,
        context: context?,
        public_url,
    })
}

fn read_kind(fields: &Fields<'_>, diags: &mut Diagnostics) -> Option<ForgeKind> {
    let node = fields.required("type", diags)?;
    let kind = match node.as_str() {
        Some("gitlab") => Some(ForgeKind::Gitlab),
        Some("github") => Some(ForgeKind::Github),
        Some("gerrit") => Some(ForgeKind::Gerrit),
        _ => None,
    };
    if kind.is_none() {
        let shown = node.scalar_to_string().map_or_else(|| node.type_name().to_owned(), |s| format!("`{s}`"));
        let message = format!("must be `gitlab`, `github` or `gerrit`, not {shown}");
        diags.push(error_at(node, &fields.path_of("type"), message));
    }
    kind
}

/// The credentials `kind` takes: a token (GitLab, GitHub), an App id and key (GitHub), a user
/// and password (Gerrit). Keys that belong to another kind are errors naming the right ones.
fn read_auth(
    fields: &Fields<'_>,
    kind: ForgeKind,
    project: &str,
    env: &Environment,
    diags: &mut Diagnostics,
) -> Option<ForgeAuth> {
    let disabled = format!("`{project}` reports no statuses to its forge");
    let secret = |key: &str, diags: &mut Diagnostics| {
        let node = fields.get(key)?;
        read_secret(node, &fields.path_of(key), &Purpose { disabled: &disabled }, env, diags)
    };
    let misplaced = |keys: &[&str], hint: &str, diags: &mut Diagnostics| {
        for key in keys {
            if let Some(node) = fields.get(key) {
                let message = format!("`{key}` is not used by `type: {}`", kind.name().to_lowercase());
                diags.push(error_at(node, &fields.path_of(key), message).with_hint(hint.to_owned()));
            }
        }
    };
    let plain = |key: &str, diags: &mut Diagnostics| {
        fields.string(key, diags).map(|(_, text)| text.to_owned()).filter(|text| !text.trim().is_empty())
    };
    match kind {
        ForgeKind::Gitlab => {
            misplaced(&["app_id", "private_key", "user", "password"], "GitLab takes an access token: `token: env:NAME`", diags);
            fields.required("token", diags)?;
            secret("token", diags).map(ForgeAuth::Token)
        }
        ForgeKind::Github => {
            misplaced(&["user", "password"], "GitHub takes `token`, or `app_id` and `private_key` of a GitHub App", diags);
            let app = fields.get("app_id").is_some() || fields.get("private_key").is_some();
            if app && fields.get("token").is_some() {
                let hint = "a token reports commit statuses, a GitHub App check runs; keep one";
                let message = "`token` and `app_id`/`private_key` exclude each other";
                diags.push(error_at(fields.node(), &fields.path_of("token"), message).with_hint(hint));
                return None;
            }
            if !app {
                fields.required("token", diags)?;
                return secret("token", diags).map(ForgeAuth::Token);
            }
            let app_id = fields.required("app_id", diags).and_then(|node| match node.scalar_to_string() {
                Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => Some(id),
                _ => {
                    diags.push(error_at(node, &fields.path_of("app_id"), "must be the App's numeric id"));
                    None
                }
            });
            fields.required("private_key", diags)?;
            let private_key = secret("private_key", diags);
            Some(ForgeAuth::GithubApp { app_id: app_id?, private_key: private_key? })
        }
        ForgeKind::Gerrit => {
            let hint = "Gerrit takes `user` and `password` (the account's HTTP password)";
            misplaced(&["token", "app_id", "private_key"], hint, diags);
            let user = fields.required("user", diags).and_then(|_| plain("user", diags));
            fields.required("password", diags)?;
            let password = secret("password", diags);
            Some(ForgeAuth::Basic { user: user?, password: password? })
        }
    }
}

fn read_url(node: &Node, path: &str, url: &str, diags: &mut Diagnostics) -> Option<String> {
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

/// Fills `forge.project` from the repository URL when it was not given: the URL's path
/// without `.git` (`https://gitlab.example.com/group/app.git` → `group/app`). GitLab and
/// GitHub need it; a local repository cannot give one, which is an error at `forge`.
pub(super) fn default_project(forge: &mut Forge, repo: &RepoUrl, node: &Node, path: &str, diags: &mut Diagnostics) {
    if forge.project.is_some() || forge.kind == ForgeKind::Gerrit {
        return;
    }
    let path_of_url = match repo {
        RepoUrl::Https(url) | RepoUrl::Ssh(url) => {
            url.split_once("://").and_then(|(_, rest)| rest.split_once('/')).map(|(_, path)| path)
        }
        RepoUrl::Scp(url) => url.split_once(':').map(|(_, path)| path),
        RepoUrl::Local(_) => None,
    };
    let derived = path_of_url
        .map(|path| path.trim_matches('/').trim_end_matches(".git").to_owned())
        .filter(|path| !path.is_empty());
    match derived {
        Some(project) => forge.project = Some(project),
        None => {
            let message = format!("`project` is needed: the {} project cannot be told from `{repo}`", forge.kind.name());
            let hint = if forge.kind == ForgeKind::Github { "add `project: owner/name`" } else { "add `project: group/name` (or its numeric id)" };
            diags.push(error_at(node, path, message).with_hint(hint));
        }
    }
}
