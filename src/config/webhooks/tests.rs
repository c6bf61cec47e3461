//! `webhooks:` and `forge:` of a project.

use secrecy::ExposeSecret;

use crate::config::tests::{errors, valid};
use crate::config::{DEFAULT_MAX_BODY_BYTES, ForgeAuth, ForgeKind, GITHUB_API_URL, ProjectConfig, SecretSource};

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
    let forge = project("    forge: {type: github, token: env:GITHUB_SECRET, project: acme/demo}\n").forge.unwrap();
    assert_eq!((forge.kind, forge.api_url.as_str()), (ForgeKind::Github, GITHUB_API_URL));
    let forge =
        project("    forge: {type: gerrit, api_url: 'https://review.example.com/', user: ci, password: env:UNSET}\n")
            .forge
            .unwrap();
    assert_eq!((forge.kind, forge.api_url.as_str()), (ForgeKind::Gerrit, "https://review.example.com"));
    assert!(matches!(&forge.auth, ForgeAuth::Basic { user, password } if user == "ci" && !password.is_available()));
    assert_eq!((forge.context.as_str(), forge.project.as_deref(), forge.public_url.as_deref()), ("sluice", None, None));
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
    let text = "projects:\n  - name: demo\n    repo: /x\n    forge: {type: github, token: env:NO_TOKEN, project: a/b}\n";
    let loaded = valid(text);
    assert_eq!(
        loaded.warnings.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "sluice.yaml:4:34: warning: projects[0].forge.token: environment variable `NO_TOKEN` is not set; `demo` reports no statuses to its forge"
        ]
    );
}

#[test]
fn forge_credentials_project_context_and_public_url() {
    let forge = project(
        "    forge: {type: github, app_id: 12345, private_key: env:GITHUB_SECRET, project: acme/demo, \
         context: ci, public_url: 'https://sluice.example.com/'}\n",
    )
    .forge
    .unwrap();
    assert!(matches!(&forge.auth, ForgeAuth::GithubApp { app_id, private_key } if app_id == "12345" && private_key.is_available()));
    assert_eq!(
        (forge.project.as_deref(), forge.context.as_str(), forge.public_url.as_deref()),
        (Some("acme/demo"), "ci", Some("https://sluice.example.com"))
    );
    assert_eq!(
        project_errors("    forge: {type: gerrit, api_url: 'https://r', token: env:X, user: ci, password: env:X}\n"),
        ["sluice.yaml:4:56: projects[0].forge.token: `token` is not used by `type: gerrit`\n\nhint: Gerrit takes `user` and `password` (the account's HTTP password)"]
    );
    assert_eq!(
        project_errors("    forge: {type: github, token: env:X, app_id: 1, private_key: env:X}\n"),
        ["sluice.yaml:4:12: projects[0].forge.token: `token` and `app_id`/`private_key` exclude each other\n\nhint: a token reports commit statuses, a GitHub App check runs; keep one"]
    );
    assert_eq!(
        project_errors("    forge: {type: github, app_id: abc, private_key: env:X, project: demo}\n"),
        [
            "sluice.yaml:4:35: projects[0].forge.app_id: must be the App's numeric id",
            "sluice.yaml:4:69: projects[0].forge.project: `demo` is not `owner/name`",
        ]
    );
    assert_eq!(
        project_errors("    forge: {type: gerrit, api_url: 'https://r', user: ci}\n"),
        ["sluice.yaml:4:12: projects[0].forge: missing required key `password`"]
    );
}

#[test]
fn the_forge_project_defaults_to_the_repository_path() {
    let text = "projects:\n  - name: demo\n    repo: https://gitlab.example.com/group/demo.git\n    forge: {type: gitlab, api_url: 'https://gitlab.example.com/api/v4', token: env:GITHUB_SECRET}\n";
    assert_eq!(valid(text).config.projects[0].forge.as_ref().and_then(|f| f.project.as_deref()), Some("group/demo"));
    assert_eq!(
        project_errors("    forge: {type: github, token: env:X}\n"),
        ["sluice.yaml:4:12: projects[0].forge: `project` is needed: the GitHub project cannot be told from `/srv/git/demo`\n\nhint: add `project: owner/name`"]
    );
}
