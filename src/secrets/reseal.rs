//! Re-encrypting an existing SOPS file without going through clear text on disk: after an
//! edit ([`update`]: same data key and recipients, unchanged values keep their ciphertext so
//! a git diff shows only what changed), for new recipients ([`rewrap`]: same data key, the
//! `updatekeys` workflow), or with a new data key ([`rotate`]).

use std::time::SystemTime;

use super::file::{Block, Opened, Reuse, Seal, open, seal};
use super::lookup::pgp_recipients;
use super::{AgeRecipient, Identities, Plaintext, Recipients, SecretsError};

/// Re-encrypts `new_clear`, the clear document of the SOPS file `encrypted` after an edit,
/// under the file's data key, recipients and value selectors: a value whose path, type and
/// clear bytes did not change keeps its old `ENC[…]` string; the MAC and `lastmodified` are
/// new.
///
/// # Errors
///
/// Every error of [`super::decrypt`] for `encrypted` (the MAC is verified first), and the
/// syntax and shape errors of `new_clear`.
pub fn update(file: &str, encrypted: &str, new_clear: &Plaintext, identities: &Identities, now: SystemTime) -> Result<String, SecretsError> {
    let Opened { key, rules, reuse, sops, .. } = open(file, encrypted, identities, true)?;
    seal(file, new_clear, &Seal { key, rules, reuse, block: Block::Keep(&sops) }, now)
}

/// The same values and data key, with the data key wrapped for `recipients` instead of the
/// file's current ones. Values keep their ciphertext. Someone removed from the recipients
/// who kept the old data key can still read these values: [`rotate`] as well to shut them
/// out.
///
/// # Errors
///
/// As [`update`], and [`SecretsError::NoRecipients`].
pub fn rewrap(file: &str, encrypted: &str, recipients: &Recipients, identities: &Identities, now: SystemTime) -> Result<String, SecretsError> {
    if recipients.is_empty() {
        return Err(SecretsError::NoRecipients { file: file.to_string() });
    }
    let Opened { clear, key, rules, reuse, .. } = open(file, encrypted, identities, true)?;
    seal(file, &clear, &Seal { key, rules, reuse, block: Block::Fresh(recipients) }, now)
}

/// A new data key: every value encrypted again, for `recipients`, or the file's current
/// recipients when `None`.
///
/// # Errors
///
/// As [`update`], and the errors of [`current_recipients`].
pub fn rotate(
    file: &str,
    encrypted: &str,
    recipients: Option<&Recipients>,
    identities: &Identities,
    now: SystemTime,
) -> Result<String, SecretsError> {
    let opened = open(file, encrypted, identities, false)?;
    let current;
    let recipients = match recipients {
        Some(recipients) => recipients,
        None => {
            current = resolve(&opened.age, &opened.pgp, identities)?;
            &current
        }
    };
    let mut fresh = Seal::fresh(recipients)?;
    fresh.rules = opened.rules;
    fresh.reuse = Reuse::new();
    seal(file, &opened.clear, &fresh, now)
}

/// The recipients the file is encrypted for now: its age recipients, and its OpenPGP
/// fingerprints resolved from `identities`' own keys or else the GnuPG keyring.
///
/// # Errors
///
/// As [`super::decrypt`], and [`SecretsError::PgpKey`] for a fingerprint found nowhere.
pub fn current_recipients(file: &str, encrypted: &str, identities: &Identities) -> Result<Recipients, SecretsError> {
    let opened = open(file, encrypted, identities, false)?;
    resolve(&opened.age, &opened.pgp, identities)
}

fn resolve(age: &[String], pgp: &[String], identities: &Identities) -> Result<Recipients, SecretsError> {
    let mut recipients = Recipients::default();
    for recipient in age {
        recipients.age.push(AgeRecipient::parse(recipient)?);
    }
    for fingerprint in pgp {
        match identities.pgp.recipient(fingerprint) {
            Some(recipient) => recipients.pgp.push(recipient),
            None => recipients.pgp.extend(pgp_recipients(fingerprint)?),
        }
    }
    Ok(recipients)
}
