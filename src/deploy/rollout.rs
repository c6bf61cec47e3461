//! Rollout over an environment's targets in steps: each step brings the cumulative share of
//! targets its percentage names (at least one more target per step), waits for every target
//! of the step to apply and be healthy, then pauses before the next. The first failure stops
//! the rollout; with `auto_rollback`, the previous release is applied again to every target
//! this rollout touched.

use super::render::Rendered;
use super::spec::{DeploySpec, SecretValues};
use super::target::{self, Applied, TargetContext};

/// What happened to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetReport {
    /// The target's name.
    pub target: String,
    /// What it reported, or why it failed.
    pub result: Result<Applied, String>,
}

/// How a rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every target runs the release and is healthy.
    Healthy,
    /// A target failed; later steps did not run.
    Failed {
        /// The target that failed.
        target: String,
        /// Why.
        reason: String,
    },
    /// A target failed and the previous release was applied again to the targets touched.
    RolledBack {
        /// The target that failed.
        target: String,
        /// Why.
        reason: String,
        /// Targets where re-applying the previous release failed too, with the reason.
        rollback_failures: Vec<TargetReport>,
    },
}

/// The whole rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutReport {
    /// Each step that ran: its percentage and its targets.
    pub steps: Vec<(u8, Vec<TargetReport>)>,
    /// How it ended.
    pub outcome: Outcome,
}

impl RolloutReport {
    /// The first URL a target reported (the process target's address).
    pub fn url(&self) -> Option<&str> {
        self.steps
            .iter()
            .flat_map(|(_, t)| t)
            .find_map(|t| t.result.as_ref().ok()?.url.as_deref())
    }
}

/// The cumulative number of targets after each step, for `count` targets and `steps`
/// percentages: rounded up, at least one more than the step before, the last taking all.
pub fn step_counts(count: usize, steps: &[u8]) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut done = 0;
    for &percent in steps {
        if done >= count {
            break;
        }
        let wanted = (count * usize::from(percent.min(100)))
            .div_ceil(100)
            .clamp(done + 1, count);
        counts.push(wanted);
        done = wanted;
    }
    if done < count {
        counts.push(count);
    }
    counts
}

/// Rolls `spec` out over its targets; see the module documentation. `previous` is the
/// release the environment ran before (and its render), for `auto_rollback`.
pub async fn rollout(
    context: &TargetContext,
    spec: &DeploySpec,
    rendered: &Rendered,
    secrets: &SecretValues,
    previous: Option<(&DeploySpec, &Rendered)>,
) -> RolloutReport {
    let counts = step_counts(spec.targets.len(), &spec.rollout.steps);
    let mut steps = Vec::new();
    let mut done = 0;
    for (index, &count) in counts.iter().enumerate() {
        if index > 0 && !spec.rollout.pause.is_zero() {
            tokio::time::sleep(spec.rollout.pause).await;
        }
        let percent = spec.rollout.steps.get(index).copied().unwrap_or(100);
        let mut reports = Vec::new();
        let mut failure = None;
        for target in &spec.targets[done..count] {
            let result = target::apply(context, target, spec, rendered, secrets)
                .await
                .map_err(|e| e.to_string());
            if let Err(reason) = &result {
                failure.get_or_insert((target.name.clone(), reason.clone()));
            }
            reports.push(TargetReport {
                target: target.name.clone(),
                result,
            });
        }
        steps.push((percent, reports));
        if let Some((target, reason)) = failure {
            let outcome = match previous.filter(|_| spec.rollout.auto_rollback) {
                Some((old, old_rendered)) => {
                    let mut rollback_failures = Vec::new();
                    for touched in &spec.targets[..count] {
                        if let Err(e) = target::apply(context, touched, old, old_rendered, secrets).await {
                            rollback_failures.push(TargetReport {
                                target: touched.name.clone(),
                                result: Err(e.to_string()),
                            });
                        }
                    }
                    Outcome::RolledBack {
                        target,
                        reason,
                        rollback_failures,
                    }
                }
                None => Outcome::Failed { target, reason },
            };
            return RolloutReport { steps, outcome };
        }
        done = count;
    }
    RolloutReport {
        steps,
        outcome: Outcome::Healthy,
    }
}

#[cfg(test)]
mod tests;
