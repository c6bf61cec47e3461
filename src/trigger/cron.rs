//! Cron schedules, the pure part: when a project's schedule is due, and the [`Event`] a fire
//! becomes. The loop that sleeps, records and wakes the worker lives in
//! [`crate::daemon::cron`]; the clock is always an argument here.
//!
//! A schedule's progress is its *mark*: the time of its last fire (or, before it ever fired,
//! the time the daemon first saw it). The mark is recorded together with the fire's event, in
//! one transaction, so a restart neither fires the same time twice nor forgets a fire.
//!
//! Missed fires (the daemon was down): as GitLab does with a schedule whose `next_run_at`
//! has passed, a schedule that should have fired one or more times since its mark fires
//! **once**, for the latest missed time, and then resumes its normal rhythm. There is never
//! a storm of catch-up pipelines. A schedule seen for the first time (a new or edited entry)
//! starts from "now" and does not fire for times before it existed.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::event::{DedupKey, Event, EventKind, Forge};
use crate::ci::context::{GitRef, PipelineSource};
use crate::config::Schedule;

/// What a schedule should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Fire now, for this time (the latest due time; earlier missed ones are folded in).
    Fire(DateTime<Utc>),
    /// Nothing is due before this time.
    At(DateTime<Utc>),
    /// The schedule never fires again.
    Never,
}

/// What `schedule`, last fired (or first seen) at `mark`, should do at `now`.
pub fn due(schedule: &Schedule, mark: DateTime<Utc>, now: DateTime<Utc>) -> Due {
    match schedule.next_after(mark) {
        None => Due::Never,
        Some(next) if next > now => Due::At(next),
        // Due, maybe many times over: fire once, for the latest time that has come.
        Some(next) => Due::Fire(schedule.last_at_or_before(now).filter(|last| *last >= next).unwrap_or(next)),
    }
}

/// A stable identity of a schedule entry: a hash of what decides when and what it runs
/// (the expanded expression, the time zone, the ref and the variables), so reordering the
/// entries keeps each one's mark while editing one starts it afresh.
pub fn schedule_key(schedule: &Schedule) -> String {
    let mut hasher = Sha256::new();
    for part in [schedule.cron.as_str(), schedule.timezone.name(), schedule.git_ref.as_str()] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for (name, value) in &schedule.variables {
        hasher.update(name.as_bytes());
        hasher.update([1]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The name under which a schedule's mark is kept among the project's watched positions
/// (the store's last seen ref tips): `schedule:<key>`. It cannot clash with a ref, whose
/// full name starts with `refs/`.
pub fn mark_name(key: &str) -> String {
    format!("schedule:{key}")
}

/// A mark as stored: unix milliseconds in decimal.
pub fn mark_text(at: DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}

/// A stored mark read back; `None` when it is not one [`mark_text`] wrote.
pub fn parse_mark(text: &str) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(text.parse().ok()?)
}

/// The event of `schedule` (whose key is `key`) of project `project` firing for time `at`:
/// `CI_PIPELINE_SOURCE=schedule` on the schedule's ref with its variables, the commit being
/// the ref's tip when the worker takes it. The dedup key names the schedule and the time,
/// so recording the same fire twice is harmless.
pub fn event_for(project: &str, schedule: &Schedule, key: &str, at: DateTime<Utc>) -> (Event, DedupKey) {
    let mut event = Event::new(
        Forge::Schedule,
        project,
        EventKind::Schedule,
        GitRef::Branch(schedule.git_ref.clone()),
        PipelineSource::Schedule,
    );
    event.variables = schedule
        .variables
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    (event, DedupKey::schedule(key, at.timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, parse};

    fn schedules(entries: &str) -> Vec<Schedule> {
        let text = format!("projects:\n  - name: demo\n    repo: /srv/demo.git\n    schedules:\n{entries}");
        let dir = std::path::Path::new("/");
        let loaded = parse("sluice.yaml", &text, &Environment::for_tests(dir, &[])).expect("config");
        loaded.config.projects[0].schedules.clone()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn due_waits_fires_and_folds_missed_times_into_one() {
        let hourly = &schedules("      - cron: '15 * * * *'\n")[0];
        let mark = utc("2026-03-06T09:15:00Z");
        assert_eq!(due(hourly, mark, utc("2026-03-06T09:40:00Z")), Due::At(utc("2026-03-06T10:15:00Z")));
        assert_eq!(due(hourly, mark, utc("2026-03-06T10:15:00Z")), Due::Fire(utc("2026-03-06T10:15:00Z")));
        // Down for three days: one fire, for the latest time, then the normal rhythm.
        let now = utc("2026-03-09T12:20:00Z");
        assert_eq!(due(hourly, mark, now), Due::Fire(utc("2026-03-09T12:15:00Z")));
        assert_eq!(due(hourly, utc("2026-03-09T12:15:00Z"), now), Due::At(utc("2026-03-09T13:15:00Z")));
    }

    #[test]
    fn time_zones_decide_the_instant() {
        let berlin = &schedules("      - cron: '0 3 * * *'\n        timezone: Europe/Berlin\n")[0];
        // Winter (UTC+1) and summer (UTC+2).
        assert_eq!(due(berlin, utc("2026-01-10T00:00:00Z"), utc("2026-01-10T00:00:00Z")), Due::At(utc("2026-01-10T02:00:00Z")));
        assert_eq!(due(berlin, utc("2026-07-10T00:00:00Z"), utc("2026-07-10T00:00:00Z")), Due::At(utc("2026-07-10T01:00:00Z")));
    }

    #[test]
    fn a_date_that_never_comes_is_never_due() {
        let never = &schedules("      - cron: '0 0 30 2 *'\n")[0];
        assert_eq!(due(never, utc("2026-01-01T00:00:00Z"), utc("2026-01-01T00:00:00Z")), Due::Never);
    }

    #[test]
    fn keys_follow_content_not_position() {
        let a = schedules("      - cron: '0 3 * * *'\n      - cron: '0 4 * * *'\n        variables: {NIGHTLY: 'true'}\n");
        let b = schedules("      - cron: '0 4 * * *'\n        variables: {NIGHTLY: 'true'}\n      - cron: '0 3 * * *'\n");
        assert_eq!(schedule_key(&a[0]), schedule_key(&b[1]));
        assert_eq!(schedule_key(&a[1]), schedule_key(&b[0]));
        assert_ne!(schedule_key(&a[0]), schedule_key(&a[1]));
        let edited = schedules("      - cron: '0 4 * * *'\n        variables: {NIGHTLY: 'false'}\n");
        assert_ne!(schedule_key(&a[1]), schedule_key(&edited[0]));
    }

    #[test]
    fn marks_round_trip_and_fires_become_schedule_events() {
        let at = utc("2026-03-06T09:15:00Z");
        assert_eq!(parse_mark(&mark_text(at)), Some(at));
        assert_eq!(parse_mark("refs/heads/main"), None);
        let schedule = &schedules("      - cron: '15 * * * *'\n        ref: release\n        variables: {LEVEL: 2}\n")[0];
        let key = schedule_key(schedule);
        let (event, dedup) = event_for("demo", schedule, &key, at);
        assert_eq!(event.pipeline_source, PipelineSource::Schedule);
        assert_eq!(event.full_ref(), "refs/heads/release");
        assert_eq!(event.variables, [("LEVEL".to_owned(), "2".to_owned())]);
        assert_eq!(dedup.as_str(), format!("schedule:{key}:{}", at.timestamp_millis()));
    }
}
