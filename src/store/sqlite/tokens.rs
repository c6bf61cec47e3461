//! The SQL of API tokens.

use rusqlite::{Connection, Row, params};

use crate::store::error::SqlContext;
use crate::store::sqlite::write::begin;
use crate::store::{StoreError, Timestamp, TokenRow, TokenScope};

pub(crate) fn create_token(
    conn: &mut Connection,
    name: &str,
    scope: TokenScope,
    hash: &str,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let tx = begin(conn)?;
    let id = tx
        .query_row(
            "INSERT INTO api_tokens (name, scope, hash, created_at) VALUES (?1, ?2, ?3, ?4)
             RETURNING id",
            params![name, scope.as_str(), hash, now],
            |row| row.get(0),
        )
        .map_err(|source| match source {
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                StoreError::Duplicate {
                    kind: "token",
                    name: name.to_owned(),
                }
            }
            source => StoreError::Sqlite {
                action: "insert token",
                source,
            },
        })?;
    tx.commit().context("commit token")?;
    Ok(id)
}

pub(crate) fn list_tokens(conn: &Connection) -> Result<Vec<TokenRow>, StoreError> {
    let mut statement = conn
        .prepare("SELECT id, name, scope, hash, created_at, last_used_at FROM api_tokens ORDER BY name")
        .context("list tokens")?;
    let rows = statement.query_map([], token_from_row).context("list tokens")?;
    let mut tokens = Vec::new();
    for row in rows {
        tokens.push(row.context("list tokens")??);
    }
    Ok(tokens)
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<Result<TokenRow, StoreError>> {
    let id: i64 = row.get(0)?;
    let scope: String = row.get(2)?;
    let Ok(scope) = scope.parse::<TokenScope>() else {
        return Ok(Err(StoreError::Corrupt {
            table: "api_token",
            id,
            column: "scope",
            detail: format!("`{scope}` is not a token scope"),
        }));
    };
    Ok(Ok(TokenRow {
        id,
        name: row.get(1)?,
        scope,
        hash: row.get(3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
    }))
}

pub(crate) fn revoke_token(conn: &mut Connection, name: &str) -> Result<bool, StoreError> {
    let changed = conn
        .execute("DELETE FROM api_tokens WHERE name = ?1", [name])
        .context("revoke token")?;
    Ok(changed > 0)
}

pub(crate) fn touch_token(conn: &mut Connection, id: i64, now: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )
    .context("record token use")?;
    Ok(())
}
