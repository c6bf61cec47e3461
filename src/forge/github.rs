//! GitHub: a commit status per report with a token (`POST /repos/{owner}/{repo}/statuses/{sha}`),
//! or, as a GitHub App, a check run per pipeline (`POST /repos/{owner}/{repo}/check-runs`,
//! then `PATCH …/check-runs/{id}` as the pipeline moves on).

use serde_json::json;

use super::report::{Call, Method, StatusReport};
use crate::store::PipelineStatus;

/// GitHub's commit status state (`error`, `failure`, `pending`, `success`) for a pipeline
/// status. A skipped pipeline counts as passed, as GitHub treats skipped checks; a canceled
/// one is an `error` (it did not fail, but it did not pass either).
pub fn state(status: PipelineStatus) -> &'static str {
    match status {
        PipelineStatus::Success | PipelineStatus::Skipped => "success",
        PipelineStatus::Failed => "failure",
        PipelineStatus::Canceled => "error",
        PipelineStatus::Created
        | PipelineStatus::Pending
        | PipelineStatus::WaitingForResource
        | PipelineStatus::Preparing
        | PipelineStatus::Running
        | PipelineStatus::Manual
        | PipelineStatus::Scheduled => "pending",
    }
}

/// The call that sets `report` as a commit status of `repository` (`owner/name`).
pub fn status_call(api_url: &str, repository: &str, report: &StatusReport) -> Call {
    let url = format!("{api_url}/repos/{repository}/statuses/{}", report.sha);
    Call::post(
        url,
        json!({
            "state": state(report.status),
            "target_url": report.target_url,
            "description": report.description(),
            "context": report.context,
        }),
    )
}

/// A check run's `status` and, once `completed`, its `conclusion`.
pub fn check_run_state(status: PipelineStatus) -> (&'static str, Option<&'static str>) {
    match status {
        PipelineStatus::Success => ("completed", Some("success")),
        PipelineStatus::Failed => ("completed", Some("failure")),
        PipelineStatus::Canceled => ("completed", Some("cancelled")),
        PipelineStatus::Skipped => ("completed", Some("skipped")),
        PipelineStatus::Running => ("in_progress", None),
        PipelineStatus::Created
        | PipelineStatus::Pending
        | PipelineStatus::WaitingForResource
        | PipelineStatus::Preparing
        | PipelineStatus::Manual
        | PipelineStatus::Scheduled => ("queued", None),
    }
}

/// The call that creates `report`'s check run on `repository`, or updates the one made
/// before (`report.check_run_id`).
pub fn check_run_call(api_url: &str, repository: &str, report: &StatusReport) -> Call {
    let (status, conclusion) = check_run_state(report.status);
    let description = report.description();
    let mut body = json!({
        "name": report.context,
        "status": status,
        "details_url": report.target_url,
        "external_id": report.pipeline_id.get().to_string(),
        "output": {"title": description, "summary": description},
    });
    if let Some(conclusion) = conclusion {
        body["conclusion"] = json!(conclusion);
    }
    match &report.check_run_id {
        Some(id) => Call { method: Method::Patch, url: format!("{api_url}/repos/{repository}/check-runs/{id}"), body: Some(body) },
        None => {
            body["head_sha"] = json!(report.sha);
            Call::post(format!("{api_url}/repos/{repository}/check-runs"), body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PipelineId;

    fn report(status: PipelineStatus, check_run_id: Option<&str>) -> StatusReport {
        StatusReport {
            sha: "abc".into(),
            git_ref: "main".into(),
            context: "sluice/push".into(),
            pipeline_id: PipelineId::new(3),
            status,
            target_url: "http://ci/api/v1/pipelines/3".into(),
            gerrit_change: None,
            check_run_id: check_run_id.map(str::to_owned),
        }
    }

    #[test]
    fn statuses_use_githubs_four_states() {
        let call = status_call("https://api.github.com", "acme/web", &report(PipelineStatus::Failed, None));
        assert_eq!(call.url, "https://api.github.com/repos/acme/web/statuses/abc");
        assert_eq!(
            call.body,
            Some(json!({
                "state": "failure",
                "target_url": "http://ci/api/v1/pipelines/3",
                "description": "Pipeline #3 failed",
                "context": "sluice/push",
            }))
        );
        for status in PipelineStatus::ALL {
            assert!(["error", "failure", "pending", "success"].contains(&state(*status)), "{status}");
        }
    }

    #[test]
    fn a_check_run_is_created_then_patched_to_its_conclusion() {
        let created = check_run_call("https://api.github.com", "acme/web", &report(PipelineStatus::Running, None));
        assert_eq!((created.method, created.url.as_str()), (Method::Post, "https://api.github.com/repos/acme/web/check-runs"));
        let body = created.body.expect("body");
        assert_eq!((body["head_sha"].as_str(), body["status"].as_str()), (Some("abc"), Some("in_progress")));
        assert!(body.get("conclusion").is_none());
        let done = check_run_call("https://api.github.com", "acme/web", &report(PipelineStatus::Canceled, Some("42")));
        assert_eq!((done.method, done.url.as_str()), (Method::Patch, "https://api.github.com/repos/acme/web/check-runs/42"));
        let body = done.body.expect("body");
        assert_eq!((body["status"].as_str(), body["conclusion"].as_str()), (Some("completed"), Some("cancelled")));
        assert!(body.get("head_sha").is_none(), "a check run's commit cannot change");
    }
}
