//! The SQL of deployment details (migration 0006).

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::store::error::SqlContext;
use crate::store::{DeploymentDetails, StoreError};

pub(crate) fn record_details(conn: &Connection, id: i64, details: &DeploymentDetails) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO deployment_details (deployment_id, config_sha, fingerprint, rendered, report, url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (deployment_id) DO UPDATE SET config_sha = ?2, fingerprint = ?3, rendered = ?4, report = ?5, url = ?6",
        params![id, details.config_sha, details.fingerprint, details.rendered, details.report, details.url],
    )
    .context("record deployment details")?;
    Ok(())
}

pub(crate) fn details(conn: &Connection, id: i64) -> Result<Option<DeploymentDetails>, StoreError> {
    conn.query_row(
        "SELECT config_sha, fingerprint, rendered, report, url FROM deployment_details WHERE deployment_id = ?1",
        [id],
        |row| {
            Ok(DeploymentDetails {
                config_sha: row.get(0)?,
                fingerprint: row.get(1)?,
                rendered: row.get(2)?,
                report: row.get(3)?,
                url: row.get(4)?,
            })
        },
    )
    .optional()
    .context("read deployment details")
}

#[cfg(test)]
mod tests {
    use crate::store::{DeploymentDetails, DeploymentStatus, NewDeployment, Store, Timestamp};

    #[test]
    fn details_are_kept_per_deployment_and_replaced_on_rewrite() {
        let store = Store::open_in_memory().unwrap();
        let new = NewDeployment {
            app: "hello".into(),
            env: "dev".into(),
            version: "1.0.0".into(),
            digest: "sha256:x".into(),
            status: DeploymentStatus::Deploying,
        };
        let id = store.insert_deployment(&new, Timestamp::now()).unwrap();
        assert_eq!(store.deployment_details(id).unwrap(), None);
        let mut details = DeploymentDetails {
            config_sha: "abc".into(),
            fingerprint: "f".into(),
            rendered: "[]".into(),
            report: "[]".into(),
            url: None,
        };
        store.record_deployment_details(id, &details).unwrap();
        details.url = Some("http://127.0.0.1:18080".into());
        store.record_deployment_details(id, &details).unwrap();
        assert_eq!(store.deployment_details(id).unwrap(), Some(details.clone()));
        assert!(
            store.record_deployment_details(id + 1, &details).is_err(),
            "no such deployment"
        );
        details.rendered = "not json".into();
        assert!(store.record_deployment_details(id, &details).is_err());
    }
}
