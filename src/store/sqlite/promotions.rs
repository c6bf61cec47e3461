//! The SQL of deployments, approvals, pin commits and the audit log.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use crate::store::error::SqlContext;
use crate::store::promotion::{
    ApprovalRow, AuditRow, DeploymentRow, NewAuditEntry, NewDeployment, NewPromotion, PromotionRow,
};
use crate::store::{DeploymentStatus, StoreError, Timestamp, Verdict};

pub(crate) const DEPLOYMENT_COLUMNS: &str =
    "id, app, env, version, digest, status, started_at, finished_at, healthy_since, message, unhealthy_since, health_message";

pub(crate) fn insert_deployment(conn: &Connection, new: &NewDeployment, now: Timestamp) -> Result<i64, StoreError> {
    let healthy_since = (new.status == DeploymentStatus::Healthy).then_some(now);
    conn.query_row(
        "INSERT INTO deployments (app, env, version, digest, status, started_at, healthy_since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![new.app, new.env, new.version, new.digest, new.status, now, healthy_since],
        |row| row.get(0),
    )
    .context("insert deployment")
}

pub(crate) fn set_deployment_status(
    conn: &Connection,
    id: i64,
    status: DeploymentStatus,
    message: Option<&str>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = conn
        .execute(
            "UPDATE deployments SET status = ?2, message = ?3,
                 finished_at = CASE WHEN ?2 IN ('healthy', 'failed', 'rolled_back') THEN ?4 ELSE finished_at END,
                 healthy_since = CASE WHEN ?2 = 'healthy' THEN COALESCE(healthy_since, ?4)
                                      WHEN ?2 IN ('failed', 'rolled_back') THEN NULL
                                      ELSE healthy_since END
             WHERE id = ?1",
            params![id, status, message, now],
        )
        .context("update deployment")?;
    Ok(changed > 0)
}

pub(crate) fn latest_deployment(conn: &Connection, app: &str, env: &str) -> Result<Option<DeploymentRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND env = ?2 ORDER BY id DESC LIMIT 1"),
        [app, env],
        deployment_from_row,
    )
    .optional()
    .context("read deployment")
}

pub(crate) fn deployment_from_row(row: &Row<'_>) -> rusqlite::Result<DeploymentRow> {
    Ok(DeploymentRow {
        id: row.get(0)?,
        app: row.get(1)?,
        env: row.get(2)?,
        version: row.get(3)?,
        digest: row.get(4)?,
        status: row.get(5)?,
        started_at: row.get(6)?,
        finished_at: row.get(7)?,
        healthy_since: row.get(8)?,
        message: row.get(9)?,
        unhealthy_since: row.get(10)?,
        health_message: row.get(11)?,
    })
}

pub(crate) fn record_approval(
    conn: &Connection,
    (app, env, version): (&str, &str, &str),
    identity: &str,
    verdict: Verdict,
    comment: Option<&str>,
    now: Timestamp,
) -> Result<i64, StoreError> {
    conn.query_row(
        "INSERT INTO approvals (app, env, version, identity, verdict, comment, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![app, env, version, identity, verdict, comment, now],
        |row| row.get(0),
    )
    .context("insert approval")
}

pub(crate) fn approvals_of(conn: &Connection, app: &str, env: &str, version: &str) -> Result<Vec<ApprovalRow>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT id, app, env, version, identity, verdict, comment, created_at FROM approvals
             WHERE app = ?1 AND env = ?2 AND version = ?3 ORDER BY id",
        )
        .context("list approvals")?;
    let rows = statement
        .query_map([app, env, version], |row| {
            Ok(ApprovalRow {
                id: row.get(0)?,
                app: row.get(1)?,
                env: row.get(2)?,
                version: row.get(3)?,
                identity: row.get(4)?,
                verdict: row.get(5)?,
                comment: row.get(6)?,
                created_at: row.get(7)?,
            })
        })
        .context("list approvals")?;
    rows.collect::<Result<_, _>>().context("list approvals")
}

pub(crate) fn record_promotion(conn: &Connection, new: &NewPromotion, now: Timestamp) -> Result<i64, StoreError> {
    conn.query_row(
        "INSERT INTO promotions (app, env, version, kind, previous_version, commit_sha, identity, gates,
             approvers, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        params![
            new.app,
            new.env,
            new.version,
            new.kind,
            new.previous_version,
            new.commit_sha,
            new.identity,
            new.gates.to_string(),
            new.approvers.to_string(),
            now
        ],
        |row| row.get(0),
    )
    .context("insert promotion")
}

pub(crate) fn promotions_of(conn: &Connection, app: &str, env: &str, limit: u32) -> Result<Vec<PromotionRow>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT id, app, env, version, kind, previous_version, commit_sha, identity, gates, approvers,
                 created_at
             FROM promotions WHERE app = ?1 AND env = ?2 ORDER BY id DESC LIMIT ?3",
        )
        .context("list promotions")?;
    let rows = statement
        .query_map(params![app, env, limit], |row| {
            let gates: String = row.get(8)?;
            let approvers: String = row.get(9)?;
            Ok(PromotionRow {
                id: row.get(0)?,
                app: row.get(1)?,
                env: row.get(2)?,
                version: row.get(3)?,
                kind: row.get(4)?,
                previous_version: row.get(5)?,
                commit_sha: row.get(6)?,
                identity: row.get(7)?,
                gates: serde_json::from_str(&gates).unwrap_or_default(),
                approvers: serde_json::from_str(&approvers).unwrap_or_default(),
                created_at: row.get(10)?,
            })
        })
        .context("list promotions")?;
    rows.collect::<Result<_, _>>().context("list promotions")
}

pub(crate) fn append_audit(conn: &Connection, entry: &NewAuditEntry, now: Timestamp) -> Result<i64, StoreError> {
    conn.query_row(
        "INSERT INTO audit_log (at, identity, token_name, remote, action, app, env, version, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        params![
            now,
            entry.identity,
            entry.token_name,
            entry.remote,
            entry.action,
            entry.app,
            entry.env,
            entry.version,
            entry.outcome,
            entry.detail
        ],
        |row| row.get(0),
    )
    .context("append audit entry")
}

pub(crate) fn list_audit(conn: &Connection, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT id, at, identity, token_name, remote, action, app, env, version, outcome, detail
             FROM audit_log ORDER BY id DESC LIMIT ?1",
        )
        .context("list audit log")?;
    let rows = statement
        .query_map([limit], |row| {
            Ok(AuditRow {
                id: row.get(0)?,
                at: row.get(1)?,
                identity: row.get(2)?,
                token_name: row.get(3)?,
                remote: row.get(4)?,
                action: row.get(5)?,
                app: row.get(6)?,
                env: row.get(7)?,
                version: row.get(8)?,
                outcome: row.get(9)?,
                detail: row.get(10)?,
            })
        })
        .context("list audit log")?;
    rows.collect::<Result<_, _>>().context("list audit log")
}

pub(crate) fn passed_names(conn: &Connection, sha: &str) -> Result<Vec<String>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT j.name FROM jobs j JOIN pipelines p ON p.id = j.pipeline_id
                 WHERE p.sha = ?1 AND j.status = 'success'
             UNION
             SELECT p.source FROM pipelines p WHERE p.sha = ?1 AND p.status = 'success'",
        )
        .context("list passed jobs")?;
    let rows = statement.query_map([sha], |row| row.get(0)).context("list passed jobs")?;
    rows.collect::<Result<_, _>>().context("list passed jobs")
}
