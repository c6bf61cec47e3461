//! A recorded pipeline for the daemon's unit tests: project `demo`, status `running`, one
//! `created` job per name in stage `test`.

use crate::store::{JobId, JobStatus, JobWhen, NewJob, NewPipeline, PipelineId, PipelineStatus, Store, Timestamp};

/// Records a running pipeline of `demo` for `git_ref` at `sha`, planned as `plan`, with one
/// `created` job per name; returns its id and its jobs' ids, in the order of `names`.
pub(crate) fn running_pipeline(
    store: &Store,
    git_ref: &str,
    sha: &str,
    plan: serde_json::Value,
    names: &[&str],
) -> (PipelineId, Vec<JobId>) {
    let at = Timestamp::from_unix_millis;
    let project = store.ensure_project("demo", at(1)).expect("project");
    let pipeline = store
        .create_pipeline(&NewPipeline {
            project_id: project,
            git_ref: git_ref.into(),
            tag: false,
            sha: sha.into(),
            before_sha: None,
            source: "push".into(),
            status: PipelineStatus::Running,
            plan,
            variables: Vec::new(),
            created_at: at(2),
        })
        .expect("pipeline");
    let jobs = names
        .iter()
        .map(|name| {
            let job = NewJob {
                pipeline_id: pipeline,
                name: (*name).into(),
                stage: "test".into(),
                status: JobStatus::Created,
                when: JobWhen::OnSuccess,
                allow_failure: false,
                attempt: 1,
                retry_of: None,
                resource_group: None,
                log_path: None,
                created_at: at(3),
            };
            store.create_job(&job).expect("job")
        })
        .collect();
    (pipeline, jobs)
}
