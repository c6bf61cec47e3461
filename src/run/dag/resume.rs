//! Resuming a recorded pipeline around the jobs that start it again (a played manual job,
//! the new attempts of retried jobs), as GitLab does: every job of the pipeline is a node
//! again, in the state the store recorded (finished jobs with the artifacts and dotenv
//! variables kept under the run directory), the starting jobs start whatever their
//! prerequisites (those were decided when the pipeline ran), and the jobs that wait behind
//! them (`created`) are decided and run as their results allow, with the same rules as in
//! the first run. Jobs a restart left waiting (`pending`, `waiting_for_resource`,
//! `scheduled`) wait again: a `scheduled` job's `start_in` is not counted again.

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

/// A recorded pipeline that some of its jobs resume.
pub(crate) struct Resume {
    pub pipeline_id: PipelineId,
    pub run_dir: PathBuf,
    /// The latest attempt of each job still in the plan, with its index in the plan.
    pub jobs: Vec<(usize, JobRow)>,
    /// The positions in `jobs` of the jobs that start (`manual` ones are played).
    pub start: Vec<usize>,
    /// Why they start, recorded with their `pending` transition (`played`, `retry`).
    pub reason: &'static str,
}

/// Runs the starting jobs of `resume` and whatever waited behind them, to the end; returns
/// the starting jobs' summaries. The pipeline's status is the caller's business.
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
) -> Result<Vec<JobSummary>, RunError> {
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
            // Its `start_in` ran out, or mostly did, before the restart.
            JobStatus::Scheduled => Phase::Scheduled(tokio::time::Instant::now()),
            _ => Phase::Created,
        };
    }
    let waiting: Vec<(usize, JobStatus)> = resume
        .jobs
        .iter()
        .enumerate()
        .filter(|(_, (_, row))| matches!(row.status, JobStatus::Pending | JobStatus::WaitingForResource))
        .map(|(i, (_, row))| (i, row.status))
        .collect();
    run.wait_again(&scope, &waiting)?;
    for &i in &resume.start {
        run.nodes[i].played = true;
        run.ready(&scope, i, Some(resume.reason))?;
    }
    let mut tasks = TaskSet::new();
    if let Err(error) = run.run(&scope, &mut tasks).await {
        scope.cancel.cancel();
        while tasks.next().await.is_some() {}
        return Err(error);
    }
    Ok(resume.start.iter().map(|&i| run.summary(i, false)).collect())
}

impl Run<'_> {
    /// Puts back in line the jobs a restart left `pending` (they held their resource group)
    /// or `waiting_for_resource`; a group nobody holds goes to its first waiting job.
    fn wait_again(&mut self, scope: &Scope<'_>, waiting: &[(usize, JobStatus)]) -> Result<(), RunError> {
        for &(i, status) in waiting {
            let group = self.nodes[i].resource.clone();
            if status == JobStatus::Pending {
                if let Some(group) = group {
                    self.groups.entry(group).or_default().0 = Some(i);
                }
                self.nodes[i].phase = Phase::Pending;
                self.pending.push_back(i);
            } else if let Some(group) = group {
                self.groups.entry(group).or_default().1.push_back(i);
                self.nodes[i].phase = Phase::WaitingForResource;
            }
        }
        let free: Vec<String> = self.groups.iter().filter(|(_, (holder, _))| holder.is_none()).map(|(g, _)| g.clone()).collect();
        for group in free {
            self.hand_over(scope, &group)?;
        }
        Ok(())
    }
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
