//! `sluice plan`: shows the pipeline GitLab would create, as text or JSON.

use std::fmt::Write as _;

use clap::Args;

use super::ExitStatus;
use super::source::{PipelineArgs, Prepared, SourceArgs, prepare};
use crate::ci::pipeline::{Job, Pipeline, When};
use crate::ci::{Diagnostics, PlanRequest, plan};

/// Arguments of `sluice plan`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice plan                                   the pipeline for a push of the working tree
  sluice plan --before HEAD~1 --sha HEAD        changed paths from a real diff
  sluice plan --tag v1.2.0                      a tag pipeline (CI_COMMIT_TAG set)
  sluice plan --source merge_request_event --ref feature --target-branch main
  sluice plan --source schedule --var NIGHTLY=1 --json

JSON output: {\"stages\": [..], \"jobs\": [{\"name\", \"stage\", \"when\", \"allow_failure\", \"needs\", ..}]};
when workflow:rules create no pipeline: {\"created\": false, \"reason\": .., \"stages\": [], \"jobs\": []}.
Exit codes: 0 planned (also when no pipeline is created), 2 invalid configuration.")]
pub struct PlanArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Print the plan as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Plans with the given arguments; the outer error is a problem with the arguments or the
/// repository, the inner one the configuration's diagnostics.
pub(super) fn plan_with(source: &SourceArgs, pipeline: &PipelineArgs) -> anyhow::Result<Result<Pipeline, Diagnostics>> {
    let prepared = prepare(source, pipeline)?;
    Ok(plan_prepared(&source.file, &prepared))
}

/// Plans `file` for an already prepared context and reader.
pub(super) fn plan_prepared(file: &str, prepared: &Prepared) -> Result<Pipeline, Diagnostics> {
    let changed_since = |compare_to: &str| prepared.changed_since(compare_to);
    let request = PlanRequest {
        path: file,
        context: &prepared.context,
        reader: &prepared.reader,
        changed_since: &changed_since,
    };
    plan(&request)
}

/// Prints warnings on stderr.
pub(super) fn print_warnings(diagnostics: &Diagnostics) {
    for warning in diagnostics.warnings() {
        eprintln!("{warning}\n");
    }
}

/// Runs `sluice plan`.
pub fn run(args: &PlanArgs) -> anyhow::Result<ExitStatus> {
    let pipeline = match plan_with(&args.source, &args.pipeline)? {
        Ok(pipeline) => pipeline,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("\nerror: `{}` is invalid", args.source.file);
            return Ok(ExitStatus::Error);
        }
    };
    print_warnings(&pipeline.warnings);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&to_json(&pipeline))?);
    } else {
        out!("{}", render_text(&pipeline));
    }
    Ok(ExitStatus::Success)
}

/// The JSON contract of `sluice plan --json` (documented in the README).
pub fn to_json(pipeline: &Pipeline) -> serde_json::Value {
    if !pipeline.created {
        return serde_json::json!({
            "created": false,
            "reason": pipeline.reason,
            "stages": [],
            "jobs": [],
        });
    }
    serde_json::json!({
        "stages": pipeline.stages,
        "jobs": pipeline.jobs,
    })
}

/// Human-readable plan: stages in order, each with its jobs, their `when` and `needs`.
fn render_text(pipeline: &Pipeline) -> String {
    let mut out = String::new();
    if !pipeline.created {
        let reason = pipeline.reason.as_deref().unwrap_or("workflow:rules did not match");
        let _ = writeln!(out, "No pipeline is created: {reason}");
        return out;
    }
    if let Some(name) = &pipeline.name {
        let _ = writeln!(out, "Pipeline `{name}`");
    }
    let width = pipeline.jobs.iter().map(|j| j.name.chars().count()).max().unwrap_or(0);
    for stage in &pipeline.stages {
        let jobs: Vec<&Job> = pipeline.jobs.iter().filter(|j| &j.stage == stage).collect();
        if jobs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{stage}");
        for job in jobs {
            let _ = writeln!(out, "  {:width$}  {}", job.name, job_details(job));
        }
    }
    let runnable = pipeline.jobs.iter().filter(|j| j.when != When::Never).count();
    let _ = writeln!(out, "\n{runnable} of {} jobs will run", pipeline.jobs.len());
    out
}

fn job_details(job: &Job) -> String {
    if job.when == When::Never {
        return "never (excluded by rules, only or except)".to_owned();
    }
    let mut details = job.when.to_string();
    if job.allow_failure {
        details.push_str(", allowed to fail");
    }
    if let Some(needs) = &job.needs {
        let names: Vec<&str> = needs.iter().map(|n| n.job.as_str()).collect();
        let _ = write!(details, ", needs [{}]", names.join(", "));
    }
    details
}
