//! The top-level fields: `listen`, `data_dir`, `store`, `concurrency`, `projects`.

use crate::config::tests::{errors, valid};
use crate::config::{StoreUrl, parse};
use std::path::Path;

#[test]
fn defaults() {
    let config = valid("projects: []\n").config;
    assert_eq!(config.listen.to_string(), "127.0.0.1:8470");
    assert_eq!(config.data_dir, Path::new("/var/lib/sluice"));
    assert_eq!(config.store, StoreUrl::Sqlite("/var/lib/sluice/sluice.db".into()));
    assert_eq!(config.concurrency.get(), 4, "the number of cores");
    assert!(config.projects.is_empty());
}

#[test]
fn listen_takes_ip_addresses_with_a_port() {
    assert_eq!(valid("listen: '[::1]:9000'\nprojects: []\n").config.listen.to_string(), "[::1]:9000");
    assert_eq!(valid("listen: 127.0.0.1:0\nprojects: []\n").config.listen.port(), 0);
    assert_eq!(
        errors("listen: localhost:8470\n")[0].lines().next().unwrap(),
        "sluice.yaml:1:9: listen: `localhost:8470` is not an IP address with a port"
    );
    assert_eq!(errors("listen: 8470\n")[0], "sluice.yaml:1:9: listen: must be a string, not an integer");
}

#[test]
fn data_dir_and_the_default_store_follow_each_other() {
    let config = valid("data_dir: /srv/sluice\nprojects: []\n").config;
    assert_eq!(config.store, StoreUrl::Sqlite("/srv/sluice/sluice.db".into()));
    let config = valid("data_dir: ./state\nprojects: []\n").config;
    assert_eq!(config.data_dir, Path::new("/etc/sluice/./state"));
    assert_eq!(
        errors("data_dir: ''\nconcurrency: 0\n"),
        ["sluice.yaml:1:11: data_dir: is empty", "sluice.yaml:2:14: concurrency: must be a positive integer, not `0`"]
    );
}

#[test]
fn store_is_sqlite_and_postgres_is_validated_then_refused() {
    let config = valid("store: sqlite://db/sluice.db\nprojects: []\n").config;
    assert_eq!(config.store, StoreUrl::Sqlite("/etc/sluice/db/sluice.db".into()));
    assert_eq!(
        errors("store: 'postgres://sluice@db:5432/sluice'\n")[0],
        "sluice.yaml:1:8: store: PostgreSQL stores are not supported by this build of Sluice yet\n\nhint: use the embedded store, `sqlite://PATH` (the default)"
    );
    let bad = errors("store: 'postgresql://user:hunter2@db:port/x'\n");
    assert!(
        bad[0].starts_with("sluice.yaml:1:8: store: not a valid PostgreSQL URL: the port is not a number"),
        "{bad:?}"
    );
    assert!(!bad[0].contains("hunter2"), "the password was printed");
    assert_eq!(
        errors("store: mysql://db\n")[0],
        "sluice.yaml:1:8: store: must be `sqlite://PATH` or `postgres://…`\n\nhint: the default is `sqlite://<data_dir>/sluice.db`"
    );
    assert!(errors("store: 'sqlite://'\n")[0].starts_with("sluice.yaml:1:8: store: `sqlite://` needs a path"));
}

#[test]
fn concurrency_is_a_positive_integer() {
    assert_eq!(valid("concurrency: 16\nprojects: []\n").config.concurrency.get(), 16);
    assert_eq!(errors("concurrency: -1\n")[0], "sluice.yaml:1:14: concurrency: must be a positive integer, not `-1`");
}

#[test]
fn projects_are_a_list_and_missing_projects_warn() {
    assert_eq!(errors("projects: {demo: x}\n")[0], "sluice.yaml:1:11: projects: must be a list, not a mapping");
    let loaded = parse("sluice.yaml", "listen: '127.0.0.1:1'\n", &crate::config::tests::env()).unwrap();
    assert_eq!(
        loaded.warnings.0[0].to_string(),
        "sluice.yaml:1:1: warning: projects: no projects are configured; the daemon will watch nothing"
    );
}

#[test]
fn a_project_limit_above_the_global_one_is_a_warning() {
    let loaded = valid("concurrency: 2\nprojects:\n  - {name: a, repo: /a, concurrency: 5}\n");
    assert_eq!(
        loaded.warnings.0[0].to_string(),
        "sluice.yaml:3:38: warning: projects[0].concurrency: 5 is more than the global `concurrency` of 2, which applies too"
    );
}

#[test]
fn project_names_are_unique() {
    let text = "projects:\n  - {name: a, repo: /a}\n  - {name: b, repo: /b}\n  - {name: a, repo: /c}\n";
    assert_eq!(
        errors(text),
        [
            "sluice.yaml:4:12: projects[2].name: `a` is already the name of the project on line 2\n\nhint: project names must be unique"
        ]
    );
}
