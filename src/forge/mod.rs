//! Outbound reports to the forges: a pipeline's state as a GitLab commit status, a GitHub
//! commit status (token) or check run (GitHub App), or a Gerrit `Verified` vote.
//!
//! The flow is an outbox: the store writes a report in the same transaction as each pipeline
//! status change (for the projects [`Reporter::for_project`] gives a reporter), so a crash
//! never loses one; [`outbox::Outbox`] sends the newest state of each (project, commit,
//! status name), retries network errors, `5xx` and `429` with capped exponential backoff
//! ([`backoff`]) and drops what the forge refuses for good. A report that cannot be sent
//! never fails a pipeline. Forge payload types stop here: the rest of Sluice sees only
//! [`report::StatusReport`]. Tokens and keys are exposed only where a request is built
//! ([`http::send`]) and never logged.

pub mod backoff;
pub mod gerrit;
pub mod github;
pub mod github_app;
pub mod gitlab;
pub mod http;
pub mod outbox;
pub mod report;

use std::sync::Arc;

use secrecy::SecretString;

use crate::config::{ForgeAuth, ForgeKind, ProjectConfig};
use github_app::{AppKeyError, GithubApp};
use http::{Auth, SendError, send};
use report::StatusReport;

/// GitHub's headers for its REST API, as its documentation asks.
const GITHUB_HEADERS: &[(&str, &str)] =
    &[("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")];

/// How one project reports: its forge, where, and with what credentials.
#[derive(Debug)]
pub struct Reporter {
    kind: ForgeKind,
    api_url: String,
    /// The GitLab project or GitHub repository (unused by Gerrit).
    project: String,
    credentials: Credentials,
    /// The status name's prefix.
    pub context: String,
    /// The base of the links in reports (`https://sluice.example.com`), without a trailing `/`.
    pub public_url: String,
}

enum Credentials {
    Token(SecretString),
    App(Arc<GithubApp>),
    Basic { user: String, password: SecretString },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Token(_) => "Token([REDACTED])",
            Self::App(_) => "GithubApp([REDACTED])",
            Self::Basic { .. } => "Basic([REDACTED])",
        })
    }
}

impl Reporter {
    /// The reporter of `project`, or `None` when it has no `forge:` or its secret is not
    /// available (the configuration already warned about that). Links go to `forge.public_url`,
    /// or to `default_public_url` (the daemon's own address).
    ///
    /// # Errors
    ///
    /// A GitHub App private key that cannot be used.
    pub fn for_project(project: &ProjectConfig, default_public_url: &str) -> Result<Option<Reporter>, AppKeyError> {
        let Some(forge) = &project.forge else { return Ok(None) };
        let Some(secret) = forge.auth.secret().value() else { return Ok(None) };
        let credentials = match &forge.auth {
            ForgeAuth::Token(_) => Credentials::Token(secret.clone()),
            ForgeAuth::GithubApp { app_id, .. } => Credentials::App(Arc::new(GithubApp::new(app_id, secret)?)),
            ForgeAuth::Basic { user, .. } => Credentials::Basic { user: user.clone(), password: secret.clone() },
        };
        Ok(Some(Reporter {
            kind: forge.kind,
            api_url: forge.api_url.clone(),
            project: forge.project.clone().unwrap_or_default(),
            credentials,
            context: forge.context.clone(),
            public_url: forge.public_url.clone().unwrap_or_else(|| default_public_url.to_owned()),
        }))
    }

    /// Sends `report`. Returns what to keep for the next report of the same pipeline (a
    /// check run's id), or `Ok(None)`.
    ///
    /// # Errors
    ///
    /// [`SendError`], classified for retrying.
    pub async fn send(&self, client: &reqwest::Client, report: &StatusReport) -> Result<Option<String>, SendError> {
        let api = self.api_url.as_str();
        match (&self.kind, &self.credentials) {
            (ForgeKind::Gitlab, Credentials::Token(token)) => {
                let call = gitlab::status_call(api, &self.project, report);
                send(client, &call, Auth::PrivateToken(token), &[]).await.map(|_| None)
            }
            (ForgeKind::Github, Credentials::Token(token)) => {
                let call = github::status_call(api, &self.project, report);
                send(client, &call, Auth::Bearer(token), GITHUB_HEADERS).await.map(|_| None)
            }
            (ForgeKind::Github, Credentials::App(app)) => {
                let token = app.installation_token(client, api, &self.project, GITHUB_HEADERS).await?;
                let call = github::check_run_call(api, &self.project, report);
                let body = send(client, &call, Auth::Bearer(&token), GITHUB_HEADERS).await?;
                let created: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                Ok(created["id"].as_u64().map(|id| id.to_string()).or_else(|| report.check_run_id.clone()))
            }
            (ForgeKind::Gerrit, Credentials::Basic { user, password }) => {
                let Some(call) = gerrit::review_call(api, report) else { return Ok(None) };
                send(client, &call, Auth::Basic { user, password }, &[]).await.map(|_| None)
            }
            (kind, credentials) => Err(SendError::Refused {
                status: 0,
                body: format!("{} cannot use {credentials:?}", kind.name()),
            }),
        }
    }
}
