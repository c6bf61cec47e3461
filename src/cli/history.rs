//! `sluice history APP ENV` (the pin commits and deployments of an environment) and `sluice audit` (the
//! daemon's append-only log of operations, allowed or refused).

use clap::Args;
use serde_json::Value;

use super::ExitStatus;
use super::client::{Client, ServerArgs};

/// Arguments of `sluice history`.
#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 listed, 2 bad input or no daemon.")]
pub struct HistoryArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The app
    app: String,
    /// The environment
    env: String,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Arguments of `sluice audit`.
#[derive(Debug, Args)]
#[command(after_help = "Each line: id, time (UTC), identity (token), from where, action, what, outcome, detail.
Exit codes: 0 listed, 2 no daemon or bad token.")]
pub struct AuditArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// At most this many entries, newest first
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

fn time(millis: &Value) -> String {
    millis
        .as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "?".into(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

/// `GET path`: the answer, unless it was printed as JSON (`json`) or failed (the exit status).
fn fetch(server: &ServerArgs, path: &str, json: bool) -> Result<Value, ExitStatus> {
    let answer = Client::new(server).and_then(|c| c.json("GET", path, None)).map_err(|failed| failed.report())?;
    if json {
        outln!("{answer}");
        return Err(ExitStatus::Success);
    }
    Ok(answer)
}

/// Runs `sluice history`.
pub fn history(args: &HistoryArgs) -> anyhow::Result<ExitStatus> {
    let answer = match fetch(&args.server, &format!("/history/{}/{}", args.app, args.env), args.json) {
        Ok(answer) => answer,
        Err(status) => return Ok(status),
    };
    for row in answer["history"].as_array().into_iter().flatten() {
        let approvers: Vec<&str> = row["approvers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let by = row["requested_by"].as_str().unwrap_or("sluice (automatic)");
        outln!(
            "{}  {:<8}  {} → {}  by {by}  approvers: {}  commit {}",
            time(&row["at"]),
            text(&row["kind"]),
            text(&row["previous_version"]),
            text(&row["version"]),
            if approvers.is_empty() { "-".to_owned() } else { approvers.join(",") },
            text(&row["commit"]),
        );
    }
    let deployments = answer["deployments"].as_array().into_iter().flatten();
    for (index, row) in deployments.enumerate() {
        if index == 0 {
            outln!("deployments, newest first (* current):");
        }
        outln!(
            "{} {}  {:<8}  {:<11}  {}",
            if row["current"].as_bool() == Some(true) { "*" } else { " " },
            time(&row["started_at"]),
            text(&row["version"]),
            text(&row["status"]),
            text(&row["message"]),
        );
        if row["health"].as_str() == Some("unhealthy") {
            outln!("    unhealthy since {}: {}", time(&row["unhealthy_since"]), text(&row["health_message"]));
        } else if let Some(recovered) = row["health_message"].as_str().filter(|_| row["health"].as_str() == Some("healthy")) {
            outln!("    healthy again since {}: {recovered}", time(&row["healthy_since"]));
        }
    }
    Ok(ExitStatus::Success)
}

/// Runs `sluice audit`.
pub fn audit(args: &AuditArgs) -> anyhow::Result<ExitStatus> {
    let answer = match fetch(&args.server, &format!("/audit?limit={}", args.limit), args.json) {
        Ok(answer) => answer,
        Err(status) => return Ok(status),
    };
    for row in answer["audit"].as_array().into_iter().flatten() {
        let what: Vec<&str> = ["app", "env", "version"].iter().filter_map(|k| row[*k].as_str()).collect();
        outln!(
            "{}  {}  {} ({})  from {}  {}  {}  {}: {}",
            row["id"],
            time(&row["at"]),
            text(&row["identity"]),
            text(&row["token"]),
            text(&row["remote"]),
            text(&row["action"]),
            what.join(" "),
            text(&row["outcome"]),
            text(&row["detail"]),
        );
    }
    Ok(ExitStatus::Success)
}
