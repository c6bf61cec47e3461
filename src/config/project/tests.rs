//! The fields of one project.

use std::time::Duration;

use crate::config::tests::{errors, valid};
use crate::config::{InvalidProjectName, ProjectConfig, ProjectName, RepoUrl};

fn project(fields: &str) -> ProjectConfig {
    let text = format!("projects:\n  - name: demo\n    repo: /srv/git/demo\n{fields}");
    valid(&text).config.projects.remove(0)
}

/// Errors of a project with `fields` added after `name` and `repo` (which are lines 2 and 3).
fn project_errors(fields: &str) -> Vec<String> {
    errors(&format!("projects:\n  - name: demo\n    repo: /srv/git/demo\n{fields}"))
}

#[test]
fn defaults() {
    let demo = project("");
    assert!(demo.branches.matches("main") && !demo.branches.matches("develop"));
    assert!(demo.tags.is_empty());
    assert_eq!(demo.poll, Some(Duration::from_secs(60)));
    assert_eq!(demo.concurrency, None);
    assert_eq!(demo.default_branch, "main");
    assert_eq!(demo.ci_file, ".gitlab-ci.yml");
    assert!(demo.forge.is_none());
    assert!(demo.webhooks.gitlab_token.is_none() && demo.webhooks.github_secret.is_none());
    assert!(demo.schedules.is_empty());
}

#[test]
fn branches_default_to_the_default_branch() {
    let demo = project("    default_branch: trunk\n");
    assert!(demo.branches.matches("trunk") && !demo.branches.matches("main"));
}

#[test]
fn names() {
    assert_eq!(ProjectName::new("group/sub/app-1.x_y").map(|n| n.to_string()), Ok("group/sub/app-1.x_y".into()));
    assert_eq!(ProjectName::new(""), Err(InvalidProjectName::Empty));
    assert_eq!(ProjectName::new("a b"), Err(InvalidProjectName::Character("a b".into())));
    assert_eq!(ProjectName::new("/a"), Err(InvalidProjectName::Group("/a".into())));
    assert_eq!(ProjectName::new("a/../b"), Err(InvalidProjectName::Group("a/../b".into())));
    assert_eq!(
        errors("projects:\n  - name: 'my app'\n    repo: /x\n"),
        [
            "sluice.yaml:2:11: projects[0].name: `my app` may only contain letters, digits, `.`, `_`, `-` and `/` between groups"
        ]
    );
    assert_eq!(errors("projects:\n  - repo: /x\n"), ["sluice.yaml:2:5: projects[0]: missing required key `name`"]);
    assert_eq!(errors("projects:\n  - name: x\n"), ["sluice.yaml:2:5: projects[0]: missing required key `repo`"]);
    assert_eq!(errors("projects:\n  - x\n"), ["sluice.yaml:2:5: projects[0]: must be a mapping, not a string"]);
}

#[test]
fn repo_forms() {
    assert_eq!(project("").repo, RepoUrl::Local("/srv/git/demo".into()));
    let key = "credentials: {ssh_key: 'env:DEPLOY_KEY'}";
    let ssh = valid(&format!("projects:\n  - {{name: a, repo: 'ssh://git@host/a.git', {key}}}\n  - {{name: b, repo: 'git@host:b.git', {key}}}\n"));
    assert_eq!(ssh.config.projects[0].repo, RepoUrl::Ssh("ssh://git@host/a.git".into()));
    assert_eq!(ssh.config.projects[1].repo, RepoUrl::Scp("git@host:b.git".into()));
    assert_eq!(
        errors("projects:\n  - name: a\n    repo: 'https://me:token@host/a.git'\n"),
        [
            "sluice.yaml:3:11: projects[0].repo: must not contain credentials\n\nhint: credentials in the URL end up in the configuration's repository; use `credentials` (an SSH key, or a user name and an `env:`/`file:` password)"
        ]
    );
}

#[test]
fn credentials_name_secrets_and_must_fit_the_repository() {
    let https = valid("projects:\n  - name: a\n    repo: https://host/a.git\n    credentials: {password: 'env:GITHUB_SECRET'}\n");
    let credentials = &https.config.projects[0].credentials;
    assert_eq!(credentials.username, None, "the default user is applied where it is used");
    assert_eq!(credentials.password.as_ref().and_then(|s| s.value()).map(secrecy::ExposeSecret::expose_secret), Some("gh-secret"));
    assert_eq!(
        errors("projects:\n  - name: a\n    repo: https://host/a.git\n    credentials:\n      ssh_key: 'env:K'\n      password: hunter2\n"),
        [
            "sluice.yaml:5:16: projects[0].credentials.ssh_key: `ssh_key` does not apply to `https://host/a.git`\n\nhint: `ssh_key`, `ssh_key_passphrase` and `known_hosts` are for `ssh://` and `host:path` repositories, `username` and `password` for `https://` ones, and local repositories need none",
            "sluice.yaml:6:17: projects[0].credentials.password: must name where the secret is (`env:NAME` or `file:PATH`), not hold it\n\nhint: a secret written in the configuration file ends up in its repository; put it in an environment variable (`env:NAME`) or a file (`file:PATH`)",
        ]
    );
    assert_eq!(
        errors("projects:\n  - name: a\n    repo: 'git@host:a.git'\n    credentials: {ssh_key: 'env:K', known_hosts: 'file:/nonexistent/known_hosts'}\n"),
        [
            "sluice.yaml:4:50: projects[0].credentials.known_hosts: cannot read `/nonexistent/known_hosts`: No such file or directory (os error 2)\n\nhint: write the server's host keys there with `ssh-keyscan HOST`, after checking their fingerprints"
        ]
    );
}

#[test]
fn branches_and_tags() {
    let demo = project("    branches: [main, '/^feature//']\n    tags: true\n");
    assert!(demo.branches.matches("feature/x"));
    assert!(demo.tags.matches("anything"));
    assert_eq!(
        project_errors("    branches: ['/[/']\n    tags: maybe\n"),
        [
            "sluice.yaml:4:16: projects[0].branches[0]: `/[/` is not a valid regular expression: unclosed character class",
            "sluice.yaml:5:11: projects[0].tags: must be `true`, `false` or a list of tag names and `/regex/` patterns, not a string",
        ]
    );
}

#[test]
fn poll_is_a_duration_or_off() {
    assert_eq!(project("    poll: 1h30m\n").poll, Some(Duration::from_secs(5400)));
    assert_eq!(project("    poll: off\n").poll, None);
    assert_eq!(project("    poll: 'off'\n").poll, None);
    assert_eq!(project("    poll: 0\n").poll, None);
    assert_eq!(project("    poll: 0s\n").poll, None);
    assert_eq!(
        project_errors("    poll: 30\n"),
        [
            "sluice.yaml:4:11: projects[0].poll: must be a duration or `off`, not `30`\n\nhint: write a duration such as `30s`, `1m` or `1h`, or `off`"
        ]
    );
    assert_eq!(
        project_errors("    poll: 5 min\n"),
        [
            "sluice.yaml:4:11: projects[0].poll: `5 min` has an unknown unit\n\nhint: write a duration such as `30s`, `1m` or `1h`, or `off`"
        ]
    );
}

#[test]
fn concurrency_default_branch_and_ci_file() {
    assert_eq!(project("    concurrency: 3\n").concurrency.map(|c| c.get()), Some(3));
    assert_eq!(
        project_errors("    concurrency: 0\n    default_branch: 'a..b'\n    ci_file: ../x.yml\n"),
        [
            "sluice.yaml:4:18: projects[0].concurrency: must be a positive integer, not `0`",
            "sluice.yaml:5:21: projects[0].default_branch: `a..b` is not a valid branch name: it contains `..`, `@{` or is `@`",
            "sluice.yaml:6:14: projects[0].ci_file: `../x.yml` must be a path inside the repository\n\nhint: write it relative to the repository root, as in `ci/main.yml`",
        ]
    );
}

#[test]
fn unknown_project_keys_get_a_hint() {
    assert_eq!(
        project_errors("    brnaches: [main]\n"),
        ["sluice.yaml:4:5: projects[0].brnaches: unknown key `brnaches`\n\nhint: did you mean `branches`?"]
    );
}

#[test]
fn publish_names_a_registry_and_a_tag_prefix() {
    let demo = project("");
    assert_eq!((demo.publish.registry, demo.publish.tag_prefix.as_str()), (None, "v"));
    assert!(demo.publish.credentials.is_none());
    let demo = project("    publish: {registry: r.example, username: bot, password: 'env:GITHUB_SECRET'}\n");
    let (user, password) = demo.publish.credentials.expect("credentials");
    assert_eq!((user.as_str(), password.value().map(secrecy::ExposeSecret::expose_secret)), ("bot", Some("gh-secret")));
    assert_eq!(
        project_errors("    publish: {username: bot}\n"),
        ["sluice.yaml:4:25: projects[0].publish.username: `username` needs `password` beside it\n\nhint: the registry account is a user name with a password or token: give both"]
    );
    let demo = project("    publish:\n      registry: \"127.0.0.1:5000/team/\"\n      tag_prefix: release-\n");
    assert_eq!(demo.publish.registry.as_deref(), Some("127.0.0.1:5000/team"));
    assert_eq!(demo.publish.tag_prefix, "release-");
    let errors = project_errors("    publish:\n      registry: \"https://r.example\"\n      tags: x\n");
    assert!(errors.iter().any(|e| e.contains("projects[0].publish.registry: `https://r.example` is not a registry")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("publish.tags")), "{errors:?}");
}
