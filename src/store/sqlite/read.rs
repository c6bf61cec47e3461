//! The SQL of every read. Reads that span several queries run in one transaction, so they
//! see one consistent snapshot (WAL gives readers a snapshot without blocking the writer).

use std::path::PathBuf;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::error::SqlContext;
use crate::store::{
    JobId, JobRow, JobTransition, PipelineId, PipelineRow, PipelineVariable, ProcessRecord,
    StoreError,
};

const PIPELINE_COLUMNS: &str = "p.id, p.project_id, pr.name, p.ref, p.tag, p.sha, p.before_sha,
    p.source, p.status, p.plan, p.variables, p.created_at, p.started_at, p.finished_at,
    p.duration_ms";

const JOB_COLUMNS: &str = r#"id, pipeline_id, name, stage, status, "when", allow_failure,
    attempt, retry_of, exit_code, failure_reason, created_at, started_at, finished_at,
    duration_ms, pid, pgid, process_start_time, log_path, resource_group"#;

pub(crate) fn get_pipeline(
    conn: &mut Connection,
    id: PipelineId,
) -> Result<PipelineRow, StoreError> {
    let tx = conn.transaction().context("begin read")?;
    let sql = format!(
        "SELECT {PIPELINE_COLUMNS} FROM pipelines p JOIN projects pr ON pr.id = p.project_id
         WHERE p.id = ?1"
    );
    let raw = tx
        .query_row(&sql, [id], pipeline_from_row)
        .optional()
        .context("read pipeline")?
        .ok_or(StoreError::NotFound {
            kind: "pipeline",
            id: id.get(),
        })?;
    let mut pipeline = raw?;
    pipeline.jobs = jobs_of(&tx, id)?;
    Ok(pipeline)
}

pub(crate) fn list_pipelines(
    conn: &mut Connection,
    project: Option<&str>,
    limit: u32,
) -> Result<Vec<PipelineRow>, StoreError> {
    let tx = conn.transaction().context("begin read")?;
    let sql = format!(
        "SELECT {PIPELINE_COLUMNS} FROM pipelines p JOIN projects pr ON pr.id = p.project_id
         WHERE ?1 IS NULL OR pr.name = ?1
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT ?2"
    );
    let mut pipelines = {
        let mut statement = tx.prepare(&sql).context("list pipelines")?;
        let rows = statement
            .query_map(params![project, limit], pipeline_from_row)
            .context("list pipelines")?;
        let mut pipelines = Vec::new();
        for row in rows {
            pipelines.push(row.context("list pipelines")??);
        }
        pipelines
    };
    for pipeline in &mut pipelines {
        pipeline.jobs = jobs_of(&tx, pipeline.id)?;
    }
    Ok(pipelines)
}

/// Reads a pipeline row (without its jobs). The outer `Result` is SQLite's; the inner one
/// reports a stored value we cannot decode.
fn pipeline_from_row(row: &Row<'_>) -> rusqlite::Result<Result<PipelineRow, StoreError>> {
    let id: PipelineId = row.get(0)?;
    let variables: serde_json::Value = row.get(10)?;
    let variables = match decode_variables(variables) {
        Ok(variables) => variables,
        Err(detail) => {
            return Ok(Err(StoreError::Corrupt {
                table: "pipeline",
                id: id.get(),
                column: "variables",
                detail,
            }));
        }
    };
    Ok(Ok(PipelineRow {
        id,
        project_id: row.get(1)?,
        project: row.get(2)?,
        git_ref: row.get(3)?,
        tag: row.get(4)?,
        sha: row.get(5)?,
        before_sha: row.get(6)?,
        source: row.get(7)?,
        status: row.get(8)?,
        plan: row.get(9)?,
        variables,
        created_at: row.get(11)?,
        started_at: row.get(12)?,
        finished_at: row.get(13)?,
        duration_ms: row.get(14)?,
        jobs: Vec::new(),
    }))
}

fn decode_variables(value: serde_json::Value) -> Result<Vec<PipelineVariable>, String> {
    let serde_json::Value::Array(items) = value else {
        return Err("not a JSON array".to_owned());
    };
    items
        .iter()
        .map(|item| {
            let name = item.get("name").and_then(|n| n.as_str());
            let masked = item.get("masked").and_then(|m| m.as_bool());
            let value = item.get("value").and_then(|v| v.as_str());
            match (name, masked, value) {
                (Some(name), Some(true), _) => Ok(PipelineVariable::new(name, "", true)),
                (Some(name), Some(false), Some(value)) => {
                    Ok(PipelineVariable::new(name, value, false))
                }
                _ => Err(format!("entry `{item}` is not {{name, value, masked}}")),
            }
        })
        .collect()
}

pub(crate) fn jobs_of(conn: &Connection, pipeline: PipelineId) -> Result<Vec<JobRow>, StoreError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE pipeline_id = ?1 ORDER BY id");
    query_jobs(conn, &sql, params![pipeline])
}

pub(crate) fn get_job(conn: &Connection, id: JobId) -> Result<JobRow, StoreError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
    query_jobs(conn, &sql, params![id])?
        .pop()
        .ok_or(StoreError::NotFound {
            kind: "job",
            id: id.get(),
        })
}

/// Jobs that may have a live process: `preparing` or `running`, oldest first.
pub(crate) fn running_jobs(conn: &Connection) -> Result<Vec<JobRow>, StoreError> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ('preparing', 'running') ORDER BY id"
    );
    query_jobs(conn, &sql, params![])
}

fn query_jobs(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<JobRow>, StoreError> {
    let mut statement = conn.prepare(sql).context("read jobs")?;
    let rows = statement
        .query_map(params, job_from_row)
        .context("read jobs")?;
    let mut jobs = Vec::new();
    for row in rows {
        jobs.push(row.context("read jobs")??);
    }
    Ok(jobs)
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Result<JobRow, StoreError>> {
    let id: JobId = row.get(0)?;
    let corrupt = |column, detail: String| StoreError::Corrupt {
        table: "job",
        id: id.get(),
        column,
        detail,
    };
    let attempt: i64 = row.get(7)?;
    let Ok(attempt) = u32::try_from(attempt) else {
        return Ok(Err(corrupt(
            "attempt",
            format!("{attempt} is out of range"),
        )));
    };
    let pid: Option<i64> = row.get(15)?;
    let pgid: Option<i64> = row.get(16)?;
    let start_time: Option<i64> = row.get(17)?;
    let process = match (pid, pgid, start_time) {
        (Some(pid), Some(pgid), Some(start_time)) => {
            match (
                u32::try_from(pid),
                u32::try_from(pgid),
                u64::try_from(start_time),
            ) {
                (Ok(pid), Ok(pgid), Ok(start_time)) => Some(ProcessRecord {
                    pid,
                    pgid,
                    start_time,
                }),
                _ => return Ok(Err(corrupt("pid", format!("{pid}/{pgid}/{start_time}")))),
            }
        }
        _ => None,
    };
    Ok(Ok(JobRow {
        id,
        pipeline_id: row.get(1)?,
        name: row.get(2)?,
        stage: row.get(3)?,
        status: row.get(4)?,
        when: row.get(5)?,
        allow_failure: row.get(6)?,
        attempt,
        retry_of: row.get(8)?,
        exit_code: row.get(9)?,
        failure_reason: row.get(10)?,
        created_at: row.get(11)?,
        started_at: row.get(12)?,
        finished_at: row.get(13)?,
        duration_ms: row.get(14)?,
        process,
        log_path: row.get::<_, Option<String>>(18)?.map(PathBuf::from),
        resource_group: row.get(19)?,
    }))
}

pub(crate) fn transitions_of(
    conn: &Connection,
    job: JobId,
) -> Result<Vec<JobTransition>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT job_id, from_status, to_status, at, reason FROM job_transitions
             WHERE job_id = ?1 ORDER BY id",
        )
        .context("read job transitions")?;
    let rows = statement
        .query_map([job], |row| {
            Ok(JobTransition {
                job_id: row.get(0)?,
                from: row.get(1)?,
                to: row.get(2)?,
                at: row.get(3)?,
                reason: row.get(4)?,
            })
        })
        .context("read job transitions")?;
    rows.collect::<Result<_, _>>()
        .context("read job transitions")
}
