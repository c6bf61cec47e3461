use std::collections::BTreeMap;
use std::path::Path;

use chrono::TimeZone as _;

use super::*;
use crate::config::repo::{self, ConfigRepo};
use crate::store::{DeploymentStatus, Timestamp, Verdict};

fn repo() -> ConfigRepo {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template");
    repo::parse(&repo::load_dir(&dir).unwrap(), "").unwrap().0
}

/// `version` judged for production on Tuesday, staging running `previous`, nothing else recorded.
fn production<'a>(repo: &'a ConfigRepo, version: &'a Version, previous: Option<&'a DeploymentRow>) -> GateInput<'a> {
    GateInput {
        env: repo.environment("production").unwrap(),
        version,
        now: tuesday(),
        previous,
        attempt: None,
        passed: &[],
        approvals: &[],
        access: &repo.access,
        authors: &[],
        pin: None,
    }
}

/// Berlin wall-clock time.
fn berlin(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Berlin.with_ymd_and_hms(2026, 12, d, h, m, 0).unwrap().with_timezone(&Utc)
}

fn millis(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from_unix_millis(t.timestamp_millis())
}

fn deployment(version: &str, status: DeploymentStatus, healthy_since: Option<DateTime<Utc>>) -> DeploymentRow {
    DeploymentRow {
        id: 1,
        app: "hello".into(),
        env: "staging".into(),
        version: version.into(),
        digest: "sha256:1".into(),
        status,
        started_at: Timestamp::from_unix_millis(0),
        finished_at: None,
        healthy_since: healthy_since.map(millis),
        message: None,
        unhealthy_since: None,
        health_message: None,
    }
}

fn approval(identity: &str, verdict: Verdict, at: DateTime<Utc>) -> ApprovalRow {
    ApprovalRow {
        id: 1,
        app: "hello".into(),
        env: "production".into(),
        version: "1.2.3".into(),
        identity: identity.into(),
        verdict,
        comment: None,
        created_at: millis(at),
    }
}

fn states(evaluation: &Evaluation) -> BTreeMap<&'static str, (GateState, String)> {
    evaluation.gates.iter().map(|g| (g.gate, (g.state, g.why.clone()))).collect()
}

/// Tuesday 1 December 2026, 10:00 in Berlin: inside production's window.
fn tuesday() -> DateTime<Utc> {
    berlin(1, 10, 0)
}

#[test]
fn production_opens_with_soak_window_and_two_approvals() {
    let repo = repo();
    let env = repo.environment("production").unwrap();
    let version: Version = "1.2.3".parse().unwrap();
    let previous = deployment("1.2.3", DeploymentStatus::Healthy, Some(tuesday() - chrono::Duration::hours(3)));
    let approvals = [approval("alice", Verdict::Approve, tuesday()), approval("bob", Verdict::Approve, tuesday())];
    let input = GateInput {
        env,
        version: &version,
        now: tuesday(),
        previous: Some(&previous),
        attempt: None,
        passed: &[],
        approvals: &approvals,
        access: &repo.access,
        authors: &[],
        pin: None,
    };
    let evaluation = evaluate(&input);
    assert!(evaluation.all_open(), "{:#?}", evaluation);
    assert_eq!(evaluation.approvers, ["alice", "bob"]);

    // The author does not count; carol is in no approving group.
    let authors = ["bob".to_owned()];
    let approvals = [approval("alice", Verdict::Approve, tuesday()), approval("carol", Verdict::Approve, tuesday()), approval("bob", Verdict::Approve, tuesday())];
    let evaluation = evaluate(&GateInput { authors: &authors, approvals: &approvals, ..input });
    let (state, why) = &states(&evaluation)["approval"];
    assert_eq!(*state, GateState::Closed);
    assert_eq!(why, "1 of 2 approvals (alice); not counted: carol (not in an approving group), bob (authored the release); approvals expire after 1d; approvers from release-managers");
}

#[test]
fn soak_and_from_say_what_the_previous_environment_runs() {
    let repo = repo();
    let version: Version = "1.2.3".parse().unwrap();
    let base = production(&repo, &version, None);
    let gates = states(&evaluate(&base));
    assert_eq!(gates["from"], (GateState::Closed, "1.2.3 was never deployed to staging".into()));
    let older = deployment("1.2.2", DeploymentStatus::Healthy, Some(tuesday()));
    let gates = states(&evaluate(&GateInput { previous: Some(&older), ..base }));
    assert_eq!(gates["from"].1, "staging runs 1.2.2 (healthy), not 1.2.3");
    let fresh = deployment("1.2.3", DeploymentStatus::Healthy, Some(tuesday() - chrono::Duration::minutes(30)));
    let evaluation = evaluate(&GateInput { previous: Some(&fresh), ..base });
    let gates = states(&evaluation);
    assert_eq!(gates["from"].0, GateState::Open);
    assert_eq!(gates["soak"], (GateState::Closed, "healthy in staging for 30m of 2h; opens at 2026-12-01T10:30:00Z".into()));
    let later = evaluate(&GateInput { previous: Some(&fresh), now: tuesday() + chrono::Duration::minutes(90), ..base });
    assert_eq!(states(&later)["soak"].0, GateState::Open);

    // A failed attempt of 1.2.3 after 1.2.2 became healthy: closed, saying both.
    let mut failed = deployment("1.2.3", DeploymentStatus::Failed, None);
    failed.message = Some("target `local` failed".into());
    let gates = states(&evaluate(&GateInput { previous: Some(&older), attempt: Some(&failed), ..base }));
    assert_eq!(gates["from"].1, "1.2.3 is failed in staging: target `local` failed; staging still runs 1.2.2");
    assert_eq!(gates["soak"].0, GateState::Closed);
    // A failed attempt of another release leaves a healthy 1.2.3 current: open, soak from then.
    let newer = deployment("1.2.4", DeploymentStatus::Failed, None);
    let evaluation = evaluate(&GateInput { previous: Some(&fresh), attempt: Some(&newer), now: tuesday() + chrono::Duration::minutes(90), ..base });
    assert_eq!(states(&evaluation)["from"].0, GateState::Open);
    assert_eq!(states(&evaluation)["soak"].0, GateState::Open);
}

#[test]
fn an_unhealthy_current_deployment_closes_from_and_soak_saying_since_when() {
    let repo = repo();
    let version: Version = "1.2.3".parse().unwrap();
    let mut running = deployment("1.2.3", DeploymentStatus::Healthy, Some(tuesday() - chrono::Duration::hours(5)));
    running.unhealthy_since = Some(millis(tuesday() - chrono::Duration::minutes(10)));
    running.health_message = Some("the process of 1.2.3 on target `local` (pid 42) exited (signal: 9 (SIGKILL))".into());
    let gates = states(&evaluate(&production(&repo, &version, Some(&running))));
    let why = "1.2.3 is unhealthy in staging since 2026-12-01T08:50:00Z: the process of 1.2.3 on target `local` (pid 42) exited (signal: 9 (SIGKILL))";
    assert_eq!(gates["from"], (GateState::Closed, why.to_string()));
    assert_eq!(gates["soak"], (GateState::Closed, format!("soak of 2h not started: {why}")));
    // Recovered: healthy_since is the recovery, so soak counts from there, not from the deployment.
    let mut recovered = running.clone();
    recovered.unhealthy_since = None;
    recovered.healthy_since = Some(millis(tuesday() - chrono::Duration::minutes(1)));
    let gates = states(&evaluate(&production(&repo, &version, Some(&recovered))));
    assert_eq!(gates["from"].0, GateState::Open);
    assert_eq!(gates["soak"], (GateState::Closed, "healthy in staging for 1m of 2h; opens at 2026-12-01T10:59:00Z".into()));
}

#[test]
fn window_freeze_rejection_and_blocks_close_the_gates() {
    let mut repo = repo();
    let freeze = crate::config::repo::Freeze {
        from: None,
        until: berlin(27, 0, 0),
        reason: Some("holidays".into()),
        by: Some("alice".into()),
    };
    repo.environments.iter_mut().find(|e| e.name.as_str() == "production").unwrap().freezes.push(freeze);
    let env = repo.environment("production").unwrap();
    let version: Version = "1.2.3".parse().unwrap();
    let pin = crate::config::repo::Pin {
        version: "1.2.2".parse().unwrap(),
        image: "i:1.2.2".into(),
        digest: "sha256:2".into(),
        values: serde_json::json!({}),
        blocked: vec![crate::config::repo::Blocked { version: version.clone(), reason: Some("rolled back by bob".into()) }],
    };
    let approvals = [approval("bob", Verdict::Reject, tuesday())];
    // Friday 4 December, 16:30 Berlin: inside the deny rule.
    let friday = berlin(4, 16, 30);
    let evaluation = evaluate(&GateInput {
        env,
        version: &version,
        now: friday,
        previous: None,
        attempt: None,
        passed: &[],
        approvals: &approvals,
        access: &repo.access,
        authors: &[],
        pin: Some(&pin),
    });
    let gates = states(&evaluation);
    assert_eq!(gates["window"].1, "inside deny `Fri 16:00-24:00` (Europe/Berlin); opens at 2026-12-07T08:00:00Z");
    assert_eq!(gates["freeze"].1, "frozen until 2026-12-26T23:00:00Z: holidays (by alice)");
    assert_eq!(gates["rejection"].1, "rejected by bob");
    assert_eq!(gates["blocked"].1, "1.2.3 is blocked in production: rolled back by bob");
    assert!(!evaluation.only_overridable_closed());
}

#[test]
fn approvals_expire() {
    let repo = repo();
    let env = repo.environment("production").unwrap();
    let version: Version = "1.2.3".parse().unwrap();
    let approvals = [approval("alice", Verdict::Approve, tuesday() - chrono::Duration::hours(25)), approval("bob", Verdict::Approve, tuesday())];
    let evaluation = evaluate(&GateInput {
        env,
        version: &version,
        now: tuesday(),
        previous: None,
        attempt: None,
        passed: &[],
        approvals: &approvals,
        access: &repo.access,
        authors: &[],
        pin: None,
    });
    let why = &states(&evaluation)["approval"].1;
    assert!(why.starts_with("1 of 2 approvals (bob); not counted: alice (expired at 2026-12-01T08:00:00Z)"), "{why}");
}
