//! GitLab: one commit status per report, `POST /projects/:id/statuses/:sha` (the Commits
//! API's "set the pipeline status of a commit"), authenticated with `PRIVATE-TOKEN`.

use serde_json::json;

use super::report::{Call, StatusReport, path_segment};
use crate::store::PipelineStatus;

/// GitLab's commit status state for a pipeline status.
pub fn state(status: PipelineStatus) -> &'static str {
    match status {
        PipelineStatus::Created
        | PipelineStatus::Pending
        | PipelineStatus::WaitingForResource
        | PipelineStatus::Preparing
        | PipelineStatus::Manual
        | PipelineStatus::Scheduled => "pending",
        PipelineStatus::Running => "running",
        PipelineStatus::Success => "success",
        PipelineStatus::Failed => "failed",
        PipelineStatus::Canceled => "canceled",
        PipelineStatus::Skipped => "skipped",
    }
}

/// The call that sets `report` on project `project` (numeric id or `group/name` path) of
/// the API at `api_url` (`https://gitlab.example.com/api/v4`).
pub fn status_call(api_url: &str, project: &str, report: &StatusReport) -> Call {
    let url = format!("{api_url}/projects/{}/statuses/{}", path_segment(project), report.sha);
    Call::post(
        url,
        json!({
            "state": state(report.status),
            "ref": report.git_ref,
            "name": report.context,
            "target_url": report.target_url,
            "description": report.description(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::report::Method;
    use crate::store::PipelineId;

    #[test]
    fn a_failed_pipeline_is_a_failed_status_on_the_url_encoded_project() {
        let report = StatusReport {
            sha: "abc123".into(),
            git_ref: "main".into(),
            context: "sluice/push".into(),
            pipeline_id: PipelineId::new(7),
            status: PipelineStatus::Failed,
            target_url: "https://ci.example.com/api/v1/pipelines/7".into(),
            gerrit_change: None,
            check_run_id: None,
        };
        let call = status_call("https://gitlab.example.com/api/v4", "group/sub project", &report);
        assert_eq!(call.method, Method::Post);
        assert_eq!(call.url, "https://gitlab.example.com/api/v4/projects/group%2Fsub%20project/statuses/abc123");
        assert_eq!(
            call.body,
            Some(json!({
                "state": "failed",
                "ref": "main",
                "name": "sluice/push",
                "target_url": "https://ci.example.com/api/v1/pipelines/7",
                "description": "Pipeline #7 failed",
            }))
        );
        let states: Vec<&str> = PipelineStatus::ALL.iter().map(|s| state(*s)).collect();
        for word in states {
            assert!(["pending", "running", "success", "failed", "canceled", "skipped"].contains(&word), "{word}");
        }
    }
}
