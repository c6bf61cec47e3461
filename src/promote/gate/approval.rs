//! `approval` and rejections: a quorum of distinct, current approvers from the named
//! groups, optionally not the release's author; any rejection blocks the release for the
//! environment.

use chrono::{DateTime, Utc};

use super::{GateInput, GateReport, show_time};
use crate::config::format_duration;
use crate::config::repo::{Action, ApprovalPolicy};
use crate::store::Verdict;

/// The rejection gate: open unless someone rejected the release for this environment.
pub(super) fn rejection(input: &GateInput<'_>) -> GateReport {
    match input.approvals.iter().find(|a| a.verdict == Verdict::Reject) {
        Some(row) => {
            let comment = row.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
            GateReport::closed("rejection", format!("rejected by {}{comment}", row.identity))
        }
        None => GateReport::open("rejection", "not rejected"),
    }
}

/// The `approval` gate, and the approvers it counted.
pub(super) fn approval(input: &GateInput<'_>, policy: &ApprovalPolicy) -> (GateReport, Vec<String>) {
    let env = input.env.name.as_str();
    let mut counted: Vec<String> = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    for row in input.approvals.iter().filter(|a| a.verdict == Verdict::Approve) {
        if counted.contains(&row.identity) {
            continue;
        }
        let at = DateTime::<Utc>::from_timestamp_millis(row.created_at.as_unix_millis()).unwrap_or_default();
        let expires_at = policy.expires.map(|expires| at + chrono::Duration::from_std(expires).unwrap_or(chrono::TimeDelta::MAX));
        let in_group =
            policy.groups.is_empty() || input.access.groups_of(&row.identity).any(|g| policy.groups.iter().any(|p| p == g));
        let problem = if let Some(expires_at) = expires_at.filter(|t| *t <= input.now) {
            Some(format!("expired at {}", show_time(expires_at)))
        } else if !in_group {
            Some("not in an approving group".into())
        } else if !input.access.allows(&row.identity, Action::Approve, env) {
            Some(format!("may no longer approve in {env}"))
        } else if policy.exclude_author && input.authors.contains(&row.identity) {
            Some("authored the release".into())
        } else {
            None
        };
        match problem {
            None => counted.push(row.identity.clone()),
            Some(problem) => ignored.push(format!("{} ({problem})", row.identity)),
        }
    }
    let quorum = policy.quorum.get();
    let mut why = format!("{} of {quorum} approval{}", counted.len(), if quorum == 1 { "" } else { "s" });
    if !counted.is_empty() {
        why.push_str(&format!(" ({})", counted.join(", ")));
    }
    if !ignored.is_empty() {
        why.push_str(&format!("; not counted: {}", ignored.join(", ")));
    }
    if let Some(expires) = policy.expires {
        why.push_str(&format!("; approvals expire after {}", format_duration(expires)));
    }
    let report = if counted.len() >= quorum {
        GateReport::open("approval", why)
    } else {
        if !policy.groups.is_empty() {
            why.push_str(&format!("; approvers from {}", policy.groups.join(", ")));
        }
        GateReport::closed("approval", why)
    };
    (report, counted)
}
