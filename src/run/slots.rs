//! Concurrency slots: what a job holds while it runs. A run of `sluice run` has its own
//! `concurrency` slots; the daemon shares one global set across every pipeline it runs, and
//! a project with `concurrency:` adds its own set, so a job takes one of each.
//!
//! Slots are always taken in the same order (the project's, then the global one), so two
//! jobs can never each hold what the other waits for.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots a job takes before it runs. Cheap to clone; clones share the slots.
#[derive(Debug, Clone)]
pub struct Slots {
    global: Arc<Semaphore>,
    project: Option<Arc<Semaphore>>,
}

/// Held while a job runs; dropping it frees its slots.
#[derive(Debug)]
pub struct SlotPermit {
    _project: Option<OwnedSemaphorePermit>,
    _global: OwnedSemaphorePermit,
}

impl Slots {
    /// `limit` slots (at least one) of one's own.
    pub fn new(limit: usize) -> Self {
        Slots {
            global: Arc::new(Semaphore::new(limit.max(1))),
            project: None,
        }
    }

    /// These slots, plus a set of `limit` (at least one) that only the clones of the result
    /// share: a project's own limit under a global one.
    #[must_use]
    pub fn with_own_limit(&self, limit: usize) -> Self {
        Slots {
            global: self.global.clone(),
            project: Some(Arc::new(Semaphore::new(limit.max(1)))),
        }
    }

    /// Waits for a slot of each set; `None` only if a set was closed (never done).
    pub async fn acquire(&self) -> Option<SlotPermit> {
        let project = match &self.project {
            Some(project) => Some(project.clone().acquire_owned().await.ok()?),
            None => None,
        };
        let global = self.global.clone().acquire_owned().await.ok()?;
        Some(SlotPermit {
            _project: project,
            _global: global,
        })
    }

    /// A slot of each set if all are free now.
    pub fn try_acquire(&self) -> Option<SlotPermit> {
        let project = match &self.project {
            Some(project) => Some(project.clone().try_acquire_owned().ok()?),
            None => None,
        };
        let global = self.global.clone().try_acquire_owned().ok()?;
        Some(SlotPermit {
            _project: project,
            _global: global,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_needs_a_slot_of_its_project_and_a_global_one() {
        let global = Slots::new(3);
        let (a, b) = (global.with_own_limit(2), global.with_own_limit(2));
        let a1 = a.try_acquire().expect("a 1");
        let _a2 = a.try_acquire().expect("a 2");
        assert!(a.try_acquire().is_none(), "project a is at its limit");
        let _b1 = b.try_acquire().expect("b 1 takes the last global slot");
        assert!(b.try_acquire().is_none(), "the global limit holds across projects");
        drop(a1);
        assert!(b.try_acquire().is_some(), "a freed global slot goes to whoever asks");
    }
}
