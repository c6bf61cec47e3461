//! The commit messages of pin commits: they name the release, the gates and the approvers,
//! so `git log` of the config repo is the promotion history.

use std::fmt::Write as _;

use super::gate::Evaluation;

/// What a pin commit records.
#[derive(Debug, Clone)]
pub struct PinChange<'a> {
    /// `promote` or `rollback`.
    pub verb: &'a str,
    /// The app.
    pub app: &'a str,
    /// The environment.
    pub env: &'a str,
    /// The version pinned now.
    pub version: &'a str,
    /// The image with its digest.
    pub image: &'a str,
    /// The version pinned before.
    pub previous: Option<&'a str>,
    /// Who asked (`None`: Sluice, automatically).
    pub requested_by: Option<&'a str>,
    /// Closed gates passed by override.
    pub overridden: &'a [String],
    /// A reason given (rollback).
    pub reason: Option<&'a str>,
}

/// The commit message of `change`, with the gates of `evaluation` when there is one.
pub fn commit_message(change: &PinChange<'_>, evaluation: Option<&Evaluation>) -> String {
    let mut text = format!("{} {} {} to {}\n\n", change.verb, change.app, change.version, change.env);
    let _ = writeln!(text, "Release: {} {} ({})", change.app, change.version, change.image);
    let _ = writeln!(text, "Previous: {}", change.previous.unwrap_or("none"));
    if let Some(evaluation) = evaluation {
        let _ = writeln!(text, "Gates:");
        for gate in &evaluation.gates {
            let state = if gate.state == super::gate::GateState::Open { "open" } else { "closed" };
            let _ = writeln!(text, "  {}: {state}: {}", gate.gate, gate.why);
        }
        let approvers = if evaluation.approvers.is_empty() { "none".to_owned() } else { evaluation.approvers.join(", ") };
        let _ = writeln!(text, "Approvers: {approvers}");
    }
    if !change.overridden.is_empty() {
        let _ = writeln!(text, "Overridden: {}", change.overridden.join(", "));
    }
    if let Some(reason) = change.reason {
        let _ = writeln!(text, "Reason: {reason}");
    }
    let _ = writeln!(text, "Requested-by: {}", change.requested_by.unwrap_or("sluice (automatic promotion)"));
    text
}
