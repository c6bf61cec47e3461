//! age X25519 recipients and identities: parsing identity files (`AGE-SECRET-KEY-1…` lines
//! with `#` comments, as `age-keygen` writes them), generating key pairs, and wrapping and
//! unwrapping a SOPS data key as an ASCII-armored age file.
//!
//! It reads no environment variables and no files: callers resolve `SOPS_AGE_KEY_FILE`,
//! `SOPS_AGE_KEY` and `--identity` and pass the text in. Plugins are not supported, so no
//! identity can run a program.

use std::io::{Read, Write};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::{Plaintext, SecretsError};

/// The environment variable naming an age identity file, as SOPS reads it.
pub const SOPS_AGE_KEY_FILE: &str = "SOPS_AGE_KEY_FILE";
/// The environment variable holding age identities inline, as SOPS reads it.
pub const SOPS_AGE_KEY: &str = "SOPS_AGE_KEY";

/// An age X25519 recipient (`age1…`): a public key that data keys are wrapped for.
#[derive(Clone)]
pub struct AgeRecipient(age::x25519::Recipient);

impl AgeRecipient {
    /// Parses an `age1…` recipient.
    ///
    /// # Errors
    ///
    /// [`SecretsError::Recipient`] when `text` is not an X25519 age recipient. A secret key
    /// given by mistake is not repeated in the error, only its prefix.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let text = text.trim();
        if text.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
            return Err(SecretsError::Recipient {
                recipient: "AGE-SECRET-KEY-1…".to_string(),
                reason: "that is a secret key (an identity), not a recipient; give its public key `age1…` \
                         (`age-keygen -y` prints it)"
                    .to_string(),
            });
        }
        age::x25519::Recipient::from_str(text)
            .map(AgeRecipient)
            .map_err(|reason| SecretsError::Recipient { recipient: text.to_string(), reason: reason.to_string() })
    }
}

impl std::fmt::Display for AgeRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for AgeRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgeRecipient({})", self.0)
    }
}

/// age X25519 identities (secret keys) that may unwrap a data key.
#[derive(Default)]
pub struct AgeIdentities(Vec<age::x25519::Identity>);

impl AgeIdentities {
    /// No identities yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the identities of an identity file's text: one `AGE-SECRET-KEY-1…` per line;
    /// blank lines and lines starting with `#` are skipped. `source` names the text in
    /// errors (a path, or `SOPS_AGE_KEY`).
    ///
    /// # Errors
    ///
    /// [`SecretsError::Identity`] naming `source` and the line, without the line's content,
    /// when a line is neither a comment nor an X25519 identity (plugin identities included).
    pub fn add_file(&mut self, source: &str, text: &str) -> Result<(), SecretsError> {
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let identity = age::x25519::Identity::from_str(line).map_err(|_| SecretsError::Identity {
                source_name: source.to_string(),
                line: index + 1,
            })?;
            self.0.push(identity);
        }
        Ok(())
    }

    /// How many identities there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recipients of these identities, `age1…` each.
    pub fn recipients(&self) -> Vec<String> {
        self.0.iter().map(|identity| identity.to_public().to_string()).collect()
    }
}

impl std::fmt::Debug for AgeIdentities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgeIdentities({} [REDACTED])", self.0.len())
    }
}

/// A freshly generated age key pair.
pub struct GeneratedKey {
    /// The identity file, as `age-keygen` writes it: `# created:`, `# public key:` and the
    /// `AGE-SECRET-KEY-1…` line.
    pub identity_file: Plaintext,
    /// The recipient (`age1…`) to encrypt for.
    pub recipient: String,
}

/// Generates an X25519 key pair; `created` (RFC 3339) goes into the file's first comment.
pub fn generate(created: &str) -> GeneratedKey {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let secret = identity.to_string();
    let text = format!("# created: {created}\n# public key: {recipient}\n{}\n", secret.expose_secret());
    GeneratedKey { identity_file: Plaintext::from(text), recipient }
}

/// Encrypts `data_key` to every recipient as one ASCII-armored age file, the `enc` field of
/// each `age` entry of a SOPS file.
///
/// # Errors
///
/// [`SecretsError::Wrap`] if age refuses the recipient set (it cannot for X25519 ones) or
/// writing to memory fails.
pub(crate) fn wrap(data_key: &[u8], recipients: &[&AgeRecipient]) -> Result<String, SecretsError> {
    let wrap_error = |reason: String| SecretsError::Wrap { reason };
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| &r.0 as &dyn age::Recipient))
        .map_err(|e| wrap_error(e.to_string()))?;
    let armored = age::armor::ArmoredWriter::wrap_output(Vec::new(), age::armor::Format::AsciiArmor)
        .map_err(|e| wrap_error(e.to_string()))?;
    let mut writer = encryptor.wrap_output(armored).map_err(|e| wrap_error(e.to_string()))?;
    writer.write_all(data_key).map_err(|e| wrap_error(e.to_string()))?;
    let armored = writer.finish().map_err(|e| wrap_error(e.to_string()))?;
    let bytes = armored.finish().map_err(|e| wrap_error(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| wrap_error(e.to_string()))
}

/// Tries every identity on one wrapped data key (armored or binary age). `None` when no
/// identity is among its recipients, or it is not an age file: the caller tries the next
/// `age` entry and reports all recipients if none works.
pub(crate) fn unwrap(enc: &str, identities: &AgeIdentities) -> Option<Zeroizing<Vec<u8>>> {
    let reader = age::armor::ArmoredReader::new(enc.as_bytes());
    let decryptor = age::Decryptor::new(reader).ok()?;
    let mut stream = decryptor.decrypt(identities.0.iter().map(|i| i as &dyn age::Identity)).ok()?;
    let mut key = Zeroizing::new(Vec::new());
    stream.read_to_end(&mut key).ok()?;
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_file_parses_back_and_unwraps_what_was_wrapped() {
        let key = generate("2026-11-29T15:00:00Z");
        let text = std::str::from_utf8(key.identity_file.expose()).unwrap();
        assert!(text.starts_with("# created: 2026-11-29T15:00:00Z\n# public key: age1"));
        let mut identities = AgeIdentities::new();
        identities.add_file("keys.txt", text).unwrap();
        assert_eq!(identities.recipients(), vec![key.recipient.clone()]);

        let recipient = AgeRecipient::parse(&key.recipient).unwrap();
        let enc = wrap(&[7u8; 32], &[&recipient]).unwrap();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert_eq!(unwrap(&enc, &identities).unwrap().as_slice(), &[7u8; 32]);

        let other = generate("2026-11-29T15:00:00Z");
        let mut wrong = AgeIdentities::new();
        wrong.add_file("other.txt", std::str::from_utf8(other.identity_file.expose()).unwrap()).unwrap();
        assert!(unwrap(&enc, &wrong).is_none());
    }

    #[test]
    fn a_bad_identity_line_is_located_but_not_echoed() {
        let mut identities = AgeIdentities::new();
        let err = identities.add_file("keys.txt", "# comment\n\nAGE-SECRET-KEY-1NOTAKEY\n").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("keys.txt") && message.contains("line 3"), "{message}");
        assert!(!message.contains("NOTAKEY"), "{message}");
    }

    #[test]
    fn a_bad_recipient_is_named() {
        let err = AgeRecipient::parse("age1nope").unwrap_err();
        assert!(err.to_string().contains("age1nope"));
    }

    #[test]
    fn a_secret_key_given_as_recipient_is_not_echoed() {
        let key = generate("2026-01-01T00:00:00Z");
        let text = String::from_utf8(key.identity_file.expose().to_vec()).unwrap();
        let secret = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap();
        let message = AgeRecipient::parse(secret).unwrap_err().to_string();
        assert!(!message.contains(secret), "{message}");
        assert!(message.contains("AGE-SECRET-KEY-1") && message.contains("identity"), "{message}");
    }
}
