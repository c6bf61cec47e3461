//! Promotion: releases move from one environment to the next by commits to the config repo,
//! behind gates.
//!
//! [`gate`] judges a release for an environment from its inputs (pure, given a clock);
//! [`candidate`] picks the release an environment would take next; [`inputs`] gathers the
//! inputs from the store and git. The operations ([`approve`], [`promotion`], [`rollback`],
//! [`freeze`]) check the caller against `access.yaml`, act, and append to the audit log
//! whatever the outcome; every change to the config repo goes through [`ConfigRepoHandle`],
//! one commit at a time.

pub mod approve;
pub mod candidate;
pub mod clock;
pub mod config_repo;
pub mod freeze;
pub mod gate;
pub mod inputs;
pub mod message;
pub mod promotion;
pub mod rollback;

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::repo::{Action, ConfigRepo};
use crate::store::{AuditOutcome, NewAuditEntry, Store, StoreError};
pub use clock::Clock;
pub use config_repo::{ConfigRepoHandle, Snapshot, WriteError};

/// What promotion operations share. Cheap to clone.
#[derive(Clone)]
pub struct Promoter {
    /// The store of record.
    pub store: Arc<Store>,
    /// The config repo.
    pub config_repo: Arc<ConfigRepoHandle>,
    /// The clock decisions are made at.
    pub clock: Clock,
    /// The code repos' mirrors (`<data_dir>/mirrors`), for release authors.
    pub mirrors_dir: PathBuf,
}

/// Who asks for an operation.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The API token's name.
    pub token_name: String,
    /// The peer address of the request.
    pub remote: Option<String>,
}

/// Why an operation was not done.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The app, environment or release does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Refused by policy: `access.yaml`, a rejection, a block, a closed gate.
    #[error("{0}")]
    Refused(String),
    /// The config repo has no valid commit, or cannot be written.
    #[error("{0}")]
    ConfigRepo(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<WriteError> for OpError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Refused(why) => OpError::Refused(why),
            other => OpError::ConfigRepo(other.to_string()),
        }
    }
}

impl Promoter {
    /// The config repo in force (read now if it was not yet). Blocks.
    ///
    /// # Errors
    /// [`OpError::ConfigRepo`] when no commit of it was valid yet.
    pub fn snapshot(&self) -> Result<Snapshot, OpError> {
        // Right after a start the promotion loop may not have read the repo yet.
        let snapshot = self.config_repo.snapshot().or_else(|| {
            self.config_repo.refresh();
            self.config_repo.snapshot()
        });
        snapshot.ok_or_else(|| {
            let status = self.config_repo.status();
            let why = match (status.refused, status.fetch_error) {
                (Some(refused), _) => format!("commit {} is invalid:\n{}", refused.sha, refused.errors),
                (None, Some(fetch)) => fetch,
                (None, None) => "it was not read yet".into(),
            };
            OpError::ConfigRepo(format!("no valid config repo: {why}"))
        })
    }

    /// The identity `actor` acts as, if `access.yaml` lets it do `action` in `env`.
    ///
    /// # Errors
    /// [`OpError::Refused`] naming what is missing.
    pub fn authorize<'a>(&self, repo: &'a ConfigRepo, actor: &Actor, action: Action, env: &str) -> Result<&'a str, OpError> {
        let identity = repo.access.identity_of_token(&actor.token_name).ok_or_else(|| {
            OpError::Refused(format!(
                "token `{}` belongs to no identity of `access.yaml`; add it to an identity's `tokens`",
                actor.token_name
            ))
        })?;
        if repo.access.allows(identity, action, env) {
            Ok(identity)
        } else {
            Err(OpError::Refused(format!("`{identity}` may not {action} in {env} (access.yaml)")))
        }
    }

    /// Appends `what` with `result`'s outcome to the audit log; returns `result`.
    pub fn audit<T>(&self, actor: Option<&Actor>, what: Audited<'_>, result: Result<T, OpError>) -> Result<T, OpError> {
        let (outcome, detail) = match &result {
            Ok(_) => (AuditOutcome::Recorded, what.detail.clone()),
            Err(OpError::Refused(why)) => (AuditOutcome::Refused, why.clone()),
            Err(error) => (AuditOutcome::Failed, error.to_string()),
        };
        let identity = actor.and_then(|actor| {
            self.config_repo.snapshot().and_then(|s| s.repo.access.identity_of_token(&actor.token_name).map(str::to_owned))
        });
        let entry = NewAuditEntry {
            identity,
            token_name: actor.map(|a| a.token_name.clone()),
            remote: actor.and_then(|a| a.remote.clone()),
            action: what.action.to_owned(),
            app: what.app.map(str::to_owned),
            env: what.env.map(str::to_owned),
            version: what.version.map(str::to_owned),
            outcome,
            detail,
        };
        if let Err(error) = self.store.append_audit(&entry, self.clock.timestamp()) {
            tracing::error!("cannot append to the audit log: {error:#}");
            return Err(OpError::Store(error));
        }
        result
    }
}

/// What an audit entry is about.
#[derive(Debug, Clone, Default)]
pub struct Audited<'a> {
    /// The action word.
    pub action: &'a str,
    /// The app.
    pub app: Option<&'a str>,
    /// The environment.
    pub env: Option<&'a str>,
    /// The version.
    pub version: Option<&'a str>,
    /// What was done, when it was.
    pub detail: String,
}
