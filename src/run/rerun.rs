//! Running one job of a finished (or blocked) pipeline again: a retry (a new attempt of a
//! finished job) or a play (a `manual` job started by hand).
//!
//! The smallest correct version: the job runs alone, in a fresh checkout of its pipeline's
//! commit, planned again with the same variables, whatever its `when:` (it was decided when
//! the pipeline ran). It receives the artifacts the earlier jobs it depends on left under
//! `<state>/runs/<pipeline>/artifacts/` (by GitLab's rules: `dependencies`, else `needs`
//! with `artifacts: true`, else the earlier stages), with their dotenv variables (kept under
//! `<state>/runs/<pipeline>/dotenv/`). A played job resumes its pipeline instead
//! ([`super::dag::drive_resume`]): the jobs that waited behind it then run as its result
//! allows. Then the
//! pipeline's status is recomputed from the latest attempt of every job.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use std::path::{Path, PathBuf};

use super::dag::{Resume, Single, drive_one, drive_resume, prerequisites};
use super::job::ArtifactSource;
use super::log::safe_name;
use super::scheduler::{PipelineRun, Resources, RunError, RunOptions, RunSummary, log_path, run_dir};
use super::variables::masker_for;
use crate::ci::pipeline::{Pipeline, When};
use crate::store::{JobRow, JobStatus, PipelineStatus, Timestamp};

/// Runs the recorded job `job` (status `created` for a retry, `manual` for a play) of its
/// pipeline, as planned in `run.pipeline`, then records the pipeline's new status.
///
/// # Errors
///
/// [`RunError::UnknownJob`] when the plan no longer has the job; [`RunError::Mask`];
/// [`RunError::Store`].
pub async fn rerun_job(
    run: &PipelineRun<'_>,
    options: &RunOptions,
    job: &JobRow,
    cancel: &CancellationToken,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let Some(index) = run
        .pipeline
        .jobs
        .iter()
        .position(|j| j.when != When::Never && j.name == job.name)
    else {
        return Err(RunError::UnknownJob {
            name: job.name.clone(),
            hint: None,
        });
    };
    let resources = Resources::new(masker_for(&options.variables)?, options);
    let shared = resources.shared(run, options);
    let pipeline_id = job.pipeline_id;
    let run_dir = run_dir(&options.state_dir, pipeline_id);
    let log = job
        .log_path
        .clone()
        .unwrap_or_else(|| log_path(&run_dir, &job.name, job.attempt));
    run.store
        .set_pipeline_status(pipeline_id, PipelineStatus::Running, Timestamp::now())?;
    let summary = if job.status == JobStatus::Manual {
        let resume = resume_of(run, job, run_dir)?;
        drive_resume(shared, run.pipeline, run.context, resume, cancel.child_token()).await
    } else {
        let sources = kept_artifacts(run.pipeline, index, &run_dir);
        let single = Single {
            pipeline_id,
            run_dir,
            index,
            row: job.id,
            attempt: job.attempt,
            log_path: log,
            reason: "retry",
            sources,
        };
        drive_one(shared, run.pipeline, run.context, single, cancel.child_token()).await
    };
    resources.finish().await;
    // Whatever happened, the pipeline must not stay `running`.
    let jobs = run.store.jobs_of(pipeline_id)?;
    let status = pipeline_status_of(&jobs);
    run.store.set_pipeline_status(pipeline_id, status, Timestamp::now())?;
    Ok(RunSummary {
        pipeline_id,
        status,
        duration: started.elapsed(),
        jobs: vec![summary?],
    })
}

/// The artifacts kept from the pipeline's earlier run that plan job `index` receives, in
/// plan order.
fn kept_artifacts(pipeline: &Pipeline, index: usize, run_dir: &Path) -> Vec<ArtifactSource> {
    let job = &pipeline.jobs[index];
    let present: Vec<usize> = (0..pipeline.jobs.len())
        .filter(|&i| pipeline.jobs[i].when != When::Never)
        .collect();
    let earlier = prerequisites(pipeline, &present, index);
    present
        .iter()
        .filter(|&&i| i != index)
        .filter(|&&i| {
            let other = &pipeline.jobs[i];
            match (&job.dependencies, &job.needs) {
                (Some(dependencies), _) => dependencies.contains(&other.name),
                (None, Some(needs)) => needs.iter().any(|n| n.is_local() && n.artifacts && n.job == other.name),
                (None, None) => other.stage != job.stage && earlier.contains(&i),
            }
        })
        .filter_map(|&i| {
            let name = &pipeline.jobs[i].name;
            let dir = Some(run_dir.join("artifacts").join(safe_name(name))).filter(|dir| dir.is_dir());
            let dotenv = super::dotenv::kept(run_dir, name);
            (dir.is_some() || !dotenv.is_empty()).then(|| ArtifactSource {
                name: name.clone(),
                dir,
                dotenv,
            })
        })
        .collect()
}

/// The played manual `job`'s pipeline as it was recorded: the latest attempt of every job
/// still in the plan.
fn resume_of(run: &PipelineRun<'_>, job: &JobRow, run_dir: PathBuf) -> Result<Resume, RunError> {
    let rows = run.store.jobs_of(job.pipeline_id)?;
    let jobs: Vec<(usize, JobRow)> = latest_attempts(&rows)
        .into_iter()
        .filter_map(|row| {
            let index = run.pipeline.jobs.iter().position(|j| j.when != When::Never && j.name == row.name)?;
            Some((index, row.clone()))
        })
        .collect();
    let played = jobs.iter().position(|(_, row)| row.id == job.id).ok_or_else(|| RunError::UnknownJob {
        name: job.name.clone(),
        hint: None,
    })?;
    Ok(Resume {
        pipeline_id: job.pipeline_id,
        run_dir,
        jobs,
        played,
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
    use crate::store::{JobId, JobWhen, PipelineId};

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
