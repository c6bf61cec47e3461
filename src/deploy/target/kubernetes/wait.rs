//! When to stop waiting for workloads to roll out: the decision, on a clock a test can set.
//!
//! [`RolloutWait`] judges the rollout conditions last read from the API server (see
//! [`super::rollout`]); the caller reads them again after [`POLL_INTERVAL`] while the verdict
//! is [`Verdict::Again`]. Nothing here sleeps or talks to a cluster.

use std::time::{Duration, Instant};

use super::Rollout;

/// The pause between two reads of the workloads.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where the time comes from.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The monotonic clock of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// What to do after reading the workloads once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every workload has rolled out.
    Done,
    /// Some are still rolling out and time remains: read them again.
    Again,
    /// A workload's controller gave up: the object's description and its message.
    Failed(String, String),
    /// The time is up: the first workload still rolling out and what it awaits.
    TimedOut(String, String),
}

/// A wait for workloads to roll out, started at construction, lasting `timeout`.
#[derive(Debug)]
pub struct RolloutWait<C: Clock> {
    clock: C,
    deadline: Instant,
}

impl<C: Clock> RolloutWait<C> {
    /// Starts the wait now, by `clock`.
    pub fn start(clock: C, timeout: Duration) -> Self {
        let deadline = clock.now() + timeout;
        RolloutWait { clock, deadline }
    }

    /// Judges the workloads' states (each with its description, `Deployment `ns/name``):
    /// a failure wins, then all complete is done, then a passed deadline times out.
    pub fn judge(&self, states: &[(String, Rollout)]) -> Verdict {
        if let Some((object, Rollout::Failed(message))) =
            states.iter().find(|(_, state)| matches!(state, Rollout::Failed(_)))
        {
            return Verdict::Failed(object.clone(), message.clone());
        }
        let waiting = states.iter().find_map(|(object, state)| match state {
            Rollout::Progressing(awaited) => Some((object, awaited)),
            _ => None,
        });
        match waiting {
            None => Verdict::Done,
            Some(_) if self.clock.now() < self.deadline => Verdict::Again,
            Some((object, awaited)) => Verdict::TimedOut(object.clone(), awaited.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A clock that moves only when told.
    struct ManualClock(Cell<Instant>);

    impl Clock for &ManualClock {
        fn now(&self) -> Instant {
            self.0.get()
        }
    }

    impl ManualClock {
        fn advance(&self, by: Duration) {
            self.0.set(self.0.get() + by);
        }
    }

    fn progressing(what: &str) -> Rollout {
        Rollout::Progressing(what.into())
    }

    #[test]
    fn waits_until_complete_and_times_out_at_the_deadline_naming_what_is_awaited() {
        let clock = ManualClock(Cell::new(Instant::now()));
        let wait = RolloutWait::start(&clock, Duration::from_secs(60));
        let states = vec![
            ("Deployment `dev/web`".to_string(), Rollout::Complete),
            ("StatefulSet `dev/db`".to_string(), progressing("1 ready of 3")),
        ];
        assert_eq!(wait.judge(&states), Verdict::Again);
        clock.advance(Duration::from_secs(59));
        assert_eq!(wait.judge(&states), Verdict::Again, "one second remains");
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            wait.judge(&states),
            Verdict::TimedOut("StatefulSet `dev/db`".into(), "1 ready of 3".into())
        );
        let all_done = vec![("StatefulSet `dev/db`".to_string(), Rollout::Complete)];
        assert_eq!(wait.judge(&all_done), Verdict::Done, "complete beats a passed deadline");
    }

    #[test]
    fn a_failed_rollout_ends_the_wait_at_once() {
        let clock = ManualClock(Cell::new(Instant::now()));
        let wait = RolloutWait::start(&clock, Duration::from_secs(60));
        let states = vec![
            ("Deployment `dev/a`".to_string(), progressing("0 updated")),
            ("Deployment `dev/b`".to_string(), Rollout::Failed("timed out progressing".into())),
        ];
        assert_eq!(
            wait.judge(&states),
            Verdict::Failed("Deployment `dev/b`".into(), "timed out progressing".into())
        );
        assert_eq!(wait.judge(&[]), Verdict::Done, "nothing to wait for");
    }
}
