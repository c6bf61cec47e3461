//! The SQL of every write. Each public function is one transaction: it all commits or
//! nothing does (a dropped `Transaction` rolls back).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::json;

use crate::store::error::SqlContext;
use crate::store::{
    EventId, FailureReason, JobId, JobStatus, NewJob, NewPipeline, PipelineId, PipelineStatus,
    PipelineVariable, ProcessRecord, ProjectId, StoreError, Timestamp,
};

/// `BEGIN IMMEDIATE`: takes the write lock up front, so a read-then-write transaction never
/// fails half-way with "busy" when another process writes (SQLite cannot upgrade a read
/// lock while a writer is active).
pub(crate) fn begin(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin transaction")
}

pub(crate) fn ensure_project(
    conn: &mut Connection,
    name: &str,
    now: Timestamp,
) -> Result<ProjectId, StoreError> {
    let tx = begin(conn)?;
    // The no-op update makes RETURNING yield the id of an existing row too.
    let id = tx
        .query_row(
            "INSERT INTO projects (name, created_at) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET name = excluded.name
             RETURNING id",
            params![name, now],
            |row| row.get(0),
        )
        .context("insert project")?;
    tx.commit().context("commit project")?;
    Ok(id)
}

pub(crate) fn create_pipeline(
    conn: &mut Connection,
    new: &NewPipeline,
) -> Result<PipelineId, StoreError> {
    let tx = begin(conn)?;
    let id = insert_pipeline(&tx, new)?;
    tx.commit().context("commit pipeline")?;
    Ok(id)
}

/// Records a pipeline, the jobs `jobs` makes for it and the link from `event` to it, in one
/// transaction.
pub(crate) fn create_pipeline_with_jobs(
    conn: &mut Connection,
    new: &NewPipeline,
    event: Option<EventId>,
    jobs: &dyn Fn(PipelineId) -> Vec<NewJob>,
) -> Result<(PipelineId, Vec<JobId>), StoreError> {
    let tx = begin(conn)?;
    let id = insert_pipeline(&tx, new)?;
    let jobs = jobs(id).iter().map(|job| insert_job(&tx, job)).collect::<Result<Vec<_>, _>>()?;
    if let Some(event) = event {
        let linked = tx
            .execute("UPDATE events SET pipeline_id = ?2 WHERE id = ?1", params![event, id])
            .context("link event to its pipeline")?;
        if linked == 0 {
            return Err(StoreError::NotFound { kind: "event", id: event.get() });
        }
    }
    tx.commit().context("commit pipeline")?;
    Ok((id, jobs))
}

fn insert_pipeline(tx: &Transaction<'_>, new: &NewPipeline) -> Result<PipelineId, StoreError> {
    require(tx, "project", "projects", new.project_id.get())?;
    let variables = variables_json(&new.variables);
    let id = tx
        .query_row(
            "INSERT INTO pipelines
                 (project_id, ref, tag, sha, before_sha, source, status, plan, variables,
                  created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             RETURNING id",
            params![
                new.project_id,
                new.git_ref,
                new.tag,
                new.sha,
                new.before_sha,
                new.source,
                new.status,
                new.plan,
                variables,
                new.created_at,
            ],
            |row| row.get(0),
        )
        .context("insert pipeline")?;
    super::reports::enqueue(tx, id, new.created_at)?;
    Ok(id)
}

/// Variables as stored: masked ones carry `null` (their value was never kept).
fn variables_json(variables: &[PipelineVariable]) -> serde_json::Value {
    variables
        .iter()
        .map(|v| json!({ "name": v.name(), "value": v.value(), "masked": v.masked() }))
        .collect()
}

pub(crate) fn set_pipeline_status(
    conn: &mut Connection,
    id: PipelineId,
    status: PipelineStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    let tx = begin(conn)?;
    let started_at: Option<Timestamp> = tx
        .query_row(
            "SELECT started_at FROM pipelines WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .optional()
        .context("read pipeline")?
        .ok_or(StoreError::NotFound {
            kind: "pipeline",
            id: id.get(),
        })?;
    let started_at = match (started_at, status) {
        (None, PipelineStatus::Running) => Some(now),
        (started_at, _) => started_at,
    };
    // Leaving a final status (a job was retried) clears the finish until it ends again.
    let finished_at = status.is_final().then_some(now);
    let duration_ms = finished_at
        .zip(started_at)
        .map(|(end, start)| end.millis_since(start));
    tx.execute(
        "UPDATE pipelines SET status = ?2, started_at = ?3, finished_at = ?4, duration_ms = ?5
         WHERE id = ?1",
        params![id, status, started_at, finished_at, duration_ms],
    )
    .context("update pipeline status")?;
    super::reports::enqueue(&tx, id, now)?;
    tx.commit().context("commit pipeline status")
}

pub(crate) fn create_job(conn: &mut Connection, new: &NewJob) -> Result<JobId, StoreError> {
    let tx = begin(conn)?;
    let id = insert_job(&tx, new)?;
    tx.commit().context("commit job")?;
    Ok(id)
}

fn insert_job(tx: &Transaction<'_>, new: &NewJob) -> Result<JobId, StoreError> {
    if !new.status.is_initial() {
        return Err(StoreError::InvalidInitialStatus { status: new.status });
    }
    let log_path = new.log_path.as_deref().map(path_text).transpose()?;
    require(tx, "pipeline", "pipelines", new.pipeline_id.get())?;
    if let Some(retried) = new.retry_of {
        require(tx, "job", "jobs", retried.get())?;
    }
    let id: JobId = tx
        .query_row(
            r#"INSERT INTO jobs
                 (pipeline_id, name, stage, status, "when", allow_failure, attempt, retry_of,
                  resource_group, log_path, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             RETURNING id"#,
            params![
                new.pipeline_id,
                new.name,
                new.stage,
                new.status,
                new.when,
                new.allow_failure,
                new.attempt,
                new.retry_of,
                new.resource_group,
                log_path,
                new.created_at,
            ],
            |row| row.get(0),
        )
        .context("insert job")?;
    record_transition(tx, id, None, new.status, new.created_at, Some("created"))?;
    Ok(id)
}

/// What a job's final transition also records.
pub(crate) struct Outcome {
    pub(crate) exit_code: Option<i32>,
    pub(crate) failure_reason: Option<FailureReason>,
}

pub(crate) fn transition_job(
    conn: &mut Connection,
    id: JobId,
    to: JobStatus,
    reason: Option<&str>,
    outcome: Option<Outcome>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let tx = begin(conn)?;
    let (from, started_at): (JobStatus, Option<Timestamp>) = tx
        .query_row(
            "SELECT status, started_at FROM jobs WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .context("read job")?
        .ok_or(StoreError::NotFound {
            kind: "job",
            id: id.get(),
        })?;
    if !from.can_transition_to(to) {
        return Err(StoreError::InvalidTransition { job: id, from, to });
    }
    let started_at = if to == JobStatus::Running {
        Some(now)
    } else {
        started_at
    };
    let finished_at = to.is_final().then_some(now);
    let duration_ms = finished_at
        .zip(started_at)
        .map(|(end, start)| end.millis_since(start));
    let (exit_code, failure_reason) =
        outcome.map_or((None, None), |o| (o.exit_code, o.failure_reason));
    tx.execute(
        "UPDATE jobs SET status = ?2, started_at = ?3, finished_at = ?4, duration_ms = ?5,
             exit_code = coalesce(?6, exit_code), failure_reason = coalesce(?7, failure_reason)
         WHERE id = ?1",
        params![
            id,
            to,
            started_at,
            finished_at,
            duration_ms,
            exit_code,
            failure_reason
        ],
    )
    .context("update job status")?;
    let reason = reason.or(failure_reason.map(FailureReason::as_str));
    record_transition(&tx, id, Some(from), to, now, reason)?;
    tx.commit().context("commit job transition")
}

fn record_transition(
    tx: &Transaction<'_>,
    job: JobId,
    from: Option<JobStatus>,
    to: JobStatus,
    at: Timestamp,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO job_transitions (job_id, from_status, to_status, at, reason)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![job, from, to, at, reason],
    )
    .context("record job transition")?;
    Ok(())
}

pub(crate) fn record_process(
    conn: &mut Connection,
    id: JobId,
    process: ProcessRecord,
) -> Result<(), StoreError> {
    let start_time = i64::try_from(process.start_time).map_err(|_| StoreError::Unstorable {
        what: format!("process start time {} of job {id}", process.start_time),
    })?;
    let changed = conn
        .execute(
            "UPDATE jobs SET pid = ?2, pgid = ?3, process_start_time = ?4 WHERE id = ?1",
            params![id, process.pid, process.pgid, start_time],
        )
        .context("record job process")?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            kind: "job",
            id: id.get(),
        });
    }
    Ok(())
}

pub(crate) fn set_log_path(
    conn: &mut Connection,
    id: JobId,
    path: &Path,
) -> Result<(), StoreError> {
    let text = path_text(path)?;
    let changed = conn
        .execute(
            "UPDATE jobs SET log_path = ?2 WHERE id = ?1",
            params![id, text],
        )
        .context("record job log path")?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            kind: "job",
            id: id.get(),
        });
    }
    Ok(())
}

fn path_text(path: &Path) -> Result<&str, StoreError> {
    path.to_str().ok_or_else(|| StoreError::Unstorable {
        what: format!("non-UTF-8 path `{}`", path.display()),
    })
}

/// Fails with [`StoreError::NotFound`] unless `table` has a row with that id, so that a
/// dangling reference gets a clear error rather than SQLite's "FOREIGN KEY constraint failed".
fn require(
    tx: &Transaction<'_>,
    kind: &'static str,
    table: &str,
    id: i64,
) -> Result<(), StoreError> {
    let found = tx
        .query_row(
            &format!("SELECT 1 FROM {table} WHERE id = ?1"),
            [id],
            |_| Ok(()),
        )
        .optional()
        .context("check reference")?;
    found.ok_or(StoreError::NotFound { kind, id })
}
