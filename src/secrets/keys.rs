//! The two sides of a SOPS data key, whatever their kind: [`Recipients`] a file is encrypted
//! for (age and OpenPGP public keys) and [`Identities`] that may decrypt it (age identities
//! and OpenPGP secret keys). Key files are told apart by their content, so one `--identity`
//! flag (or one controller setting) takes either kind.

use super::age::{AgeIdentities, AgeRecipient};
use super::pgp::{self, PgpKeys, PgpRecipient};
use super::SecretsError;

/// Everyone a file's data key is wrapped for.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    /// age X25519 recipients, one `age` entry each.
    pub age: Vec<AgeRecipient>,
    /// OpenPGP certificates, one `pgp` entry each.
    pub pgp: Vec<PgpRecipient>,
}

impl Recipients {
    /// Only age recipients.
    pub fn age(age: Vec<AgeRecipient>) -> Self {
        Recipients { age, pgp: Vec::new() }
    }

    /// Whether there is nobody to encrypt for.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.pgp.is_empty()
    }

    /// Every recipient as the error messages name them: `age1…` and `pgp:FINGERPRINT`.
    pub fn names(&self) -> Vec<String> {
        let age = self.age.iter().map(ToString::to_string);
        age.chain(self.pgp.iter().map(|p| format!("pgp:{}", p.fingerprint()))).collect()
    }
}

/// Secret keys that may unwrap a data key: age identities and passphrase-less OpenPGP keys.
#[derive(Debug, Default)]
pub struct Identities {
    /// age X25519 identities.
    pub age: AgeIdentities,
    /// OpenPGP secret keys.
    pub pgp: PgpKeys,
}

impl Identities {
    /// No identities yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key file's identities: an OpenPGP secret key or keyring (armored or binary)
    /// when the bytes look like OpenPGP, else an age identity file. `source` names the file
    /// (or environment variable) in errors; key material never appears in one.
    ///
    /// # Errors
    ///
    /// [`SecretsError::Identity`] for a bad age line, [`SecretsError::PgpKey`] for OpenPGP
    /// data without a usable secret key.
    pub fn add_file(&mut self, source: &str, bytes: &[u8]) -> Result<(), SecretsError> {
        if pgp::looks_like_openpgp(bytes) {
            return self.pgp.add_file(source, bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| SecretsError::Identity { source_name: source.to_string(), line: 1 })?;
        self.age.add_file(source, text)
    }

    /// Whether there is no identity at all.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.pgp.is_empty()
    }

    /// The public side of every identity: `age1…` and `pgp:FINGERPRINT`, for messages.
    pub fn names(&self) -> Vec<String> {
        let age = self.age.recipients().into_iter();
        age.chain(self.pgp.fingerprints().into_iter().map(|fp| format!("pgp:{fp}"))).collect()
    }
}

impl From<AgeIdentities> for Identities {
    fn from(age: AgeIdentities) -> Self {
        Identities { age, pgp: PgpKeys::new() }
    }
}
