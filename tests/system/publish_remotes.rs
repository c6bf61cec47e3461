//! Release tags pushed to authenticated remotes: the daemon publishes `examples/publish` from
//! a repository served over HTTPS behind basic authentication and over SSH, and the
//! annotated tag `v0.1.0` arrives in the served repository through the same credentials the
//! mirror fetches with.

use std::process::Command;

use crate::daemon::Daemon;
use crate::mirrors::serve;
use crate::pipelines::{Remote, finished_pipeline};
use crate::publish::push_example;
use crate::registry::TestRegistry;
use crate::sshd::TestSshd;

/// Starts the daemon for `demo` at `repo` with `credentials`, publishing to `registry`, and
/// waits for the pipeline of `sha`; returns the daemon.
fn publish(repo: &str, credentials: &str, registry: &TestRegistry, sha: &str, env: &[(&str, &str)]) -> Daemon {
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{repo}\"\n    poll: 1s\n    credentials: {credentials}\n    publish:\n      registry: \"{}\"\n",
        registry.host
    );
    let daemon = Daemon::start(&config, env);
    let pipeline = finished_pipeline(&daemon, sha);
    let logs = Command::new("sh").arg("-c").arg(format!("cat {}/data/runs/*/*/* 2>/dev/null | tail -c 3000", daemon.root.display())).output().expect("logs");
    assert_eq!(pipeline.status.as_str(), "success", "{}\n{}", daemon.dump(), String::from_utf8_lossy(&logs.stdout));
    daemon
}

/// The tag `v0.1.0` of `remote`'s bare repository: its object type and the commit it names.
fn released_tag(remote: &Remote) -> (String, String) {
    let git = |args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(&remote.bare).args(args).output().expect("git");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    (git(&["cat-file", "-t", "v0.1.0"]), git(&["rev-parse", "v0.1.0^{commit}"]))
}

#[test]
fn a_release_tag_is_pushed_to_an_https_remote_behind_basic_authentication() {
    const TOKEN: &str = "tag-push-token-3f9a";
    let registry = TestRegistry::start();
    let remote = Remote::new();
    let sha = push_example(&remote);
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path(), remote.bare.parent().expect("parent"), Some(&format!("releaser:{TOKEN}")));
    let url = format!("https://127.0.0.1:{}/demo.git", server.port);
    let cert = server.cert.to_str().expect("utf-8");
    let daemon = publish(
        &url,
        "{username: releaser, password: \"env:RELEASE_TOKEN\"}",
        &registry,
        &sha,
        &[("SSL_CERT_FILE", cert), ("RELEASE_TOKEN", TOKEN)],
    );
    assert_eq!(released_tag(&remote), ("tag".to_owned(), sha), "{}", daemon.dump());
    assert!(daemon.store().get_release("hello", "0.1.0").expect("read").is_some());
    assert!(!daemon.stderr().contains(TOKEN));
}

#[test]
fn a_release_tag_is_pushed_to_an_ssh_remote() {
    let registry = TestRegistry::start();
    let remote = Remote::new();
    let sha = push_example(&remote);
    let sshd = TestSshd::start();
    let credentials = format!(
        "{{ssh_key: \"file:{}\", known_hosts: \"file:{}\"}}",
        sshd.client_key().display(),
        sshd.known_hosts().display()
    );
    let daemon = publish(&sshd.url(&remote.bare), &credentials, &registry, &sha, &[]);
    assert_eq!(released_tag(&remote), ("tag".to_owned(), sha), "{}\n{}", daemon.dump(), sshd.log());
}
