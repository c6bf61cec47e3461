use std::path::Path;

use super::*;

fn template() -> RepoFiles {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template")).unwrap()
}

fn errors_of(files: &RepoFiles) -> Vec<String> {
    match parse(files, "") {
        Ok(_) => Vec::new(),
        Err(diags) => diags.errors().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_template_is_valid() {
    let (repo, warnings) = parse(&template(), "").unwrap_or_else(|d| panic!("{d}"));
    assert!(warnings.is_empty(), "{warnings}");
    assert_eq!(repo.environment_names(), ["dev", "staging", "production"]);
    let production = repo.environment("production").unwrap();
    assert_eq!(production.promotion, Promotion::Manual);
    assert_eq!(production.gates.approval.as_ref().unwrap().quorum.get(), 2);
    assert_eq!(repo.environment("dev").unwrap().promotion, Promotion::Auto);
    assert!(repo.access.allows("alice", Action::Approve, "production"));
    assert!(!repo.access.allows("carol", Action::Approve, "production"));
    assert_eq!(repo.access.identity_of_token("bob-laptop"), Some("bob"));
    assert_eq!(repo.app("hello").unwrap().project, "hello");
}

#[test]
fn every_file_reports_its_errors_with_line_and_key() {
    let mut files = template();
    files.insert("environments/production.yaml".into(), b"promote_from: stagin\ngates:\n  soak: 2 hours\n  aproval: {}\n".to_vec());
    files.insert("apps/hello/dev.yaml".into(), b"version: 1.2\nimage: x\ndigest: sha256:abc\n".to_vec());
    files.insert("apps/hello/qa.yaml".into(), b"version: \"1.0.0\"\nimage: x\ndigest: \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n".to_vec());
    files.insert(
        "access.yaml".into(),
        b"identities:\n  alice: {tokens: [a]}\ngroups:\n  rm: [alice, bobby]\npermissions:\n  - {groups: [rm], actions: [aprove], environments: [prod]}\n".to_vec(),
    );
    let errors = errors_of(&files);
    let expected = [
        "access.yaml:4:15: groups.rm[1]: `bobby` is not an identity",
        "access.yaml:6:30: permissions[0].actions[0]: `aprove` is not an action\n\nhint: did you mean `approve`?",
        "access.yaml:6:54: permissions[0].environments[0]: `prod` is not an environment",
        "apps/hello/dev.yaml:1:10: version: must be a version `MAJOR.MINOR.PATCH`, not a float",
        "apps/hello/dev.yaml:3:9: digest: `sha256:abc` is not a digest",
        "apps/hello/qa.yaml:1:1: `qa.yaml` pins an environment that does not exist",
        "environments/production.yaml:1:15: promote_from: `stagin` is not an environment\n\nhint: did you mean `staging`?",
        "environments/production.yaml:3:9: gates.soak: `2 hours` has an unknown unit",
        "environments/production.yaml:4:3: gates.aproval: unknown key `aproval`\n\nhint: did you mean `approval`?",
    ];
    for want in expected {
        assert!(errors.iter().any(|e| e.starts_with(want)), "missing {want:?} in:\n{}", errors.join("\n"));
    }
}

#[test]
fn windows_freezes_targets_and_names_are_checked() {
    let mut files = template();
    files.insert(
        "environments/staging.yaml".into(),
        b"promote_from: dev\ngates:\n  window: {timezone: Europe/Berln, allow: [\"Mon-Fry 09:00-17:00\"]}\nfreezes:\n  - {until: tomorrow}\ntargets:\n  - {name: a, type: proces}\n".to_vec(),
    );
    files.insert("environments/Bad_Name.yaml".into(), b"{}\n".to_vec());
    let errors = errors_of(&files);
    let expected = [
        "environments/Bad_Name.yaml:1:1: `Bad_Name` is not a valid name",
        "environments/staging.yaml:3:22: gates.window.timezone: `Europe/Berln` is not a time zone",
        "environments/staging.yaml:3:44: gates.window.allow[0]: `Fry` is not a day",
        "environments/staging.yaml:5:13: freezes[0].until: `tomorrow` is not an RFC 3339 time",
        "environments/staging.yaml:7:21: targets[0].type: `proces` is not a target type",
    ];
    for want in expected {
        assert!(errors.iter().any(|e| e.starts_with(want)), "missing {want:?} in:\n{}", errors.join("\n"));
    }
}

#[test]
fn a_cycle_of_environments_is_an_error() {
    let mut files = template();
    files.insert("environments/dev.yaml".into(), b"promote_from: production\n".to_vec());
    let errors = errors_of(&files);
    assert!(errors.iter().any(|e| e.contains("in a cycle")), "{errors:?}");
}

#[test]
fn pins_render_and_read_back() {
    let pin = Pin {
        version: "1.2.3".parse().unwrap(),
        image: "127.0.0.1:5000/hello:1.2.3".into(),
        digest: format!("sha256:{}", "a".repeat(64)),
        values: serde_json::json!({"replicas": 2, "name": "x: y"}),
        blocked: vec![Blocked { version: "1.2.4".parse().unwrap(), reason: Some("rolled back by alice".into()) }],
    };
    let mut files = template();
    files.insert("apps/hello/staging.yaml".into(), pin::render_pin(&pin).into_bytes());
    let (repo, _) = parse(&files, "").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(repo.pin("hello", "staging"), Some(&pin));
    assert_eq!(repo.values("hello", "staging"), Some(serde_json::json!({"replicas": 2, "name": "x: y"})));
    assert_eq!(repo.values("hello", "dev"), Some(serde_json::json!({"replicas": 1})));
}

#[test]
fn freezes_are_added_to_the_file_text() {
    let freeze = Freeze {
        from: None,
        until: "2026-12-27T00:00:00Z".parse().unwrap(),
        reason: Some("holidays: \"all\"".into()),
        by: Some("alice".into()),
    };
    for text in ["gates: {}\n", "freezes: []\n# c\n", "freezes:\n- {until: \"2026-01-01T00:00:00Z\"}\n", "freezes:\n  - until: \"2026-01-01T00:00:00Z\"\n"] {
        let mut files = template();
        let edited = environment::add_freeze(text, &freeze).unwrap();
        files.insert("environments/dev.yaml".into(), edited.clone().into_bytes());
        let (repo, _) = parse(&files, "").unwrap_or_else(|d| panic!("{edited}\n{d}"));
        assert!(repo.environment("dev").unwrap().freezes.contains(&freeze), "{edited}");
    }
}

#[test]
fn kubernetes_targets_name_their_kubeconfig_context_and_rollout_timeout() {
    let mut files = template();
    let text = "promote_from: dev\ntargets:\n  - {name: eu, type: kubernetes, kubeconfig: /etc/sluice/kubeconfig, context: prod-eu, rollout_timeout: 10m}\n  - {name: us, type: kubernetes, context: prod-us}\n";
    files.insert("environments/staging.yaml".into(), text.as_bytes().to_vec());
    let (repo, _) = parse(&files, "").unwrap_or_else(|d| panic!("{d}"));
    let targets = &repo.environment("staging").unwrap().targets;
    let settings = |i: usize| match &targets[i].kind {
        TargetKind::Kubernetes(settings) => settings.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(settings(0).kubeconfig.as_deref(), Some("/etc/sluice/kubeconfig"));
    assert_eq!(settings(0).context.as_deref(), Some("prod-eu"));
    assert_eq!(settings(0).rollout_timeout, Some(std::time::Duration::from_secs(600)));
    assert_eq!((settings(1).kubeconfig, settings(1).rollout_timeout), (None, None));

    files.insert(
        "environments/staging.yaml".into(),
        b"promote_from: dev\ntargets:\n  - {name: eu, type: kubernetes, rollout_timeout: soon}\n".to_vec(),
    );
    let errors = errors_of(&files);
    let want = "environments/staging.yaml:3:51: targets[0].rollout_timeout: `soon` must be a number followed by a unit";
    assert!(errors.iter().any(|e| e.starts_with(want)), "missing {want:?} in:\n{}", errors.join("\n"));
}

#[test]
fn health_is_watched_every_period_and_unhealthy_after_the_failure_threshold() {
    let mut files = template();
    let app = |health: &str| format!("image: \"127.0.0.1:5000/hello\"\nrender: {{manifests: manifests/}}\nhealth: {health}\n").into_bytes();
    let (repo, _) = parse(&files, "").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(repo.app("hello").unwrap().watch, HealthWatch::default(), "the template sets neither");
    assert_eq!(HealthWatch::default().period, std::time::Duration::from_secs(10));
    files.insert("apps/hello/app.yaml".into(), app("{http: {path: /}, period: 2s, failure_threshold: 1}"));
    let (repo, _) = parse(&files, "").unwrap_or_else(|d| panic!("{d}"));
    let watch = repo.app("hello").unwrap().watch;
    assert_eq!((watch.period, watch.failure_threshold), (std::time::Duration::from_secs(2), 1));
    files.insert("apps/hello/app.yaml".into(), app("{command: [\"true\"], period: 0s, failure_threshold: 0, perod: 1s}"));
    let errors = errors_of(&files);
    for want in [
        "apps/hello/app.yaml:3:37: health.period: must be at least `1s`",
        "apps/hello/app.yaml:3:60: health.failure_threshold: must be a whole number from 1 to 100",
        "apps/hello/app.yaml:3:63: health.perod: unknown key `perod`\n\nhint: did you mean `period`?",
    ] {
        assert!(errors.iter().any(|e| e.starts_with(want)), "missing {want:?} in:\n{}", errors.join("\n"));
    }
    files.insert("apps/hello/app.yaml".into(), app("{period: 5s}"));
    assert!(errors_of(&files)[0].contains("health: needs exactly one of `http`, `command` and `kubernetes`"));
}
