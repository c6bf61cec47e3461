//! `from` and `soak`: the release runs, healthy, in the previous environment (for long
//! enough). Healthy means deployed healthy and not found unhealthy since by the daemon's
//! periodic health check; after an unhealthy period, `soak` counts again from the recovery
//! (the deployment's `healthy_since` moves there), as Argo Rollouts restarts an analysis.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{GateInput, GateReport, show_time};
use crate::config::format_duration;
use crate::store::{DeploymentRow, DeploymentStatus};

fn previous_name(input: &GateInput<'_>) -> String {
    input.env.promote_from.as_ref().map_or_else(|| "the previous environment".into(), ToString::to_string)
}

/// Why the previous environment does not run the release healthily, or `None` when it does.
/// A failed attempt after a healthy deployment does not replace it: the release deployed
/// before still runs, so it stays what the gates read.
fn not_healthy(input: &GateInput<'_>) -> Option<String> {
    let from = previous_name(input);
    let version = input.version.to_string();
    let attempt = input.attempt.filter(|row| row.version == version);
    match (input.previous, attempt) {
        (Some(row @ DeploymentRow { status: DeploymentStatus::Healthy, version: running, .. }), _) if *running == version => {
            let since = row.unhealthy_since?;
            let since = show_time(DateTime::<Utc>::from_timestamp_millis(since.as_unix_millis()).unwrap_or_default());
            let why = row.health_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            Some(format!("{} is unhealthy in {from} since {since}{why}", input.version))
        }
        (current, Some(row)) => {
            let detail = row.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            let still = current.map(|c| format!("; {from} still runs {}", c.version)).unwrap_or_default();
            Some(format!("{} is {} in {from}{detail}{still}", input.version, row.status))
        }
        (Some(row), None) => Some(format!("{from} runs {} ({}), not {}", row.version, row.status, input.version)),
        (None, None) => Some(format!("{} was never deployed to {from}", input.version)),
    }
}

/// The `from` gate.
pub(super) fn from(input: &GateInput<'_>) -> GateReport {
    match not_healthy(input) {
        None => GateReport::open("from", format!("{} is healthy in {}", input.version, previous_name(input))),
        Some(why) => GateReport::closed("from", why),
    }
}

/// The `soak` gate: healthy for at least `soak`.
pub(super) fn soak(input: &GateInput<'_>, soak: Duration) -> GateReport {
    if let Some(why) = not_healthy(input) {
        return GateReport::closed("soak", format!("soak of {} not started: {why}", format_duration(soak)));
    }
    let from = previous_name(input);
    let Some(since) = input.previous.and_then(|row| row.healthy_since) else {
        return GateReport::closed("soak", format!("{from} reports no time it became healthy"));
    };
    let since = DateTime::<Utc>::from_timestamp_millis(since.as_unix_millis()).unwrap_or_default();
    let ends = since + chrono::Duration::from_std(soak).unwrap_or(chrono::TimeDelta::MAX);
    let healthy_for = (input.now - since).to_std().unwrap_or_default();
    let healthy_for = format_duration(Duration::from_secs(healthy_for.as_secs()));
    if input.now >= ends {
        GateReport::open("soak", format!("healthy in {from} for {healthy_for} (soak {})", format_duration(soak)))
    } else {
        let why = format!("healthy in {from} for {healthy_for} of {}; opens at {}", format_duration(soak), show_time(ends));
        GateReport::closed("soak", why).at(Some(ends))
    }
}
