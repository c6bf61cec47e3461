//! Continuous health: after a release is deployed, the daemon checks it again every
//! `health.period` (the loop is [`crate::daemon::health`]). This module checks the targets of
//! one deployment once ([`check`]) and decides, over consecutive checks, when it counts as
//! unhealthy or healthy again ([`Judge`]); the caller records the transitions.
//!
//! What can be checked, per target: a `process` target's recorded process must still run
//! (an exit is unhealthy at once, with how it ended when this daemon reaped it) and pass the
//! app's `http` or `command` check on its port; a `kubernetes` target of an app with
//! `health: {kubernetes: true}` must have its Deployments and StatefulSets rolled out (see
//! [`super::target::kubernetes::readiness`]). `command` and `gitops` targets, and other
//! checks on `kubernetes` targets, have nothing Sluice can observe and are not checked.

use std::collections::HashMap;

use super::health;
use super::render::Rendered;
use super::spec::{DeploySpec, HealthCheck, TargetKind, TargetSpec};
use super::target::{TargetContext, kubernetes, process};
use crate::store::{DeploymentHealth, DeploymentRow};

/// What one check of a deployment's targets found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Every target that can be checked passed.
    Healthy,
    /// A target failed: why, and whether that counts at once (its process exited), not only
    /// after `failure_threshold` failures in a row.
    Unhealthy {
        /// One sentence naming the target.
        reason: String,
        /// No threshold applies.
        at_once: bool,
    },
    /// None of the environment's targets can be checked.
    Unchecked,
}

impl Found {
    fn unhealthy(reason: String) -> Found {
        Found::Unhealthy { reason, at_once: false }
    }
}

/// Checks once every target of `spec` that can be checked, for the release of `current`
/// (the environment's current deployment; `rendered` is its stored render). The first
/// target that fails decides.
pub async fn check(context: &TargetContext, spec: &DeploySpec, current: &DeploymentRow, rendered: &Rendered) -> Found {
    let mut checked = false;
    for target in &spec.targets {
        let found = match &target.kind {
            TargetKind::Process { .. } => check_process(context, spec, target, current).await,
            TargetKind::Kubernetes {
                kubeconfig,
                context: kube_context,
                namespace,
                rollout_timeout,
            } if spec.health == Some(HealthCheck::Kubernetes) => {
                let settings = kubernetes::Settings {
                    kubeconfig: kubeconfig.as_deref(),
                    context: kube_context.as_deref(),
                    namespace,
                    rollout_timeout: *rollout_timeout,
                };
                match kubernetes::readiness(&settings, rendered).await {
                    Ok(()) => Found::Healthy,
                    Err(why) => Found::unhealthy(format!("target `{}`: {why}", target.name)),
                }
            }
            _ => continue,
        };
        match found {
            Found::Healthy => checked = true,
            Found::Unchecked => {}
            unhealthy @ Found::Unhealthy { .. } => return unhealthy,
        }
    }
    if checked { Found::Healthy } else { Found::Unchecked }
}

/// A process target: its recorded process runs the current release, is alive, and passes
/// the app's check.
async fn check_process(context: &TargetContext, spec: &DeploySpec, target: &TargetSpec, current: &DeploymentRow) -> Found {
    let name = &target.name;
    let Some(running) = process::recorded(&context.target_dir(spec, target)) else {
        let reason = format!("target `{name}` runs no release of {}", spec.app);
        return Found::Unhealthy { reason, at_once: true };
    };
    if running.version != current.version || running.digest != current.digest {
        return Found::unhealthy(format!("target `{name}` runs {}, not {}", running.version, current.version));
    }
    if !running.is_alive() {
        let how = context.exits.how_ended(running.pid).map(|how| format!(" ({how})")).unwrap_or_default();
        let reason = format!("the process of {} on target `{name}` (pid {}) exited{how}", running.version, running.pid);
        return Found::Unhealthy { reason, at_once: true };
    }
    let Some(check) = &spec.health else {
        return Found::Healthy;
    };
    match health::check_once(check, &running.probe()).await {
        Ok(()) => Found::Healthy,
        Err(why) => {
            let what = match check {
                HealthCheck::Http { path, .. } => format!("{}{path}", running.url()),
                HealthCheck::Command { argv, .. } => format!("`{}`", argv.join(" ")),
                HealthCheck::Kubernetes => "kubernetes".to_string(),
            };
            Found::unhealthy(format!("health check {what} of target `{name}` failed: {why}"))
        }
    }
}

/// Consecutive failed checks per deployment, and what to record after each check.
#[derive(Debug, Default)]
pub struct Judge {
    failures: HashMap<i64, u32>,
}

impl Judge {
    /// What deployment `id` is after a check `found`, when that may be a transition to record:
    /// healthy after a passing check; unhealthy after `threshold` failures in a row, or at
    /// once for a failure that says so; `None` while failures stay below the threshold or
    /// nothing was checked. Recording a state the deployment is already in changes nothing.
    pub fn judge(&mut self, id: i64, found: Found, threshold: u32) -> Option<(DeploymentHealth, String)> {
        match found {
            Found::Healthy => {
                self.failures.remove(&id);
                Some((DeploymentHealth::Healthy, "its health checks pass again".to_string()))
            }
            Found::Unchecked => {
                self.failures.remove(&id);
                None
            }
            Found::Unhealthy { reason, at_once } => {
                let failures = self.failures.entry(id).or_insert(0);
                *failures += 1;
                (at_once || *failures >= threshold).then_some((DeploymentHealth::Unhealthy, reason))
            }
        }
    }
}

#[cfg(test)]
mod tests;
