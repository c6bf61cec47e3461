//! A handful of futures polled together by the scheduling loop.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use super::dag::Completion;

pub(crate) type Task<'s> = Pin<Box<dyn Future<Output = Completion<'s>> + Send + 's>>;

/// A handful of futures polled together, yielding each result as it comes (a minimal
/// `FuturesUnordered`: every wake-up polls them all, which is fine for the few jobs that run
/// at once, and keeps them borrowing the run's state instead of needing `'static` tasks).
pub(crate) struct TaskSet<'s> {
    tasks: Vec<Task<'s>>,
}

impl<'s> TaskSet<'s> {
    pub(crate) fn new() -> Self {
        Self { tasks: Vec::new() }
    }

    pub(crate) fn push(&mut self, task: Task<'s>) {
        self.tasks.push(task);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The next result; `None` when the set is empty.
    pub(crate) async fn next(&mut self) -> Option<Completion<'s>> {
        if self.tasks.is_empty() {
            return None;
        }
        std::future::poll_fn(|cx| {
            for i in 0..self.tasks.len() {
                if let Poll::Ready(done) = self.tasks[i].as_mut().poll(cx) {
                    drop(self.tasks.swap_remove(i));
                    return Poll::Ready(Some(done));
                }
            }
            Poll::Pending
        })
        .await
    }
}
