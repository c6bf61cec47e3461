//! `GET /api/v1/jobs/{id}/log` with `Accept: text/event-stream`: a job's log, live.
//!
//! The log file (masked when written) is polled for growth every [`POLL`]; each complete
//! line is one `data:` event. When the job is in a final status, what remains of the file is
//! sent and the stream ends with `event: end` carrying `{"status": …}`. The job's status is
//! read *before* the file, so no line written before the job finished is missed. The stream
//! also ends (without `end`) when the daemon shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::AppState;
use crate::store::{JobId, JobRow};

/// How often the log file is checked for growth.
pub const POLL: Duration = Duration::from_millis(100);

struct Tail {
    state: AppState,
    job: JobId,
    path: Option<PathBuf>,
    offset: u64,
    partial: Vec<u8>,
    queue: VecDeque<Event>,
    done: bool,
}

/// The SSE response streaming `job`'s log.
pub(super) fn stream(state: AppState, job: JobRow) -> Response {
    let tail = Tail {
        state,
        job: job.id,
        path: job.log_path,
        offset: 0,
        partial: Vec::new(),
        queue: VecDeque::new(),
        done: false,
    };
    let events = futures_util::stream::unfold(tail, |mut tail| async move {
        let event = tail.next().await?;
        Some((Ok::<Event, Infallible>(event), tail))
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

impl Tail {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.done || self.state.inner.streams.is_cancelled() {
                return None;
            }
            let store = self.state.inner.store.clone();
            let id = self.job;
            let status = match tokio::task::spawn_blocking(move || store.get_job(id)).await {
                Ok(Ok(job)) => job.status,
                _ => return None,
            };
            self.read_lines().await;
            if status.is_final() {
                if !self.partial.is_empty() {
                    let line = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
                    self.queue.push_back(Event::default().data(line));
                }
                let end = json!({ "status": status.as_str() }).to_string();
                self.queue.push_back(Event::default().event("end").data(end));
                self.done = true;
                continue;
            }
            if self.queue.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = self.state.inner.streams.cancelled() => return None,
                }
            }
        }
    }

    /// Reads what the file gained since the last read and queues its complete lines.
    async fn read_lines(&mut self) {
        let Some(path) = &self.path else { return };
        let Ok(mut file) = tokio::fs::File::open(path).await else {
            return;
        };
        if file.seek(std::io::SeekFrom::Start(self.offset)).await.is_err() {
            return;
        }
        let mut fresh = Vec::new();
        let Ok(read) = file.read_to_end(&mut fresh).await else {
            return;
        };
        self.offset += read as u64;
        self.partial.extend_from_slice(&fresh);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            let text = text.strip_suffix('\r').unwrap_or(&text);
            self.queue.push_back(Event::default().data(text));
        }
    }
}
