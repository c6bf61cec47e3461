//! `cargo bench --bench promote`: two figures of issue 7.
//!
//! 1. Gate evaluation for 1,000 releases × 3 environments (`promote::gate::evaluate` over the
//!    template's environments, each with its deployments and approvals). Goal: under 50 ms.
//! 2. From the last gate opening to the promotion commit pushed: the approval that completes a
//!    quorum is recorded, then the promotion pass the daemon runs when an approval wakes it
//!    (fetch and validate the config repo, judge, commit the pin, push to a bare repository on
//!    disk). Goal: under 100 ms.
//!
//! Prints medians and worst cases; asserts nothing.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sluice::config::repo::{self, ConfigRepo, ConfigRepoSource};
use sluice::config::RepoUrl;
use sluice::promote::gate::{GateInput, evaluate};
use sluice::promote::{Actor, Clock, ConfigRepoHandle, Promoter};
use sluice::store::{
    ApprovalRow, Claim, DeploymentRow, DeploymentStatus, NewDeployment, NewPublication, PublicationState, Store,
    Timestamp, Verdict,
};

fn template() -> repo::RepoFiles {
    repo::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template")).expect("template")
}

fn median(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() - 1])
}

fn gate_evaluation(repo: &ConfigRepo) {
    let now: DateTime<Utc> = "2026-12-01T09:00:00Z".parse().expect("time");
    let versions: Vec<semver::Version> = (0..1000).map(|i| semver::Version::new(1, i / 100, i % 100)).collect();
    let deployments: Vec<DeploymentRow> = versions
        .iter()
        .map(|v| DeploymentRow {
            id: 1,
            app: "hello".into(),
            env: "staging".into(),
            version: v.to_string(),
            digest: "sha256:1".into(),
            status: DeploymentStatus::Healthy,
            started_at: Timestamp::from_unix_millis(0),
            finished_at: None,
            healthy_since: Some(Timestamp::from_unix_millis(now.timestamp_millis() - 3 * 3_600_000)),
            message: None,
            unhealthy_since: None,
            health_message: None,
        })
        .collect();
    let approvals: Vec<ApprovalRow> = ["alice", "bob"]
        .iter()
        .map(|who| ApprovalRow {
            id: 1,
            app: "hello".into(),
            env: "production".into(),
            version: "1.0.0".into(),
            identity: (*who).into(),
            verdict: Verdict::Approve,
            comment: None,
            created_at: Timestamp::from_unix_millis(now.timestamp_millis()),
        })
        .collect();
    let mut times = Vec::new();
    let mut open = 0;
    for _round in 0..15 {
        let started = Instant::now();
        for (version, previous) in versions.iter().zip(&deployments) {
            for env in &repo.environments {
                let evaluation = evaluate(&GateInput {
                    env,
                    version,
                    now,
                    previous: Some(previous),
                    attempt: None,
                    passed: &[],
                    approvals: &approvals,
                    access: &repo.access,
                    authors: &[],
                    pin: repo.pin("hello", env.name.as_str()),
                });
                open += usize::from(evaluation.all_open());
            }
        }
        times.push(started.elapsed());
    }
    let (median, worst) = median(times);
    println!(
        "gate evaluation, 1,000 releases x {} environments: median {median:.2?}, worst {worst:.2?} ({} open per round; goal: under 50 ms)",
        repo.environments.len(),
        open / 15
    );
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=B", "-c", "user.email=b@sluice.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn release(store: &Store, version: &str) {
    let now = Timestamp::now();
    let new = NewPublication {
        app: "hello".into(),
        version: version.into(),
        sha: "a".repeat(40),
        image: format!("127.0.0.1:5000/hello:{version}"),
        pipeline_id: None,
    };
    let Ok(Claim::Won(row)) = store.claim_publication(&new, Duration::from_secs(60), now) else { panic!("claim") };
    let digest = format!("sha256:{:0>64}", version.replace('.', ""));
    let lease = Duration::from_secs(60);
    store.advance_publication(row.id, row.attempt, PublicationState::ImagePushed, Some(&digest), lease, now).expect("push");
    store.advance_publication(row.id, row.attempt, PublicationState::TagPushed, None, lease, now).expect("tag");
    store.release_publication(row.id, row.attempt, now).expect("release");
}

fn last_gate_to_commit() {
    let dir = tempfile::tempdir().expect("temp");
    let work = dir.path().join("config");
    for (path, contents) in template() {
        let file = work.join(&path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, contents).expect("write");
    }
    // Production promotes by itself once two release managers approved.
    let production = "promote_from: staging\npromotion: auto\ngates:\n  from: true\n  approval: {quorum: 2, groups: [release-managers]}\n";
    std::fs::write(work.join("environments/production.yaml"), production).expect("write");
    let staging = "promote_from: dev\npromotion: auto\ngates: {from: true}\n";
    std::fs::write(work.join("environments/staging.yaml"), staging).expect("write");
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "config"]);
    let bare = dir.path().join("config.git");
    git(dir.path(), &["clone", "-q", "--bare", "config", "config.git"]);

    let store = Arc::new(Store::open(dir.path().join("sluice.db")).expect("store"));
    let source = ConfigRepoSource {
        repo: RepoUrl::Local(bare.clone()),
        credentials: Default::default(),
        branch: "main".into(),
        author: repo::CommitAuthor { name: "Sluice".into(), email: "sluice@localhost".into() },
        poll: Duration::from_secs(10),
    };
    let promoter = Promoter {
        store: store.clone(),
        config_repo: Arc::new(ConfigRepoHandle::new(source, dir.path().join("mirror.git"))),
        clock: Clock::System,
        mirrors_dir: dir.path().join("mirrors"),
    };
    promoter.config_repo.refresh();
    let actor = |token: &str| Actor { token_name: token.into(), remote: None };
    let mut times = Vec::new();
    for round in 0..20 {
        let version = format!("1.{round}.0");
        release(&store, &version);
        // Staging runs it, healthy; production waits for approvals (deployments of other
        // environments are not part of the figure).
        for env in ["dev", "staging"] {
            let new = NewDeployment {
                app: "hello".into(),
                env: env.into(),
                version: version.clone(),
                digest: "sha256:1".into(),
                status: DeploymentStatus::Healthy,
            };
            store.insert_deployment(&new, Timestamp::now()).expect("deployment");
        }
        promoter.promote_automatically();
        promoter.config_repo.refresh();
        promoter.promote_automatically();
        promoter.decide(&actor("alice-laptop"), ("hello", "production", &version), Verdict::Approve, None).expect("alice");
        let started = Instant::now();
        promoter.decide(&actor("bob-laptop"), ("hello", "production", &version), Verdict::Approve, None).expect("bob");
        promoter.config_repo.refresh();
        let promoted = promoter.promote_automatically();
        let elapsed = started.elapsed();
        assert!(
            promoted.iter().any(|p| p.env == "production" && p.version == version),
            "round {round}: {promoted:?}"
        );
        times.push(elapsed);
    }
    let (median, worst) = median(times);
    println!("last gate opening to promotion commit pushed: median {median:.2?}, worst {worst:.2?} (goal: under 100 ms)");
}

fn main() {
    let (repo, _) = repo::parse(&template(), "").expect("template");
    gate_evaluation(&repo);
    last_gate_to_commit();
}
