//! Records of promotion as the store keeps them: deployments (the health input of the
//! `from` and `soak` gates, written by deploy), approvals and rejections, pin commits, and
//! the append-only audit log.

use crate::store::{AuditOutcome, DeploymentStatus, PromotionKind, Timestamp, Verdict};

/// A deployment to record.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The release's version.
    pub version: String,
    /// The image digest deployed.
    pub digest: String,
    /// The first status (usually `pending` or `deploying`).
    pub status: DeploymentStatus,
}

/// One deployment of a release to an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRow {
    /// Row id.
    pub id: i64,
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The release's version.
    pub version: String,
    /// The image digest.
    pub digest: String,
    /// Where it stands.
    pub status: DeploymentStatus,
    /// When it was recorded.
    pub started_at: Timestamp,
    /// When it reached `healthy`, `failed` or `rolled_back` (the last time).
    pub finished_at: Option<Timestamp>,
    /// Since when it has been healthy without interruption (the `soak` gate counts from
    /// here): when it became healthy, or recovered after an unhealthy period; cleared when it
    /// fails.
    pub healthy_since: Option<Timestamp>,
    /// Why it is in its status, for people.
    pub message: Option<String>,
    /// Since when the periodic health check finds its release unhealthy (`None` while its
    /// checks pass, or before any check).
    pub unhealthy_since: Option<Timestamp>,
    /// The last health transition's reason: why it became unhealthy, or that it recovered.
    pub health_message: Option<String>,
}

/// One approval or rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// Row id.
    pub id: i64,
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The release's version.
    pub version: String,
    /// The access.yaml identity.
    pub identity: String,
    /// Approve or reject.
    pub verdict: Verdict,
    /// `--comment`.
    pub comment: Option<String>,
    /// When.
    pub created_at: Timestamp,
}

/// A pin commit to record.
#[derive(Debug, Clone)]
pub struct NewPromotion {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The version now pinned.
    pub version: String,
    /// Promotion or rollback.
    pub kind: PromotionKind,
    /// The version pinned before.
    pub previous_version: Option<String>,
    /// The config-repo commit.
    pub commit_sha: String,
    /// Who asked (`None`: automatic).
    pub identity: Option<String>,
    /// The gates' states, JSON.
    pub gates: serde_json::Value,
    /// The approvers counted, JSON list.
    pub approvers: serde_json::Value,
}

/// A recorded pin commit.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionRow {
    /// Row id.
    pub id: i64,
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The version pinned.
    pub version: String,
    /// Promotion or rollback.
    pub kind: PromotionKind,
    /// The version pinned before.
    pub previous_version: Option<String>,
    /// The config-repo commit.
    pub commit_sha: String,
    /// Who asked (`None`: automatic).
    pub identity: Option<String>,
    /// The gates' states.
    pub gates: serde_json::Value,
    /// The approvers counted.
    pub approvers: serde_json::Value,
    /// When.
    pub created_at: Timestamp,
}

/// An audit entry to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// The access.yaml identity, when known.
    pub identity: Option<String>,
    /// The API token's name (never its value).
    pub token_name: Option<String>,
    /// The peer address.
    pub remote: Option<String>,
    /// What was asked (`approve`, `promote`, `freeze`, …).
    pub action: String,
    /// The app concerned.
    pub app: Option<String>,
    /// The environment concerned.
    pub env: Option<String>,
    /// The version concerned.
    pub version: Option<String>,
    /// What happened.
    pub outcome: AuditOutcome,
    /// Why, for people.
    pub detail: String,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Row id (append order).
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// The identity.
    pub identity: Option<String>,
    /// The token's name.
    pub token_name: Option<String>,
    /// The peer address.
    pub remote: Option<String>,
    /// What was asked.
    pub action: String,
    /// The app.
    pub app: Option<String>,
    /// The environment.
    pub env: Option<String>,
    /// The version.
    pub version: Option<String>,
    /// What happened.
    pub outcome: AuditOutcome,
    /// Why.
    pub detail: String,
}
