//! `window` and dated freezes: calendar rules. Both may be overridden by an identity with
//! the `override` permission (recorded in the audit log and the commit message).

use chrono::{DateTime, Utc};

use super::{GateReport, show_time};
use crate::config::repo::{Freeze, Window};

/// The `window` gate.
pub(super) fn window(window: &Window, now: DateTime<Utc>) -> GateReport {
    match window.check(now) {
        Ok(()) => GateReport::open("window", format!("inside the allowed window ({})", window.timezone)),
        Err(why) => {
            let next = window.next_open(now);
            let when = next.map_or_else(|| "not within 8 days".to_owned(), show_time);
            GateReport::closed("window", format!("{why} ({}); opens at {when}", window.timezone)).at(next).overridable()
        }
    }
}

/// The freeze gate: no dated freeze covers `now`.
pub(super) fn freeze(freezes: &[Freeze], now: DateTime<Utc>) -> GateReport {
    let covering: Vec<&Freeze> = freezes.iter().filter(|f| f.covers(now)).collect();
    let Some(last) = covering.iter().max_by_key(|f| f.until) else {
        return GateReport::open("freeze", "no freeze in force");
    };
    let reason = last.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    let by = last.by.as_deref().map(|b| format!(" (by {b})")).unwrap_or_default();
    let why = format!("frozen until {}{reason}{by}", show_time(last.until));
    GateReport::closed("freeze", why).at(Some(last.until)).overridable()
}
