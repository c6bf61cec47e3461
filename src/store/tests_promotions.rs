//! Store tests of deployments, approvals, pin commits and the audit log.

use super::*;

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

#[test]
fn healthy_since_is_the_first_time_healthy_and_failure_clears_it() {
    let store = Store::open_in_memory().unwrap();
    let new = NewDeployment {
        app: "hello".into(),
        env: "dev".into(),
        version: "1.0.0".into(),
        digest: "sha256:1".into(),
        status: DeploymentStatus::Deploying,
    };
    let id = store.insert_deployment(&new, at(1)).unwrap();
    assert!(store.set_deployment_status(id, DeploymentStatus::Healthy, None, at(5)).unwrap());
    assert!(store.set_deployment_status(id, DeploymentStatus::Healthy, None, at(9)).unwrap());
    let row = store.latest_deployment("hello", "dev").unwrap().unwrap();
    assert_eq!((row.status, row.healthy_since, row.finished_at), (DeploymentStatus::Healthy, Some(at(5)), Some(at(9))));
    store.set_deployment_status(id, DeploymentStatus::Failed, Some("health check failed"), at(12)).unwrap();
    let row = store.latest_deployment("hello", "dev").unwrap().unwrap();
    assert_eq!((row.healthy_since, row.message.as_deref()), (None, Some("health check failed")));
    assert!(store.latest_deployment("hello", "staging").unwrap().is_none());
}

#[test]
fn the_audit_log_is_append_only() {
    let store = Store::open_in_memory().unwrap();
    let entry = NewAuditEntry {
        identity: Some("alice".into()),
        token_name: Some("alice-laptop".into()),
        remote: Some("127.0.0.1:5000".into()),
        action: "approve".into(),
        app: Some("hello".into()),
        env: Some("production".into()),
        version: Some("1.0.0".into()),
        outcome: AuditOutcome::Recorded,
        detail: "approved".into(),
    };
    store.append_audit(&entry, at(1)).unwrap();
    store.append_audit(&NewAuditEntry { outcome: AuditOutcome::Refused, ..entry }, at(2)).unwrap();
    let rows = store.list_audit(10).unwrap();
    assert_eq!(rows.iter().map(|r| r.outcome).collect::<Vec<_>>(), [AuditOutcome::Refused, AuditOutcome::Recorded]);
    let conn = store.conn();
    let update = conn.execute("UPDATE audit_log SET detail = 'x'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM audit_log", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[test]
fn approvals_and_promotions_read_back() {
    let store = Store::open_in_memory().unwrap();
    store.record_approval(("hello", "production", "1.0.0"), "alice", Verdict::Approve, Some("lgtm"), at(1)).unwrap();
    store.record_approval(("hello", "production", "1.0.0"), "bob", Verdict::Reject, None, at(2)).unwrap();
    store.record_approval(("hello", "production", "1.0.1"), "bob", Verdict::Approve, None, at(3)).unwrap();
    let rows = store.approvals_of("hello", "production", "1.0.0").unwrap();
    assert_eq!(rows.iter().map(|r| (r.identity.as_str(), r.verdict)).collect::<Vec<_>>(), [
        ("alice", Verdict::Approve),
        ("bob", Verdict::Reject)
    ]);
    let new = NewPromotion {
        app: "hello".into(),
        env: "production".into(),
        version: "1.0.1".into(),
        kind: PromotionKind::Promote,
        previous_version: Some("1.0.0".into()),
        commit_sha: "abc".into(),
        identity: None,
        gates: serde_json::json!([{"gate": "approval", "state": "open"}]),
        approvers: serde_json::json!(["bob"]),
    };
    store.record_promotion(&new, at(4)).unwrap();
    let rows = store.promotions_of("hello", "production", 10).unwrap();
    assert_eq!((rows.len(), rows[0].approvers.clone()), (1, serde_json::json!(["bob"])));
}
