//! Commit statuses reported back to the forge: the real daemon runs real pipelines and
//! reports them to a recording forge ([`crate::forge_peer`]) that answers as GitLab's and
//! GitHub's APIs do, fails when told, and records every request.


use crate::daemon::Daemon;
use crate::forge_peer::{ForgePeer, Recorded};
use crate::pipelines::{Remote, finished_pipeline};

const TOKEN: &str = "glpat-f0rge-t0ken-xyz";

const PASSING: &str = "test:\n  script:\n    - echo ok\n";
const FAILING: &str = "test:\n  script:\n    - exit 4\n";

fn start(remote: &Remote, forge: &ForgePeer, kind: &str) -> Daemon {
    let forge_config = match kind {
        "gitlab" => format!(
            "{{type: gitlab, api_url: 'http://{}/api/v4', token: env:FORGE_TOKEN, project: group/demo}}",
            forge.addr
        ),
        _ => format!("{{type: github, api_url: 'http://{}', token: env:FORGE_TOKEN, project: acme/demo}}", forge.addr),
    };
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{}\"\n    branches: [\"main\"]\n    poll: \"1s\"\n    forge: {forge_config}\n",
        remote.bare.display()
    );
    Daemon::start(&config, &[("FORGE_TOKEN", TOKEN)])
}

/// Waits until the forge was sent a status for `sha` with `state` in field `field`.
fn wait_for_state(daemon: &Daemon, forge: &ForgePeer, sha: &str, field: &str, state: &str) -> Vec<Recorded> {
    let found = daemon.eventually(&format!("the forge got `{state}` for {sha}"), || {
        let requests = forge.requests();
        let seen: Vec<String> = requests.iter().map(|r| format!("{} {} {} -> {}", r.method, r.path, r.body[field], r.answered)).collect();
        let done = requests.iter().any(|r| r.path.ends_with(sha) && r.body[field] == state && r.answered < 300);
        if done { Ok(requests) } else { Err(format!("{seen:?}")) }
    });
    found.unwrap_or_else(|last| panic!("{last}"))
}

fn states_for(requests: &[Recorded], sha: &str, field: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path.ends_with(sha) && r.answered < 300)
        .map(|r| r.body[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The token appears only in the auth header: never in a path, another header, a body, or
/// the daemon's log.
fn assert_token_only_in(requests: &[Recorded], header: &str, expected: &str, daemon: &Daemon) {
    for request in requests {
        assert_eq!(request.header(header), Some(expected), "{request:?}");
        let elsewhere = request.path.contains(TOKEN)
            || request.body.to_string().contains(TOKEN)
            || request.headers.iter().any(|(name, value)| name != header && value.contains(TOKEN));
        assert!(!elsewhere, "the token leaked outside `{header}`: {request:?}");
    }
    assert!(!daemon.stderr().contains(TOKEN), "the token is in the daemon's log\n{}", daemon.stderr());
}

#[test]
fn gitlab_gets_statuses_of_a_passing_and_a_failing_pipeline_and_a_500_is_retried() {
    let remote = Remote::new();
    let forge = ForgePeer::start();
    // The first report meets a 500, the next a 429 asking for one second.
    forge.fail_next(&[(500, None), (429, Some("1"))]);
    let daemon = start(&remote, &forge, "gitlab");
    let passing = remote.push(PASSING, "passing");
    let pipeline = finished_pipeline(&daemon, &passing);
    let requests = wait_for_state(&daemon, &forge, &passing, "state", "success");
    let path = format!("/api/v4/projects/group%2Fdemo/statuses/{passing}");
    let ours: Vec<&Recorded> = requests.iter().filter(|r| r.path == path).collect();
    assert!(ours.iter().all(|r| r.method == "POST"), "{ours:?}");
    assert_eq!(ours.iter().take(2).map(|r| r.answered).collect::<Vec<_>>(), [500, 429], "{ours:?}");
    let last = ours.last().expect("a status");
    let target_url = format!("http://{}/api/v1/pipelines/{}", daemon.addr, pipeline.id.get());
    assert_eq!(last.body["name"], "sluice/push");
    assert_eq!(last.body["ref"], "main");
    assert_eq!(last.body["target_url"], target_url.as_str());
    assert_eq!(last.body["description"], format!("Pipeline #{} passed", pipeline.id.get()).as_str());
    assert_eq!(last.header("content-type"), Some("application/json"));
    let sent = states_for(&requests, &passing, "state");
    assert!(sent.iter().all(|s| ["pending", "running", "success"].contains(&s.as_str())), "{sent:?}");

    let failing = remote.push(FAILING, "failing");
    finished_pipeline(&daemon, &failing);
    let requests = wait_for_state(&daemon, &forge, &failing, "state", "failed");
    assert_eq!(states_for(&requests, &failing, "state").last().map(String::as_str), Some("failed"));
    assert_token_only_in(&requests, "private-token", TOKEN, &daemon);
    assert!(daemon.stderr().contains("failed (attempt 1)"), "the 500 is logged\n{}", daemon.stderr());
}

#[test]
fn a_report_pending_at_kill_9_is_sent_after_the_restart() {
    let remote = Remote::new();
    let forge = ForgePeer::start();
    forge.set_down(true);
    let mut daemon = start(&remote, &forge, "gitlab");
    let sha = remote.push(PASSING, "passing");
    finished_pipeline(&daemon, &sha);
    // The final status has been tried against the failing forge at least once, and not sent.
    let tried = daemon.eventually("the success status was tried", || {
        let requests = forge.requests();
        let tried = requests.iter().any(|r| r.path.ends_with(&sha) && r.body["state"] == "success");
        if tried { Ok(()) } else { Err(format!("{} requests", requests.len())) }
    });
    tried.unwrap_or_else(|last| panic!("{last}"));
    daemon.kill9();
    forge.set_down(false);
    daemon.restart();
    let requests = wait_for_state(&daemon, &forge, &sha, "state", "success");
    let delivered: Vec<&Recorded> = requests.iter().filter(|r| r.answered < 300).collect();
    assert_eq!(delivered.len(), 1, "only the newest state is sent after the restart: {delivered:?}");
}

#[test]
fn github_gets_commit_statuses_in_its_own_words() {
    let remote = Remote::new();
    let forge = ForgePeer::start();
    let daemon = start(&remote, &forge, "github");
    let sha = remote.push(FAILING, "failing");
    finished_pipeline(&daemon, &sha);
    let requests = wait_for_state(&daemon, &forge, &sha, "state", "failure");
    let last = requests.iter().rev().find(|r| r.path == format!("/repos/acme/demo/statuses/{sha}")).expect("a status");
    assert_eq!((last.method.as_str(), last.body["context"].as_str()), ("POST", Some("sluice/push")));
    assert_eq!(last.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(last.header("x-github-api-version"), Some("2022-11-28"));
    assert!(last.header("user-agent").is_some_and(|ua| ua.starts_with("sluice/")));
    assert_token_only_in(&requests, "authorization", &format!("Bearer {TOKEN}"), &daemon);
}

#[test]
fn gerrit_gets_a_verified_vote_on_the_patchset_a_pipeline_ran_for() {
    let remote = Remote::new();
    remote.push(PASSING, "base");
    // The patch set: a failing commit on the change ref only, as Gerrit stores it; its job has
    // `rules`, since GitLab leaves jobs without any out of merge request pipelines.
    let failing_in_reviews = "test:\n  rules:\n    - when: on_success\n  script:\n    - exit 4\n";
    std::fs::write(remote.work.join(".gitlab-ci.yml"), failing_in_reviews).expect("write");
    crate::pipelines::git(&remote.work, &["commit", "-q", "-am", "a change that fails"]);
    crate::pipelines::git(&remote.work, &["push", "-q", "origin", "HEAD:refs/changes/02/2/1"]);
    let sha = crate::pipelines::git(&remote.work, &["rev-parse", "HEAD"]);
    let forge = ForgePeer::start();
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{}\"\n    branches: [\"main\"]\n    poll: off\n    webhooks: {{gerrit_secret: env:GERRIT_HOOK}}\n    \
         forge: {{type: gerrit, api_url: 'http://{}', user: sluice-ci, password: env:FORGE_TOKEN}}\n",
        remote.bare.display(),
        forge.addr
    );
    let daemon = Daemon::start(&config, &[("FORGE_TOKEN", TOKEN), ("GERRIT_HOOK", "hook-secret")]);
    let fixture = std::fs::read_to_string(format!(
        "{}/tests/fixtures/webhooks/gerrit/patchset_created.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let mut event: serde_json::Value = serde_json::from_str(&fixture).expect("JSON");
    event["patchSet"]["revision"] = serde_json::json!(sha);
    event["change"]["branch"] = serde_json::json!("main");
    let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let accepted = daemon.post("/hooks/gerrit/demo?token=hook-secret", &headers, event.to_string().as_bytes());
    assert_eq!(accepted.status, 202, "{accepted}\n{}", daemon.dump());
    let pipeline = finished_pipeline(&daemon, &sha);
    let review_path = format!("/a/changes/TestRepo1~2/revisions/{sha}/review");
    let reviews = daemon.eventually("the vote reached Gerrit", || {
        let requests = forge.requests();
        let reviews: Vec<Recorded> = requests.iter().filter(|r| r.path == review_path).cloned().collect();
        if reviews.is_empty() { Err(format!("{requests:?}")) } else { Ok(reviews) }
    });
    let reviews = reviews.unwrap_or_else(|last| panic!("{last}"));
    assert_eq!(reviews.len(), 1, "one vote, when the pipeline finished: {reviews:?}");
    let review = &reviews[0];
    assert_eq!(review.method, "POST");
    assert_eq!(review.body["labels"], serde_json::json!({"Verified": -1}));
    let link = format!("http://{}/api/v1/pipelines/{}", daemon.addr, pipeline.id.get());
    assert!(review.body["message"].as_str().is_some_and(|m| m.contains(&link)), "{review:?}");
    let basic = format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("sluice-ci:{TOKEN}")));
    assert_token_only_in(&reviews, "authorization", &basic, &daemon);
}

#[test]
fn a_github_app_gets_one_check_run_that_ends_in_the_pipelines_conclusion() {
    let remote = Remote::new();
    let forge = ForgePeer::start();
    let keys = tempfile::tempdir().expect("temp dir");
    let key = keys.path().join("app.pem");
    // GitHub issues App keys as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), as `-traditional` writes.
    let made = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{}\"\n    branches: [\"main\"]\n    poll: \"1s\"\n    \
         forge: {{type: github, api_url: 'http://{}', app_id: 12345, private_key: 'file:{}', project: acme/demo}}\n",
        remote.bare.display(),
        forge.addr,
        key.display()
    );
    let daemon = Daemon::start(&config, &[]);
    let sha = remote.push(FAILING, "failing");
    finished_pipeline(&daemon, &sha);
    let requests = daemon.eventually("the check run completed", || {
        let requests = forge.requests();
        // Created at once as completed when the pipeline ended before the first report went
        // out (only the newest state is sent), else created, then patched.
        let done = requests.iter().any(|r| r.path.contains("/check-runs") && r.body["conclusion"] == "failure");
        if done { Ok(requests) } else { Err(format!("{requests:?}")) }
    });
    let requests = requests.unwrap_or_else(|last| panic!("{last}"));
    let paths: Vec<String> = requests.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(paths[..2], ["GET /repos/acme/demo/installation", "POST /app/installations/77/access_tokens"], "{paths:?}");
    let jwt = requests[0].header("authorization").and_then(|a| a.strip_prefix("Bearer ")).expect("a JWT");
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    let created: Vec<&Recorded> = requests.iter().filter(|r| r.path == "/repos/acme/demo/check-runs").collect();
    assert_eq!(created.len(), 1, "one check run per pipeline: {paths:?}");
    assert_eq!((created[0].body["head_sha"].as_str(), created[0].body["name"].as_str()), (Some(sha.as_str()), Some("sluice/push")));
    let updates: Vec<&Recorded> = requests.iter().filter(|r| r.method == "PATCH").collect();
    assert!(updates.iter().all(|r| r.path == "/repos/acme/demo/check-runs/4242"), "{paths:?}");
    for request in requests.iter().filter(|r| r.path.contains("check-runs")) {
        assert_eq!(request.header("authorization"), Some("Bearer ghs_installation_token"));
    }
    let pem = std::fs::read_to_string(&key).expect("key");
    let key_line = pem.lines().nth(1).expect("a key line");
    assert!(!daemon.stderr().contains(key_line) && !daemon.stderr().contains("ghs_installation_token"), "{}", daemon.stderr());
}
