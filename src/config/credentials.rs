//! `credentials:` of a project (and of `config_repo:`): how Sluice authenticates to the
//! repository. SSH: a private key (`ssh_key`, a secret), its optional passphrase, and the
//! `known_hosts` file the server's key must be listed in. HTTPS: `username` and `password`
//! (a password or an access token, a secret). Secrets are `env:`/`file:` references, as
//! everywhere in `sluice.yaml`.

use std::path::PathBuf;

use super::Environment;
use super::fields::{Fields, error_at};
use super::repo_url::RepoUrl;
use super::secret::{Purpose, Secret, read_secret};
use crate::ci::node::Node;
use crate::diagnostic::Diagnostics;

/// `credentials:`, validated against the repository URL it is for.
#[derive(Debug, Clone, Default)]
pub struct RepoCredentials {
    /// `ssh_key`: the SSH private key (contents, from `env:` or `file:`).
    pub ssh_key: Option<Secret>,
    /// `ssh_key_passphrase`: the key's passphrase.
    pub ssh_key_passphrase: Option<Secret>,
    /// `known_hosts`: the file SSH host keys are checked against (default `~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// `username`: the HTTPS user (default `oauth2`, which GitLab documents for access tokens
    /// and GitHub ignores).
    pub username: Option<String>,
    /// `password`: the HTTPS password or access token.
    pub password: Option<Secret>,
}

/// The HTTPS user name when only `password` is given.
pub const DEFAULT_HTTPS_USERNAME: &str = "oauth2";

const KEYS: &[&str] = &["ssh_key", "ssh_key_passphrase", "known_hosts", "username", "password"];

const SSH_HINT: &str = "name the deploy key and the server's known host key, as in \
    `credentials: {ssh_key: \"file:/etc/sluice/id_ed25519\", known_hosts: \"file:/etc/sluice/known_hosts\"}`";

/// Reads `credentials:` of `owner_fields` (a project, `config_repo`), named `owner` in
/// warnings, for its `repo` (`None` when that was invalid). An SSH repository without
/// `ssh_key` is an error, as are SSH fields for an HTTPS repository and the reverse.
pub(super) fn read_credentials(
    owner_fields: &Fields<'_>,
    owner: &str,
    repo: Option<&RepoUrl>,
    env: &Environment,
    diags: &mut Diagnostics,
) -> RepoCredentials {
    let mut credentials = RepoCredentials::default();
    let path = owner_fields.path_of("credentials");
    let fields = owner_fields.get("credentials").and_then(|node| Fields::open(node, &path, KEYS, diags));
    if let Some(fields) = &fields {
        let disabled = format!("fetching `{owner}`'s repository will fail");
        let secret = |key: &str, diags: &mut Diagnostics| {
            read_secret(fields.get(key)?, &fields.path_of(key), &Purpose { disabled: &disabled }, env, diags)
        };
        credentials.ssh_key = secret("ssh_key", diags);
        credentials.ssh_key_passphrase = secret("ssh_key_passphrase", diags);
        credentials.password = secret("password", diags);
        credentials.username = fields.string("username", diags).map(|(_, user)| user.to_owned());
        if let Some((node, text)) = fields.string("known_hosts", diags) {
            credentials.known_hosts = read_known_hosts(node, &fields.path_of("known_hosts"), text, env, diags);
        }
    }
    let Some(repo) = repo else { return credentials };
    let ssh = matches!(repo, RepoUrl::Ssh(_) | RepoUrl::Scp(_));
    let at = |key: &str| fields.as_ref().and_then(|f| f.get(key).map(|node| (node, f.path_of(key))));
    if ssh && credentials.ssh_key.is_none() && at("ssh_key").is_none() {
        let anchor = owner_fields.get("credentials").unwrap_or(owner_fields.node());
        let message = format!("`{repo}` is an SSH repository, and `credentials.ssh_key` is not set");
        diags.push(error_at(anchor, &path, message).with_hint(SSH_HINT));
    }
    let wrong: &[&str] = match repo {
        RepoUrl::Ssh(_) | RepoUrl::Scp(_) => &["username", "password"],
        RepoUrl::Https(_) => &["ssh_key", "ssh_key_passphrase", "known_hosts"],
        RepoUrl::Local(_) => KEYS,
    };
    for key in wrong {
        if let Some((node, key_path)) = at(key) {
            let message = format!("`{key}` does not apply to `{repo}`");
            diags.push(error_at(node, &key_path, message).with_hint(
                "`ssh_key`, `ssh_key_passphrase` and `known_hosts` are for `ssh://` and `host:path` repositories, \
                 `username` and `password` for `https://` ones, and local repositories need none",
            ));
        }
    }
    credentials
}

/// `known_hosts: file:PATH` (or a bare path), relative to the configuration's directory; the
/// file must be readable now (it is read again at each connection).
fn read_known_hosts(node: &Node, path: &str, text: &str, env: &Environment, diags: &mut Diagnostics) -> Option<PathBuf> {
    let file = text.strip_prefix("file:").unwrap_or(text);
    if file.is_empty() {
        diags.push(error_at(node, path, "needs a path, as in `file:/etc/sluice/known_hosts`"));
        return None;
    }
    let resolved = env.base_dir.join(file);
    if let Err(error) = std::fs::read(&resolved) {
        diags.push(
            error_at(node, path, format!("cannot read `{}`: {error}", resolved.display()))
                .with_hint("write the server's host keys there with `ssh-keyscan HOST`, after checking their fingerprints"),
        );
        return None;
    }
    Some(resolved)
}
