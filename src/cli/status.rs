//! `sluice status`: the recent pipelines of every project (or one), from the daemon's API.

use std::fmt::Write as _;

use clap::Args;
use serde_json::{Value, json};

use super::ExitStatus;
use super::client::{Client, ServerArgs};

/// Arguments of `sluice status`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  SLUICE_TOKEN=sluice_… sluice status
  sluice status --project demo --limit 10 --json

JSON output: {\"projects\": [{\"name\", \"pipelines\": [pipeline, …]}]}, pipelines as
`GET /api/v1/projects/{name}/pipelines` returns them (newest first, with their jobs).
Exit codes: 0 shown, 1 the token may not read, 2 no daemon, unknown project or bad token.")]
pub struct StatusArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Only this project
    #[arg(long, value_name = "NAME")]
    project: Option<String>,
    /// Pipelines per project
    #[arg(long, value_name = "N", default_value_t = 5)]
    limit: u32,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Runs `sluice status`.
pub fn run(args: &StatusArgs) -> anyhow::Result<ExitStatus> {
    let result = Client::new(&args.server).and_then(|client| {
        let names: Vec<String> = match &args.project {
            Some(name) => vec![name.clone()],
            None => client.json("GET", "/projects", None)?["projects"]
                .as_array()
                .map(|p| p.iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        };
        names
            .into_iter()
            .map(|name| {
                let path = format!("/projects/{name}/pipelines?limit={}", args.limit);
                let pipelines = client.json("GET", &path, None)?["pipelines"].clone();
                Ok(json!({ "name": name, "pipelines": pipelines }))
            })
            .collect::<Result<Vec<Value>, _>>()
    });
    let projects = match result {
        Ok(projects) => projects,
        Err(failed) => return Ok(failed.report()),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&json!({ "projects": projects }))?);
    } else {
        out!("{}", render(&projects));
    }
    Ok(ExitStatus::Success)
}

/// Per project: its name, then one line per pipeline and one per job.
fn render(projects: &[Value]) -> String {
    let mut out = String::new();
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    for project in projects {
        let _ = writeln!(out, "{}", text(&project["name"]));
        let pipelines = project["pipelines"].as_array().cloned().unwrap_or_default();
        if pipelines.is_empty() {
            let _ = writeln!(out, "  no pipelines yet");
        }
        for p in &pipelines {
            let sha: String = text(&p["sha"]).chars().take(8).collect();
            let _ = writeln!(
                out,
                "  #{:<5} {}  {sha}  {}  {}",
                p["id"],
                text(&p["ref"]),
                text(&p["source"]),
                text(&p["status"])
            );
            for job in p["jobs"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "           job #{}  {}: {} ({})",
                    job["id"],
                    text(&job["stage"]),
                    text(&job["name"]),
                    text(&job["status"])
                );
            }
        }
    }
    out
}
