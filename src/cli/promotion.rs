//! `sluice approve`, `reject`, `promote`, `rollback` and `freeze`: promotion operations
//! through the daemon, as the caller's token (its identity in the config repo's
//! `access.yaml`). Exit codes: 0 recorded, 1 refused by policy (access, a rejection, a
//! block, a closed gate, an invalid config repo), 2 bad input or no daemon.

use clap::Args;
use serde_json::{Value, json};

use super::ExitStatus;
use super::client::{Client, ServerArgs};

/// Arguments of `sluice approve` and `sluice reject`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice approve hello production 1.2.3 --comment 'soak looks good'
  sluice reject hello production 1.2.3 --comment 'breaks the login page'

A rejection blocks the release for that environment. Approvals expire after the
environment's `gates.approval.expires`.
Exit codes: 0 recorded, 1 refused (access.yaml, or the approver authored the release),
2 bad input, unknown app, environment or release, or no daemon.")]
pub struct DecisionArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The app (a directory of the config repo's `apps/`)
    app: String,
    /// The environment
    env: String,
    /// The release's version
    #[arg(value_name = "VERSION")]
    release: String,
    /// Why, recorded with the decision
    #[arg(long)]
    comment: Option<String>,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Arguments of `sluice promote`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice promote hello production 1.2.3
  sluice promote hello production 1.2.3 --override    through a closed window or a freeze

Commits `apps/APP/ENV.yaml` to the config repo when every gate is open. `--override` needs
the `override` permission and passes only the `window` and `freeze` gates; it is recorded
in the commit message and the audit log.
Exit codes: 0 promoted (or already pinned), 1 refused (access.yaml, closed gates, an invalid
config repo), 2 bad input, unknown app, environment or release, or no daemon.")]
pub struct PromoteArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The app
    app: String,
    /// The environment
    env: String,
    /// The release's version
    #[arg(value_name = "VERSION")]
    release: String,
    /// Promote through a closed `window` or `freeze` gate (needs the `override` permission)
    #[arg(long = "override")]
    override_gates: bool,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Arguments of `sluice rollback`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice rollback hello production                 back to the release before the current one
  sluice rollback hello production --to 1.2.1 --reason 'errors on checkout'

Pins the earlier release and adds the current one to the pin's `blocked:` list, so it is
not deployed or promoted there again; a newer release that passes its gates replaces it.
Exit codes: 0 rolled back, 1 refused, 2 bad input or no daemon.")]
pub struct RollbackArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The app
    app: String,
    /// The environment
    env: String,
    /// The release to pin (default: the one pinned before the current one)
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// Why, recorded in the block and the commit
    #[arg(long)]
    reason: Option<String>,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Arguments of `sluice freeze`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice freeze production --until 2026-12-27T00:00:00Z --reason holidays

Adds a dated freeze to `environments/ENV.yaml` in the config repo: no promotion there until
then (an identity with the `override` permission may still promote with `--override`).
Exit codes: 0 frozen, 1 refused, 2 bad input or no daemon.")]
pub struct FreezeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The environment
    env: String,
    /// The end of the freeze, RFC 3339
    #[arg(long, value_name = "RFC3339")]
    until: String,
    /// The start of the freeze, RFC 3339 (default: now)
    #[arg(long, value_name = "RFC3339")]
    from: Option<String>,
    /// Why
    #[arg(long)]
    reason: Option<String>,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

fn call(server: &ServerArgs, path: &str, body: &Value, json_out: bool) -> Result<Value, ExitStatus> {
    let answer = Client::new(server).and_then(|c| c.json("POST", path, Some(body))).map_err(|failed| failed.report())?;
    if json_out {
        outln!("{answer}");
    }
    Ok(answer)
}

/// Runs `sluice approve`.
pub fn approve(args: &DecisionArgs) -> anyhow::Result<ExitStatus> {
    decide(args, "/approvals", "approved")
}

/// Runs `sluice reject`.
pub fn reject(args: &DecisionArgs) -> anyhow::Result<ExitStatus> {
    decide(args, "/rejections", "rejected")
}

fn decide(args: &DecisionArgs, path: &str, word: &str) -> anyhow::Result<ExitStatus> {
    let body = json!({ "app": args.app, "env": args.env, "version": args.release, "comment": args.comment });
    let answer = match call(&args.server, path, &body, args.json) {
        Ok(answer) => answer,
        Err(status) => return Ok(status),
    };
    eprintln!("{} {} {word} for {}", args.app, args.release, args.env);
    if let Some(gates) = answer["gates"].as_array() {
        super::gates::print_gates(gates);
    }
    Ok(ExitStatus::Success)
}

/// Runs `sluice promote`.
pub fn promote(args: &PromoteArgs) -> anyhow::Result<ExitStatus> {
    let body = json!({ "app": args.app, "env": args.env, "version": args.release, "override": args.override_gates });
    let answer = match call(&args.server, "/promotions", &body, args.json) {
        Ok(answer) => answer,
        Err(status) => return Ok(status),
    };
    match answer["commit"].as_str() {
        Some(commit) => eprintln!("promoted {} {} to {} (config repo commit {commit})", args.app, args.release, args.env),
        None => eprintln!("{} {} is already pinned in {}", args.app, args.release, args.env),
    }
    Ok(ExitStatus::Success)
}

/// Runs `sluice rollback`.
pub fn rollback(args: &RollbackArgs) -> anyhow::Result<ExitStatus> {
    let body = json!({ "app": args.app, "env": args.env, "to": args.to, "reason": args.reason });
    let answer = match call(&args.server, "/rollbacks", &body, args.json) {
        Ok(answer) => answer,
        Err(status) => return Ok(status),
    };
    let version = answer["version"].as_str().unwrap_or("?");
    let commit = answer["commit"].as_str().unwrap_or("?");
    eprintln!("rolled {} in {} back to {version} (config repo commit {commit})", args.app, args.env);
    Ok(ExitStatus::Success)
}

/// Runs `sluice freeze`.
pub fn freeze(args: &FreezeArgs) -> anyhow::Result<ExitStatus> {
    let body = json!({ "env": args.env, "until": args.until, "from": args.from, "reason": args.reason });
    let answer = match call(&args.server, "/freezes", &body, args.json) {
        Ok(answer) => answer,
        Err(status) => return Ok(status),
    };
    let commit = answer["commit"].as_str().unwrap_or("?");
    eprintln!("froze {} until {} (config repo commit {commit})", args.env, args.until);
    Ok(ExitStatus::Success)
}
