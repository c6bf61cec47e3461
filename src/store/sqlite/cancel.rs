//! The SQL of a cancel request: a `cancel` event linked to the pipeline, recorded before the
//! request is acted on, so a cancel survives a restart of the daemon.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::store::error::SqlContext;
use crate::store::sqlite::write::begin;
use crate::store::{EventId, Inserted, PipelineId, PipelineStatus, StoreError, Timestamp};

pub(crate) fn request_cancel(conn: &mut Connection, pipeline: PipelineId, now: Timestamp) -> Result<Inserted, StoreError> {
    let tx = begin(conn)?;
    type Found = (i64, PipelineStatus, String, String, bool);
    let found: Option<Found> = tx
        .query_row(
            "SELECT project_id, status, ref, sha, tag FROM pipelines WHERE id = ?1",
            [pipeline],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .context("read pipeline")?;
    let (project_id, status, git_ref, sha, tag) = found.ok_or(StoreError::NotFound {
        kind: "pipeline",
        id: pipeline.get(),
    })?;
    if status.is_final() {
        return Err(StoreError::Refused {
            reason: format!("pipeline {pipeline} is `{status}`, not running: only a running pipeline can be canceled"),
        });
    }
    // One request per run of the pipeline: a retried pipeline can be canceled again.
    let key = format!("cancel:{}:{}", pipeline.get(), current_run(&tx, pipeline)?);
    let existing: Option<EventId> = tx
        .query_row(
            "SELECT id FROM events WHERE project_id = ?1 AND dedup_key = ?2",
            params![project_id, key],
            |r| r.get(0),
        )
        .optional()
        .context("look up cancel request")?;
    if let Some(id) = existing {
        return Ok(Inserted::Duplicate(id));
    }
    let full_ref = format!("refs/{}/{git_ref}", if tag { "tags" } else { "heads" });
    let id: EventId = tx
        .query_row(
            "INSERT INTO events (project_id, dedup_key, source, kind, git_ref, sha, payload, received_at,
                 state, pipeline_id)
             VALUES (?1, ?2, 'api', 'cancel', ?3, ?4, ?5, ?6, 'pending', ?7)
             RETURNING id",
            params![project_id, key, full_ref, sha, json!({ "pipeline": pipeline.get() }), now, pipeline],
            |r| r.get(0),
        )
        .context("insert cancel request")?;
    tx.commit().context("commit cancel request")?;
    Ok(Inserted::New(id))
}

pub(crate) fn cancel_requested(conn: &Connection, pipeline: PipelineId) -> Result<bool, StoreError> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT id FROM events WHERE pipeline_id = ?1 AND kind = 'cancel' AND id > ?2 LIMIT 1",
            params![pipeline, current_run(conn, pipeline)?],
            |r| r.get(0),
        )
        .optional()
        .context("read cancel requests")?;
    Ok(found.is_some())
}

/// The run of `pipeline` a cancel request belongs to: the id of its newest re-run event
/// (`retry`, `play`), `0` before any. A cancel recorded before a re-run does not cancel it.
fn current_run(conn: &Connection, pipeline: PipelineId) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT coalesce(max(id), 0) FROM events WHERE pipeline_id = ?1 AND kind IN ('retry', 'play')",
        [pipeline],
        |r| r.get(0),
    )
    .context("read the pipeline's re-runs")
}
