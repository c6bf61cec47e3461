//! What a deployment rendered and what its rollout reported, stored beside its row of
//! `deployments`. The JSON shapes are the deploy step's; the store keeps them as text. And
//! the health transitions the daemon's periodic check found (migration 0009).

use crate::store::{DeploymentHealth, Timestamp};

/// The details of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentDetails {
    /// The config-repo commit it was made from.
    pub config_sha: String,
    /// A hash of everything deployed; a deployment with the same one is not made again.
    pub fingerprint: String,
    /// JSON array of `{"path", "text"}`: the validated render (never secrets).
    pub rendered: String,
    /// JSON array of `{"step", "target", "ok", "message"}`: what each target reported.
    pub report: String,
    /// Where the release answers, when a target said.
    pub url: Option<String>,
}

/// One health transition of a deployment (migration 0009).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRow {
    /// The deployment.
    pub deployment_id: i64,
    /// What it became.
    pub health: DeploymentHealth,
    /// When.
    pub at: Timestamp,
    /// Why, for people.
    pub message: String,
}
