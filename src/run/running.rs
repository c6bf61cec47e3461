//! The pipelines running in this process, by id, with the token that cancels each one: how
//! `POST /api/v1/pipelines/{id}/cancel` reaches a run it did not start; and the token that
//! cancels only its interruptible jobs (auto-cancel, [`super::RunOptions::interrupt`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::store::PipelineId;

/// A registry of running pipelines' cancellation tokens. Share it in an `Arc`.
#[derive(Debug, Default)]
pub struct RunningPipelines {
    tokens: Mutex<HashMap<PipelineId, Tokens>>,
}

#[derive(Debug)]
struct Tokens {
    cancel: CancellationToken,
    interrupt: Option<CancellationToken>,
}

impl RunningPipelines {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `pipeline` runs, is canceled through `cancel`, and has its interruptible
    /// jobs canceled through `interrupt`.
    pub fn insert(&self, pipeline: PipelineId, cancel: CancellationToken, interrupt: Option<CancellationToken>) {
        self.lock().insert(pipeline, Tokens { cancel, interrupt });
    }

    /// Forgets `pipeline` (its run ended).
    pub fn remove(&self, pipeline: PipelineId) {
        self.lock().remove(&pipeline);
    }

    /// Cancels `pipeline` if it runs here; `false` when it does not.
    pub fn cancel(&self, pipeline: PipelineId) -> bool {
        match self.lock().get(&pipeline) {
            Some(tokens) => {
                tokens.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels the interruptible jobs of `pipeline` if it runs here and can be interrupted;
    /// `false` otherwise.
    pub fn interrupt(&self, pipeline: PipelineId) -> bool {
        match self.lock().get(&pipeline).and_then(|tokens| tokens.interrupt.as_ref()) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether `pipeline` runs here.
    pub fn contains(&self, pipeline: PipelineId) -> bool {
        self.lock().contains_key(&pipeline)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PipelineId, Tokens>> {
        // Only inserts and removes happen under the lock: a panic cannot leave it half-done.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reaches_only_registered_pipelines() {
        let running = RunningPipelines::new();
        let (token, interrupt) = (CancellationToken::new(), CancellationToken::new());
        running.insert(PipelineId::new(1), token.clone(), Some(interrupt.clone()));
        running.insert(PipelineId::new(3), CancellationToken::new(), None);
        assert!(!running.cancel(PipelineId::new(2)));
        assert!(!running.interrupt(PipelineId::new(3)), "no interrupt token");
        assert!(running.interrupt(PipelineId::new(1)));
        assert!(interrupt.is_cancelled() && !token.is_cancelled());
        assert!(running.cancel(PipelineId::new(1)));
        assert!(token.is_cancelled());
        running.remove(PipelineId::new(1));
        assert!(!running.contains(PipelineId::new(1)));
    }
}
