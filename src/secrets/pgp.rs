//! OpenPGP recipients and secret keys with sequoia: reading certificates (armored or binary,
//! one key or a whole exported keyring), and wrapping and unwrapping a SOPS data key as an
//! ASCII-armored OpenPGP message, the `enc` of each `pgp` entry, as `sops` does through `gpg`.
//!
//! Secret keys must be passphrase-less (service keys): Sluice never asks for a passphrase and
//! never talks to a `gpg-agent`. Like [`super::age`], this reads no files and no environment.

use std::io::{Read, Write};

use sequoia_openpgp as openpgp;
use openpgp::cert::amalgamation::key::ValidKeyAmalgamationIter;
use openpgp::cert::{Cert, CertParser};
use openpgp::crypto::SessionKey;
use openpgp::packet::{PKESK, SKESK, key};
use openpgp::parse::stream::{DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message};
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Fingerprint, KeyHandle};
use zeroize::Zeroizing;

use super::SecretsError;

/// An OpenPGP certificate (public key) that data keys are encrypted to, with at least one
/// valid encryption subkey under sequoia's standard policy.
#[derive(Clone)]
pub struct PgpRecipient(Cert);

impl PgpRecipient {
    /// Every certificate in a key file's bytes (`gpg --export [--armor]` of one key or many).
    /// `source` names the file in errors.
    ///
    /// # Errors
    ///
    /// [`SecretsError::PgpKey`] when the bytes are not OpenPGP certificates, hold none, or a
    /// certificate has no valid encryption key.
    pub fn parse_all(source: &str, bytes: &[u8]) -> Result<Vec<PgpRecipient>, SecretsError> {
        let certs = parse_certs(source, bytes)?;
        let policy = StandardPolicy::new();
        let mut recipients = Vec::new();
        for cert in certs {
            if encryption_keys(&cert, &policy).next().is_none() {
                return Err(SecretsError::PgpKey {
                    source_name: source.to_string(),
                    reason: format!("key `{}` has no valid (unexpired, unrevoked) encryption subkey", cert.fingerprint().to_hex()),
                });
            }
            recipients.push(PgpRecipient(cert.strip_secret_key_material()));
        }
        Ok(recipients)
    }

    /// The primary key's fingerprint, 40 (or 64) uppercase hex digits, as `sops` writes `fp`.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint().to_hex()
    }
}

impl std::fmt::Debug for PgpRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgpRecipient({})", self.fingerprint())
    }
}

/// Passphrase-less OpenPGP secret keys that may unwrap a data key.
#[derive(Default)]
pub struct PgpKeys(Vec<Cert>);

impl PgpKeys {
    /// No keys yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the secret keys of a key file (`gpg --export-secret-keys [--armor]`). `source`
    /// names the file in errors; key material never appears in one.
    ///
    /// # Errors
    ///
    /// [`SecretsError::PgpKey`] when the file holds no OpenPGP data, no secret key, or only
    /// passphrase-protected ones (named by fingerprint).
    pub fn add_file(&mut self, source: &str, bytes: &[u8]) -> Result<(), SecretsError> {
        let certs = parse_certs(source, bytes)?;
        let mut protected = Vec::new();
        let mut added = 0;
        for cert in certs {
            if cert.keys().unencrypted_secret().next().is_some() {
                self.0.push(cert);
                added += 1;
            } else if cert.keys().secret().next().is_some() {
                protected.push(format!("`{}`", cert.fingerprint().to_hex()));
            }
        }
        if added == 0 {
            let reason = if protected.is_empty() {
                "it holds public keys only; export the secret key with `gpg --export-secret-keys --armor FINGERPRINT`"
                    .to_string()
            } else {
                format!(
                    "the secret key {} is protected by a passphrase; Sluice needs a passphrase-less service key \
                     (remove it with `gpg --passwd` and an empty passphrase, then export again)",
                    protected.join(", ")
                )
            };
            return Err(SecretsError::PgpKey { source_name: source.to_string(), reason });
        }
        Ok(())
    }

    /// How many keys (certificates with usable secret material) there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The public certificate of the key with primary fingerprint `fingerprint`, if held.
    pub fn recipient(&self, fingerprint: &str) -> Option<PgpRecipient> {
        let wanted = parse_fingerprint(fingerprint)?;
        self.0.iter().find(|cert| cert.fingerprint() == wanted).map(|cert| PgpRecipient(cert.clone().strip_secret_key_material()))
    }

    /// The fingerprints of these keys' certificates.
    pub fn fingerprints(&self) -> Vec<String> {
        self.0.iter().map(|cert| cert.fingerprint().to_hex()).collect()
    }
}

impl std::fmt::Debug for PgpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgpKeys({} [REDACTED])", self.0.len())
    }
}

fn parse_certs(source: &str, bytes: &[u8]) -> Result<Vec<Cert>, SecretsError> {
    let invalid = |reason: String| SecretsError::PgpKey { source_name: source.to_string(), reason };
    let parser = CertParser::from_bytes(bytes).map_err(|e| invalid(format!("not OpenPGP data: {e}")))?;
    let certs = parser.collect::<Result<Vec<Cert>, _>>().map_err(|e| invalid(format!("not an OpenPGP key: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no OpenPGP key in it".to_string()));
    }
    Ok(certs)
}

/// The keys of `cert` that may encrypt now under `policy`: supported, alive, not revoked,
/// and flagged for storage or transport encryption (gpg's `E` sets both).
fn encryption_keys<'a>(
    cert: &'a Cert,
    policy: &'a StandardPolicy<'a>,
) -> ValidKeyAmalgamationIter<'a, key::PublicParts, key::UnspecifiedRole> {
    cert.keys().with_policy(policy, None).supported().alive().revoked(false).for_storage_encryption().for_transport_encryption()
}

/// Encrypts `data_key` to `recipient`'s encryption subkeys as an ASCII-armored OpenPGP
/// message: the `enc` of a SOPS `pgp` entry.
///
/// # Errors
///
/// [`SecretsError::Wrap`] when sequoia refuses (for example, no usable encryption subkey).
pub(crate) fn wrap(data_key: &[u8], recipient: &PgpRecipient) -> Result<String, SecretsError> {
    let wrap_error = |e: anyhow::Error| SecretsError::Wrap { reason: format!("OpenPGP: {e}") };
    let policy = StandardPolicy::new();
    let keys = encryption_keys(&recipient.0, &policy);
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let message = Armorer::new(message).kind(openpgp::armor::Kind::Message).build().map_err(wrap_error)?;
        let message = Encryptor::for_recipients(message, keys).build().map_err(wrap_error)?;
        let mut writer = LiteralWriter::new(message).build().map_err(wrap_error)?;
        writer.write_all(data_key).map_err(|e| wrap_error(e.into()))?;
        writer.finalize().map_err(wrap_error)?;
    }
    String::from_utf8(sink).map_err(|e| SecretsError::Wrap { reason: e.to_string() })
}

/// Tries `keys` on one wrapped data key (armored or binary OpenPGP). `None` when none of
/// the keys is a recipient or the message does not decrypt: the caller tries the next entry.
pub(crate) fn unwrap(enc: &str, keys: &PgpKeys) -> Option<Zeroizing<Vec<u8>>> {
    if keys.is_empty() {
        return None;
    }
    let policy = StandardPolicy::new();
    let helper = Helper { keys };
    let mut decryptor = DecryptorBuilder::from_bytes(enc.as_bytes()).ok()?.with_policy(&policy, None, helper).ok()?;
    let mut key = Zeroizing::new(Vec::new());
    decryptor.read_to_end(&mut key).ok()?;
    Some(key)
}

/// What sequoia's streaming decryptor asks of us: the session key from a PKESK one of our
/// keys opens. Signatures are not expected (SOPS does not sign data keys) and not checked.
struct Helper<'k> {
    keys: &'k PgpKeys,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }

    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        for pkesk in pkesks {
            let wanted = pkesk.recipient();
            for cert in &self.keys.0 {
                // Expired or otherwise no longer valid keys still decrypt what was encrypted
                // to them earlier, as gpg does: no policy filter here.
                for key in cert.keys().unencrypted_secret() {
                    let matches = match &wanted {
                        None => true,
                        Some(handle) => handle.aliases(KeyHandle::from(key.key().fingerprint())),
                    };
                    if !matches {
                        continue;
                    }
                    let Ok(mut pair) = key.key().clone().into_keypair() else { continue };
                    if let Some((algo, session_key)) = pkesk.decrypt(&mut pair, sym_algo)
                        && decrypt(algo, &session_key)
                    {
                        return Ok(Some(cert.clone()));
                    }
                }
            }
        }
        Err(anyhow::Error::msg("no key fits"))
    }
}

/// Whether `text` looks like an OpenPGP key rather than an age identity file: armored
/// (`-----BEGIN PGP`) or binary (the first byte is a packet tag).
pub(crate) fn looks_like_openpgp(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let rest = &bytes[start..];
    rest.starts_with(b"-----BEGIN PGP") || rest.first().is_some_and(|b| b & 0x80 != 0)
}

/// Parses a fingerprint given on the command line or in `.sops.yaml` (spaces allowed).
pub(crate) fn parse_fingerprint(text: &str) -> Option<Fingerprint> {
    let hex: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if hex.len() != 40 && hex.len() != 64 {
        return None;
    }
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Fingerprint::from_hex(&hex).ok()
}
