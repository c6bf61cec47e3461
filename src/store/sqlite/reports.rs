//! The SQL of the status report outbox (`status_reports`, migration 0008).

use rusqlite::{Connection, Transaction, params};

use crate::store::error::SqlContext;
use crate::store::sqlite::write::begin;
use crate::store::{PipelineId, ProjectId, ReportRow, StoreError, Timestamp};

/// Writes (or updates) the report of pipeline `id`'s current status, inside the transaction
/// that changed it. Only projects listed in `status_report_contexts` report. An older
/// pipeline never overwrites a newer one's report of the same (project, sha, context), and
/// an unchanged status is not sent again.
pub(crate) fn enqueue(tx: &Transaction<'_>, id: PipelineId, now: Timestamp) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO status_reports
             (project_id, sha, context, pipeline_id, status, version, updated_at, next_attempt_at)
         SELECT p.project_id, p.sha, c.context || '/' || p.source, p.id, p.status, 1, ?2, ?2
         FROM pipelines p JOIN status_report_contexts c ON c.project_id = p.project_id
         WHERE p.id = ?1
         ON CONFLICT (project_id, sha, context) DO UPDATE SET
             pipeline_id = excluded.pipeline_id, status = excluded.status,
             version = status_reports.version + 1, updated_at = excluded.updated_at,
             attempts = 0, next_attempt_at = excluded.next_attempt_at, failing_since = NULL
         WHERE excluded.pipeline_id > status_reports.pipeline_id
            OR (excluded.pipeline_id = status_reports.pipeline_id AND excluded.status != status_reports.status)",
        params![id, now],
    )
    .context("record status report")?;
    Ok(())
}

pub(crate) fn set_contexts(conn: &mut Connection, contexts: &[(ProjectId, String)]) -> Result<(), StoreError> {
    let tx = begin(conn)?;
    tx.execute("DELETE FROM status_report_contexts", []).context("clear report contexts")?;
    for (project, context) in contexts {
        tx.execute(
            "INSERT INTO status_report_contexts (project_id, context) VALUES (?1, ?2)",
            params![project, context],
        )
        .context("record report context")?;
    }
    tx.commit().context("commit report contexts")
}

const COLUMNS: &str = "r.id, r.project_id, r.sha, r.context, r.pipeline_id, r.status, r.version, r.attempts,
     r.failing_since, r.remote_id, r.remote_pipeline_id";

pub(crate) fn due(conn: &Connection, now: Timestamp, limit: u32) -> Result<Vec<ReportRow>, StoreError> {
    let mut statement = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM status_reports r
             JOIN status_report_contexts c ON c.project_id = r.project_id
             WHERE r.version > r.sent_version AND r.next_attempt_at <= ?1
             ORDER BY r.next_attempt_at, r.id LIMIT ?2"
        ))
        .context("prepare due reports")?;
    let rows = statement
        .query_map(params![now, limit], |row| {
            Ok(ReportRow {
                id: row.get(0)?,
                project_id: row.get(1)?,
                sha: row.get(2)?,
                context: row.get(3)?,
                pipeline_id: row.get(4)?,
                status: row.get(5)?,
                version: row.get(6)?,
                attempts: row.get(7)?,
                failing_since: row.get(8)?,
                remote_id: row.get(9)?,
                remote_pipeline_id: row.get(10)?,
            })
        })
        .context("read due reports")?;
    rows.map(|row| row.context("read due report")).collect()
}

pub(crate) fn next_due(conn: &Connection) -> Result<Option<Timestamp>, StoreError> {
    conn.query_row(
        "SELECT min(r.next_attempt_at) FROM status_reports r
         JOIN status_report_contexts c ON c.project_id = r.project_id
         WHERE r.version > r.sent_version",
        [],
        |row| row.get(0),
    )
    .context("read next report time")
}

/// Marks `version` of report `id` done (sent, or dropped), keeping what the forge gave back.
pub(crate) fn done(
    conn: &mut Connection,
    id: i64,
    version: i64,
    remote: Option<(&str, PipelineId)>,
) -> Result<(), StoreError> {
    let (remote_id, remote_pipeline) = remote.unzip();
    conn.execute(
        "UPDATE status_reports SET sent_version = max(sent_version, ?2),
             remote_id = coalesce(?3, remote_id), remote_pipeline_id = coalesce(?4, remote_pipeline_id),
             attempts = CASE WHEN version = ?2 THEN 0 ELSE attempts END,
             failing_since = CASE WHEN version = ?2 THEN NULL ELSE failing_since END
         WHERE id = ?1",
        params![id, version, remote_id, remote_pipeline],
    )
    .context("record report sent")?;
    Ok(())
}

/// Records a failed attempt at `version`, unless a newer version replaced it meanwhile (that
/// one starts afresh).
pub(crate) fn failed(
    conn: &mut Connection,
    id: i64,
    version: i64,
    next_attempt_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE status_reports SET attempts = attempts + 1, next_attempt_at = ?3,
             failing_since = coalesce(failing_since, ?4)
         WHERE id = ?1 AND version = ?2",
        params![id, version, next_attempt_at, now],
    )
    .context("record report failure")?;
    Ok(())
}
