//! Credentials for the remotes Sluice fetches from and pushes to, handed to libgit2 through its
//! callbacks only: an SSH private key (the server's host key checked against a `known_hosts`
//! file first) and an HTTPS user name with a password or token. Nothing here is written into
//! a repository's configuration or a URL, and no message contains a secret.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};
use secrecy::{ExposeSecret as _, SecretString};

use super::GitError;
use crate::config::{DEFAULT_HTTPS_USERNAME, RepoCredentials, Secret};
use super::known_hosts::{self, HostKey, HostKeyRefusal};

/// How to authenticate to one remote. The default authenticates with nothing (local and
/// `file://` remotes, public HTTPS) and checks SSH hosts against `~/.ssh/known_hosts`.
#[derive(Debug, Clone, Default)]
pub struct RemoteAuth {
    /// The SSH private key (OpenSSH or PEM text).
    pub ssh_key: Option<SecretString>,
    /// The key's passphrase, when it is encrypted.
    pub ssh_key_passphrase: Option<SecretString>,
    /// The `known_hosts` file SSH hosts are checked against (`None`: `~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// HTTPS basic credentials: a user name and a password or token.
    pub https: Option<(String, SecretString)>,
}

impl RemoteAuth {
    /// The `known_hosts` file in use.
    pub fn known_hosts_file(&self) -> PathBuf {
        self.known_hosts.clone().unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(".ssh").join("known_hosts")
        })
    }
}

impl From<&RepoCredentials> for RemoteAuth {
    /// The credentials a project or the config repo configures; a secret whose `env:`
    /// variable is unset counts as absent (the connection then fails, saying what is missing).
    fn from(credentials: &RepoCredentials) -> RemoteAuth {
        let value = |secret: &Option<Secret>| secret.as_ref().and_then(|s| s.value().cloned());
        RemoteAuth {
            ssh_key: value(&credentials.ssh_key),
            ssh_key_passphrase: value(&credentials.ssh_key_passphrase),
            known_hosts: credentials.known_hosts.clone(),
            https: value(&credentials.password).map(|password| {
                (credentials.username.clone().unwrap_or_else(|| DEFAULT_HTTPS_USERNAME.to_owned()), password)
            }),
        }
    }
}

/// One connection's use of a [`RemoteAuth`]: the callbacks, and what they refused.
pub(super) struct Session<'a> {
    auth: &'a RemoteAuth,
    url: &'a str,
    refusal: RefCell<Option<HostKeyRefusal>>,
    tried_key: Cell<bool>,
    tried_password: Cell<bool>,
}

impl<'a> Session<'a> {
    pub(super) fn new(auth: &'a RemoteAuth, url: &'a str) -> Session<'a> {
        Session {
            auth,
            url,
            refusal: RefCell::new(None),
            tried_key: Cell::new(false),
            tried_password: Cell::new(false),
        }
    }

    /// Callbacks offering the credentials once each (libgit2 asks again after a refusal) and
    /// checking SSH host keys; TLS certificates keep libgit2's own verification.
    pub(super) fn callbacks(&'a self) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|_url, username, allowed| self.credentials(username, allowed));
        callbacks.certificate_check(|cert, hostname| {
            let Some(hostkey) = cert.as_hostkey() else { return Ok(CertificateCheckStatus::CertificatePassthrough) };
            let (Some(blob), Some(key_type)) = (hostkey.hostkey(), hostkey.hostkey_type()) else {
                return Err(git2::Error::from_str(&format!("SSH host `{hostname}` sent no host key to check")));
            };
            let key = HostKey { key_type: key_type.name().to_owned(), blob: blob.to_vec() };
            match known_hosts::check(&self.auth.known_hosts_file(), hostname, ssh_port(self.url), &key) {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(refusal) => {
                    let error = git2::Error::from_str(&refusal.to_string());
                    *self.refusal.borrow_mut() = Some(refusal);
                    Err(error)
                }
            }
        });
        callbacks
    }

    fn credentials(&self, username: Option<&str>, allowed: CredentialType) -> Result<Cred, git2::Error> {
        let url = self.url;
        let user = username.unwrap_or("git");
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user);
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            let Some(key) = &self.auth.ssh_key else {
                return Err(git2::Error::from_str(&format!(
                    "`{url}` needs an SSH key, and none is configured; set the project's `credentials.ssh_key`"
                )));
            };
            if self.tried_key.replace(true) {
                return Err(git2::Error::from_str(&format!(
                    "`{url}` refused the SSH key of `credentials.ssh_key` for user `{user}`"
                )));
            }
            // libssh2 wants the final newline that reading a `file:` secret removed.
            let key = format!("{}\n", key.expose_secret().trim_end());
            let passphrase = self.auth.ssh_key_passphrase.as_ref().map(|p| p.expose_secret());
            return Cred::ssh_key_from_memory(user, None, &key, passphrase);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            let Some((user, password)) = &self.auth.https else {
                return Err(git2::Error::from_str(&format!(
                    "`{url}` asks for credentials, and none are configured; set the project's \
                     `credentials.username` and `credentials.password`"
                )));
            };
            if self.tried_password.replace(true) {
                return Err(git2::Error::from_str(&format!("`{url}` refused the password of user `{user}`")));
            }
            return Cred::userpass_plaintext(user, password.expose_secret());
        }
        Err(git2::Error::from_str(&format!("`{url}` asks for a kind of credentials Sluice does not offer")))
    }

    /// The error of a failed `action`: a refused host key as such, anything else with the
    /// libgit2 message (which our callbacks' messages reach).
    pub(super) fn error(&self, action: String, source: git2::Error) -> GitError {
        match self.refusal.borrow_mut().take() {
            Some(refusal) => GitError::HostKey(refusal),
            None => GitError::Other { action, source },
        }
    }
}

/// The port of an `ssh://[user@]host[:port]/path` URL; 22 for the scp-like `host:path` form.
fn ssh_port(url: &str) -> u16 {
    let Some(rest) = url.strip_prefix("ssh://") else { return 22 };
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
    match host_port.rsplit_once(':') {
        Some((_, port)) if !host_port.ends_with(']') => port.parse().unwrap_or(22),
        _ => 22,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_from_the_url() {
        assert_eq!(ssh_port("ssh://git@127.0.0.1:2222/srv/r.git"), 2222);
        assert_eq!(ssh_port("ssh://host/r.git"), 22);
        assert_eq!(ssh_port("ssh://[::1]/r.git"), 22);
        assert_eq!(ssh_port("ssh://[::1]:2200/r.git"), 2200);
        assert_eq!(ssh_port("git@host:group/r.git"), 22);
    }
}
