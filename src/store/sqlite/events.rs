//! The SQL of the event queue and of the watched refs' last seen tips.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::error::SqlContext;
use crate::store::sqlite::write::begin;
use crate::store::{
    EventId, EventRow, EventState, Inserted, NewEvent, PipelineId, ProjectId, StoreError,
};

const EVENT_COLUMNS: &str = "e.id, e.project_id, p.name, e.dedup_key, e.source, e.kind,
    e.git_ref, e.sha, e.before_sha, e.fetch_ref, e.payload, e.received_at, e.state,
    e.pipeline_id, e.error";

/// The redelivery lookup: same project, same dedup key (the UNIQUE index of 0002).
const BY_DEDUP_KEY: &str = "SELECT id FROM events WHERE project_id = ?1 AND dedup_key = ?2";

/// The lookup of a push already recorded for the same ref and new tip (index of 0007).
const BY_TIP: &str = "SELECT id FROM events WHERE project_id = ?1 AND kind = ?2 AND git_ref = ?3 AND sha = ?4
     ORDER BY id LIMIT 1";

pub(crate) fn insert_event(
    conn: &mut Connection,
    project: ProjectId,
    new: &NewEvent,
) -> Result<Inserted, StoreError> {
    let tx = begin(conn)?;
    let inserted = insert_in(&tx, project, new)?;
    tx.commit().context("commit event")?;
    Ok(inserted)
}

/// Records every event of `batch` in one transaction, each in a savepoint of its own so that
/// one refused event (an unknown project) leaves the others; returns each event's outcome
/// once the transaction committed. `Err` when the transaction could not be begun or
/// committed: then nothing was recorded.
pub(crate) fn insert_events(
    conn: &mut Connection,
    batch: &[(ProjectId, &NewEvent)],
) -> Result<Vec<Result<Inserted, StoreError>>, StoreError> {
    let mut tx = begin(conn)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for &(project, new) in batch {
        let savepoint = tx.savepoint().context("begin savepoint")?;
        let outcome = insert_in(&savepoint, project, new);
        if outcome.is_ok() {
            savepoint.commit().context("release savepoint")?;
        }
        // A failed event's savepoint rolls back when dropped.
        outcomes.push(outcome);
    }
    tx.commit().context("commit events")?;
    Ok(outcomes)
}

/// One event's insert (or the original it duplicates) inside the caller's transaction.
fn insert_in(tx: &Connection, project: ProjectId, new: &NewEvent) -> Result<Inserted, StoreError> {
    let existing: Option<EventId> = tx
        .query_row(
            BY_DEDUP_KEY,
            params![project, new.dedup_key],
            |row| row.get(0),
        )
        .optional()
        .context("look up event")?;
    // A push seen twice (a webhook and polling, or Gerrit's change-merged and ref-updated
    // for one merge) is one event: same ref, same new tip.
    let existing = match (existing, new.kind.as_str(), &new.sha) {
        (None, "push" | "tag_push", Some(sha)) => tx
            .query_row(
                BY_TIP,
                params![project, new.kind, new.git_ref, sha],
                |row| row.get(0),
            )
            .optional()
            .context("look up push")?,
        (existing, _, _) => existing,
    };
    let inserted = match existing {
        Some(id) => Inserted::Duplicate(id),
        None => {
            let id = tx
                .query_row(
                    "INSERT INTO events (project_id, dedup_key, source, kind, git_ref, sha,
                         before_sha, fetch_ref, payload, received_at, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')
                     RETURNING id",
                    params![
                        project,
                        new.dedup_key,
                        new.source,
                        new.kind,
                        new.git_ref,
                        new.sha,
                        new.before_sha,
                        new.fetch_ref,
                        new.payload,
                        new.received_at,
                    ],
                    |row| row.get(0),
                )
                .map_err(|source| match source {
                    rusqlite::Error::SqliteFailure(e, _)
                        if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        StoreError::NotFound {
                            kind: "project",
                            id: project.get(),
                        }
                    }
                    source => StoreError::Sqlite {
                        action: "insert event",
                        source,
                    },
                })?;
            Inserted::New(id)
        }
    };
    if let Some(head) = &new.ref_head {
        upsert_ref_head(tx, project, &head.git_ref, &head.sha)?;
    }
    Ok(inserted)
}

pub(crate) fn get_event(conn: &Connection, id: EventId) -> Result<EventRow, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN projects p ON p.id = e.project_id
         WHERE e.id = ?1"
    );
    query_events(conn, &sql, params![id])?
        .pop()
        .ok_or(StoreError::NotFound {
            kind: "event",
            id: id.get(),
        })
}

pub(crate) fn pending_events(conn: &Connection, limit: u32) -> Result<Vec<EventRow>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN projects p ON p.id = e.project_id
         WHERE e.state = 'pending' ORDER BY e.id LIMIT ?1"
    );
    query_events(conn, &sql, params![limit])
}

pub(crate) fn list_events(
    conn: &Connection,
    project: Option<&str>,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN projects p ON p.id = e.project_id
         WHERE ?1 IS NULL OR p.name = ?1 ORDER BY e.id DESC LIMIT ?2"
    );
    query_events(conn, &sql, params![project, limit])
}

pub(crate) fn mark_event(
    conn: &mut Connection,
    id: EventId,
    state: EventState,
    pipeline: Option<PipelineId>,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let changed = conn
        .execute(
            "UPDATE events SET state = ?2, pipeline_id = ?3, error = ?4 WHERE id = ?1",
            params![id, state.as_str(), pipeline, error],
        )
        .context("mark event")?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            kind: "event",
            id: id.get(),
        });
    }
    Ok(())
}

pub(crate) fn ref_head(
    conn: &Connection,
    project: ProjectId,
    git_ref: &str,
) -> Result<Option<String>, StoreError> {
    conn.query_row(
        "SELECT sha FROM ref_heads WHERE project_id = ?1 AND ref = ?2",
        params![project, git_ref],
        |row| row.get(0),
    )
    .optional()
    .context("read ref head")
}

pub(crate) fn set_ref_head(
    conn: &mut Connection,
    project: ProjectId,
    git_ref: &str,
    sha: &str,
) -> Result<(), StoreError> {
    let tx = begin(conn)?;
    upsert_ref_head(&tx, project, git_ref, sha)?;
    tx.commit().context("commit ref head")
}

fn upsert_ref_head(
    conn: &Connection,
    project: ProjectId,
    git_ref: &str,
    sha: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO ref_heads (project_id, ref, sha) VALUES (?1, ?2, ?3)
         ON CONFLICT (project_id, ref) DO UPDATE SET sha = excluded.sha",
        params![project, git_ref, sha],
    )
    .context("write ref head")?;
    Ok(())
}

fn query_events(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<EventRow>, StoreError> {
    let mut statement = conn.prepare(sql).context("read events")?;
    let rows = statement
        .query_map(params, event_from_row)
        .context("read events")?;
    let mut events = Vec::new();
    for row in rows {
        events.push(row.context("read events")??);
    }
    Ok(events)
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Result<EventRow, StoreError>> {
    let id: EventId = row.get(0)?;
    let state: String = row.get(12)?;
    let Ok(state) = state.parse::<EventState>() else {
        return Ok(Err(StoreError::Corrupt {
            table: "event",
            id: id.get(),
            column: "state",
            detail: format!("`{state}` is not an event state"),
        }));
    };
    Ok(Ok(EventRow {
        id,
        project_id: row.get(1)?,
        project: row.get(2)?,
        dedup_key: row.get(3)?,
        source: row.get(4)?,
        kind: row.get(5)?,
        git_ref: row.get(6)?,
        sha: row.get(7)?,
        before_sha: row.get(8)?,
        fetch_ref: row.get(9)?,
        payload: row.get(10)?,
        received_at: row.get(11)?,
        state,
        pipeline_id: row.get(13)?,
        error: row.get(14)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan for `sql`: one line per step.
    fn plan_of(conn: &Connection, sql: &str) -> Vec<String> {
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
        let values: [&dyn rusqlite::ToSql; 4] = [&1, &"k", &"refs/heads/main", &"abc"];
        let bound = &values[..statement.parameter_count()];
        statement
            .query_map(bound, |row| row.get::<_, String>(3))
            .expect("plan")
            .map(|step| step.expect("step"))
            .collect()
    }

    #[test]
    fn both_dedup_lookups_seek_an_index_instead_of_scanning_the_events() {
        let conn = crate::store::sqlite::open_in_memory().expect("store");
        let cases = [
            (BY_DEDUP_KEY, "sqlite_autoindex_events_1"),
            (BY_TIP, "events_by_tip"),
        ];
        for (sql, index) in cases {
            let plan = plan_of(&conn, sql);
            assert!(
                plan.iter().any(|step| step.starts_with("SEARCH events USING") && step.contains(index)),
                "{sql}: {plan:?}"
            );
            assert!(!plan.iter().any(|step| step.starts_with("SCAN")), "{sql}: {plan:?}");
        }
    }
}
