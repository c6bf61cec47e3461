//! `sluice token create|list|revoke`: API tokens, written to the store directly (the daemon
//! may be running or not; SQLite's WAL lets both use the file). A new token is printed once,
//! alone on stdout; only its hash is stored.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use secrecy::ExposeSecret as _;
use serde_json::json;

use super::ExitStatus;
use crate::api::auth::{generate_token, hash_token};
use crate::config::{self, LoadError, StoreUrl};
use crate::store::{Store, StoreError, Timestamp, TokenScope};

/// Arguments of `sluice token`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice token create --name ci-bot --scope write     prints the token once, on stdout
  sluice token list
  sluice token revoke ci-bot

Scopes: `read` (GET endpoints), `write` (also trigger, retry, cancel, play), `admin` (all).
Exit codes: 0 done, 1 no such token (revoke) or the name is taken (create), 2 invalid input.")]
pub struct TokenArgs {
    /// The controller configuration file (its `store` is used)
    #[arg(
        long,
        value_name = "FILE",
        default_value = "sluice.yaml",
        env = "SLUICE_CONFIG",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it once (only its hash is stored)
    Create {
        /// A unique name for the token (who or what uses it)
        #[arg(long, value_name = "NAME")]
        name: String,
        /// What the token may do
        #[arg(long, value_name = "SCOPE", value_parser = ["read", "write", "admin"])]
        scope: String,
    },
    /// List tokens: names, scopes, when created and last used (never the tokens)
    List {
        /// Print JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Delete a token; requests using it get `401` from then on
    Revoke {
        /// The token's name
        name: String,
    },
}

/// Runs `sluice token`.
pub fn run(args: &TokenArgs) -> anyhow::Result<ExitStatus> {
    let Some(store) = open_store(&args.config)? else {
        return Ok(ExitStatus::Error);
    };
    match &args.command {
        TokenCommand::Create { name, scope } => create(&store, name, scope),
        TokenCommand::List { json } => list(&store, *json),
        TokenCommand::Revoke { name } => {
            if store.revoke_token(name)? {
                eprintln!("Revoked token `{name}`");
                Ok(ExitStatus::Success)
            } else {
                eprintln!("error: no token named `{name}`\n\nhint: `sluice token list` shows the tokens");
                Ok(ExitStatus::Failure)
            }
        }
    }
}

fn create(store: &Store, name: &str, scope: &str) -> anyhow::Result<ExitStatus> {
    let name = name.trim();
    if name.is_empty() {
        eprintln!("error: `--name` must not be empty");
        return Ok(ExitStatus::Error);
    }
    let scope: TokenScope = scope.parse()?;
    let token = generate_token()?;
    match store.create_token(name, scope, &hash_token(&token), Timestamp::now()) {
        Ok(_) => {}
        Err(StoreError::Duplicate { .. }) => {
            eprintln!(
                "error: a token named `{name}` already exists\n\nhint: pick another name, or `sluice token revoke {name}` first"
            );
            return Ok(ExitStatus::Failure);
        }
        Err(other) => return Err(other.into()),
    }
    // The one place a token is shown: stdout, alone, so `$(sluice token create …)` works.
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", token.expose_secret()).and_then(|()| stdout.flush()).is_err() {
        // Nobody saw it: a token no one has must not stay valid.
        let _best_effort = store.revoke_token(name);
        eprintln!("error: the token could not be written to stdout, so it was revoked");
        return Ok(ExitStatus::Error);
    }
    eprintln!("Created `{scope}` token `{name}`; it is shown only this once");
    Ok(ExitStatus::Success)
}

fn list(store: &Store, as_json: bool) -> anyhow::Result<ExitStatus> {
    let tokens = store.list_tokens()?;
    if as_json {
        let items: Vec<serde_json::Value> = tokens
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "scope": t.scope.as_str(),
                    "created_at": t.created_at.as_unix_millis(),
                    "last_used_at": t.last_used_at.map(Timestamp::as_unix_millis),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&json!({ "tokens": items }))?);
    } else if tokens.is_empty() {
        eprintln!("No tokens yet\n\nhint: `sluice token create --name NAME --scope read` creates one");
    } else {
        for t in &tokens {
            let last = t
                .last_used_at
                .map_or_else(|| "never".to_owned(), super::output::format_time);
            outln!(
                "{:<24} {:<6} created {}  last used {last}",
                t.name,
                t.scope,
                super::output::format_time(t.created_at)
            );
        }
    }
    Ok(ExitStatus::Success)
}

/// Opens the store the configuration names, creating its directory. `None` when the
/// configuration is invalid (its diagnostics are printed).
pub(crate) fn open_store(config_file: &std::path::Path) -> anyhow::Result<Option<Store>> {
    let loaded = match config::load(config_file) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid(diagnostics)) => {
            eprintln!("{diagnostics}");
            eprintln!("\nerror: `{}` is invalid", config_file.display());
            return Ok(None);
        }
        Err(error @ LoadError::Read { .. }) => return Err(error.into()),
    };
    let StoreUrl::Sqlite(db) = &loaded.config.store;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    Ok(Some(Store::open(db)?))
}
