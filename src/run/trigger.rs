//! Trigger jobs that start a child pipeline (`trigger: include:`), run with the same machinery
//! as their parent.
//!
//! The child configuration is the trigger's `include:` list, planned with [`crate::ci::plan`]
//! for the parent's commit with `CI_PIPELINE_SOURCE=parent_pipeline`: `local`, `template` and
//! `project` entries are read by the run's reader; `artifact` + `job` entries (dynamic child
//! pipelines) are read from that job's collected artifacts in this run. The child gets the
//! trigger job's YAML variables and the global ones (unless `forward:yaml_variables: false`),
//! the parent's pipeline variables with `forward:pipeline_variables: true`, and always the
//! run's caller variables ([`super::RunVariable`], which stand for project settings here).
//!
//! Status: with `strategy: depend` (or `mirror`) the trigger job waits for the child and
//! takes its status (`success`, `failed`, `canceled`; a child whose jobs were all skipped
//! counts as `success`, and a child blocked on a manual job makes the trigger job `failed`
//! with that reason, because a running job can only end in those three); otherwise the trigger job
//! succeeds once the child pipeline is created, and the child keeps running detached (the run
//! still waits for it before it returns). Cross-project triggers (`trigger: project`) are
//! skipped by the scheduler: they cannot run locally.

use std::sync::Mutex;

use super::dag::{self, Detached, Scope};
use super::job::{Finished, Ticket};
use super::log::{JobLog, safe_name};
use super::scheduler::create_records;
use crate::ci::context::{PipelineContext, PipelineSource};
use crate::ci::pipeline::{Job, Pipeline, When};
use crate::ci::source::{FileReader, FileSource, ReadError};
use crate::ci::{PlanRequest, plan};
use crate::store::{FailureReason, JobStatus, PipelineStatus};

/// Makes any [`FileReader`] `Sync` (as [`super::PipelineRun::reader`] requires) by taking a
/// lock around each read; a git-backed reader is `Send` but not `Sync`.
pub struct LockedReader<R>(Mutex<R>);

impl<R> LockedReader<R> {
    /// Wraps `reader`.
    pub fn new(reader: R) -> Self {
        Self(Mutex::new(reader))
    }
}

impl<R: FileReader> FileReader for LockedReader<R> {
    fn read(&self, source: &FileSource, path: &str) -> Result<String, ReadError> {
        self.0
            .lock()
            .map_err(|_| ReadError::Failed("reader lock poisoned".to_owned()))?
            .read(source, path)
    }

    fn list(&self, source: &FileSource) -> Result<Vec<String>, ReadError> {
        self.0
            .lock()
            .map_err(|_| ReadError::Failed("reader lock poisoned".to_owned()))?
            .list(source)
    }
}

/// The path under which the generated child configuration is served.
const CHILD_ROOT: &str = ".sluice-child-pipeline.yml";

/// Serves the generated child configuration and artifact files; delegates the rest.
struct ChildReader<'a> {
    inner: &'a (dyn FileReader + Sync),
    files: Vec<(String, String)>,
}

impl FileReader for ChildReader<'_> {
    fn read(&self, source: &FileSource, path: &str) -> Result<String, ReadError> {
        if *source == FileSource::Local
            && let Some((_, text)) = self.files.iter().find(|(p, _)| p == path)
        {
            return Ok(text.clone());
        }
        self.inner.read(source, path)
    }

    fn list(&self, source: &FileSource) -> Result<Vec<String>, ReadError> {
        self.inner.list(source)
    }
}

/// Runs trigger job `job`; its status is `running` in the store.
pub(crate) async fn run<'s>(
    scope: &'s Scope<'s>,
    job: &'s Job,
    ticket: &Ticket,
    log: &mut JobLog<'_>,
) -> (Finished, Option<Detached<'s>>) {
    let Some(trigger) = &job.trigger else {
        return (Finished::not_run(JobStatus::Skipped, None), None);
    };
    let failed = |message: String| Finished {
        failure_reason: None,
        ..Finished::not_run(JobStatus::Failed, Some(message))
    };
    let (child, ctx) = match plan_child(scope, job, log) {
        Ok(planned) => planned,
        Err(message) => {
            log.line(&format!("ERROR: {message}"));
            return (
                Finished {
                    allowed: job.allow_failure,
                    ..failed(message)
                },
                None,
            );
        }
    };
    let shared = scope.shared;
    let selected: Vec<usize> = (0..child.jobs.len())
        .filter(|&i| child.jobs[i].when != When::Never)
        .collect();
    let created = match create_records(shared, &child, &ctx, &selected, None) {
        Ok(created) => created,
        Err(error) => {
            let finished =
                Finished::failed_with(FailureReason::RunnerSystemFailure, error.to_string());
            return (finished, None);
        }
    };
    let child_id = created.pipeline_id;
    log.line(&format!(
        "Created child pipeline {} with {} jobs",
        child_id.get(),
        selected.len()
    ));
    let prefix = ticket.info.display_name.clone();
    let cancel = ticket.cancel.child_token();
    let depend = matches!(trigger.strategy.as_deref(), Some("depend" | "mirror"));
    let running: Detached<'s> =
        Box::pin(
            async move { dag::drive(shared, &child, &ctx, created, Some(prefix), cancel).await },
        );
    if !depend {
        return (Finished::not_run(JobStatus::Success, None), Some(running));
    }
    match running.await {
        Ok(summary) => {
            log.line(&format!(
                "Child pipeline {} finished: {}",
                child_id.get(),
                summary.status
            ));
            let (status, message) = match summary.status {
                PipelineStatus::Success => (JobStatus::Success, None),
                PipelineStatus::Failed => (
                    JobStatus::Failed,
                    Some(format!("downstream pipeline {} failed", child_id.get())),
                ),
                PipelineStatus::Canceled => (JobStatus::Canceled, None),
                PipelineStatus::Skipped => (
                    JobStatus::Success,
                    Some(format!(
                        "downstream pipeline {} skipped every job",
                        child_id.get()
                    )),
                ),
                other => (
                    JobStatus::Failed,
                    Some(format!(
                        "downstream pipeline {} ended `{other}` (blocked on a manual job)",
                        child_id.get()
                    )),
                ),
            };
            let allowed = status == JobStatus::Failed && job.allow_failure;
            let finished = Finished {
                allowed,
                child: Some(Box::new(summary)),
                ..Finished::not_run(status, message)
            };
            (finished, None)
        }
        Err(error) => {
            let message = format!(
                "downstream pipeline {} could not run: {error}",
                child_id.get()
            );
            log.line(&format!("ERROR: {message}"));
            (
                Finished::failed_with(FailureReason::RunnerSystemFailure, message),
                None,
            )
        }
    }
}

/// Plans the child pipeline of trigger job `job`.
fn plan_child(
    scope: &Scope<'_>,
    job: &Job,
    log: &mut JobLog<'_>,
) -> Result<(Pipeline, PipelineContext), String> {
    let Some(trigger) = &job.trigger else {
        return Err("not a trigger job".to_owned());
    };
    let mut files = Vec::new();
    let mut entries = Vec::new();
    for (n, entry) in trigger.include.iter().enumerate() {
        match entry {
            serde_json::Value::Object(map) if map.contains_key("artifact") => {
                let artifact = map
                    .get("artifact")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let producer = map
                    .get("job")
                    .and_then(|v| v.as_str())
                    .ok_or("`trigger:include:artifact` needs `job`")?;
                let rel = super::copy::contained_path(artifact).ok_or_else(|| {
                    format!("artifact path `{artifact}` leaves the project directory")
                })?;
                let path = scope
                    .run_dir
                    .join("artifacts")
                    .join(safe_name(producer))
                    .join(rel);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    format!("cannot read artifact `{artifact}` of job `{producer}`: {e}")
                })?;
                let served = format!(".sluice-child-artifact-{n}.yml");
                files.push((served.clone(), text));
                entries.push(serde_json::json!({ "local": served }));
            }
            other => entries.push(other.clone()),
        }
    }
    let root = serde_json::json!({ "include": entries }).to_string();
    files.push((CHILD_ROOT.to_owned(), root));
    let reader = ChildReader {
        inner: scope.shared.reader,
        files,
    };
    let mut ctx = scope.ctx.clone();
    ctx.source = PipelineSource::ParentPipeline;
    if !trigger.forward_pipeline_variables {
        ctx.variables.clear();
    }
    if trigger.forward_yaml_variables {
        let vars = super::variables::job_variables(&super::variables::JobEnvInput {
            ctx: scope.ctx,
            pipeline: scope.pipeline,
            job,
            pipeline_id: scope.pipeline_id.get(),
            job_id: 0,
            workspace: &scope.run_dir,
            builds_dir: &scope.run_dir,
            timeout_secs: 0,
            manual: false,
            dotenv: &[],
            caller: &[],
        });
        let names = scope
            .pipeline
            .variables
            .iter()
            .map(|(n, _)| n)
            .chain(job.variables.iter().map(|(n, _)| n));
        for name in names {
            if let Some(value) = vars.value(name) {
                ctx.variables.retain(|(n, _)| n != name);
                ctx.variables.push((name.clone(), value));
            }
        }
    }
    let no_changes = |_: &str| None;
    let request = PlanRequest {
        path: CHILD_ROOT,
        context: &ctx,
        reader: &reader,
        changed_since: &no_changes,
    };
    match plan(&request) {
        Ok(child) if child.created => Ok((child, ctx)),
        Ok(child) => Err(format!(
            "no child pipeline is created: {}",
            child.reason.unwrap_or_default()
        )),
        Err(diagnostics) => {
            for line in diagnostics.to_string().lines() {
                log.line(line);
            }
            Err("the child pipeline configuration is invalid".to_owned())
        }
    }
}
