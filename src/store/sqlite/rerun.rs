//! The SQL of re-running one job of a recorded pipeline (retry, play): the job row and the
//! queue event that asks the worker to run it are written in one transaction.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::json;

use crate::store::error::SqlContext;
use crate::store::sqlite::write::begin;
use crate::store::{
    EventId, EventRow, JobId, JobStatus, PipelineId, PipelineStatus, RerunKind, RerunQueued, StoreError, Timestamp,
};

pub(crate) fn enqueue_rerun(
    conn: &mut Connection,
    kind: RerunKind,
    job: JobId,
    log_path: Option<&str>,
    now: Timestamp,
) -> Result<RerunQueued, StoreError> {
    let tx = begin(conn)?;
    type Found = (PipelineId, JobStatus, PipelineStatus, i64, String, String, bool);
    let row: Option<Found> = tx
        .query_row(
            "SELECT j.pipeline_id, j.status, p.status, p.project_id, p.ref, p.sha, p.tag
             FROM jobs j JOIN pipelines p ON p.id = j.pipeline_id WHERE j.id = ?1",
            [job],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()
        .context("read job")?;
    let (pipeline, status, pipeline_status, project_id, git_ref, sha, tag) = row.ok_or(StoreError::NotFound {
        kind: "job",
        id: job.get(),
    })?;
    let refused = |reason: String| Err(StoreError::Refused { reason });
    let newer: Option<i64> = tx
        .query_row("SELECT id FROM jobs WHERE retry_of = ?1", [job], |r| r.get(0))
        .optional()
        .context("read job attempts")?;
    if let Some(newer) = newer {
        return refused(format!("job {job} was already retried as job #{newer}"));
    }
    if matches!(
        pipeline_status,
        PipelineStatus::Running | PipelineStatus::Pending | PipelineStatus::Created
    ) {
        return refused(format!(
            "pipeline {pipeline} is still {pipeline_status}; wait for it to finish"
        ));
    }
    let pending: Option<i64> = tx
        .query_row(
            "SELECT id FROM events WHERE state = 'pending' AND kind IN ('retry', 'play') AND pipeline_id = ?1",
            [pipeline],
            |r| r.get(0),
        )
        .optional()
        .context("read queued reruns")?;
    if let Some(pending) = pending {
        return refused(format!(
            "pipeline {pipeline} already has a queued retry or play (event #{pending})"
        ));
    }
    let target = match kind {
        RerunKind::Retry => {
            if !status.is_final() {
                return refused(format!("job {job} is `{status}`; only a finished job can be retried"));
            }
            insert_attempt(&tx, job, log_path, now)?
        }
        RerunKind::Play => {
            if status != JobStatus::Manual {
                return refused(format!("job {job} is `{status}`; only a `manual` job can be played"));
            }
            job
        }
    };
    let origin = Origin { project_id, git_ref, sha, tag, pipeline };
    let event = insert_rerun_event(&tx, kind, &origin, &[target], now)?;
    tx.commit().context("commit rerun")?;
    Ok(RerunQueued { job: target, event })
}

/// Queues new attempts of the interrupted jobs `jobs` (each with its log path) of `pipeline`
/// and one `retry` event that resumes the pipeline from its recorded state, starting them
/// (payload `{"pipeline": id, "jobs": [ids]}`, with `"job": first` when there is one; no job
/// at all when a restart caught the pipeline between two jobs). Every other `pending` event
/// that would run the pipeline (the one that started it, a re-run the crash interrupted) is
/// marked `done`, so exactly one event resumes it; the jobs such a re-run was about to start
/// are named by the new event too. For crash recovery: unlike
/// [`enqueue_rerun`] it refuses neither a pipeline left `running` nor a queued re-run.
pub(crate) fn enqueue_resume(
    conn: &mut Connection,
    pipeline: PipelineId,
    jobs: &[(JobId, Option<&str>)],
    now: Timestamp,
) -> Result<EventId, StoreError> {
    let tx = begin(conn)?;
    let origin: Option<Origin> = tx
        .query_row(
            "SELECT project_id, ref, sha, tag, id FROM pipelines WHERE id = ?1",
            [pipeline],
            |r| Ok(Origin { project_id: r.get(0)?, git_ref: r.get(1)?, sha: r.get(2)?, tag: r.get(3)?, pipeline: r.get(4)? }),
        )
        .optional()
        .context("read pipeline")?;
    let origin = origin.ok_or(StoreError::NotFound { kind: "pipeline", id: pipeline.get() })?;
    let mut attempts = Vec::with_capacity(jobs.len());
    for &(job, log_path) in jobs {
        attempts.push(insert_attempt(&tx, job, log_path, now)?);
    }
    let mut ids: Vec<i64> = attempts.iter().map(|job| job.get()).collect();
    ids.extend(not_started(&tx, pipeline)?);
    let mut payload = json!({ "pipeline": pipeline.get(), "jobs": ids });
    if let Some(first) = ids.first() {
        payload["job"] = json!(first);
    }
    // Numbered per pipeline: a pipeline interrupted twice is resumed twice.
    let resumed: i64 = tx
        .query_row(
            "SELECT count(*) FROM events WHERE pipeline_id = ?1 AND dedup_key LIKE 'resume:%'",
            [pipeline],
            |r| r.get(0),
        )
        .context("count the pipeline's resumptions")?;
    let dedup_key = format!("resume:{}:{}", pipeline.get(), resumed + 1);
    let event = insert_event(&tx, RerunKind::Retry, &origin, &dedup_key, &payload, now)?;
    tx.execute(
        "UPDATE events SET state = 'done', error = ?3
         WHERE pipeline_id = ?1 AND state = 'pending' AND kind != 'cancel' AND id != ?2",
        params![pipeline, event, format!("the controller restarted; event #{event} resumes the pipeline")],
    )
    .context("supersede the pipeline's events")?;
    tx.commit().context("commit resume")?;
    Ok(event)
}

/// The jobs that a `pending` re-run of `pipeline` names and that have not started yet
/// (`created` retry attempts, a `manual` job to play): the crash came after the re-run set
/// the pipeline `running` and before they started, and the event that resumes the pipeline
/// must start them in its place.
fn not_started(tx: &Transaction<'_>, pipeline: PipelineId) -> Result<Vec<i64>, StoreError> {
    let mut statement = tx
        .prepare(
            "SELECT DISTINCT j.id FROM events e
             JOIN json_each(coalesce(json_extract(e.payload, '$.jobs'), json_array(json_extract(e.payload, '$.job')))) n
             JOIN jobs j ON j.id = n.value
             WHERE e.pipeline_id = ?1 AND e.state = 'pending'
               AND ((e.kind = 'retry' AND j.status = 'created') OR (e.kind = 'play' AND j.status = 'manual'))
             ORDER BY j.id",
        )
        .context("read the jobs of queued re-runs")?;
    let rows = statement.query_map([pipeline], |r| r.get(0)).context("read the jobs of queued re-runs")?;
    let mut ids = Vec::new();
    for row in rows {
        ids.push(row.context("read the jobs of queued re-runs")?);
    }
    Ok(ids)
}

/// The pipeline a re-run event belongs to.
struct Origin {
    project_id: i64,
    git_ref: String,
    sha: String,
    tag: bool,
    pipeline: PipelineId,
}

/// A new `created` attempt of `job` (its log at `log_path`), with its creation recorded.
fn insert_attempt(tx: &Transaction<'_>, job: JobId, log_path: Option<&str>, now: Timestamp) -> Result<JobId, StoreError> {
    let id: JobId = tx
        .query_row(
            r#"INSERT INTO jobs (pipeline_id, name, stage, status, "when", allow_failure, attempt,
                   retry_of, resource_group, log_path, created_at)
               SELECT pipeline_id, name, stage, 'created', "when", allow_failure, attempt + 1,
                   id, resource_group, ?2, ?3 FROM jobs WHERE id = ?1
               RETURNING id"#,
            params![job, log_path, now],
            |r| r.get(0),
        )
        .optional()
        .context("insert retried job")?
        .ok_or(StoreError::NotFound { kind: "job", id: job.get() })?;
    tx.execute(
        "INSERT INTO job_transitions (job_id, from_status, to_status, at, reason)
         VALUES (?1, NULL, 'created', ?2, ?3)",
        params![id, now, format!("retry of job #{}", job.get())],
    )
    .context("record job transition")?;
    Ok(id)
}

/// The `pending` event asking the worker to run `jobs` of `origin`'s pipeline.
fn insert_rerun_event(
    tx: &Transaction<'_>,
    kind: RerunKind,
    origin: &Origin,
    jobs: &[JobId],
    now: Timestamp,
) -> Result<EventId, StoreError> {
    let ids: Vec<i64> = jobs.iter().map(|job| job.get()).collect();
    let payload = if ids.len() == 1 { json!({ "job": ids[0] }) } else { json!({ "job": ids[0], "jobs": ids }) };
    let dedup_key = format!("{}:{}", kind.as_str(), ids[0]);
    insert_event(tx, kind, origin, &dedup_key, &payload, now)
}

/// A `pending` `kind` event of `origin`'s pipeline.
fn insert_event(
    tx: &Transaction<'_>,
    kind: RerunKind,
    origin: &Origin,
    dedup_key: &str,
    payload: &serde_json::Value,
    now: Timestamp,
) -> Result<EventId, StoreError> {
    let full_ref = format!("refs/{}/{}", if origin.tag { "tags" } else { "heads" }, origin.git_ref);
    tx.query_row(
        "INSERT INTO events (project_id, dedup_key, source, kind, git_ref, sha, payload, received_at,
             state, pipeline_id)
         VALUES (?1, ?2, 'api', ?3, ?4, ?5, ?6, ?7, 'pending', ?8)
         RETURNING id",
        params![
            origin.project_id,
            dedup_key,
            kind.as_str(),
            full_ref,
            origin.sha,
            payload,
            now,
            origin.pipeline,
        ],
        |r| r.get(0),
    )
    .context("insert rerun event")
}

/// The event that started `pipeline` (not a retry or play of one of its jobs).
pub(crate) fn event_of_pipeline(conn: &Connection, pipeline: PipelineId) -> Result<Option<EventRow>, StoreError> {
    let id: Option<EventId> = conn
        .query_row(
            "SELECT id FROM events WHERE pipeline_id = ?1 AND kind NOT IN ('retry', 'play', 'cancel') ORDER BY id LIMIT 1",
            [pipeline],
            |r| r.get(0),
        )
        .optional()
        .context("read the event of a pipeline")?;
    id.map(|id| super::events::get_event(conn, id)).transpose()
}

/// How many events wait in the queue.
pub(crate) fn pending_count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events WHERE state = 'pending'", [], |r| r.get(0))
        .context("count pending events")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// How many pipelines have each status.
pub(crate) fn pipelines_by_status(conn: &Connection) -> Result<Vec<(PipelineStatus, u64)>, StoreError> {
    let mut statement = conn
        .prepare("SELECT status, count(*) FROM pipelines GROUP BY status ORDER BY status")
        .context("count pipelines")?;
    let rows = statement
        .query_map([], |r| Ok((r.get::<_, PipelineStatus>(0)?, r.get::<_, i64>(1)?)))
        .context("count pipelines")?;
    let mut counts = Vec::new();
    for row in rows {
        let (status, n) = row.context("count pipelines")?;
        counts.push((status, u64::try_from(n).unwrap_or(0)));
    }
    Ok(counts)
}

/// The pipelines not yet ended nor resting (`manual`), oldest first.
pub(crate) fn unfinished_pipelines(conn: &Connection) -> Result<Vec<PipelineId>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT id FROM pipelines WHERE status IN ('created', 'waiting_for_resource', 'preparing',
                 'pending', 'running', 'scheduled') ORDER BY id",
        )
        .context("read unfinished pipelines")?;
    let rows = statement.query_map([], |r| r.get(0)).context("read unfinished pipelines")?;
    let mut ids = Vec::new();
    for row in rows {
        ids.push(row.context("read unfinished pipelines")?);
    }
    Ok(ids)
}
