//! `sluice gates APP ENV [VERSION]`: each gate of the environment for a release, open or
//! closed, and why. What a user looks at first. Exit codes: 0 every gate open, 1 any closed,
//! 2 bad input or no daemon.

use clap::Args;
use serde_json::Value;

use super::ExitStatus;
use super::client::{Client, ServerArgs};

/// Arguments of `sluice gates`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice gates hello production           the release production would take next
  sluice gates hello production 1.2.3

Exit codes: 0 every gate open, 1 a gate is closed, 2 bad input, unknown app, environment or
release, or no daemon.")]
pub struct GatesArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The app
    app: String,
    /// The environment
    env: String,
    /// The release's version (default: the one the environment would take next)
    #[arg(value_name = "VERSION")]
    release: Option<String>,
    /// Print the daemon's answer as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Runs `sluice gates`.
pub fn run(args: &GatesArgs) -> anyhow::Result<ExitStatus> {
    let mut path = format!("/gates/{}/{}", args.app, args.env);
    if let Some(version) = &args.release {
        path.push_str(&format!("?version={version}"));
    }
    let answer = match Client::new(&args.server).and_then(|c| c.json("GET", &path, None)) {
        Ok(answer) => answer,
        Err(failed) => return Ok(failed.report()),
    };
    if args.json {
        outln!("{answer}");
    } else {
        let version = answer["version"].as_str().unwrap_or("?");
        let pinned = answer["pinned"].as_str().map_or_else(|| "nothing pinned".to_owned(), |p| format!("pinned: {p}"));
        outln!("{} {version} → {} ({pinned})", args.app, args.env);
        if let Some(gates) = answer["gates"].as_array() {
            for gate in gates {
                outln!("{}", gate_line(gate));
            }
        }
    }
    if let Some(refused) = answer["config_repo"]["status"]["refused"].as_object() {
        let sha = refused.get("sha").and_then(Value::as_str).unwrap_or("?");
        let errors = refused.get("errors").and_then(Value::as_str).unwrap_or("");
        eprintln!("warning: the config repo's newest commit {sha} is invalid and not applied; gates use the last valid one\n{errors}");
    }
    Ok(if answer["all_open"].as_bool() == Some(true) { ExitStatus::Success } else { ExitStatus::Failure })
}

fn gate_line(gate: &Value) -> String {
    let state = gate["state"].as_str().unwrap_or("?");
    let name = gate["gate"].as_str().unwrap_or("?");
    let why = gate["why"].as_str().unwrap_or("");
    format!("  {state:<6}  {name:<9}  {why}")
}

/// Prints gates (after an approval) on stderr.
pub(super) fn print_gates(gates: &[Value]) {
    for gate in gates {
        eprintln!("{}", gate_line(gate));
    }
}
