//! How a pipeline run is reported: its final status and each job's summary.

use super::{Node, Phase, Run};
use crate::run::observer::JobSummary;
use crate::store::{JobStatus, PipelineStatus};

impl Run<'_> {
    pub(super) fn pipeline_status(&self) -> PipelineStatus {
        let status_of = |n: &Node<'_>| n.finished.as_ref().map(|f| (f.status, f.allowed));
        if self.canceled && !self.failed_fast {
            return PipelineStatus::Canceled;
        }
        if self
            .nodes
            .iter()
            .any(|n| n.phase == Phase::Final && status_of(n) == Some((JobStatus::Failed, false)))
        {
            return PipelineStatus::Failed;
        }
        // Some jobs were auto-canceled (interruptible) and the others went on: GitLab's
        // composite status of canceled with successes and skips is `canceled`.
        if self.nodes.iter().any(|n| n.phase == Phase::Final && status_of(n).is_some_and(|(s, _)| s == JobStatus::Canceled)) {
            return PipelineStatus::Canceled;
        }
        let blocked = self.nodes.iter().any(|n| {
            n.phase == Phase::Created || (n.phase == Phase::Manual && !n.job.allow_failure)
        });
        if blocked {
            return PipelineStatus::Manual;
        }
        let ran = self.nodes.iter().any(|n| {
            matches!(
                status_of(n),
                Some((JobStatus::Success | JobStatus::Failed, _))
            )
        });
        if !ran {
            return if self.nodes.iter().any(|n| n.phase == Phase::Manual) {
                PipelineStatus::Manual
            } else {
                PipelineStatus::Skipped
            };
        }
        PipelineStatus::Success
    }

    pub(super) fn summary(&self, i: usize, will_retry: bool) -> JobSummary {
        let node = &self.nodes[i];
        let status = match (node.phase, &node.finished) {
            (Phase::Manual, _) => JobStatus::Manual,
            (_, Some(done)) => done.status,
            _ => JobStatus::Created,
        };
        let done = node.finished.as_ref();
        JobSummary {
            name: node.job.name.clone(),
            stage: node.job.stage.clone(),
            status,
            allowed_failure: done.is_some_and(|d| d.status == JobStatus::Failed && d.allowed),
            exit_code: done.and_then(|d| d.exit_code),
            failure_reason: done.and_then(|d| d.failure_reason),
            message: done.and_then(|d| d.message.clone()),
            duration: done.and_then(|d| d.duration),
            attempts: node.started,
            job_id: Some(node.row),
            log_path: (node.started > 0).then(|| node.log_path.clone()),
            will_retry,
            child: done.and_then(|d| d.child.clone()),
        }
    }
}
