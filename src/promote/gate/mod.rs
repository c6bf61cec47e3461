//! The gates between environments, evaluated as pure functions of their inputs: the
//! environment's configuration, the release, the state of the previous environment, the
//! approvals recorded, and the time. Nothing here reads a clock, the store or git; the
//! daemon gathers a [`GateInput`] and acts on the [`Evaluation`].
//!
//! Every evaluation reports every gate, open or closed, with a sentence saying why, because
//! that report is what a user reads first (`sluice gates`).

mod approval;
mod from;
mod pipelines;
mod window;

use chrono::{DateTime, Utc};
use semver::Version;
use serde::Serialize;

use crate::config::repo::{Access, Environment, Pin};
use crate::store::{ApprovalRow, DeploymentRow};

/// Everything a gate evaluation looks at.
#[derive(Debug, Clone, Copy)]
pub struct GateInput<'a> {
    /// The environment promoted into.
    pub env: &'a Environment,
    /// The release's version.
    pub version: &'a Version,
    /// The time of the evaluation.
    pub now: DateTime<Utc>,
    /// The current deployment of the app in `env.promote_from`: the latest healthy one, what
    /// runs there (`None`: nothing healthy was ever deployed there).
    pub previous: Option<&'a DeploymentRow>,
    /// The latest attempt to deploy the app in `env.promote_from`, when it is not `previous`
    /// (one in progress, failed or rolled back): it says why the release is not healthy there.
    pub attempt: Option<&'a DeploymentRow>,
    /// Names of jobs and pipeline sources that passed for the release's commit.
    pub passed: &'a [String],
    /// Approvals and rejections of the release for `env`, oldest first.
    pub approvals: &'a [ApprovalRow],
    /// The access rules (groups of approvers).
    pub access: &'a Access,
    /// The identities that authored the release's commit (for `exclude_author`).
    pub authors: &'a [String],
    /// The app's current pin in `env` (its `blocked` list).
    pub pin: Option<&'a Pin>,
}

/// Whether a gate lets the release through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateState {
    /// It does.
    Open,
    /// It does not (yet).
    Closed,
}

/// One gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateReport {
    /// The gate: `blocked`, `rejection`, `from`, `soak`, `pipelines`, `window`, `freeze`,
    /// `approval`.
    pub gate: &'static str,
    /// Open or closed.
    pub state: GateState,
    /// Why, one sentence.
    pub why: String,
    /// Whether an identity with the `override` permission may promote through it when closed.
    pub overridable: bool,
    /// When a closed gate opens by itself, if it can tell (soak, window, freeze).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "serialize_time")]
    pub opens_at: Option<DateTime<Utc>>,
}

impl GateReport {
    fn open(gate: &'static str, why: impl Into<String>) -> Self {
        Self { gate, state: GateState::Open, why: why.into(), overridable: false, opens_at: None }
    }

    fn closed(gate: &'static str, why: impl Into<String>) -> Self {
        Self { gate, state: GateState::Closed, why: why.into(), overridable: false, opens_at: None }
    }

    fn at(mut self, opens_at: Option<DateTime<Utc>>) -> Self {
        self.opens_at = opens_at;
        self
    }

    fn overridable(mut self) -> Self {
        self.overridable = true;
        self
    }
}

/// The verdict of every gate of an environment for one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// Each gate, in a fixed order.
    pub gates: Vec<GateReport>,
    /// The approvers counted toward the quorum.
    pub approvers: Vec<String>,
}

impl Evaluation {
    /// Whether every gate is open.
    pub fn all_open(&self) -> bool {
        self.gates.iter().all(|g| g.state == GateState::Open)
    }

    /// Whether every closed gate may be overridden (and at least one is closed).
    pub fn only_overridable_closed(&self) -> bool {
        let closed: Vec<&GateReport> = self.gates.iter().filter(|g| g.state == GateState::Closed).collect();
        !closed.is_empty() && closed.iter().all(|g| g.overridable)
    }

    /// The closed gates.
    pub fn closed(&self) -> impl Iterator<Item = &GateReport> {
        self.gates.iter().filter(|g| g.state == GateState::Closed)
    }

    /// The earliest time a closed gate opens by itself, when every closed gate can tell.
    pub fn next_change(&self) -> Option<DateTime<Utc>> {
        let closed: Vec<&GateReport> = self.closed().collect();
        if closed.iter().any(|g| g.opens_at.is_none()) {
            return None;
        }
        closed.iter().filter_map(|g| g.opens_at).max()
    }
}

/// Evaluates every gate of `input.env` for the release.
pub fn evaluate(input: &GateInput<'_>) -> Evaluation {
    let mut gates = Vec::with_capacity(8);
    gates.push(blocked(input));
    gates.push(approval::rejection(input));
    let gate_config = &input.env.gates;
    if gate_config.from {
        gates.push(from::from(input));
    }
    if let Some(soak) = gate_config.soak {
        gates.push(from::soak(input, soak));
    }
    if !gate_config.pipelines.is_empty() {
        gates.push(pipelines::pipelines(input));
    }
    if let Some(window) = &gate_config.window {
        gates.push(window::window(window, input.now));
    }
    gates.push(window::freeze(&input.env.freezes, input.now));
    let mut approvers = Vec::new();
    if let Some(policy) = &gate_config.approval {
        let (report, counted) = approval::approval(input, policy);
        gates.push(report);
        approvers = counted;
    }
    Evaluation { gates, approvers }
}

fn blocked(input: &GateInput<'_>) -> GateReport {
    match input.pin.and_then(|pin| pin.blocked(input.version)) {
        Some(block) => {
            let reason = block.reason.as_deref().unwrap_or("rolled back");
            GateReport::closed("blocked", format!("{} is blocked in {}: {reason}", input.version, input.env.name))
        }
        None => GateReport::open("blocked", "not blocked"),
    }
}

fn serialize_time<S: serde::Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&show_time(*time)),
        None => serializer.serialize_none(),
    }
}

/// `time` as people read it in reports: RFC 3339 in UTC, to the second.
pub(crate) fn show_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests;
