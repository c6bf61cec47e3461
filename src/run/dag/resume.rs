//! Resuming a recorded pipeline around one played manual job, as GitLab does: every job of
//! the pipeline is a node again, in the state the store recorded (finished jobs with the
//! artifacts and dotenv variables kept under the run directory), the played job starts, and
//! the jobs that waited behind it (`created`) are decided and run as its result allows, with
//! the same rules as in the first run.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::super::dotenv;
use super::super::job::Finished;
use super::super::log::safe_name;
use super::super::observer::JobSummary;
use super::super::scheduler::{RunError, Shared, log_path};
use super::{Phase, Run, Scope, TaskSet};
use crate::ci::context::PipelineContext;
use crate::ci::pipeline::Pipeline;
use crate::store::{JobRow, JobStatus, PipelineId};

/// A recorded pipeline that a played job resumes.
pub(crate) struct Resume {
    pub pipeline_id: PipelineId,
    pub run_dir: PathBuf,
    /// The latest attempt of each job still in the plan, with its index in the plan.
    pub jobs: Vec<(usize, JobRow)>,
    /// The played job's position in `jobs`.
    pub played: usize,
}

/// Runs the played job of `resume` and whatever waited behind it, to the end; returns the
/// played job's summary. The pipeline's status is the caller's business.
///
/// # Errors
///
/// [`RunError::Store`]: running jobs are canceled and drained first.
pub(crate) async fn drive_resume(
    shared: Shared<'_>,
    pipeline: &Pipeline,
    ctx: &PipelineContext,
    resume: Resume,
    cancel: CancellationToken,
) -> Result<JobSummary, RunError> {
    let scope = Scope {
        shared,
        pipeline,
        ctx,
        pipeline_id: resume.pipeline_id,
        run_dir: resume.run_dir,
        prefix: None,
        cancel,
    };
    let created: Vec<_> = resume
        .jobs
        .iter()
        .map(|(index, row)| {
            let log = row.log_path.clone().unwrap_or_else(|| log_path(&scope.run_dir, &row.name, row.attempt));
            (*index, row.id, log)
        })
        .collect();
    let mut run = Run::new(&scope, &created);
    for (node, (_, row)) in run.nodes.iter_mut().zip(&resume.jobs) {
        node.attempt = row.attempt;
        node.played = false;
        node.phase = match row.status {
            status if status.is_final() => {
                node.finished = Some(recorded(&scope.run_dir, row));
                Phase::Final
            }
            JobStatus::Manual => Phase::Manual,
            _ => Phase::Created,
        };
    }
    run.nodes[resume.played].played = true;
    run.ready(&scope, resume.played, Some("played"))?;
    let mut tasks = TaskSet::new();
    if let Err(error) = run.run(&scope, &mut tasks).await {
        scope.cancel.cancel();
        while tasks.next().await.is_some() {}
        return Err(error);
    }
    Ok(run.summary(resume.played, false))
}

/// How a job of the earlier run ended, as its successors see it.
fn recorded(run_dir: &Path, row: &JobRow) -> Finished {
    let artifacts = run_dir.join("artifacts").join(safe_name(&row.name));
    let mut finished = Finished::not_run(row.status, None);
    finished.allowed = row.allow_failure && row.status == JobStatus::Failed;
    finished.exit_code = row.exit_code;
    finished.failure_reason = row.failure_reason;
    finished.artifacts = artifacts.is_dir().then_some(artifacts);
    finished.dotenv = dotenv::kept(run_dir, &row.name);
    finished
}
