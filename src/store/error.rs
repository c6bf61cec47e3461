//! The store's error type.

use std::path::PathBuf;

use crate::store::{JobId, JobStatus};

/// What can go wrong reading or writing the store.
///
/// Each variant carries its cause either in the message or as `#[source]`, never both;
/// print chains with `{:#}` (anyhow) or by walking `source()`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or configured (WAL, pragmas).
    #[error("cannot open store `{}`", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason.
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite could not switch the file to WAL journaling (a network filesystem, say).
    #[error(
        "store `{}` cannot use WAL journaling (SQLite chose `{mode}`); \
         put the data directory on a local filesystem",
        path.display()
    )]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported instead.
        mode: String,
    },
    /// A schema migration failed; the transaction was rolled back, the schema is unchanged.
    #[error("store migration {version:04} `{name}` failed")]
    Migration {
        /// The migration's number.
        version: u32,
        /// The migration's name (its file name without number and extension).
        name: &'static str,
        /// SQLite's reason.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer Sluice (its schema version is above ours).
    #[error(
        "store schema version {found} is newer than this binary supports ({supported}); \
         upgrade Sluice"
    )]
    SchemaTooNew {
        /// The version found in the file.
        found: i64,
        /// The newest version this binary knows.
        supported: u32,
    },
    /// No row with that id.
    #[error("{kind} {id} not found")]
    NotFound {
        /// "project", "pipeline" or "job".
        kind: &'static str,
        /// The id looked up.
        id: i64,
    },
    /// A row with that unique name already exists.
    #[error("{kind} `{name}` already exists")]
    Duplicate {
        /// "token".
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The request does not fit the current state (retrying a running job, say).
    #[error("{reason}")]
    Refused {
        /// Why, in words naming the row and its status.
        reason: String,
    },
    /// The job state machine refuses this change.
    #[error("job {job} cannot go from `{from}` to `{to}`")]
    InvalidTransition {
        /// The job.
        job: JobId,
        /// Its current status.
        from: JobStatus,
        /// The status asked for.
        to: JobStatus,
    },
    /// A job cannot be created in this status (see [`JobStatus::is_initial`]).
    #[error("a job cannot be created as `{status}`")]
    InvalidInitialStatus {
        /// The status asked for.
        status: JobStatus,
    },
    /// [`crate::store::Store::finish_job`] was given a status that is not final.
    #[error("job {job} cannot finish as `{status}`: not a final status")]
    NotFinal {
        /// The job.
        job: JobId,
        /// The status asked for.
        status: JobStatus,
    },
    /// A value cannot be stored as given (a log path that is not UTF-8, a process start
    /// time beyond SQLite's integers).
    #[error("cannot store {what}")]
    Unstorable {
        /// What it was, in words.
        what: String,
    },
    /// A row read back holds something this binary does not understand.
    #[error("{table} {id} has an invalid `{column}`: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// Any other SQLite failure, with what we were doing.
    #[error("store: cannot {action}")]
    Sqlite {
        /// What we were doing: "insert job", "list pipelines", …
        action: &'static str,
        /// SQLite's reason.
        #[source]
        source: rusqlite::Error,
    },
}

/// Adds the action being performed to a rusqlite error.
pub(crate) trait SqlContext<T> {
    /// Wraps the error in [`StoreError::Sqlite`] naming `action`.
    fn context(self, action: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn context(self, action: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { action, source })
    }
}
