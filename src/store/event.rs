//! The event queue's types: what an event row holds, and its states.
//!
//! The store knows events only as rows: the payload is JSON written and read by
//! [`crate::trigger`], which owns the [`Event`](crate::trigger::Event) type.

use std::fmt;
use std::str::FromStr;

use crate::store::{ParseWordError, PipelineId, ProjectId, Timestamp};

/// An event's id in the store; ids are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(i64);

impl EventId {
    /// Wraps a raw id; the store checks it exists.
    pub const fn new(raw: i64) -> Self {
        Self(raw)
    }

    /// The raw id.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventState {
    /// Recorded, not yet handled by the worker.
    Pending,
    /// Handled: a pipeline was created (or none was, by `workflow:rules`).
    Done,
    /// Handling failed (fetch, checkout, an invalid configuration); `error` says why.
    Failed,
    /// Nothing to do for it (a deleted ref, say).
    Ignored,
}

impl EventState {
    /// The word stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Done => "done",
            EventState::Failed => "failed",
            EventState::Ignored => "ignored",
        }
    }
}

impl fmt::Display for EventState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventState {
    type Err = ParseWordError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(EventState::Pending),
            "done" => Ok(EventState::Done),
            "failed" => Ok(EventState::Failed),
            "ignored" => Ok(EventState::Ignored),
            _ => Err(ParseWordError {
                kind: "event state",
                word: s.to_owned(),
            }),
        }
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// What recognises a redelivery of the same signal (unique per project).
    pub dedup_key: String,
    /// Who sent it: `gitlab`, `github`, `gerrit`, `poll`, `schedule`, `api`.
    pub source: String,
    /// What happened: `push`, `tag_push`, `merge_request`, `recheck`, …
    pub kind: String,
    /// The full ref name (`refs/heads/main`, `refs/tags/v1.0.0`).
    pub git_ref: String,
    /// The commit, when known.
    pub sha: Option<String>,
    /// The ref's previous tip, when known.
    pub before_sha: Option<String>,
    /// A ref to fetch before `sha` exists locally (`refs/pull/7/head`).
    pub fetch_ref: Option<String>,
    /// The whole event as JSON. Never a secret.
    pub payload: serde_json::Value,
    /// When it was received.
    pub received_at: Timestamp,
    /// Also move this watched ref's last seen tip (polling), in the same transaction.
    pub ref_head: Option<RefHead>,
}

/// The last seen tip of a watched ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefHead {
    /// The full ref name.
    pub git_ref: String,
    /// Its tip.
    pub sha: String,
}

/// What [`crate::store::Store::insert_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new event was recorded.
    New(EventId),
    /// An event with the same project and dedup key already existed; nothing new was
    /// recorded (a `ref_head` was still moved).
    Duplicate(EventId),
}

impl Inserted {
    /// The id of the event, new or original.
    pub fn id(self) -> EventId {
        match self {
            Inserted::New(id) | Inserted::Duplicate(id) => id,
        }
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Its id.
    pub id: EventId,
    /// Its project's id.
    pub project_id: ProjectId,
    /// Its project's name.
    pub project: String,
    /// Its dedup key.
    pub dedup_key: String,
    /// Who sent it.
    pub source: String,
    /// What happened.
    pub kind: String,
    /// The full ref name.
    pub git_ref: String,
    /// The commit, when known.
    pub sha: Option<String>,
    /// The ref's previous tip.
    pub before_sha: Option<String>,
    /// A ref to fetch first.
    pub fetch_ref: Option<String>,
    /// The event as JSON.
    pub payload: serde_json::Value,
    /// When it was received.
    pub received_at: Timestamp,
    /// Where it is in its life.
    pub state: EventState,
    /// The pipeline it started.
    pub pipeline_id: Option<PipelineId>,
    /// Why handling it failed.
    pub error: Option<String>,
}

/// Which re-run of one job of a recorded pipeline is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RerunKind {
    /// A finished job runs again as a new attempt (a new job row, `retry_of` the old one).
    Retry,
    /// A `manual` job is started (the same row).
    Play,
}

impl RerunKind {
    /// The event kind stored (`retry`, `play`).
    pub fn as_str(self) -> &'static str {
        match self {
            RerunKind::Retry => "retry",
            RerunKind::Play => "play",
        }
    }

    /// The kind of a stored event kind word, if it is a re-run.
    pub fn from_event_kind(kind: &str) -> Option<RerunKind> {
        match kind {
            "retry" => Some(RerunKind::Retry),
            "play" => Some(RerunKind::Play),
            _ => None,
        }
    }
}

/// What [`crate::store::Store::enqueue_rerun`] recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RerunQueued {
    /// The job that will run: the new attempt for a retry, the manual job for a play.
    pub job: crate::store::JobId,
    /// The queue event the worker takes.
    pub event: EventId,
}
