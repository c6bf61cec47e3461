//! `pipelines`: named jobs (or pipeline sources, such as `schedule`) passed for the
//! release's commit.

use super::{GateInput, GateReport};

/// The `pipelines` gate.
pub(super) fn pipelines(input: &GateInput<'_>) -> GateReport {
    let wanted = &input.env.gates.pipelines;
    let missing: Vec<String> =
        wanted.iter().filter(|name| !input.passed.contains(name)).map(|name| format!("`{name}`")).collect();
    if missing.is_empty() {
        let all: Vec<String> = wanted.iter().map(|name| format!("`{name}`")).collect();
        GateReport::open("pipelines", format!("passed for the release's commit: {}", all.join(", ")))
    } else {
        GateReport::closed("pipelines", format!("not passed for the release's commit: {}", missing.join(", ")))
    }
}
