//! Auto-cancel of redundant pipelines, as GitLab does it: when a pipeline is recorded for a
//! branch, the older pipelines of the same project and branch (for another commit) that
//! still run in this daemon are canceled, each as its own
//! `workflow:auto_cancel:on_new_commit` allows:
//!
//! - `conservative` (the default): canceled while none of its jobs with
//!   `interruptible: false` (the default) has started;
//! - `interruptible`: only its unfinished `interruptible: true` jobs are canceled (running
//!   ones stopped, waiting ones never started), and the others go on, as GitLab's "safe
//!   cancellation" does;
//! - `none`: never.
//!
//! Tag pipelines are never redundant. The decision reads the pipelines' plan snapshots and
//! job rows; canceling goes through the same tokens as `POST /api/v1/pipelines/{id}/cancel`,
//! or the run's interrupt token ([`crate::run::RunOptions::interrupt`]).

use crate::ci::pipeline::AutoCancel;
use crate::store::{PipelineId, PipelineRow, Store, StoreError};

/// What auto-cancel does to a redundant pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redundant {
    /// Cancel it as a whole (`conservative`).
    Whole,
    /// Cancel its interruptible jobs only (`interruptible`).
    InterruptibleJobs,
}

impl Redundant {
    /// The word logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Redundant::Whole => "pipeline",
            Redundant::InterruptibleJobs => "interruptible jobs",
        }
    }
}

/// The older pipelines that `newer` makes redundant and what may be canceled of each now,
/// among those `is_running` says run in this process.
///
/// # Errors
/// [`StoreError`] when the pipelines cannot be read.
pub fn redundant(
    store: &Store,
    newer: PipelineId,
    is_running: &dyn Fn(PipelineId) -> bool,
) -> Result<Vec<(PipelineId, Redundant)>, StoreError> {
    let newer = store.get_pipeline(newer)?;
    if newer.tag {
        return Ok(Vec::new());
    }
    // Pipelines still running are among the project's most recent ones.
    let older = store.list_pipelines(Some(&newer.project), 100)?;
    Ok(older
        .iter()
        .filter(|p| p.id < newer.id && !p.tag && p.git_ref == newer.git_ref && p.sha != newer.sha)
        .filter(|p| !p.status.is_final() && is_running(p.id))
        .filter_map(|p| Some((p.id, cancelable(p)?)))
        .collect())
}

/// What of `pipeline` a newer one may cancel, by its own setting.
fn cancelable(pipeline: &PipelineRow) -> Option<Redundant> {
    let setting = pipeline.plan["auto_cancel_on_new_commit"]
        .as_str()
        .and_then(AutoCancel::from_word)
        .unwrap_or_default();
    let interruptible = |name: &str| {
        pipeline.plan["jobs"].as_array().is_some_and(|jobs| {
            jobs.iter()
                .any(|j| j["name"].as_str() == Some(name) && j["interruptible"].as_bool() == Some(true))
        })
    };
    match setting {
        AutoCancel::None => None,
        AutoCancel::Conservative => pipeline
            .jobs
            .iter()
            .all(|job| job.started_at.is_none() || interruptible(&job.name))
            .then_some(Redundant::Whole),
        AutoCancel::Interruptible => pipeline
            .jobs
            .iter()
            .any(|job| !job.status.is_final() && interruptible(&job.name))
            .then_some(Redundant::InterruptibleJobs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_pipeline::running_pipeline;
    use crate::store::{JobStatus, Timestamp};

    fn pipeline(store: &Store, git_ref: &str, sha: &str, plan: serde_json::Value, started: &[&str]) -> PipelineId {
        let names: Vec<&str> = plan["jobs"].as_array().into_iter().flatten().map(|job| job["name"].as_str().expect("a name")).collect();
        let (id, jobs) = running_pipeline(store, git_ref, sha, plan.clone(), &names);
        for (name, job) in names.iter().zip(jobs) {
            if started.contains(name) {
                store.transition_job(job, JobStatus::Running, None, Timestamp::from_unix_millis(4)).expect("running");
            }
        }
        id
    }

    #[test]
    fn older_pipelines_of_the_branch_are_canceled_as_their_setting_allows() {
        let store = Store::open_in_memory().expect("store");
        let plan = |setting: Option<&str>| {
            let mut plan = serde_json::json!({ "jobs": [
                { "name": "lint", "interruptible": true },
                { "name": "deploy" },
            ] });
            if let Some(setting) = setting {
                plan["auto_cancel_on_new_commit"] = setting.into();
            }
            plan
        };
        let only_lint_ran = pipeline(&store, "main", "a", plan(None), &["lint"]);
        let deploy_ran = pipeline(&store, "main", "b", plan(None), &["deploy"]);
        let never = pipeline(&store, "main", "c", plan(Some("none")), &[]);
        let mixed = pipeline(&store, "main", "d", plan(Some("interruptible")), &[]);
        let all_interruptible = pipeline(
            &store,
            "main",
            "e",
            serde_json::json!({ "auto_cancel_on_new_commit": "interruptible", "jobs": [{ "name": "lint", "interruptible": true }] }),
            &["lint"],
        );
        let other_branch = pipeline(&store, "feature", "f", plan(None), &[]);
        let not_here = pipeline(&store, "main", "g", plan(None), &[]);

        let no_interruptible_job = pipeline(
            &store,
            "main",
            "i",
            serde_json::json!({ "auto_cancel_on_new_commit": "interruptible", "jobs": [{ "name": "deploy" }] }),
            &[],
        );
        let newer = pipeline(&store, "main", "h", plan(None), &[]);

        let running = |id: PipelineId| id != not_here;
        let canceled = redundant(&store, newer, &running).expect("redundant");
        let (whole, jobs) = (Some(Redundant::Whole), Some(Redundant::InterruptibleJobs));
        let cases = [
            ("conservative, only an interruptible job started", only_lint_ran, whole),
            ("conservative, a non-interruptible job started", deploy_ran, None),
            ("none", never, None),
            ("interruptible, with a non-interruptible job", mixed, jobs),
            ("interruptible, every job interruptible", all_interruptible, jobs),
            ("interruptible, no interruptible job", no_interruptible_job, None),
            ("another branch", other_branch, None),
            ("not running in this process", not_here, None),
        ];
        for (what, id, expected) in cases {
            let found = canceled.iter().find(|(p, _)| *p == id).map(|(_, what)| *what);
            assert_eq!(found, expected, "{what}");
        }
        // The newest pipeline makes nothing older than itself redundant twice.
        assert!(redundant(&store, only_lint_ran, &running).expect("none").is_empty());
    }
}
