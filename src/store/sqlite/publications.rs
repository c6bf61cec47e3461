//! The SQL of publication claims and releases.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::store::error::SqlContext;
use crate::store::sqlite::write::begin;
use crate::store::{
    Claim, NewPublication, PipelineId, PublicationRow, PublicationState, ReleaseRow, StoreError,
    Timestamp,
};

const PUBLICATION_COLUMNS: &str = "id, app, version, sha, image, digest, pipeline_id, state, \
     error, attempt, lease_until, claimed_at, updated_at";

const RELEASE_COLUMNS: &str = "app, version, sha, image, digest, pipeline_id, created_at";

fn lease_end(now: Timestamp, lease_ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(now.as_unix_millis().saturating_add(lease_ms))
}

pub(crate) fn claim(
    conn: &mut Connection,
    new: &NewPublication,
    lease_ms: i64,
    now: Timestamp,
) -> Result<Claim, StoreError> {
    let tx = begin(conn)?;
    let until = lease_end(now, lease_ms);
    let existing = find(&tx, &new.app, &new.version)?;
    let Some(row) = existing else {
        let id: i64 = tx
            .query_row(
                "INSERT INTO publications (app, version, sha, image, pipeline_id, state, attempt,
                     lease_until, claimed_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'claimed', 1, ?6, ?7, ?7)
                 RETURNING id",
                params![new.app, new.version, new.sha, new.image, new.pipeline_id, until, now],
                |row| row.get(0),
            )
            .context("insert publication")?;
        let row = by_id(&tx, id)?;
        tx.commit().context("commit publication claim")?;
        return Ok(Claim::Won(row));
    };
    if !can_take_over(&row, new, now) {
        return Ok(Claim::Held(row));
    }
    // A failed attempt's steps are redone (each is idempotent), so it restarts at `claimed`;
    // an expired holder's state still says how far it got.
    let state = match row.state {
        PublicationState::Failed => PublicationState::Claimed,
        state => state,
    };
    tx.execute(
        "UPDATE publications
         SET sha = ?2, image = ?3, pipeline_id = ?4, state = ?5, error = NULL,
             attempt = attempt + 1, lease_until = ?6, updated_at = ?7
         WHERE id = ?1",
        params![row.id, new.sha, new.image, new.pipeline_id, state.as_str(), until, now],
    )
    .context("take over publication")?;
    let row = by_id(&tx, row.id)?;
    tx.commit().context("commit publication takeover")?;
    Ok(Claim::Won(row))
}

/// A claim may be taken over when its holder failed or its lease ran out, and (for another
/// commit) only while nothing of the old commit was pushed.
fn can_take_over(row: &PublicationRow, new: &NewPublication, now: Timestamp) -> bool {
    let free = match row.state {
        PublicationState::Released => false,
        PublicationState::Failed => true,
        _ => row.lease_until <= now,
    };
    free && (row.sha == new.sha || row.digest.is_none())
}

pub(crate) fn advance(
    conn: &mut Connection,
    id: i64,
    attempt: i64,
    to: PublicationState,
    digest: Option<&str>,
    lease_ms: i64,
    now: Timestamp,
) -> Result<PublicationRow, StoreError> {
    // A resumed publication repeats its steps: repeating one it already passed keeps the
    // state where it is (it never goes backwards).
    let from: &[PublicationState] = match to {
        PublicationState::ImagePushed => {
            &[PublicationState::Claimed, PublicationState::ImagePushed, PublicationState::TagPushed]
        }
        PublicationState::TagPushed => &[PublicationState::ImagePushed, PublicationState::TagPushed],
        other => {
            return Err(StoreError::Refused {
                reason: format!("a publication cannot be advanced to `{other}`"),
            });
        }
    };
    let tx = begin(conn)?;
    let row = held(&tx, id, attempt)?;
    if !from.contains(&row.state) {
        return Err(StoreError::Refused {
            reason: format!(
                "publication of `{}` {} cannot go from `{}` to `{to}`",
                row.app, row.version, row.state
            ),
        });
    }
    let state = if row.state == PublicationState::TagPushed { row.state } else { to };
    tx.execute(
        "UPDATE publications
         SET state = ?2, digest = coalesce(?3, digest), lease_until = ?4, updated_at = ?5
         WHERE id = ?1",
        params![id, state.as_str(), digest, lease_end(now, lease_ms), now],
    )
    .context("advance publication")?;
    let row = by_id(&tx, id)?;
    tx.commit().context("commit publication step")?;
    Ok(row)
}

pub(crate) fn release(
    conn: &mut Connection,
    id: i64,
    attempt: i64,
    now: Timestamp,
) -> Result<ReleaseRow, StoreError> {
    let tx = begin(conn)?;
    let row = held(&tx, id, attempt)?;
    let Some(digest) = row.digest.clone() else {
        return Err(StoreError::Refused {
            reason: format!(
                "publication of `{}` {} has no image digest yet and cannot be released",
                row.app, row.version
            ),
        });
    };
    tx.execute(
        "UPDATE publications SET state = 'released', updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )
    .context("release publication")?;
    let release = ReleaseRow {
        app: row.app,
        version: row.version,
        sha: row.sha,
        image: row.image,
        digest,
        pipeline_id: row.pipeline_id,
        created_at: now,
    };
    tx.execute(
        "INSERT INTO releases (app, version, sha, image, digest, pipeline_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            release.app,
            release.version,
            release.sha,
            release.image,
            release.digest,
            release.pipeline_id,
            release.created_at
        ],
    )
    .context("insert release")?;
    tx.commit().context("commit release")?;
    Ok(release)
}

pub(crate) fn fail(
    conn: &mut Connection,
    id: i64,
    attempt: i64,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let tx = begin(conn)?;
    held(&tx, id, attempt)?;
    tx.execute(
        "UPDATE publications SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, error, now],
    )
    .context("fail publication")?;
    tx.commit().context("commit publication failure")?;
    Ok(())
}

/// Ends the lease of every unfinished claim (neither released nor failed) at `now`; returns
/// how many there were.
pub(crate) fn end_leases(conn: &mut Connection, now: Timestamp) -> Result<usize, StoreError> {
    let ended = conn
        .execute(
            "UPDATE publications SET lease_until = ?1, updated_at = ?1
             WHERE state NOT IN ('released', 'failed') AND lease_until > ?1",
            params![now],
        )
        .context("end publication leases")?;
    Ok(ended)
}

/// The row `id` if attempt `attempt` still holds it (not taken over, not finished).
fn held(tx: &Transaction<'_>, id: i64, attempt: i64) -> Result<PublicationRow, StoreError> {
    let row = by_id(tx, id)?;
    if row.attempt != attempt {
        return Err(StoreError::Refused {
            reason: format!(
                "publication of `{}` {} was taken over by attempt {} (pipeline {}); \
                 this attempt ({attempt}) no longer holds it",
                row.app,
                row.version,
                row.attempt,
                row.pipeline_id.map_or_else(|| "none".to_owned(), |p| p.to_string()),
            ),
        });
    }
    if matches!(row.state, PublicationState::Released | PublicationState::Failed) {
        return Err(StoreError::Refused {
            reason: format!(
                "publication of `{}` {} is already `{}`",
                row.app, row.version, row.state
            ),
        });
    }
    Ok(row)
}

fn by_id(tx: &Transaction<'_>, id: i64) -> Result<PublicationRow, StoreError> {
    tx.query_row(
        &format!("SELECT {PUBLICATION_COLUMNS} FROM publications WHERE id = ?1"),
        [id],
        publication_from_row,
    )
    .optional()
    .context("read publication")?
    .ok_or(StoreError::NotFound {
        kind: "publication",
        id,
    })?
}

fn find(conn: &Connection, app: &str, version: &str) -> Result<Option<PublicationRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {PUBLICATION_COLUMNS} FROM publications WHERE app = ?1 AND version = ?2"),
        [app, version],
        publication_from_row,
    )
    .optional()
    .context("read publication")?
    .transpose()
}

pub(crate) fn get_publication(
    conn: &Connection,
    app: &str,
    version: &str,
) -> Result<Option<PublicationRow>, StoreError> {
    find(conn, app, version)
}

fn publication_from_row(row: &Row<'_>) -> rusqlite::Result<Result<PublicationRow, StoreError>> {
    let id: i64 = row.get(0)?;
    let state: String = row.get(7)?;
    let Ok(state) = state.parse::<PublicationState>() else {
        return Ok(Err(StoreError::Corrupt {
            table: "publication",
            id,
            column: "state",
            detail: format!("`{state}` is not a publication state"),
        }));
    };
    Ok(Ok(PublicationRow {
        id,
        app: row.get(1)?,
        version: row.get(2)?,
        sha: row.get(3)?,
        image: row.get(4)?,
        digest: row.get(5)?,
        pipeline_id: row.get::<_, Option<PipelineId>>(6)?,
        state,
        error: row.get(8)?,
        attempt: row.get(9)?,
        lease_until: row.get(10)?,
        claimed_at: row.get(11)?,
        updated_at: row.get(12)?,
    }))
}

pub(crate) fn get_release(
    conn: &Connection,
    app: &str,
    version: &str,
) -> Result<Option<ReleaseRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE app = ?1 AND version = ?2"),
        [app, version],
        release_from_row,
    )
    .optional()
    .context("read release")
}

pub(crate) fn list_releases(
    conn: &Connection,
    app: Option<&str>,
    limit: u32,
) -> Result<Vec<ReleaseRow>, StoreError> {
    let mut statement = conn
        .prepare(&format!(
            "SELECT {RELEASE_COLUMNS} FROM releases
             WHERE ?1 IS NULL OR app = ?1
             ORDER BY created_at DESC, app, version DESC
             LIMIT ?2"
        ))
        .context("list releases")?;
    let rows = statement
        .query_map(params![app, limit], release_from_row)
        .context("list releases")?;
    rows.collect::<Result<_, _>>().context("list releases")
}

fn release_from_row(row: &Row<'_>) -> rusqlite::Result<ReleaseRow> {
    Ok(ReleaseRow {
        app: row.get(0)?,
        version: row.get(1)?,
        sha: row.get(2)?,
        image: row.get(3)?,
        digest: row.get(4)?,
        pipeline_id: row.get(5)?,
        created_at: row.get(6)?,
    })
}
