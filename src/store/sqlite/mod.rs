//! The SQLite backend: opening (WAL and pragmas), migrations, and the SQL of each operation.
//!
//! Durability: WAL with `synchronous=NORMAL`. A committed transaction survives the process
//! being killed (`kill -9`, a panic, an OOM kill), which is what the runner needs; a power
//! loss or OS crash may lose the last few transactions (never corrupt the file). SQLite's
//! documentation states both properties for WAL + NORMAL.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::store::{
    AuditOutcome, DeploymentHealth, DeploymentStatus, PromotionKind, Verdict,
    EventId, FailureReason, JobId, JobStatus, JobWhen, PipelineId, PipelineStatus, ProjectId,
    StoreError, Timestamp,
};

pub(crate) mod cancel;
pub(crate) mod deployments;
pub(crate) mod events;
pub(crate) mod migrate;
pub(crate) mod promotions;
pub(crate) mod publications;
pub(crate) mod read;
pub(crate) mod reports;
pub(crate) mod rerun;
pub(crate) mod tokens;
pub(crate) mod write;

/// How long a writer waits for another process's lock before failing with "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if needed) the database at `path`, configures it and migrates it.
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_owned(),
            mode,
        });
    }
    configure(&conn).map_err(open_error)?;
    migrate::run(&mut conn)?;
    Ok(conn)
}

/// Opens a private in-memory database (tests; no WAL, which needs a file).
pub(crate) fn open_in_memory() -> Result<Connection, StoreError> {
    let open_error = |source| StoreError::Open {
        path: ":memory:".into(),
        source,
    };
    let mut conn = Connection::open_in_memory().map_err(open_error)?;
    configure(&conn).map_err(open_error)?;
    migrate::run(&mut conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Off by default in SQLite, per connection: without it REFERENCES is decoration.
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

macro_rules! sql_integer {
    ($($ty:ty => $get:ident / $new:path),+ $(,)?) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.$get()))
            }
        }
        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map($new)
            }
        }
    )+};
}

sql_integer! {
    Timestamp => as_unix_millis / Timestamp::from_unix_millis,
    ProjectId => get / ProjectId::new,
    PipelineId => get / PipelineId::new,
    JobId => get / JobId::new,
    EventId => get / EventId::new,
}

macro_rules! sql_word {
    ($($ty:ty),+ $(,)?) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|err| FromSqlError::Other(Box::new(err)))
            }
        }
    )+};
}

sql_word!(JobStatus, PipelineStatus, JobWhen, FailureReason, DeploymentStatus, DeploymentHealth, Verdict, PromotionKind, AuditOutcome);
