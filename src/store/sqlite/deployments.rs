//! The SQL of deployment details (migration 0006) and of reading deployments as history:
//! the current one of an environment and the latest attempts.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::promotions::{DEPLOYMENT_COLUMNS, deployment_from_row};
use crate::store::error::SqlContext;
use crate::store::{DeploymentDetails, DeploymentRow, StoreError, Timestamp};

pub(crate) fn current(conn: &Connection, app: &str, env: &str) -> Result<Option<DeploymentRow>, StoreError> {
    conn.query_row(
        &format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
             WHERE app = ?1 AND env = ?2 AND status = 'healthy' ORDER BY id DESC LIMIT 1"
        ),
        [app, env],
        deployment_from_row,
    )
    .optional()
    .context("read current deployment")
}

pub(crate) fn keep_healthy_since(conn: &Connection, id: i64, since: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE deployments SET healthy_since = ?2 WHERE id = ?1 AND healthy_since IS NULL",
        params![id, since],
    )
    .context("keep healthy_since")?;
    Ok(())
}

pub(crate) fn list(conn: &Connection, app: &str, env: &str, limit: u32) -> Result<Vec<DeploymentRow>, StoreError> {
    let mut statement = conn
        .prepare(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE app = ?1 AND env = ?2 ORDER BY id DESC LIMIT ?3"
        ))
        .context("list deployments")?;
    let rows = statement
        .query_map(params![app, env, limit], deployment_from_row)
        .context("list deployments")?;
    rows.collect::<Result<Vec<_>, _>>().context("list deployments")
}

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

    #[test]
    fn the_current_deployment_is_the_latest_healthy_one_and_failed_attempts_stay_listed() {
        let store = Store::open_in_memory().unwrap();
        let deploy = |version: &str, status: DeploymentStatus, at: i64| {
            let new = NewDeployment {
                app: "hello".into(),
                env: "dev".into(),
                version: version.into(),
                digest: format!("sha256:{version}"),
                status: DeploymentStatus::Deploying,
            };
            let id = store.insert_deployment(&new, Timestamp::from_unix_millis(at)).unwrap();
            store.set_deployment_status(id, status, None, Timestamp::from_unix_millis(at + 1)).unwrap();
            id
        };
        assert_eq!(store.current_deployment("hello", "dev").unwrap(), None);
        let first = deploy("1.0.0", DeploymentStatus::Healthy, 10);
        deploy("2.0.0", DeploymentStatus::Failed, 20);
        deploy("3.0.0", DeploymentStatus::RolledBack, 30);
        let current = store.current_deployment("hello", "dev").unwrap().unwrap();
        assert_eq!((current.id, current.healthy_since), (first, Some(Timestamp::from_unix_millis(11))));
        assert_eq!(store.latest_deployment("hello", "dev").unwrap().unwrap().version, "3.0.0");
        let listed: Vec<String> = store.deployments_of("hello", "dev", 2).unwrap().into_iter().map(|r| r.version).collect();
        assert_eq!(listed, ["3.0.0", "2.0.0"]);
        let fourth = deploy("4.0.0", DeploymentStatus::Healthy, 40);
        assert_eq!(store.current_deployment("hello", "dev").unwrap().unwrap().id, fourth);
        let new = NewDeployment {
            app: "hello".into(),
            env: "dev".into(),
            version: "4.0.0".into(),
            digest: "sha256:4.0.0".into(),
            status: DeploymentStatus::Deploying,
        };
        let again = store.insert_deployment(&new, Timestamp::from_unix_millis(50)).unwrap();
        store.keep_healthy_since(again, Timestamp::from_unix_millis(41)).unwrap();
        store.set_deployment_status(again, DeploymentStatus::Healthy, None, Timestamp::from_unix_millis(51)).unwrap();
        let current = store.current_deployment("hello", "dev").unwrap().unwrap();
        assert_eq!((current.id, current.healthy_since), (again, Some(Timestamp::from_unix_millis(41))));
        assert_eq!(store.current_deployment("hello", "staging").unwrap(), None);
    }
}
