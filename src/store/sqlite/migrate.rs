//! Schema migrations: numbered SQL files applied in order, tracked by `PRAGMA user_version`.
//!
//! Why not `rusqlite_migration`: each of its releases pins one rusqlite minor version, so it
//! would hold back rusqlite upgrades, and the PostgreSQL backend needs its own runner anyway.
//! The whole mechanism is the loop below: same files-on-disk convention for both backends.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::StoreError;
use crate::store::error::SqlContext;

/// One schema step: `migrations/sqlite/NNNN_name.sql`.
pub(crate) struct Migration {
    /// The schema version after this step (`NNNN`), from 1 without gaps.
    pub(crate) version: u32,
    /// The file name's `name` part.
    pub(crate) name: &'static str,
    /// The SQL, run as one batch.
    pub(crate) sql: &'static str,
}

/// Every migration, in order. A new file must be added here too (a test checks).
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "events",
        sql: include_str!("../migrations/sqlite/0002_events.sql"),
    },
    Migration {
        version: 3,
        name: "tokens",
        sql: include_str!("../migrations/sqlite/0003_tokens.sql"),
    },
    Migration {
        version: 4,
        name: "publications",
        sql: include_str!("../migrations/sqlite/0004_publications.sql"),
    },
    Migration {
        version: 5,
        name: "promotions",
        sql: include_str!("../migrations/sqlite/0005_promotions.sql"),
    },
    Migration {
        version: 6,
        name: "deployment_details",
        sql: include_str!("../migrations/sqlite/0006_deployment_details.sql"),
    },
    Migration {
        version: 7,
        name: "event_dedup_index",
        sql: include_str!("../migrations/sqlite/0007_event_dedup_index.sql"),
    },
    Migration {
        version: 8,
        name: "status_reports",
        sql: include_str!("../migrations/sqlite/0008_status_reports.sql"),
    },
    Migration {
        version: 9,
        name: "deployment_health",
        sql: include_str!("../migrations/sqlite/0009_deployment_health.sql"),
    },
];

/// The schema version this binary writes.
#[cfg(test)]
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the schema up to date; a no-op when it already is.
///
/// # Guarantees
///
/// Each migration and its `user_version` bump commit together, so a failure or a crash
/// leaves the schema at the last complete version. `BEGIN IMMEDIATE` makes two processes
/// opening the same file at once migrate one after the other.
///
/// # Errors
///
/// [`StoreError::SchemaTooNew`] for a file written by a newer binary;
/// [`StoreError::Migration`] naming the step that failed.
pub(crate) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    apply(conn, MIGRATIONS)
}

/// [`run`] over any list (tests pass a broken one).
fn apply(conn: &mut Connection, migrations: &[Migration]) -> Result<(), StoreError> {
    let supported = migrations.last().map_or(0, |m| m.version);
    for migration in migrations {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("begin migration")?;
        let current: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .context("read schema version")?;
        if current > i64::from(supported) {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported,
            });
        }
        if current >= i64::from(migration.version) {
            continue;
        }
        let failed = |source| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        tx.execute_batch(migration.sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", migration.version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1, "{}", migration.name);
        }
    }

    #[test]
    fn every_migration_file_is_registered() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations dir")
            .map(|entry| {
                entry
                    .expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let registered: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, registered);
    }

    #[test]
    fn a_failing_migration_leaves_the_schema_unchanged() {
        let mut conn = Connection::open_in_memory().expect("open");
        run(&mut conn).expect("migrate");
        let broken = Migration {
            version: latest_version() + 1,
            name: "broken",
            sql: "CREATE TABLE t (x); NOT SQL;",
        };
        let mut list: Vec<Migration> = MIGRATIONS.iter().map(|m| Migration { ..*m }).collect();
        list.push(broken);
        let err = apply(&mut conn, &list).expect_err("broken migration");
        let expected = format!(
            "store migration {:04} `broken` failed",
            latest_version() + 1
        );
        assert_eq!(err.to_string(), expected);
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, i64::from(latest_version()));
        let t_exists: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 't'",
                [],
                |r| r.get(0),
            )
            .expect("query");
        assert_eq!(t_exists, 0);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", 99)
            .expect("set version");
        let err = run(&mut conn).expect_err("too new");
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
    }
}
