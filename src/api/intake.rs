//! Group commit of webhook events: deliveries that arrive while a transaction is being
//! written wait together for the next one, so a burst costs one commit per batch instead of
//! one per delivery.
//!
//! A handler hands its event to the intake's writer thread and awaits the answer; the writer
//! takes every event queued (up to [`MAX_BATCH`]), records them with
//! [`Store::insert_events`] in one transaction, and answers each handler only after that
//! transaction committed. So "recorded durably before `202`" holds for every delivery of the
//! batch; a failed commit answers every one of them with the error, and none was recorded.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::store::{Inserted, NewEvent, ProjectId, Store};

/// Most events in one transaction: a bound on how long the first of them waits.
pub const MAX_BATCH: usize = 256;

/// The sending side of the writer thread. The thread ends when the intake is dropped.
pub(crate) struct Intake {
    queue: mpsc::Sender<Request>,
}

struct Request {
    project: ProjectId,
    event: NewEvent,
    answer: oneshot::Sender<Result<Inserted, String>>,
}

impl Intake {
    /// Starts the writer thread on `store`.
    pub(crate) fn start(store: Arc<Store>) -> Intake {
        let (queue, requests) = mpsc::channel();
        std::thread::spawn(move || write_batches(&store, &requests));
        Intake { queue }
    }

    /// Records `event` for `project` in the next batch and returns what the store did, once
    /// the batch committed. The error is a message for the log (the sender is told to
    /// deliver again).
    pub(crate) async fn record(&self, project: ProjectId, event: NewEvent) -> Result<Inserted, String> {
        let (answer, answered) = oneshot::channel();
        let stopped = || "the event writer has stopped".to_owned();
        self.queue.send(Request { project, event, answer }).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The writer thread: one transaction per batch of the requests queued, until every sender
/// is gone.
fn write_batches(store: &Store, requests: &mpsc::Receiver<Request>) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let events: Vec<(ProjectId, &NewEvent)> = batch.iter().map(|r| (r.project, &r.event)).collect();
        let outcomes = store.insert_events(&events);
        drop(events);
        match outcomes {
            Ok(outcomes) => {
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    // A handler that went away (the client hung up) needs no answer.
                    let _gone = request.answer.send(outcome.map_err(|e| crate::diagnostic::error_chain(&e)));
                }
            }
            Err(failed) => {
                let message = crate::diagnostic::error_chain(&failed);
                for request in batch {
                    let _gone = request.answer.send(Err(message.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Timestamp;

    fn push(key: &str) -> NewEvent {
        NewEvent {
            dedup_key: key.to_owned(),
            source: "github".to_owned(),
            kind: "push".to_owned(),
            git_ref: "refs/heads/main".to_owned(),
            sha: Some(format!("{key:0>40}")),
            before_sha: None,
            fetch_ref: None,
            payload: serde_json::json!({}),
            received_at: Timestamp::from_unix_millis(1),
            ref_head: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_deliveries_are_recorded_once_each_and_refusals_stay_their_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::open(dir.path().join("sluice.db")).expect("store"));
        let project = store.ensure_project("demo", Timestamp::from_unix_millis(1)).expect("project");
        let intake = Arc::new(Intake::start(store.clone()));
        let deliveries: Vec<_> = (0..64)
            .map(|i| {
                let intake = intake.clone();
                // Every fourth delivery is a redelivery of the one before it.
                let key = format!("d{}", i - i % 2 * usize::from(i % 4 == 3));
                tokio::spawn(async move { intake.record(project, push(&key)).await })
            })
            .collect();
        let unknown = intake.record(ProjectId::new(999), push("x")).await;
        assert!(unknown.is_err_and(|e| e.contains("project 999 not found")), "an unknown project refuses that event only");
        let mut new = 0;
        for delivery in deliveries {
            if let Inserted::New(_) = delivery.await.expect("task").expect("recorded") {
                new += 1;
            }
        }
        let recorded = store.list_events(Some("demo"), 1000).expect("events");
        assert_eq!(recorded.len(), new);
        assert_eq!(new, 48, "16 of the 64 deliveries are redeliveries");
    }
}
