//! One scheduler per project with `schedules:`: look at the clock, record an event for every
//! schedule that is due (in the same transaction as the schedule's new mark), wake the
//! worker, and sleep until the next fire. When a schedule is due and what a fire becomes is
//! decided in [`crate::trigger::cron`], which also states the policy for missed fires (one
//! catch-up fire, never a storm).
//!
//! The loop sleeps at most [`MAX_SLEEP`] at a time, so a jump of the wall clock (NTP, a
//! resumed virtual machine) delays a fire by at most that much.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::ProjectConfig;
use crate::store::{Inserted, ProjectId, RefHead, Store, StoreError, Timestamp};
use crate::trigger::cron::{Due, due, event_for, mark_name, mark_text, parse_mark, schedule_key};

/// The longest the scheduler sleeps before looking at the clock again.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// The environment variable that starts the schedulers' clock at another time (tests only).
pub const TEST_CLOCK_VAR: &str = "SLUICE_TEST_CLOCK";

/// The wall clock schedules are read against: the real one, or (for tests, through
/// [`TEST_CLOCK_VAR`]) one that starts at a given time and runs at the real pace.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleClock {
    offset: TimeDelta,
}

impl ScheduleClock {
    /// A clock that reads `start` now and runs at the real pace from there.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        ScheduleClock {
            offset: start - wall_now(),
        }
    }

    /// The current time on this clock.
    pub fn now(&self) -> DateTime<Utc> {
        wall_now() + self.offset
    }
}

/// The system's wall clock (chrono is built without its `clock` feature).
fn wall_now() -> DateTime<Utc> {
    DateTime::from(std::time::SystemTime::now())
}

/// A project's scheduler.
pub struct Scheduler {
    /// The project (with at least one schedule).
    pub project: Arc<ProjectConfig>,
    /// Its row in the store.
    pub project_id: ProjectId,
    /// The store of record.
    pub store: Arc<Store>,
    /// Woken when an event was recorded.
    pub wake_worker: Arc<Notify>,
    /// The clock schedules are read against.
    pub clock: ScheduleClock,
}

impl Scheduler {
    /// Fires the project's schedules until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.project.name.as_str().to_owned();
        loop {
            let now = self.clock.now();
            let (project, id, store) = (self.project.clone(), self.project_id, self.store.clone());
            let ticked = tokio::task::spawn_blocking(move || tick(&project, id, &store, now)).await;
            let next = match ticked {
                Ok(Ok(Tick { fired, next })) => {
                    if fired > 0 {
                        self.wake_worker.notify_one();
                    }
                    next
                }
                Ok(Err(failed)) => {
                    tracing::warn!(project = %name, "cannot record schedule fires: {:#}", anyhow::Error::new(failed));
                    None
                }
                Err(panicked) => {
                    tracing::error!(project = %name, "the scheduler panicked: {panicked}");
                    None
                }
            };
            // A few milliseconds past the fire time, so the next look sees it due.
            let wait = next
                .and_then(|next| (next - now).to_std().ok())
                .map_or(MAX_SLEEP, |wait| (wait + Duration::from_millis(5)).min(MAX_SLEEP));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// What one look at the clock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// How many new events were recorded.
    pub fired: usize,
    /// The earliest time a schedule is due next, if any ever is.
    pub next: Option<DateTime<Utc>>,
}

/// Records an event for each of `project`'s schedules due at `now`, each with the
/// schedule's new mark in the same transaction; a schedule never seen before is marked
/// `now` first. Blocks.
///
/// # Errors
/// [`StoreError`] when the store cannot be read or written; fires recorded before are kept.
pub fn tick(project: &ProjectConfig, id: ProjectId, store: &Store, now: DateTime<Utc>) -> Result<Tick, StoreError> {
    let mut tick = Tick { fired: 0, next: None };
    let mut soonest = |at: DateTime<Utc>| tick.next = Some(tick.next.map_or(at, |next| next.min(at)));
    let mut fired = 0;
    for schedule in &project.schedules {
        let key = schedule_key(schedule);
        let mark_ref = mark_name(&key);
        let mark = match store.ref_head(id, &mark_ref)?.as_deref().and_then(parse_mark) {
            Some(mark) => mark,
            None => {
                store.set_ref_head(id, &mark_ref, &mark_text(now))?;
                now
            }
        };
        let at = match due(schedule, mark, now) {
            Due::Fire(at) => at,
            Due::At(next) => {
                soonest(next);
                continue;
            }
            Due::Never => continue,
        };
        let (event, dedup) = event_for(project.name.as_str(), schedule, &key, at);
        let mut new = event.to_new_event(&dedup, Timestamp::now());
        new.ref_head = Some(RefHead {
            git_ref: mark_ref,
            sha: mark_text(at),
        });
        if let Inserted::New(event_id) = store.insert_event(id, &new)? {
            let late = (now - at).num_seconds();
            tracing::info!(project = %project.name, event = event_id.get(), cron = %schedule.written, git_ref = %schedule.git_ref, fire_time = %at, late_seconds = late, "schedule fired");
            fired += 1;
        }
        if let Due::At(next) = due(schedule, at, now) {
            soonest(next);
        }
    }
    tick.fired = fired;
    Ok(tick)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, parse};

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn fires_once_per_time_survives_a_restart_and_catches_up_once() {
        let text = "projects:\n  - name: demo\n    repo: /srv/demo.git\n    schedules:\n      - cron: '*/10 * * * *'\n        variables: {NIGHTLY: 'yes'}\n";
        let loaded = parse("sluice.yaml", text, &Environment::for_tests(std::path::Path::new("/"), &[])).expect("config");
        let project = &loaded.config.projects[0];
        let store = Store::open_in_memory().expect("store");
        let id = store.ensure_project("demo", Timestamp::from_unix_millis(1)).expect("project");

        // First sight arms the schedule: nothing fires for times before it.
        let tick0 = tick(project, id, &store, utc("2026-03-06T09:05:00Z")).expect("tick");
        assert_eq!(tick0, Tick { fired: 0, next: Some(utc("2026-03-06T09:10:00Z")) });
        let fire = tick(project, id, &store, utc("2026-03-06T09:10:00Z")).expect("tick");
        assert_eq!(fire, Tick { fired: 1, next: Some(utc("2026-03-06T09:20:00Z")) });
        // The same instant again (a restart right after the fire): nothing new.
        assert_eq!(tick(project, id, &store, utc("2026-03-06T09:10:00Z")).expect("tick").fired, 0);
        // Down for a day: one catch-up fire for the latest time, then the rhythm resumes.
        let late = tick(project, id, &store, utc("2026-03-07T09:13:00Z")).expect("tick");
        assert_eq!(late, Tick { fired: 1, next: Some(utc("2026-03-07T09:20:00Z")) });
        assert_eq!(tick(project, id, &store, utc("2026-03-07T09:14:00Z")).expect("tick").fired, 0);

        let events = store.list_events(Some("demo"), 10).expect("events");
        let seen: Vec<(&str, &str, &str)> = events
            .iter()
            .rev()
            .map(|e| (e.source.as_str(), e.kind.as_str(), e.git_ref.as_str()))
            .collect();
        assert_eq!(seen, [("schedule", "schedule", "refs/heads/main"); 2]);
        let fired_at: Vec<String> = events.iter().rev().map(|e| e.dedup_key.rsplit(':').next().unwrap_or("").to_owned()).collect();
        assert_eq!(
            fired_at,
            [utc("2026-03-06T09:10:00Z"), utc("2026-03-07T09:10:00Z")].map(|t| t.timestamp_millis().to_string())
        );
        let event = crate::trigger::Event::from_json(&events[0].payload).expect("event");
        assert_eq!(event.variables, [("NIGHTLY".to_owned(), "yes".to_owned())]);
    }
}
