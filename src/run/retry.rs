//! Whether a failed job is retried (`retry:max`, `retry:when`, `retry:exit_codes`).
//!
//! GitLab's rule (`Gitlab::Ci::Build::AutoRetry`, 16.11+): a failed attempt is retried while
//! fewer than `max` retries were made, if its failure reason is listed in `when` (or `when`
//! lists `always`) **or** its exit code is listed in `exit_codes`. When `when` is not given it
//! defaults to `always`, unless `exit_codes` is given, in which case only those exit codes are
//! retried. A job without an exit code (timed out, runner failure) never matches `exit_codes`.

use crate::ci::pipeline::Retry;
use crate::store::FailureReason;

/// Whether attempt number `attempt` (1-based) that failed with `reason` and `exit_code`
/// gets another attempt under `retry`.
pub fn should_retry(
    retry: Option<&Retry>,
    attempt: u32,
    reason: FailureReason,
    exit_code: Option<i32>,
) -> bool {
    let Some(retry) = retry else {
        return false;
    };
    if attempt > retry.max {
        return false;
    }
    let by_reason = if retry.when.is_empty() {
        retry.exit_codes.is_empty()
    } else {
        retry
            .when
            .iter()
            .any(|w| w == "always" || w == reason.as_str())
    };
    let by_exit_code = exit_code.is_some_and(|code| retry.exit_codes.contains(&code));
    by_reason || by_exit_code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(max: u32, when: &[&str], exit_codes: &[i32]) -> Retry {
        Retry {
            max,
            when: when.iter().map(|w| (*w).to_owned()).collect(),
            exit_codes: exit_codes.to_vec(),
        }
    }

    #[test]
    fn max_counts_retries_after_the_first_attempt() {
        let r = retry(2, &[], &[]);
        assert!(should_retry(
            Some(&r),
            1,
            FailureReason::ScriptFailure,
            Some(1)
        ));
        assert!(should_retry(
            Some(&r),
            2,
            FailureReason::ScriptFailure,
            Some(1)
        ));
        assert!(!should_retry(
            Some(&r),
            3,
            FailureReason::ScriptFailure,
            Some(1)
        ));
        assert!(!should_retry(
            None,
            1,
            FailureReason::ScriptFailure,
            Some(1)
        ));
    }

    #[test]
    fn when_and_exit_codes_are_alternatives() {
        let r = retry(1, &["job_execution_timeout"], &[137]);
        assert!(should_retry(
            Some(&r),
            1,
            FailureReason::JobExecutionTimeout,
            None
        ));
        assert!(should_retry(
            Some(&r),
            1,
            FailureReason::ScriptFailure,
            Some(137)
        ));
        assert!(!should_retry(
            Some(&r),
            1,
            FailureReason::ScriptFailure,
            Some(1)
        ));
    }

    #[test]
    fn exit_codes_alone_retry_only_those_codes() {
        let r = retry(1, &[], &[3]);
        assert!(should_retry(
            Some(&r),
            1,
            FailureReason::ScriptFailure,
            Some(3)
        ));
        assert!(!should_retry(
            Some(&r),
            1,
            FailureReason::ScriptFailure,
            Some(4)
        ));
        assert!(!should_retry(
            Some(&r),
            1,
            FailureReason::JobExecutionTimeout,
            None
        ));
        let always = retry(1, &["always"], &[]);
        assert!(should_retry(
            Some(&always),
            1,
            FailureReason::RunnerSystemFailure,
            None
        ));
    }
}
