//! SSH host-key checking against an OpenSSH `known_hosts` file: the key a server presents is
//! accepted only when the file lists exactly that key for the host; an unknown host, another
//! key or a revoked one is refused with the host and the key's fingerprint (never accepted
//! silently, never added to the file).
//!
//! Read as OpenSSH writes it (`sshd(8)`, "SSH_KNOWN_HOSTS FILE FORMAT"): `[@revoked] patterns
//! keytype base64-key [comment]`; patterns are comma-separated host names, `[host]:port` for
//! another port than 22, `*`/`?` wildcards, `!` negations, or hashed `|1|salt|hmac-sha1`
//! entries (`HashKnownHosts yes`). `@cert-authority` lines are skipped: host certificates are
//! not supported, so such a host is refused as unknown.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

/// The key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, …
    pub key_type: String,
    /// The key in SSH wire format (what `known_hosts` holds in base64).
    pub blob: Vec<u8>,
}

impl HostKey {
    /// `SHA256:…`, as `ssh-keygen -lf` and `ssh` print it.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(&self.blob)))
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} key {}", self.key_type, self.fingerprint())
    }
}

/// Why a host key was refused. Each message names the host, the key's fingerprint and the
/// file, and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostKeyRefusal {
    /// The file does not list the host at all.
    #[error(
        "SSH host `{host}` is not in `{file}`; it presented the {key}; hint: check that fingerprint with the \
         server's administrator, then add the host with `ssh-keyscan{port_flag} {name} >> {file}`",
        file = file.display(), port_flag = port_flag(*port), name = bare_host(host)
    )]
    Unknown {
        /// `host` or `[host]:port`.
        host: String,
        /// The port (for the hint).
        port: u16,
        /// What the server presented.
        key: HostKey,
        /// The known_hosts file.
        file: PathBuf,
    },
    /// The file lists the host with other keys.
    #[error(
        "SSH host `{host}` presented the {key}, which is not the key `{file}` lists for it (line {line}); \
         the server's key changed or someone is intercepting the connection; hint: if the key was replaced \
         on purpose, replace that line of `{file}`",
        file = file.display()
    )]
    Mismatch {
        /// `host` or `[host]:port`.
        host: String,
        /// What the server presented.
        key: HostKey,
        /// The known_hosts file.
        file: PathBuf,
        /// The first line listing the host.
        line: usize,
    },
    /// The file marks this key `@revoked`.
    #[error("SSH host `{host}` presented the {key}, which `{file}` marks `@revoked` (line {line})", file = file.display())]
    Revoked {
        /// `host` or `[host]:port`.
        host: String,
        /// What the server presented.
        key: HostKey,
        /// The known_hosts file.
        file: PathBuf,
        /// The `@revoked` line.
        line: usize,
    },
    /// The file cannot be read.
    #[error(
        "cannot check the key of SSH host `{host}` ({key}): cannot read `{file}`: {reason}; hint: set the \
         project's `credentials.known_hosts` to a file listing the host (`ssh-keyscan` prints its lines)",
        file = file.display()
    )]
    Unreadable {
        /// `host` or `[host]:port`.
        host: String,
        /// What the server presented.
        key: HostKey,
        /// The known_hosts file.
        file: PathBuf,
        /// The I/O error.
        reason: String,
    },
}

fn port_flag(port: u16) -> String {
    if port == 22 { String::new() } else { format!(" -p {port}") }
}

fn bare_host(host: &str) -> &str {
    host.strip_prefix('[').and_then(|rest| rest.split_once("]:")).map_or(host, |(name, _)| name)
}

/// The name `known_hosts` lists a host under: `host`, or `[host]:port` for another port than 22.
pub fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 { host.to_owned() } else { format!("[{host}]:{port}") }
}

/// Checks `key`, presented by `host` on `port`, against the `known_hosts` file `file`.
///
/// # Errors
/// [`HostKeyRefusal`] unless the file lists exactly this key for the host.
pub fn check(file: &Path, host: &str, port: u16, key: &HostKey) -> Result<(), HostKeyRefusal> {
    let name = host_entry_name(host, port);
    let text = std::fs::read_to_string(file).map_err(|error| HostKeyRefusal::Unreadable {
        host: name.clone(),
        key: key.clone(),
        file: file.to_owned(),
        reason: error.to_string(),
    })?;
    check_text(&text, file, &name, key)
}

fn check_text(text: &str, file: &Path, name: &str, key: &HostKey) -> Result<(), HostKeyRefusal> {
    let encoded = STANDARD.encode(&key.blob);
    let mut listed_on = None;
    let mut accepted = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let marker = first.strip_prefix('@');
        if marker.is_some() {
            first = fields.next().unwrap_or_default();
        }
        let (Some(key_type), Some(blob)) = (fields.next(), fields.next()) else { continue };
        if marker == Some("cert-authority") || !patterns_match(first, name) {
            continue;
        }
        let same_key = key_type == key.key_type && blob == encoded;
        if marker == Some("revoked") {
            if same_key {
                return Err(HostKeyRefusal::Revoked {
                    host: name.to_owned(),
                    key: key.clone(),
                    file: file.to_owned(),
                    line: index + 1,
                });
            }
            continue;
        }
        listed_on.get_or_insert(index + 1);
        accepted |= same_key;
    }
    match (accepted, listed_on) {
        (true, _) => Ok(()),
        (false, Some(line)) => Err(HostKeyRefusal::Mismatch {
            host: name.to_owned(),
            key: key.clone(),
            file: file.to_owned(),
            line,
        }),
        (false, None) => Err(HostKeyRefusal::Unknown {
            host: name.to_owned(),
            port: name.rsplit_once("]:").and_then(|(_, port)| port.parse().ok()).unwrap_or(22),
            key: key.clone(),
            file: file.to_owned(),
        }),
    }
}

/// Whether the comma-separated `patterns` of a line match `name`: some pattern matches and no
/// negated one does.
fn patterns_match(patterns: &str, name: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    let mut matched = false;
    for pattern in patterns.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard_matches(negated, name) => return false,
            Some(_) => {}
            None => matched |= wildcard_matches(pattern, name),
        }
    }
    matched
}

/// `salt|hash`, both base64: HMAC-SHA1 of the name keyed with the salt.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else { return false };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else { return false };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else { return false };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// OpenSSH's host pattern: `*` any run of characters, `?` one; case-insensitive.
fn wildcard_matches(pattern: &str, name: &str) -> bool {
    fn matches(pattern: &[u8], name: &[u8]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((b'*', rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
            Some((b'?', rest)) => !name.is_empty() && matches(rest, &name[1..]),
            Some((c, rest)) => name.first().is_some_and(|n| n.eq_ignore_ascii_case(c)) && matches(rest, &name[1..]),
        }
    }
    matches(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJCZXU6NOQQFj699QWWDgJkygzF+NTda8LcPeAq54qqn";
    const OTHER: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIK64BQg7tCw0dZaNLDijOKmLb0ccYenK82xt5LWPYvJk";

    fn key(b64: &str) -> HostKey {
        HostKey { key_type: "ssh-ed25519".to_owned(), blob: STANDARD.decode(b64).unwrap() }
    }

    fn check(text: &str, name: &str, presented: &str) -> Result<(), HostKeyRefusal> {
        check_text(text, Path::new("/etc/sluice/known_hosts"), name, &key(presented))
    }

    #[test]
    fn the_listed_key_is_accepted_under_plain_wildcard_and_port_names() {
        assert_eq!(check(&format!("git.example.com ssh-ed25519 {KEY}\n"), "git.example.com", KEY), Ok(()));
        assert_eq!(check(&format!("# c\n\n*.example.com,other ssh-ed25519 {KEY} me\n"), "git.example.com", KEY), Ok(()));
        assert_eq!(check(&format!("[127.0.0.1]:2222 ssh-ed25519 {KEY}\n"), "[127.0.0.1]:2222", KEY), Ok(()));
        // A host listed with several keys (one per type, or a rotation) accepts any of them.
        let both = format!("h ssh-ed25519 {OTHER}\nh ssh-ed25519 {KEY}\n");
        assert_eq!(check(&both, "h", KEY), Ok(()));
    }

    #[test]
    fn hashed_entries_match_as_openssh_writes_them() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222": HMAC-SHA1 keyed with the salt.
        let salt = [7u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = STANDARD.encode(mac.finalize().into_bytes());
        let line = format!("|1|{}|{hash} ssh-ed25519 {KEY}\n", STANDARD.encode(salt));
        assert_eq!(check(&line, "[127.0.0.1]:2222", KEY), Ok(()));
        assert!(matches!(check(&line, "127.0.0.1", KEY), Err(HostKeyRefusal::Unknown { .. })));
    }

    #[test]
    fn unknown_other_and_revoked_keys_are_refused_with_host_and_fingerprint() {
        let text = format!("h ssh-ed25519 {OTHER}\n");
        let refused = check(&text, "[h]:2222", KEY).unwrap_err();
        let fingerprint = key(KEY).fingerprint();
        assert_eq!(
            refused.to_string(),
            format!(
                "SSH host `[h]:2222` is not in `/etc/sluice/known_hosts`; it presented the ssh-ed25519 key {fingerprint}; \
                 hint: check that fingerprint with the server's administrator, then add the host with \
                 `ssh-keyscan -p 2222 h >> /etc/sluice/known_hosts`"
            )
        );
        let refused = check(&format!("# x\n{text}"), "h", KEY).unwrap_err();
        assert!(matches!(refused, HostKeyRefusal::Mismatch { line: 2, .. }), "{refused:?}");
        assert!(refused.to_string().contains(&fingerprint), "{refused}");
        let revoked = format!("@revoked * ssh-ed25519 {KEY}\nh ssh-ed25519 {KEY}\n");
        assert!(matches!(check(&revoked, "h", KEY), Err(HostKeyRefusal::Revoked { line: 1, .. })));
        let negated = format!("*,!h ssh-ed25519 {KEY}\n");
        assert!(matches!(check(&negated, "h", KEY), Err(HostKeyRefusal::Unknown { .. })));
        let authority = format!("@cert-authority h ssh-ed25519 {KEY}\n");
        assert!(matches!(check(&authority, "h", KEY), Err(HostKeyRefusal::Unknown { .. })));
        // The key type counts too.
        let typed = format!("h ssh-rsa {KEY}\n");
        assert!(matches!(check(&typed, "h", KEY), Err(HostKeyRefusal::Mismatch { .. })));
    }

    #[test]
    fn the_fingerprint_is_the_one_ssh_keygen_prints() {
        // What `ssh-keygen -lf` printed for a file holding KEY.
        assert_eq!(key(KEY).fingerprint(), "SHA256:u8TTbAtsbh89u75odNeuOmut7KMtXw9/CuSXz5aJNR0");
    }
}
