//! The SQL of deployment details (migration 0006), of reading deployments as history (the
//! current one of an environment and the latest attempts), and of their health transitions
//! (migration 0009).

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::promotions::{DEPLOYMENT_COLUMNS, deployment_from_row};
use crate::store::error::SqlContext;
use crate::store::{DeploymentDetails, DeploymentHealth, DeploymentRow, HealthRow, StoreError, Timestamp};

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

/// Records that healthy deployment `id` became `health` at `now`, when that is a change:
/// unhealthy sets `unhealthy_since`; healthy again clears it and moves `healthy_since` to
/// `now`. The row and its `deployment_health` entry are written in one transaction.
pub(crate) fn record_health(
    conn: &mut Connection,
    id: i64,
    health: DeploymentHealth,
    message: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin health transition")?;
    let sql = match health {
        DeploymentHealth::Unhealthy => {
            "UPDATE deployments SET unhealthy_since = ?2, health_message = ?3
             WHERE id = ?1 AND status = 'healthy' AND unhealthy_since IS NULL"
        }
        DeploymentHealth::Healthy => {
            "UPDATE deployments SET unhealthy_since = NULL, healthy_since = ?2, health_message = ?3
             WHERE id = ?1 AND status = 'healthy' AND unhealthy_since IS NOT NULL"
        }
    };
    let changed = tx.execute(sql, params![id, now, message]).context("record health")? > 0;
    if changed {
        tx.execute(
            "INSERT INTO deployment_health (deployment_id, health, at, message) VALUES (?1, ?2, ?3, ?4)",
            params![id, health, now, message],
        )
        .context("record health transition")?;
    }
    tx.commit().context("commit health transition")?;
    Ok(changed)
}

/// The health transitions of deployment `id`, oldest first.
pub(crate) fn health_of(conn: &Connection, id: i64) -> Result<Vec<HealthRow>, StoreError> {
    let mut statement = conn
        .prepare("SELECT deployment_id, health, at, message FROM deployment_health WHERE deployment_id = ?1 ORDER BY id")
        .context("list health transitions")?;
    let rows = statement
        .query_map([id], |row| {
            Ok(HealthRow {
                deployment_id: row.get(0)?,
                health: row.get(1)?,
                at: row.get(2)?,
                message: row.get(3)?,
            })
        })
        .context("list health transitions")?;
    rows.collect::<Result<Vec<_>, _>>().context("list health transitions")
}

pub(crate) fn digests_in_use(conn: &Connection, per_environment: u32) -> Result<Vec<String>, StoreError> {
    let mut statement = conn
        .prepare(
            "WITH last AS (
                 SELECT app, env, digest, MAX(id) AS id FROM deployments WHERE status = 'healthy' GROUP BY app, env, digest
             ),
             ranked AS (
                 SELECT digest, ROW_NUMBER() OVER (PARTITION BY app, env ORDER BY id DESC) AS n FROM last
             )
             SELECT digest FROM ranked WHERE n <= ?1
             UNION SELECT digest FROM deployments WHERE status IN ('pending', 'deploying')
             ORDER BY digest",
        )
        .context("list digests in use")?;
    let rows = statement
        .query_map([per_environment], |row| row.get(0))
        .context("list digests in use")?;
    rows.collect::<Result<Vec<_>, _>>().context("list digests in use")
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

    /// A deployment of hello 1.0.0 at `digest` to `env`, starting `deploying`.
    fn deploying(env: &str, digest: &str) -> NewDeployment {
        NewDeployment {
            app: "hello".into(),
            env: env.into(),
            version: "1.0.0".into(),
            digest: digest.into(),
            status: DeploymentStatus::Deploying,
        }
    }

    #[test]
    fn details_are_kept_per_deployment_and_replaced_on_rewrite() {
        let store = Store::open_in_memory().unwrap();
        let id = store.insert_deployment(&deploying("dev", "sha256:x"), Timestamp::now()).unwrap();
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

    #[test]
    fn the_digests_in_use_are_the_latest_healthy_releases_of_each_environment_and_those_deploying() {
        let store = Store::open_in_memory().unwrap();
        let deploy = |env: &str, digest: &str, status: DeploymentStatus| {
            let id = store.insert_deployment(&deploying(env, digest), Timestamp::from_unix_millis(1)).unwrap();
            if status != DeploymentStatus::Deploying {
                store.set_deployment_status(id, status, None, Timestamp::from_unix_millis(2)).unwrap();
            }
        };
        for (env, digest, status) in [
            ("dev", "sha256:a", DeploymentStatus::Healthy),
            ("dev", "sha256:b", DeploymentStatus::Healthy),
            ("dev", "sha256:c", DeploymentStatus::Healthy),
            ("dev", "sha256:c", DeploymentStatus::Healthy),
            ("dev", "sha256:d", DeploymentStatus::Failed),
            ("staging", "sha256:a", DeploymentStatus::Healthy),
            ("staging", "sha256:e", DeploymentStatus::Deploying),
        ] {
            deploy(env, digest, status);
        }
        let digests = store.digests_in_use(2).unwrap();
        assert_eq!(digests, ["sha256:a", "sha256:b", "sha256:c", "sha256:e"], "dev keeps c and b, staging a and e");
        assert_eq!(store.digests_in_use(1).unwrap(), ["sha256:a", "sha256:c", "sha256:e"]);
    }

    #[test]
    fn health_transitions_are_recorded_once_and_recovery_restarts_healthy_since() {
        use crate::store::DeploymentHealth::{Healthy, Unhealthy};
        let store = Store::open_in_memory().unwrap();
        let at = Timestamp::from_unix_millis;
        let id = store.insert_deployment(&deploying("dev", "sha256:x"), at(10)).unwrap();
        assert!(!store.record_health(id, Unhealthy, "down", at(11)).unwrap(), "not healthy yet: nothing to lose");
        store.set_deployment_status(id, DeploymentStatus::Healthy, None, at(20)).unwrap();
        assert!(!store.record_health(id, Healthy, "fine", at(25)).unwrap(), "healthy already: no transition");
        assert!(store.record_health(id, Unhealthy, "connection refused", at(30)).unwrap());
        assert!(!store.record_health(id, Unhealthy, "still refused", at(35)).unwrap(), "no second transition");
        let row = store.current_deployment("hello", "dev").unwrap().unwrap();
        assert_eq!((row.id, row.unhealthy_since, row.healthy_since), (id, Some(at(30)), Some(at(20))));
        assert_eq!(row.health_message.as_deref(), Some("connection refused"));
        assert!(store.record_health(id, Healthy, "recovered", at(40)).unwrap());
        let row = store.current_deployment("hello", "dev").unwrap().unwrap();
        assert_eq!((row.unhealthy_since, row.healthy_since), (None, Some(at(40))), "soak counts from the recovery");
        let transitions: Vec<_> = store.health_of(id).unwrap().into_iter().map(|h| (h.health, h.at, h.message)).collect();
        assert_eq!(
            transitions,
            [(Unhealthy, at(30), "connection refused".to_string()), (Healthy, at(40), "recovered".to_string())]
        );
        store.set_deployment_status(id, DeploymentStatus::Failed, Some("displaced"), at(50)).unwrap();
        assert!(!store.record_health(id, Unhealthy, "down", at(60)).unwrap(), "a failed deployment is left alone");
    }
}
