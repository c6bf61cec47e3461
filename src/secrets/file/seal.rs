//! Sealing a clear document into a SOPS file: every value encrypted under the data key
//! with its key path as additional data (or, when re-encrypting an edited file, the old
//! ciphertext of a value that did not change, so a diff shows only what changed), the MAC
//! over all clear values, and the `sops` block: fresh for new recipients, or the old one
//! with a new `lastmodified` and `mac`.

use std::collections::HashMap;
use std::time::SystemTime;

use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::{BINARY_KEY, Format, Rules, aad, upper_hex, walk};
use crate::secrets::age as age_keys;
use crate::secrets::cipher;
use crate::secrets::dotenv::{self, Line};
use crate::secrets::keys::Recipients;
use crate::secrets::pgp;
use crate::secrets::tree::{self, Value};
use crate::secrets::{DEFAULT_UNENCRYPTED_SUFFIX, Plaintext, SOPS_VERSION, SecretsError};

/// Old ciphertexts by a digest of (path, type, clear bytes): a value whose path, type and
/// clear bytes are unchanged keeps its `ENC[…]` string. Digests, not clear bytes, are kept.
pub(crate) type Reuse = HashMap<[u8; 64], String>;

/// The digest [`Reuse`] is keyed by.
pub(crate) fn reuse_key(aad: &str, kind: &str, bytes: &[u8]) -> [u8; 64] {
    let mut hash = Sha512::new();
    hash.update(aad.as_bytes());
    hash.update([0]);
    hash.update(kind.as_bytes());
    hash.update([0]);
    hash.update(bytes);
    hash.finalize().into()
}

/// Where the `sops` block comes from.
pub(crate) enum Block<'a> {
    /// A new block with the data key wrapped for these recipients.
    Fresh(&'a Recipients),
    /// The block of the file being re-encrypted (same data key, same recipients); its
    /// `lastmodified` and `mac` are replaced.
    Keep(&'a Value),
}

/// How to seal a document.
pub(crate) struct Seal<'a> {
    /// The data key.
    pub key: Zeroizing<Vec<u8>>,
    /// Which values are encrypted.
    pub rules: Rules,
    /// Old ciphertexts to keep (empty for a new file or a new key).
    pub reuse: Reuse,
    /// The metadata block.
    pub block: Block<'a>,
}

impl Seal<'_> {
    /// A fresh data key for new recipients, SOPS's default rules, nothing reused.
    pub(crate) fn fresh(recipients: &Recipients) -> Result<Seal<'_>, SecretsError> {
        let mut key = Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(key.as_mut_slice()).map_err(|e| SecretsError::Wrap { reason: e.to_string() })?;
        let rules = Rules { unencrypted_suffix: Some(DEFAULT_UNENCRYPTED_SUFFIX.to_string()), ..Rules::default() };
        Ok(Seal { key, rules, reuse: Reuse::new(), block: Block::Fresh(recipients) })
    }

    /// The `ENC[…]` string of clear `bytes` of type `kind` at `aad`: the old one if the value
    /// is unchanged, else a new encryption.
    fn enc(&self, bytes: &[u8], kind: &str, aad: &str) -> Result<String, SecretsError> {
        if let Some(old) = self.reuse.get(&reuse_key(aad, kind, bytes)) {
            return Ok(old.clone());
        }
        cipher::encrypt_bytes(bytes, kind, &self.key, aad)
            .map_err(|_| SecretsError::Wrap { reason: "AES-256-GCM encryption failed".to_string() })
    }
}

/// Encrypts the clear document `plaintext` (in the format `file`'s name says) for every
/// recipient with a fresh data key, as `sops --encrypt` would, keeping values whose key ends
/// in `_unencrypted` in clear. `now` becomes `lastmodified`.
///
/// # Errors
///
/// Syntax and shape errors (the top level must be a mapping), [`SecretsError::AlreadyEncrypted`],
/// [`SecretsError::NoRecipients`], and [`SecretsError::Wrap`].
pub fn encrypt(file: &str, plaintext: &Plaintext, recipients: &Recipients, now: SystemTime) -> Result<String, SecretsError> {
    let format = Format::from_path(file)?;
    if already_encrypted(file, format, plaintext) {
        return Err(SecretsError::AlreadyEncrypted { file: file.to_string() });
    }
    if recipients.is_empty() {
        return Err(SecretsError::NoRecipients { file: file.to_string() });
    }
    seal(file, plaintext, &Seal::fresh(recipients)?, now)
}

fn already_encrypted(file: &str, format: Format, plaintext: &Plaintext) -> bool {
    let Ok(text) = std::str::from_utf8(plaintext.expose()) else { return false };
    match format {
        Format::Dotenv => dotenv::parse(file, text).is_ok_and(|mut lines| dotenv::take_metadata(&mut lines).is_some()),
        Format::Binary => matches!(tree::parse_json(file, text), Ok(Value::Map(ref entries)) if entries.iter().any(|(k, _)| k == "sops")),
        Format::Yaml | Format::Json => {
            matches!(format.parse(file, text), Ok(Value::Map(ref entries)) if entries.iter().any(|(k, _)| k == "sops"))
        }
    }
}

/// Seals `plaintext` as `seal` says, in the format of `file`.
///
/// # Errors
///
/// Syntax and shape errors of the clear document, and [`SecretsError::Wrap`].
pub(crate) fn seal(file: &str, plaintext: &Plaintext, seal: &Seal<'_>, now: SystemTime) -> Result<String, SecretsError> {
    let format = Format::from_path(file)?;
    if format == Format::Binary {
        return seal_binary(plaintext, seal, now);
    }
    let text = std::str::from_utf8(plaintext.expose())
        .map_err(|_| SecretsError::Shape { file: file.to_string(), message: "the file is not UTF-8 text".to_string() })?;
    if format == Format::Dotenv {
        return seal_dotenv(file, text, seal, now);
    }
    let mut document = format.parse(file, text)?;
    let Value::Map(entries) = &document else {
        return Err(SecretsError::Shape { file: file.to_string(), message: "the top level must be a mapping".to_string() });
    };
    if entries.iter().any(|(key, _)| key == "sops") {
        return Err(SecretsError::Shape { file: file.to_string(), message: "a top-level `sops` key is reserved for the metadata".to_string() });
    }
    let mut hash = Sha512::new();
    walk(&mut document, &mut Vec::new(), &mut |value, path| {
        let Some((bytes, kind)) = cipher::leaf_bytes(value) else { return Ok(()) };
        hash.update(&bytes);
        let empty = matches!(value, Value::Str(s) if s.is_empty());
        if seal.rules.encrypts(path) && !empty {
            *value = Value::Str(seal.enc(&bytes, kind, &aad(path))?);
        }
        Ok(())
    })?;
    let block = block(seal, hash, now)?;
    if let Value::Map(entries) = &mut document {
        entries.push(("sops".to_string(), block));
    }
    Ok(format.emit(&document))
}

fn seal_dotenv(file: &str, text: &str, seal: &Seal<'_>, now: SystemTime) -> Result<String, SecretsError> {
    let mut lines = dotenv::parse(file, text)?;
    let mut hash = Sha512::new();
    for line in &mut lines {
        match line {
            Line::Comment(text) if !text.is_empty() => *text = seal.enc(text.as_bytes(), "comment", ":")?,
            Line::Comment(_) => {}
            Line::Pair(name, value) => {
                hash.update(value.as_bytes());
                let path = [name.clone()];
                if seal.rules.encrypts(&path) && !value.is_empty() {
                    *value = seal.enc(value.as_bytes(), "str", &aad(&path))?;
                }
            }
        }
    }
    let block = block(seal, hash, now)?;
    lines.extend(dotenv::metadata_lines(&block));
    Ok(dotenv::emit(&lines))
}

/// The binary format: the whole file as the string value `data` of a JSON document.
fn seal_binary(plaintext: &Plaintext, seal: &Seal<'_>, now: SystemTime) -> Result<String, SecretsError> {
    let bytes = plaintext.expose();
    let enc = if bytes.is_empty() { String::new() } else { seal.enc(bytes, "str", &aad(&[BINARY_KEY.to_string()]))? };
    let mut hash = Sha512::new();
    hash.update(bytes);
    let block = block(seal, hash, now)?;
    Ok(tree::emit_json(&Value::Map(vec![(BINARY_KEY.to_string(), Value::Str(enc)), ("sops".to_string(), block)])))
}

/// The `sops` block for `seal`, with the MAC of `hash` encrypted under `lastmodified`.
fn block(seal: &Seal<'_>, hash: Sha512, now: SystemTime) -> Result<Value, SecretsError> {
    let failed = || SecretsError::Wrap { reason: "AES-256-GCM encryption failed".to_string() };
    let lastmodified = chrono::DateTime::<chrono::Utc>::from(now).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mac_hex = Zeroizing::new(upper_hex(&hash.finalize()));
    let mac = cipher::encrypt_bytes(mac_hex.as_bytes(), "str", &seal.key, &lastmodified).map_err(|_| failed())?;
    match seal.block {
        Block::Keep(old) => {
            let mut block = old.clone();
            if let Value::Map(fields) = &mut block {
                for (name, value) in fields.iter_mut() {
                    match name.as_str() {
                        "lastmodified" => *value = Value::Str(lastmodified.clone()),
                        "mac" => *value = Value::Str(mac.clone()),
                        _ => {}
                    }
                }
            }
            Ok(block)
        }
        Block::Fresh(recipients) => fresh_block(seal, recipients, lastmodified, mac, now),
    }
}

/// A new `sops` block: the data key wrapped for each recipient on its own, as `sops` does,
/// and the seal's value selectors.
fn fresh_block(seal: &Seal<'_>, recipients: &Recipients, lastmodified: String, mac: String, now: SystemTime) -> Result<Value, SecretsError> {
    let key = seal.key.as_slice();
    let mut age_entries = Vec::new();
    for recipient in &recipients.age {
        let enc = age_keys::wrap(key, &[recipient])?;
        age_entries.push(Value::Map(vec![
            ("recipient".to_string(), Value::Str(recipient.to_string())),
            ("enc".to_string(), Value::Str(enc)),
        ]));
    }
    let created_at = chrono::DateTime::<chrono::Utc>::from(now).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut pgp_entries = Vec::new();
    for recipient in &recipients.pgp {
        pgp_entries.push(Value::Map(vec![
            ("created_at".to_string(), Value::Str(created_at.clone())),
            ("enc".to_string(), Value::Str(pgp::wrap(key, recipient)?)),
            ("fp".to_string(), Value::Str(recipient.fingerprint())),
        ]));
    }
    // The fields and their order of `sops`'s metadata struct; empty key lists are omitted.
    let mut block = Vec::new();
    if !age_entries.is_empty() {
        block.push(("age".to_string(), Value::Seq(age_entries)));
    }
    block.push(("lastmodified".to_string(), Value::Str(lastmodified)));
    block.push(("mac".to_string(), Value::Str(mac)));
    if !pgp_entries.is_empty() {
        block.push(("pgp".to_string(), Value::Seq(pgp_entries)));
    }
    let rules = &seal.rules;
    let selectors = [
        ("unencrypted_suffix", rules.unencrypted_suffix.clone()),
        ("encrypted_suffix", rules.encrypted_suffix.clone()),
        ("unencrypted_regex", rules.unencrypted_regex.as_ref().map(|r| r.as_str().to_string())),
        ("encrypted_regex", rules.encrypted_regex.as_ref().map(|r| r.as_str().to_string())),
    ];
    for (name, value) in selectors {
        if let Some(value) = value {
            block.push((name.to_string(), Value::Str(value)));
        }
    }
    block.push(("version".to_string(), Value::Str(SOPS_VERSION.to_string())));
    Ok(Value::Map(block))
}
