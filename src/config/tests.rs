//! The whole file: the issue's minimal file, a full file, and error collection.

use super::*;
use secrecy::ExposeSecret;

pub(super) fn env() -> Environment {
    Environment::for_tests(Path::new("/etc/sluice"), &[("GITHUB_SECRET", "gh-secret"), ("GITLAB_API_TOKEN", "api")])
}

/// The rendered errors of an invalid file (warnings left out).
pub(super) fn errors(text: &str) -> Vec<String> {
    match parse("sluice.yaml", text, &env()) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(diags) => diags.errors().map(ToString::to_string).collect(),
    }
}

/// A valid file.
pub(super) fn valid(text: &str) -> Loaded {
    parse("sluice.yaml", text, &env()).unwrap_or_else(|diags| panic!("{diags}"))
}

const MINIMAL: &str = r#"listen: "127.0.0.1:8470"
data_dir: "/var/lib/sluice"
projects:
  - name: demo
    repo: "file:///srv/git/demo.git"
    branches: ["main"]
    poll: "2s"
    webhooks:
      gitlab_token: "env:DEMO_GITLAB_TOKEN"
      github_secret: "env:DEMO_GITHUB_SECRET"
      gerrit_secret: "env:DEMO_GERRIT_SECRET"
"#;

#[test]
fn the_minimal_file_of_the_issue_is_valid_with_one_warning_per_unset_variable() {
    let loaded = valid(MINIMAL);
    let config = &loaded.config;
    assert_eq!(config.listen.to_string(), "127.0.0.1:8470");
    assert_eq!(config.data_dir, Path::new("/var/lib/sluice"));
    assert_eq!(config.store, StoreUrl::Sqlite("/var/lib/sluice/sluice.db".into()));
    assert_eq!(config.concurrency.get(), 4);
    let demo = &config.projects[0];
    assert_eq!(demo.name.as_str(), "demo");
    assert_eq!(demo.repo, RepoUrl::Local("/srv/git/demo.git".into()));
    assert!(demo.branches.matches("main") && !demo.branches.matches("dev"));
    assert!(demo.tags.is_empty());
    assert_eq!(demo.poll, Some(std::time::Duration::from_secs(2)));
    assert!(demo.webhooks.gitlab_token.as_ref().is_some_and(|s| !s.is_available()));
    assert!(demo.webhooks.gitlab_signing_token.is_none());
    let warnings: Vec<String> = loaded.warnings.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "sluice.yaml:9:21: warning: projects[0].webhooks.gitlab_token: environment variable `DEMO_GITLAB_TOKEN` is not set; GitLab webhooks of `demo` are disabled (every delivery gets 401)",
            "sluice.yaml:10:22: warning: projects[0].webhooks.github_secret: environment variable `DEMO_GITHUB_SECRET` is not set; GitHub webhooks of `demo` are disabled (every delivery gets 401)",
            "sluice.yaml:11:22: warning: projects[0].webhooks.gerrit_secret: environment variable `DEMO_GERRIT_SECRET` is not set; Gerrit webhooks of `demo` are disabled (every delivery gets 401)",
        ]
    );
}

#[test]
fn a_full_file_reads_every_field() {
    let text = r#"
listen: "0.0.0.0:0"
data_dir: state
store: "sqlite:///srv/sluice.db"
concurrency: 8
projects:
  - name: group/app
    repo: "https://gitlab.example.com/group/app.git"
    branches: [main, "/^release-/"]
    tags: ["/^v\\d+/"]
    poll: off
    concurrency: 2
    default_branch: trunk
    ci_file: ci/main.yml
    forge: {type: gitlab, api_url: "https://gitlab.example.com/api/v4/", token: "env:GITLAB_API_TOKEN"}
    webhooks:
      github_secret: env:GITHUB_SECRET
      recheck_pattern: "^again$"
      max_body_bytes: 1MB
    schedules:
      - cron: "H 2 * * *"
        timezone: Europe/Berlin
        variables: {NIGHTLY: "1"}
      - cron: "@weekly"
"#;
    let loaded = valid(text);
    assert!(loaded.warnings.is_empty(), "{}", loaded.warnings);
    let config = loaded.config;
    assert_eq!(config.listen.port(), 0);
    assert_eq!(config.data_dir, Path::new("/etc/sluice/state"));
    assert_eq!(config.store, StoreUrl::Sqlite("/srv/sluice.db".into()));
    assert_eq!(config.concurrency.get(), 8);
    let app = &config.projects[0];
    assert_eq!(app.name.to_string(), "group/app");
    assert!(app.branches.matches("release-1.2") && !app.branches.matches("trunk"));
    assert!(app.tags.matches("v12") && !app.tags.matches("latest"));
    assert_eq!(app.poll, None);
    assert_eq!(app.concurrency.map(NonZeroUsize::get), Some(2));
    assert_eq!((app.default_branch.as_str(), app.ci_file.as_str()), ("trunk", "ci/main.yml"));
    let forge = app.forge.as_ref().unwrap();
    assert_eq!((forge.kind, forge.api_url.as_str()), (ForgeKind::Gitlab, "https://gitlab.example.com/api/v4"));
    assert_eq!(forge.auth.secret().value().map(|s| s.expose_secret()), Some("api"));
    assert_eq!(
        app.webhooks.github_secret.as_ref().and_then(|s| s.value()).map(|s| s.expose_secret()),
        Some("gh-secret")
    );
    assert!(app.webhooks.recheck_pattern.is_match("again") && !app.webhooks.recheck_pattern.is_match("recheck"));
    assert_eq!(app.webhooks.max_body_bytes, 1 << 20);
    assert_eq!(app.schedules.len(), 2);
    assert_eq!(app.schedules[0].git_ref, "trunk", "a schedule runs for the default branch by default");
    assert_eq!(app.schedules[1].written, "@weekly");
    assert_eq!(app.schedules[1].cron.split(' ').nth(2), Some("*"));
}

#[test]
fn every_error_of_the_file_is_reported_in_file_order() {
    let text = "projects:\n  - name: a\n    repo: /x\n    pol: 1m\n  - name: b\n    repo: ''\nlisten: nowhere\nconcurrency: many\n";
    let errors = errors(text);
    assert_eq!(
        errors,
        [
            "sluice.yaml:4:5: projects[0].pol: unknown key `pol`\n\nhint: did you mean `poll`?",
            "sluice.yaml:6:11: projects[1].repo: is empty\n\nhint: use `https://host/path`, `ssh://host/path`, `git@host:path`, `file:///path` or a local path",
            "sluice.yaml:7:9: listen: `nowhere` is not an IP address with a port\n\nhint: write `127.0.0.1:8470`, `0.0.0.0:8470` (every interface), `[::1]:8470` or `127.0.0.1:0` (any free port)",
            "sluice.yaml:8:14: concurrency: must be a positive integer, not a string",
        ]
    );
}

#[test]
fn syntax_errors_and_odd_roots_are_located() {
    let errors_of = |text: &str| errors(text);
    assert!(errors_of("listen: [\n")[0].starts_with("sluice.yaml:"), "{:?}", errors_of("listen: [\n"));
    assert_eq!(errors_of("")[0].lines().next().unwrap(), "sluice.yaml:1:1: is empty");
    assert_eq!(
        errors_of("- a\n"),
        [
            "sluice.yaml:1:1: must be a mapping of settings, not a sequence\n\nhint: start with `listen:`, `data_dir:` or `projects:` at the beginning of a line"
        ]
    );
}

#[test]
fn duplicate_keys_are_warnings() {
    let loaded = valid("listen: \"127.0.0.1:1\"\nlisten: \"127.0.0.1:2\"\nprojects: []\n");
    assert_eq!(loaded.config.listen.port(), 2);
    assert!(loaded.warnings.0.iter().any(|w| w.to_string().contains("listen")), "{}", loaded.warnings);
}

#[test]
fn load_reads_the_file_and_resolves_paths_against_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sluice.yaml");
    std::fs::write(dir.path().join("secret"), "from-file\n").unwrap();
    std::fs::write(
        &file,
        "data_dir: state\nprojects:\n  - {name: a, repo: ../a, webhooks: {gerrit_secret: 'file:secret'}}\n",
    )
    .unwrap();
    let loaded = load(&file).unwrap();
    assert_eq!(loaded.config.data_dir, dir.path().join("state"));
    assert_eq!(loaded.config.projects[0].repo, RepoUrl::Local(dir.path().join("../a")));
    let gerrit = loaded.config.projects[0].webhooks.gerrit_secret.as_ref().unwrap();
    assert_eq!(gerrit.value().map(|s| s.expose_secret()), Some("from-file"));
    assert!(matches!(load(&dir.path().join("missing.yaml")), Err(LoadError::Read { .. })));
}
