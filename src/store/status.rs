//! Job and pipeline statuses with GitLab's words, and the job state machine.
//!
//! Only GitLab's status words are ever stored, so the API, the web UI and forge status
//! updates can show them as they are. The job state machine is the one place that decides
//! which changes are legal; [`crate::store::Store::transition_job`] enforces it.

use std::fmt;
use std::str::FromStr;

/// A word that is not one of the statuses (or other GitLab words) we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{word}`")]
pub struct ParseWordError {
    /// What was being parsed: "job status", "failure reason", …
    pub kind: &'static str,
    /// The word that was not recognised.
    pub word: String,
}

/// Defines a fieldless enum whose variants map one-to-one to GitLab's words, with `ALL`,
/// `as_str`, `Display` and `FromStr`.
macro_rules! gitlab_words {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// GitLab's word for this value, as stored.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseWordError;

            fn from_str(word: &str) -> Result<Self, Self::Err> {
                match word {
                    $( $word => Ok($name::$variant), )+
                    _ => Err(ParseWordError { kind: $kind, word: word.to_owned() }),
                }
            }
        }
    };
}

gitlab_words! {
    /// A job's status, as GitLab names it.
    JobStatus, "job status" {
        /// Created, waiting for the jobs it depends on.
        Created => "created",
        /// Waiting for its `resource_group` to be free.
        WaitingForResource => "waiting_for_resource",
        /// Its environment is being prepared before it can run.
        Preparing => "preparing",
        /// Ready, waiting for an executor slot.
        Pending => "pending",
        /// Its script is running.
        Running => "running",
        /// Finished with exit code 0.
        Success => "success",
        /// Finished otherwise; see the failure reason.
        Failed => "failed",
        /// Stopped by a user or by the pipeline's cancellation.
        Canceled => "canceled",
        /// Not run because of `when` and the status of earlier jobs.
        Skipped => "skipped",
        /// Waits for someone to start it (`when: manual`).
        Manual => "manual",
        /// Waits for its `start_in` delay (`when: delayed`).
        Scheduled => "scheduled",
    }
}

gitlab_words! {
    /// A pipeline's status, as GitLab names it (the same words as [`JobStatus`]).
    PipelineStatus, "pipeline status" {
        /// Created; no job has started.
        Created => "created",
        /// A job waits for a resource group.
        WaitingForResource => "waiting_for_resource",
        /// A job's environment is being prepared.
        Preparing => "preparing",
        /// Jobs wait for an executor slot.
        Pending => "pending",
        /// At least one job is running.
        Running => "running",
        /// Every job that had to succeed did.
        Success => "success",
        /// A job that was not allowed to fail failed.
        Failed => "failed",
        /// Canceled before it finished.
        Canceled => "canceled",
        /// No job ran.
        Skipped => "skipped",
        /// Blocked on a manual job.
        Manual => "manual",
        /// Waits for a delayed job.
        Scheduled => "scheduled",
    }
}

gitlab_words! {
    /// When a job runs (GitLab's `when:` keyword), as stored with the job.
    JobWhen, "when" {
        /// Only if every job of earlier stages succeeded (the default).
        OnSuccess => "on_success",
        /// Only if a job of an earlier stage failed.
        OnFailure => "on_failure",
        /// Whatever happened before.
        Always => "always",
        /// When someone starts it.
        Manual => "manual",
        /// After `start_in`.
        Delayed => "delayed",
        /// Never (kept for the record of a plan).
        Never => "never",
    }
}

gitlab_words! {
    /// Why a job failed, with GitLab's `failure_reason` words (those `retry: when:` can name,
    /// plus `missing_dependency_failure`).
    FailureReason, "failure reason" {
        /// A failure we could not classify.
        UnknownFailure => "unknown_failure",
        /// The script exited with a non-zero code.
        ScriptFailure => "script_failure",
        /// The controller's API failed.
        ApiFailure => "api_failure",
        /// The job waited too long to be picked up.
        StuckOrTimeoutFailure => "stuck_or_timeout_failure",
        /// The executor failed (could not spawn, lost the process, controller crash).
        RunnerSystemFailure => "runner_system_failure",
        /// An artifact the job needs is missing.
        MissingDependencyFailure => "missing_dependency_failure",
        /// The executor cannot run this job.
        RunnerUnsupported => "runner_unsupported",
        /// A delayed job's schedule went stale.
        StaleSchedule => "stale_schedule",
        /// The job ran longer than its `timeout`.
        JobExecutionTimeout => "job_execution_timeout",
        /// The pipeline is archived.
        ArchivedFailure => "archived_failure",
        /// The job's prerequisites (an environment, say) could not be met.
        UnmetPrerequisites => "unmet_prerequisites",
        /// The scheduler failed to assign the job.
        SchedulerFailure => "scheduler_failure",
        /// Stored data was inconsistent.
        DataIntegrityFailure => "data_integrity_failure",
    }
}

impl JobStatus {
    /// Whether the job is done: no transition leaves these statuses (a retry is a new job).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Failed | Self::Canceled | Self::Skipped
        )
    }

    /// Whether a job may be created in this status: `created` normally; `manual`,
    /// `scheduled` or `skipped` when the plan already decides it.
    pub const fn is_initial(self) -> bool {
        matches!(
            self,
            Self::Created | Self::Manual | Self::Scheduled | Self::Skipped
        )
    }

    /// Whether the state machine allows `self → to`.
    ///
    /// The path of a job that runs is `created → [waiting_for_resource →] [preparing →]
    /// pending → running → success | failed | canceled`; the scheduler may shortcut to
    /// `running` from any waiting status. Any unfinished job can be canceled; a job can fail
    /// before it runs (runner system failure, unmet prerequisites, stuck); `skipped` is
    /// decided before a job starts. Final statuses have no way out but one: `skipped →
    /// created`, GitLab's `process` event, when a retry re-opens the jobs that a failure
    /// skipped (`Ci::ResetSkippedJobsService`). A status never "changes" to itself, so a
    /// duplicate write is caught rather than recorded twice.
    pub const fn can_transition_to(self, to: JobStatus) -> bool {
        use JobStatus::{
            Canceled, Created, Failed, Manual, Pending, Preparing, Running, Scheduled, Skipped,
            Success, WaitingForResource,
        };
        match self {
            Created => matches!(
                to,
                WaitingForResource
                    | Preparing
                    | Pending
                    | Running
                    | Manual
                    | Scheduled
                    | Skipped
                    | Canceled
                    | Failed
            ),
            Manual => matches!(
                to,
                WaitingForResource | Preparing | Pending | Running | Canceled
            ),
            Scheduled => {
                matches!(
                    to,
                    WaitingForResource | Preparing | Pending | Manual | Skipped | Canceled
                )
            }
            WaitingForResource => {
                matches!(
                    to,
                    Preparing | Pending | Running | Skipped | Canceled | Failed
                )
            }
            Preparing => matches!(to, Pending | Running | Canceled | Failed),
            Pending => matches!(to, Preparing | Running | Canceled | Failed),
            Running => matches!(to, Success | Failed | Canceled),
            Skipped => matches!(to, Created),
            Success | Failed | Canceled => false,
        }
    }
}

impl PipelineStatus {
    /// Whether the pipeline is done (it may become active again if a job is retried).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Failed | Self::Canceled | Self::Skipped
        )
    }
}

gitlab_words! {
    /// Where a deployment of a release to an environment stands (written by deploy).
    DeploymentStatus, "deployment status" {
        /// Recorded, not started.
        Pending => "pending",
        /// Being applied, health not yet known.
        Deploying => "deploying",
        /// Applied and healthy.
        Healthy => "healthy",
        /// Applying failed, or health checks failed.
        Failed => "failed",
        /// Replaced by a rollback.
        RolledBack => "rolled_back",
    }
}

gitlab_words! {
    /// Whether a deployment's release kept running healthily after it was deployed (the
    /// daemon's periodic health check; migration 0009).
    DeploymentHealth, "deployment health" {
        /// Its checks pass (again).
        Healthy => "healthy",
        /// Its checks fail, or its process exited.
        Unhealthy => "unhealthy",
    }
}

gitlab_words! {
    /// An approver's answer about a release for an environment.
    Verdict, "verdict" {
        /// Counts toward the quorum.
        Approve => "approve",
        /// Blocks the release for the environment.
        Reject => "reject",
    }
}

gitlab_words! {
    /// What a pin commit did.
    PromotionKind, "promotion kind" {
        /// Moved a release into the environment.
        Promote => "promote",
        /// Pinned an earlier release and blocked the current one.
        Rollback => "rollback",
    }
}

gitlab_words! {
    /// How an audited operation ended.
    AuditOutcome, "audit outcome" {
        /// Done and recorded.
        Recorded => "recorded",
        /// Refused by policy (RBAC, a rejection, a closed gate).
        Refused => "refused",
        /// Failed (bad input, or the config repo could not be written).
        Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(*status));
        }
        for status in PipelineStatus::ALL {
            assert_eq!(status.as_str().parse::<PipelineStatus>(), Ok(*status));
        }
        for when in JobWhen::ALL {
            assert_eq!(when.as_str().parse::<JobWhen>(), Ok(*when));
        }
        for reason in FailureReason::ALL {
            assert_eq!(reason.as_str().parse::<FailureReason>(), Ok(*reason));
        }
        let err = "succeeded"
            .parse::<JobStatus>()
            .expect_err("not a GitLab word");
        assert_eq!(err.to_string(), "unknown job status `succeeded`");
    }

    #[test]
    fn final_statuses_have_no_way_out_but_a_reset_of_skipped_jobs() {
        for from in JobStatus::ALL.iter().filter(|s| s.is_final()) {
            for to in JobStatus::ALL {
                let reset = (*from, *to) == (JobStatus::Skipped, JobStatus::Created);
                assert_eq!(from.can_transition_to(*to), reset, "{from} -> {to}");
            }
        }
        for status in JobStatus::ALL {
            assert!(!status.can_transition_to(*status), "{status} -> itself");
        }
    }
}
