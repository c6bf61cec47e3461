//! Running jobs of a finished (or blocked) pipeline again: retries (new attempts of
//! finished jobs) or a play (a `manual` job started by hand); or, after a restart, a
//! pipeline that was interrupted, from its recorded state.
//!
//! The pipeline resumes as GitLab's does ([`super::dag::drive_resume`]), in a fresh checkout
//! of its commit, planned again with the same variables: the retried or played jobs start
//! whatever their `when:` (it was decided when the pipeline ran), with the artifacts and
//! dotenv variables the earlier jobs left under `<state>/runs/<pipeline>/`, and the jobs
//! that wait behind them then run as their results allow. A retry first re-opens the jobs
//! that the failure skipped, as GitLab's `Ci::ResetSkippedJobsService` does: every `skipped`
//! job of a later stage than the earliest retried job, or needing one of them (directly or
//! not), goes back to `created` and is decided again. Then the pipeline's status is
//! recomputed from the latest attempt of every job.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::dag::{Resume, drive_resume};
use super::scheduler::{PipelineRun, Resources, RunError, RunOptions, RunSummary, run_dir};
use super::variables::masker_for;
use crate::ci::pipeline::{Pipeline, When};
use crate::store::{JobRow, JobStatus, PipelineId, PipelineStatus, Timestamp};

/// The reason recorded with a skipped job that a retry re-opens.
pub const RESET_REASON: &str = "a job before it was retried";

/// Runs the recorded jobs `jobs` of pipeline `pipeline_id` (status `created` for retries,
/// `manual` for a play), as planned in `run.pipeline`, and what waits behind them; then
/// records the pipeline's new status. With no `jobs`, the pipeline resumes from its recorded
/// state alone (a restart caught it between two jobs): its `created` jobs are decided and the
/// `pending` ones run, as if the controller had never stopped.
///
/// # Errors
///
/// [`RunError::UnknownJob`] when the plan no longer has a job; [`RunError::Mask`];
/// [`RunError::Store`].
pub async fn rerun_jobs(
    run: &PipelineRun<'_>,
    options: &RunOptions,
    pipeline_id: PipelineId,
    jobs: &[JobRow],
    cancel: &CancellationToken,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    if let Some(job) = jobs.iter().find(|job| index_of(run.pipeline, &job.name).is_none()) {
        return Err(RunError::UnknownJob { name: job.name.clone(), hint: None });
    }
    let resources = Resources::new(masker_for(&options.variables)?, options);
    let shared = resources.shared(run, options);
    let run_dir = run_dir(&options.state_dir, pipeline_id);
    let played = !jobs.is_empty() && jobs.iter().all(|job| job.status == JobStatus::Manual);
    if !played && !jobs.is_empty() {
        reset_skipped(run, pipeline_id, jobs)?;
    }
    run.store
        .set_pipeline_status(pipeline_id, PipelineStatus::Running, Timestamp::now())?;
    let resume = resume_of(run, pipeline_id, jobs, run_dir, if played { "played" } else { "retry" })?;
    let summaries = drive_resume(shared, run.pipeline, run.context, resume, cancel.child_token()).await;
    resources.finish().await;
    // Whatever happened, the pipeline must not stay `running`.
    let rows = run.store.jobs_of(pipeline_id)?;
    let status = pipeline_status_of(&rows);
    run.store.set_pipeline_status(pipeline_id, status, Timestamp::now())?;
    Ok(RunSummary {
        pipeline_id,
        status,
        duration: started.elapsed(),
        jobs: summaries?,
    })
}

fn index_of(pipeline: &Pipeline, name: &str) -> Option<usize> {
    pipeline.jobs.iter().position(|j| j.when != When::Never && j.name == name)
}

/// Re-opens (`skipped → created`) the skipped jobs after the retried `jobs`: those of a
/// later stage than the earliest of them, and those needing one of them, directly or not.
fn reset_skipped(run: &PipelineRun<'_>, pipeline_id: PipelineId, jobs: &[JobRow]) -> Result<(), RunError> {
    let pipeline = run.pipeline;
    let stage_of = |stage: &str| pipeline.stages.iter().position(|s| s == stage);
    let earliest = jobs.iter().filter_map(|job| stage_of(&job.stage)).min();
    let mut descendants: BTreeSet<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    loop {
        let before = descendants.len();
        for job in &pipeline.jobs {
            let needs_one = job.needs.iter().flatten().any(|n| n.is_local() && descendants.contains(n.job.as_str()));
            if needs_one {
                descendants.insert(job.name.as_str());
            }
        }
        if descendants.len() == before {
            break;
        }
    }
    let rows = run.store.jobs_of(pipeline_id)?;
    let now = Timestamp::now();
    for row in latest_attempts(&rows) {
        let later = earliest.zip(stage_of(&row.stage)).is_some_and(|(earliest, stage)| stage > earliest);
        if row.status == JobStatus::Skipped && (later || descendants.contains(row.name.as_str())) {
            run.store.transition_job(row.id, JobStatus::Created, Some(RESET_REASON), now)?;
        }
    }
    Ok(())
}

/// The pipeline of `jobs` as it is recorded: the latest attempt of every job still in the
/// plan, `jobs` starting.
fn resume_of(
    run: &PipelineRun<'_>,
    pipeline_id: PipelineId,
    jobs: &[JobRow],
    run_dir: PathBuf,
    reason: &'static str,
) -> Result<Resume, RunError> {
    let rows = run.store.jobs_of(pipeline_id)?;
    let recorded: Vec<(usize, JobRow)> = latest_attempts(&rows)
        .into_iter()
        .filter_map(|row| Some((index_of(run.pipeline, &row.name)?, row.clone())))
        .collect();
    let start = jobs
        .iter()
        .map(|job| {
            recorded.iter().position(|(_, row)| row.id == job.id).ok_or_else(|| RunError::UnknownJob {
                name: job.name.clone(),
                hint: None,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Resume {
        pipeline_id,
        run_dir,
        jobs: recorded,
        start,
        reason,
    })
}

/// The latest attempt of each job name, in order of first creation.
fn latest_attempts(jobs: &[JobRow]) -> Vec<&JobRow> {
    let mut latest: Vec<&JobRow> = Vec::new();
    for job in jobs {
        match latest.iter_mut().find(|j| j.name == job.name) {
            Some(slot) => *slot = job,
            None => latest.push(job),
        }
    }
    latest
}

/// A pipeline's status from its jobs (in creation order; the latest attempt of each name
/// counts), with the same words and precedence as a run's final status: anything still
/// running; a failure that is not allowed; a job blocked (`created`) or a blocking manual
/// job; a cancellation; then success, or `manual`/`skipped` when nothing ran.
pub fn pipeline_status_of(jobs: &[JobRow]) -> PipelineStatus {
    let latest = latest_attempts(jobs);
    let any = |f: &dyn Fn(&JobRow) -> bool| latest.iter().any(|j| f(j));
    use JobStatus as S;
    if any(&|j| {
        matches!(
            j.status,
            S::Running | S::Pending | S::Preparing | S::WaitingForResource | S::Scheduled
        )
    }) {
        PipelineStatus::Running
    } else if any(&|j| j.status == S::Failed && !j.allow_failure) {
        PipelineStatus::Failed
    } else if any(&|j| j.status == S::Created || (j.status == S::Manual && !j.allow_failure)) {
        PipelineStatus::Manual
    } else if any(&|j| j.status == S::Canceled) {
        PipelineStatus::Canceled
    } else if any(&|j| matches!(j.status, S::Success | S::Failed)) {
        PipelineStatus::Success
    } else if any(&|j| j.status == S::Manual) {
        PipelineStatus::Manual
    } else {
        PipelineStatus::Skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{JobId, JobWhen};

    fn job(id: i64, name: &str, status: JobStatus, allow_failure: bool) -> JobRow {
        JobRow {
            id: JobId::new(id),
            pipeline_id: PipelineId::new(1),
            name: name.to_owned(),
            stage: "test".to_owned(),
            status,
            when: JobWhen::OnSuccess,
            allow_failure,
            attempt: 1,
            retry_of: None,
            exit_code: None,
            failure_reason: None,
            created_at: Timestamp::from_unix_millis(0),
            started_at: None,
            finished_at: None,
            duration_ms: None,
            process: None,
            log_path: None,
            resource_group: None,
        }
    }

    #[test]
    fn the_latest_attempt_decides() {
        let failed_then_passed = [
            job(1, "a", JobStatus::Failed, false),
            job(2, "a", JobStatus::Success, false),
        ];
        assert_eq!(pipeline_status_of(&failed_then_passed), PipelineStatus::Success);
        let passed_then_failed = [
            job(1, "a", JobStatus::Success, false),
            job(2, "a", JobStatus::Failed, false),
        ];
        assert_eq!(pipeline_status_of(&passed_then_failed), PipelineStatus::Failed);
    }

    #[test]
    fn precedence_follows_the_run() {
        use JobStatus as S;
        let cases: &[(&[(S, bool)], PipelineStatus)] = &[
            (&[(S::Running, false), (S::Failed, false)], PipelineStatus::Running),
            (&[(S::Success, false), (S::Failed, true)], PipelineStatus::Success),
            (&[(S::Success, false), (S::Manual, false)], PipelineStatus::Manual),
            (&[(S::Success, false), (S::Manual, true)], PipelineStatus::Success),
            (&[(S::Success, false), (S::Canceled, false)], PipelineStatus::Canceled),
            (&[(S::Skipped, false)], PipelineStatus::Skipped),
        ];
        for (statuses, expected) in cases {
            let jobs: Vec<JobRow> = statuses
                .iter()
                .enumerate()
                .map(|(i, (s, allowed))| job(i as i64 + 1, &format!("j{i}"), *s, *allowed))
                .collect();
            assert_eq!(pipeline_status_of(&jobs), *expected, "{statuses:?}");
        }
    }
}
