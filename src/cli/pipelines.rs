//! `sluice pipelines`: lists the pipelines recorded in the store, newest first, read
//! directly from the database (the daemon may be running or not).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::ExitStatus;
use crate::config::{self, LoadError, StoreUrl};
use crate::store::{PipelineRow, Store};

/// Arguments of `sluice pipelines`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice pipelines --config /etc/sluice/sluice.yaml
  sluice pipelines --project demo --json

JSON output: {\"pipelines\": [{\"id\", \"project\", \"ref\", \"sha\", \"source\", \"status\",
\"jobs\": [{\"name\", \"stage\", \"status\"}]}]}, newest first, with GitLab's status words.
Exit codes: 0 listed (also when there are none), 2 invalid configuration or unreadable store.")]
pub struct PipelinesArgs {
    /// The controller configuration file (its `store` is read)
    #[arg(long, value_name = "FILE", default_value = "sluice.yaml", env = "SLUICE_CONFIG")]
    config: PathBuf,
    /// Only this project's pipelines
    #[arg(long, value_name = "NAME")]
    project: Option<String>,
    /// At most this many pipelines
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: u32,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Runs `sluice pipelines`.
pub fn run(args: &PipelinesArgs) -> anyhow::Result<ExitStatus> {
    let file = args.config.display().to_string();
    let loaded = match config::load(&args.config) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid(diagnostics)) => {
            eprintln!("{diagnostics}");
            eprintln!("\nerror: `{file}` is invalid");
            return Ok(ExitStatus::Error);
        }
        Err(error @ LoadError::Read { .. }) => return Err(error.into()),
    };
    let StoreUrl::Sqlite(db) = &loaded.config.store;
    // No database yet: the daemon never ran, so there are no pipelines (and none is created).
    let pipelines = if db.exists() {
        Store::open(db)?.list_pipelines(args.project.as_deref(), args.limit)?
    } else {
        Vec::new()
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&to_json(&pipelines))?);
    } else if pipelines.is_empty() {
        eprintln!("No pipelines yet");
    } else {
        out!("{}", render_text(&pipelines));
    }
    Ok(ExitStatus::Success)
}

/// The JSON contract of `sluice pipelines --json`.
fn to_json(pipelines: &[PipelineRow]) -> serde_json::Value {
    let pipelines: Vec<serde_json::Value> = pipelines
        .iter()
        .map(|p| {
            let jobs: Vec<serde_json::Value> = p
                .jobs
                .iter()
                .map(|j| json!({ "name": j.name, "stage": j.stage, "status": j.status.as_str() }))
                .collect();
            json!({
                "id": p.id.get(),
                "project": p.project,
                "ref": p.git_ref,
                "sha": p.sha,
                "source": p.source,
                "status": p.status.as_str(),
                "jobs": jobs,
            })
        })
        .collect();
    json!({ "pipelines": pipelines })
}

/// One line per pipeline: id, project, ref, short sha, source, status, then its jobs.
fn render_text(pipelines: &[PipelineRow]) -> String {
    let mut out = String::new();
    for p in pipelines {
        let sha: String = p.sha.chars().take(8).collect();
        let _ = writeln!(
            out,
            "#{:<5} {}  {}  {sha}  {}  {}",
            p.id.get(),
            p.project,
            p.git_ref,
            p.source,
            p.status
        );
        for job in &p.jobs {
            let _ = writeln!(out, "         {}: {} ({})", job.stage, job.name, job.status);
        }
    }
    out
}
