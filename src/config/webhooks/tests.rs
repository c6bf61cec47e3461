//! `webhooks:` and `forge:` of a project.

use secrecy::ExposeSecret;

use crate::config::tests::{errors, valid};
use crate::config::{DEFAULT_MAX_BODY_BYTES, ForgeKind, GITHUB_API_URL, ProjectConfig, SecretSource};

fn project(fields: &str) -> ProjectConfig {
    valid(&format!("projects:\n  - name: demo\n    repo: /srv/git/demo\n{fields}")).config.projects.remove(0)
}

fn project_errors(fields: &str) -> Vec<String> {
    errors(&format!("projects:\n  - name: demo\n    repo: /srv/git/demo\n{fields}"))
}

#[test]
fn webhook_defaults() {
    let hooks = project("    webhooks: {}\n").webhooks;
    assert_eq!(hooks.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    for comment in ["recheck", "/recheck", "  ReCheck  "] {
        assert!(hooks.recheck_pattern.is_match(comment), "{comment}");
    }
    assert!(!hooks.recheck_pattern.is_match("please recheck"));
}

#[test]
fn secrets_resolve_and_name_their_source() {
    let hooks =
        project("    webhooks:\n      github_secret: env:GITHUB_SECRET\n      gitlab_signing_token: env:NOT_SET\n")
            .webhooks;
    let github = hooks.github_secret.unwrap();
    assert_eq!(github.value().map(|s| s.expose_secret()), Some("gh-secret"));
    assert_eq!(github.source(), &SecretSource::Env("GITHUB_SECRET".into()));
    assert!(!hooks.gitlab_signing_token.unwrap().is_available());
    assert!(!format!("{:?}", project("    webhooks: {github_secret: env:GITHUB_SECRET}\n")).contains("gh-secret"));
}

#[test]
fn literal_secrets_are_refused() {
    assert_eq!(
        project_errors("    webhooks:\n      gitlab_token: hunter2\n"),
        [
            "sluice.yaml:5:21: projects[0].webhooks.gitlab_token: must name where the secret is (`env:NAME` or `file:PATH`), not hold it\n\nhint: a secret written in the configuration file ends up in its repository; put it in an environment variable (`env:NAME`) or a file (`file:PATH`)"
        ]
    );
}

#[test]
fn recheck_pattern_and_max_body_bytes() {
    let hooks = project("    webhooks: {recheck_pattern: '^/retest$', max_body_bytes: 1024}\n").webhooks;
    assert!(hooks.recheck_pattern.is_match("/retest"));
    assert_eq!(hooks.max_body_bytes, 1024);
    assert_eq!(project("    webhooks: {max_body_bytes: 10MB}\n").webhooks.max_body_bytes, 10 << 20);
    assert_eq!(
        project_errors("    webhooks:\n      recheck_pattern: '(('\n      max_body_bytes: 0\n      max_body_byts: 1\n"),
        [
            "sluice.yaml:5:24: projects[0].webhooks.recheck_pattern: `((` is not a valid regular expression: unclosed group",
            "sluice.yaml:6:23: projects[0].webhooks.max_body_bytes: must be more than 0",
            "sluice.yaml:7:7: projects[0].webhooks.max_body_byts: unknown key `max_body_byts`\n\nhint: did you mean `max_body_bytes`?",
        ]
    );
    assert_eq!(
        project_errors("    webhooks: {max_body_bytes: lots}\n"),
        [
            "sluice.yaml:4:32: projects[0].webhooks.max_body_bytes: `lots` must be a number of bytes, optionally with a unit\n\nhint: write bytes (`26214400`) or a size with `KB`, `MB` or `GB` (powers of 1024), as in `25MB`"
        ]
    );
}

#[test]
fn forge_kinds_urls_and_tokens() {
    let forge = project("    forge: {type: github, token: env:GITHUB_SECRET}\n").forge.unwrap();
    assert_eq!((forge.kind, forge.api_url.as_str()), (ForgeKind::Github, GITHUB_API_URL));
    let forge =
        project("    forge: {type: gerrit, api_url: 'https://review.example.com/', token: env:UNSET}\n").forge.unwrap();
    assert_eq!((forge.kind, forge.api_url.as_str()), (ForgeKind::Gerrit, "https://review.example.com"));
    assert!(!forge.token.is_available());
    assert_eq!(
        project_errors("    forge:\n      type: gitlab\n"),
        [
            "sluice.yaml:5:7: projects[0].forge: missing required key `api_url` (the GitLab server's API)",
            "sluice.yaml:5:7: projects[0].forge: missing required key `token`",
        ]
    );
    assert_eq!(
        project_errors("    forge: {type: bitbucket, api_url: 'ftp://x', token: env:X}\n"),
        [
            "sluice.yaml:4:19: projects[0].forge.type: must be `gitlab`, `github` or `gerrit`, not `bitbucket`",
            "sluice.yaml:4:39: projects[0].forge.api_url: `ftp://x` is not an `https://` or `http://` URL",
        ]
    );
    let errors = project_errors("    forge: {type: gitlab, api_url: 'https://u:p@h/api', token: env:X}\n");
    assert!(
        errors[0].starts_with("sluice.yaml:4:36: projects[0].forge.api_url: must not contain credentials"),
        "{errors:?}"
    );
}

#[test]
fn unset_forge_token_is_a_warning_naming_the_variable() {
    let text = "projects:\n  - name: demo\n    repo: /x\n    forge: {type: github, token: env:NO_TOKEN}\n";
    let loaded = valid(text);
    assert_eq!(
        loaded.warnings.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "sluice.yaml:4:34: warning: projects[0].forge.token: environment variable `NO_TOKEN` is not set; `demo` reports no statuses to its forge"
        ]
    );
}
