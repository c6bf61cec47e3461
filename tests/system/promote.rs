//! Config repos and promotion through the real binary: `sluice init` writes a valid config
//! repo, `sluice config check --config-repo` accepts it (exit 0) and names file, line and key
//! of every error otherwise (exit 2).

use std::path::Path;

use crate::support::{dump, sluice};

#[test]
fn init_writes_a_config_repo_that_config_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let output = sluice(dir.path(), &["init", "config"]);
    assert!(output.status.success(), "{}", dump(&output));
    let output = sluice(dir.path(), &["config", "check", "--config-repo", "config"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("3 environments (dev → staging → production), 1 app"));
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template");
    let output = sluice(dir.path(), &["config", "check", "--config-repo", template.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    let again = sluice(dir.path(), &["init", "config"]);
    assert_eq!(again.status.code(), Some(2), "init refuses a non-empty directory: {}", dump(&again));
}

#[test]
fn config_check_names_file_line_and_key_of_each_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(sluice(dir.path(), &["init", "config"]).status.success());
    let production = dir.path().join("config/environments/production.yaml");
    let text = std::fs::read_to_string(&production).unwrap().replace("quorum: 2", "quorom: 2");
    std::fs::write(&production, text).unwrap();
    std::fs::write(dir.path().join("config/apps/hello/staging.yaml"), "version: 1.2\n").unwrap();
    let output = sluice(dir.path(), &["config", "check", "--config-repo", "config"]);
    assert_eq!(output.status.code(), Some(2), "{}", dump(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "config/environments/production.yaml:13:5: gates.approval.quorom: unknown key `quorom`\n\nhint: did you mean `quorum`?",
        "config/apps/hello/staging.yaml:1:10: version: must be a version `MAJOR.MINOR.PATCH`, not a float",
        "config/apps/hello/staging.yaml:1:1: missing required key `image`",
        "error: config repo `config` is invalid: 4 errors",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?}\n{}", dump(&output));
    }
}

use crate::promote_support::{TUESDAY, code, pin, world};

/// Staging: automatic after a 10 minute soak in dev; production as the template has it.
#[test]
fn releases_move_through_dev_and_staging_as_their_gates_open_with_time() {
    let world = world(TUESDAY, |_| {});
    world.release("1.0.0");
    world.wait_pinned("dev", "1.0.0");
    let alice = world.token("alice-laptop");
    let gates = world.cli(&alice, &["gates", "hello", "staging"]);
    assert_eq!(gates.status.code(), Some(1), "{}", dump(&gates));
    let stdout = String::from_utf8_lossy(&gates.stdout);
    assert!(stdout.contains("hello 1.0.0 → staging (nothing pinned)"), "{stdout}");
    assert!(stdout.contains("closed  from       1.0.0 was never deployed to dev"), "{stdout}");

    world.healthy("dev", "1.0.0", TUESDAY);
    let gates = world.cli(&alice, &["gates", "hello", "staging", "1.0.0"]);
    let stdout = String::from_utf8_lossy(&gates.stdout);
    assert!(stdout.contains("open    from       1.0.0 is healthy in dev"), "{stdout}");
    assert!(stdout.contains("closed  soak       healthy in dev for 0s of 10m; opens at 2026-12-01T09:10:00Z"), "{stdout}");
    assert_eq!(world.pinned("staging"), None);

    world.set_time("2026-12-01T09:10:00Z");
    world.wait_pinned("staging", "1.0.0");
    let message = world.last_message();
    assert!(message.starts_with("promote hello 1.0.0 to staging\n"), "{message}");
    assert!(message.contains("Release: hello 1.0.0 (127.0.0.1:5000/hello:1.0.0@sha256:"), "{message}");
    assert!(message.contains("  soak: open: healthy in dev for "), "{message}");
    assert!(message.contains("Requested-by: sluice (automatic promotion)"), "{message}");
    assert_eq!(world.log()[0], "promote hello 1.0.0 to staging | apps/hello/staging.yaml", "one file per promotion");
    let gates = world.cli(&alice, &["gates", "hello", "staging", "1.0.0"]);
    assert_eq!(gates.status.code(), Some(0), "{}", dump(&gates));
}

/// Production: two release managers, not the author, approvals expire, carol may not approve.
#[test]
fn production_needs_a_quorum_of_current_authorised_approvals_and_records_them() {
    let world = world(TUESDAY, |dir| {
        std::fs::write(dir.join("apps/hello/staging.yaml"), pin("1.0.0")).unwrap();
    });
    world.release("1.0.0");
    world.healthy("staging", "1.0.0", "2026-12-01T06:00:00Z");
    let (alice, bob, carol, mallory) =
        (world.token("alice-laptop"), world.token("bob-laptop"), world.token("carol-laptop"), world.token("mallory"));

    let refused = world.cli(&carol, &["approve", "hello", "production", "1.0.0"]);
    assert_eq!(refused.status.code(), Some(1), "{}", dump(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("`carol` may not approve in production (access.yaml)"));
    let stranger = world.cli(&mallory, &["approve", "hello", "production", "1.0.0"]);
    assert_eq!(stranger.status.code(), Some(1), "{}", dump(&stranger));
    assert!(String::from_utf8_lossy(&stranger.stderr).contains("token `mallory` belongs to no identity"));
    let bad = world.cli(&alice, &["approve", "hello", "production", "9.9.9"]);
    assert_eq!(bad.status.code(), Some(2), "unknown release: {}", dump(&bad));

    assert_eq!(code(&world.cli(&alice, &["approve", "hello", "production", "1.0.0", "--comment", "soaked"])).0, Some(0));
    let gates = world.cli(&bob, &["gates", "hello", "production"]);
    assert_eq!(gates.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gates.stdout).contains("closed  approval   1 of 2 approvals (alice)"), "{}", dump(&gates));
    let early = world.cli(&alice, &["promote", "hello", "production", "1.0.0"]);
    assert_eq!(early.status.code(), Some(1), "{}", dump(&early));
    assert!(String::from_utf8_lossy(&early.stderr).contains("closed: approval: 1 of 2 approvals"), "{}", dump(&early));

    // A day later alice's approval has expired: bob's alone is not a quorum.
    world.set_time("2026-12-02T10:00:00Z");
    assert_eq!(code(&world.cli(&bob, &["approve", "hello", "production", "1.0.0"])).0, Some(0));
    let gates = world.cli(&bob, &["gates", "hello", "production", "1.0.0"]);
    let stdout = String::from_utf8_lossy(&gates.stdout);
    assert!(stdout.contains("1 of 2 approvals (bob); not counted: alice (expired at 2026-12-02T09:00:00Z)"), "{stdout}");
    assert_eq!(code(&world.cli(&alice, &["approve", "hello", "production", "1.0.0"])).0, Some(0));
    assert_eq!(world.cli(&bob, &["gates", "hello", "production", "1.0.0"]).status.code(), Some(0));
    assert_eq!(world.pinned("production"), None, "production is promoted by hand");
    let promoted = world.cli(&carol, &["promote", "hello", "production", "1.0.0"]);
    assert_eq!(promoted.status.code(), Some(1), "carol may not promote there: {}", dump(&promoted));
    let promoted = world.cli(&alice, &["promote", "hello", "production", "1.0.0"]);
    assert_eq!(promoted.status.code(), Some(0), "{}", dump(&promoted));
    assert_eq!(world.pinned("production").as_deref(), Some("1.0.0"));
    assert_eq!(world.log()[0], "promote hello 1.0.0 to production | apps/hello/production.yaml");
    let message = world.last_message();
    assert!(message.contains("Approvers: bob, alice") && message.contains("Requested-by: alice"), "{message}");

    let history = world.cli(&bob, &["history", "hello", "production"]);
    assert!(String::from_utf8_lossy(&history.stdout).contains("promote   - → 1.0.0  by alice  approvers: bob,alice"), "{}", dump(&history));
    let audit = world.cli(&bob, &["audit", "--json"]);
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let rows = audit["audit"].as_array().unwrap();
    let carol_row = rows.iter().find(|r| r["token"] == "carol-laptop" && r["action"] == "approve").expect("carol's refusal is audited");
    assert_eq!(carol_row["outcome"], "refused");
    assert_eq!(carol_row["identity"], "carol");
    assert!(carol_row["remote"].as_str().unwrap().starts_with("127.0.0.1:"), "{carol_row}");
    assert!(rows.iter().any(|r| r["action"] == "promote" && r["outcome"] == "recorded" && r["identity"] == "alice"));
}

#[test]
fn a_rejection_blocks_the_release_for_the_environment_and_decisions_survive_kill_9() {
    let mut world = world(TUESDAY, |dir| {
        std::fs::write(dir.join("apps/hello/staging.yaml"), pin("1.0.0")).unwrap();
    });
    world.release("1.0.0");
    world.healthy("staging", "1.0.0", "2026-12-01T06:00:00Z");
    let (alice, bob) = (world.token("alice-laptop"), world.token("bob-laptop"));
    assert_eq!(code(&world.cli(&alice, &["approve", "hello", "production", "1.0.0"])).0, Some(0));
    assert_eq!(code(&world.cli(&bob, &["reject", "hello", "production", "1.0.0", "--comment", "login broken"])).0, Some(0));
    assert_eq!(code(&world.cli(&bob, &["approve", "hello", "production", "1.0.0"])).0, Some(0));
    // An answered decision is in the store: a daemon killed right after still has it.
    world.daemon.kill9();
    world.daemon.restart();
    let gates = world.cli(&alice, &["gates", "hello", "production", "1.0.0"]);
    assert_eq!(gates.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&gates.stdout);
    assert!(stdout.contains("closed  rejection  rejected by bob: login broken"), "{}", dump(&gates));
    assert!(stdout.contains("open    approval   2 of 2 approvals (alice, bob)"), "{}", dump(&gates));
    let refused = world.cli(&alice, &["promote", "hello", "production", "1.0.0"]);
    assert_eq!(refused.status.code(), Some(1), "{}", dump(&refused));
    assert_eq!(world.pinned("production"), None);
}

#[test]
fn rollback_pins_the_previous_release_and_blocks_the_bad_one() {
    let world = world(TUESDAY, |dir| {
        // Staging promotes as soon as dev is healthy.
        std::fs::write(dir.join("environments/staging.yaml"), "promote_from: dev\npromotion: auto\ngates: {from: true}\n").unwrap();
    });
    let alice = world.token("alice-laptop");
    world.release("1.0.0");
    world.healthy("dev", "1.0.0", TUESDAY);
    world.wait_pinned("staging", "1.0.0");
    world.release("1.1.0");
    world.healthy("dev", "1.1.0", TUESDAY);
    world.wait_pinned("staging", "1.1.0");

    let output = world.cli(&alice, &["rollback", "hello", "staging", "--reason", "errors on checkout"]);
    assert_eq!(output.status.code(), Some(0), "{}", dump(&output));
    assert_eq!(world.pinned("staging").as_deref(), Some("1.0.0"));
    let text = std::process::Command::new("git").arg("-C").arg(&world.bare).args(["show", "main:apps/hello/staging.yaml"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("blocked:\n  - version: \"1.1.0\"\n    reason: \"rolled back by alice: errors on checkout\""), "{text}");
    assert_eq!(world.log()[0], "rollback hello 1.0.0 to staging | apps/hello/staging.yaml");

    // Dev still runs 1.1.0, healthy: continuous promotion does not bring it back.
    let gates = world.cli(&alice, &["gates", "hello", "staging", "1.1.0"]);
    assert!(String::from_utf8_lossy(&gates.stdout).contains("closed  blocked    1.1.0 is blocked in staging: rolled back by alice"), "{}", dump(&gates));
    // Give the loop (1 s poll, and woken by the rollback) passes in which it could wrongly promote.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(world.pinned("staging").as_deref(), Some("1.0.0"));
    let refused = world.cli(&alice, &["promote", "hello", "staging", "1.1.0"]);
    assert_eq!(refused.status.code(), Some(1), "{}", dump(&refused));

    // A newer release that passes its gates replaces the pin.
    world.release("1.2.0");
    world.healthy("dev", "1.2.0", TUESDAY);
    world.wait_pinned("staging", "1.2.0");
}

#[test]
fn a_freeze_closes_promotion_unless_overridden_by_someone_allowed() {
    let world = world(TUESDAY, |dir| {
        std::fs::write(dir.join("apps/hello/staging.yaml"), pin("1.0.0")).unwrap();
    });
    world.release("1.0.0");
    world.healthy("staging", "1.0.0", "2026-12-01T06:00:00Z");
    let (alice, bob, carol) = (world.token("alice-laptop"), world.token("bob-laptop"), world.token("carol-laptop"));
    let refused = world.cli(&carol, &["freeze", "production", "--until", "2026-12-27T00:00:00Z"]);
    assert_eq!(refused.status.code(), Some(1), "{}", dump(&refused));
    let bad = world.cli(&alice, &["freeze", "production", "--until", "next week"]);
    assert_eq!(bad.status.code(), Some(2), "{}", dump(&bad));
    let frozen = world.cli(&alice, &["freeze", "production", "--until", "2026-12-27T00:00:00Z", "--reason", "holidays"]);
    assert_eq!(frozen.status.code(), Some(0), "{}", dump(&frozen));
    assert_eq!(world.log()[0], "freeze production until 2026-12-27T00:00:00Z | environments/production.yaml");

    assert_eq!(code(&world.cli(&alice, &["approve", "hello", "production", "1.0.0"])).0, Some(0));
    assert_eq!(code(&world.cli(&bob, &["approve", "hello", "production", "1.0.0"])).0, Some(0));
    let gates = world.cli(&alice, &["gates", "hello", "production", "1.0.0"]);
    assert_eq!(gates.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gates.stdout).contains("closed  freeze     frozen until 2026-12-27T00:00:00Z: holidays (by alice)"), "{}", dump(&gates));
    let refused = world.cli(&alice, &["promote", "hello", "production", "1.0.0"]);
    assert_eq!(refused.status.code(), Some(1), "{}", dump(&refused));
    let promoted = world.cli(&alice, &["promote", "hello", "production", "1.0.0", "--override"]);
    assert_eq!(promoted.status.code(), Some(0), "{}", dump(&promoted));
    assert!(world.last_message().contains("Overridden: freeze (by alice)"), "{}", world.last_message());
    let audit = world.cli(&bob, &["audit"]);
    assert!(String::from_utf8_lossy(&audit.stdout).contains("alice (alice-laptop)  from 127.0.0.1:"), "{}", dump(&audit));
    assert!(String::from_utf8_lossy(&audit.stdout).contains("promote --override  hello production 1.0.0  recorded"), "{}", dump(&audit));
}

#[test]
fn an_invalid_config_repo_commit_is_not_applied_and_blocks_promotion_with_its_errors() {
    let world = world(TUESDAY, |dir| {
        std::fs::write(dir.join("apps/hello/staging.yaml"), pin("1.0.0")).unwrap();
    });
    world.release("1.0.0");
    world.healthy("staging", "1.0.0", "2026-12-01T06:00:00Z");
    let alice = world.token("alice-laptop");
    let text = std::fs::read_to_string(world.work.join("environments/production.yaml")).unwrap();
    world.push_file("environments/production.yaml", &text.replace("quorum: 2", "quorom: 2"));
    let status = world.daemon.eventually("the bad commit is refused", || {
        let output = world.cli(&alice, &["gates", "hello", "production", "1.0.0"]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if stderr.contains("is invalid and not applied") { Ok(stderr) } else { Err(stderr) }
    });
    let status = status.unwrap();
    assert!(status.contains("environments/production.yaml:13:5: gates.approval.quorom: unknown key `quorom`"), "{status}");
    let refused = world.cli(&alice, &["approve", "hello", "production", "1.0.0"]);
    assert_eq!(refused.status.code(), Some(0), "approvals are recorded against the last valid commit: {}", dump(&refused));
    let refused = world.cli(&alice, &["freeze", "production", "--until", "2026-12-27T00:00:00Z"]);
    assert_eq!(refused.status.code(), Some(1), "{}", dump(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is invalid, so nothing is written until it is fixed") && stderr.contains("unknown key `quorom`"), "{stderr}");
    world.push_file("environments/production.yaml", &text);
    world.daemon.eventually("the fixed commit is applied", || {
        let output = world.cli(&alice, &["freeze", "production", "--until", "2026-12-27T00:00:00Z"]);
        if output.status.success() { Ok(()) } else { Err(dump(&output)) }
    }).unwrap();
}

#[test]
fn racing_approvals_completing_a_quorum_give_one_promotion_commit() {
    let world = world(TUESDAY, |dir| {
        std::fs::write(dir.join("apps/hello/staging.yaml"), pin("1.0.0")).unwrap();
        let production = "promote_from: staging\npromotion: auto\ngates:\n  approval: {quorum: 2, groups: [release-managers]}\n";
        std::fs::write(dir.join("environments/production.yaml"), production).unwrap();
        let access = "identities:\n  alice: {tokens: [alice-laptop]}\n  bob: {tokens: [bob-laptop]}\n  dave: {tokens: [dave-laptop]}\ngroups:\n  release-managers: [alice, bob, dave]\npermissions:\n  - {groups: [release-managers], actions: [approve, promote], environments: [dev, staging, production]}\n";
        std::fs::write(dir.join("access.yaml"), access).unwrap();
    });
    world.release("1.0.0");
    world.healthy("staging", "1.0.0", TUESDAY);
    let tokens = [world.token("alice-laptop"), world.token("bob-laptop"), world.token("dave-laptop")];
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = tokens
            .iter()
            .map(|token| scope.spawn(|| world.cli(token, &["approve", "hello", "production", "1.0.0"])))
            .collect();
        let promoters: Vec<_> = tokens
            .iter()
            .map(|token| scope.spawn(|| world.cli(token, &["promote", "hello", "production", "1.0.0"])))
            .collect();
        handles.into_iter().chain(promoters).map(|h| h.join().unwrap()).collect()
    });
    for output in &outputs[..3] {
        assert_eq!(output.status.code(), Some(0), "{}", dump(output));
    }
    world.wait_pinned("production", "1.0.0");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let promotions: Vec<String> = world.log().into_iter().filter(|l| l.contains("to production")).collect();
    assert_eq!(promotions, ["promote hello 1.0.0 to production | apps/hello/production.yaml"], "{:?}", world.log());
}
