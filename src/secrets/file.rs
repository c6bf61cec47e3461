//! Decrypting and encrypting whole SOPS files (YAML, JSON, dotenv, binary) as the `sops`
//! tool does (`sops.go`, `stores/`): every leaf value under the data key with its key path
//! as additional data, the data key wrapped per age and OpenPGP recipient, and a MAC (SHA-512 over every
//! clear value in document order, uppercase hex, itself encrypted with `lastmodified` as
//! additional data) that decrypting verifies before returning anything.

use regex::Regex;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::age as age_keys;
use super::cipher;
use super::dotenv::{self, Line};
use super::keys::Identities;
use super::pgp;
use super::tree::{self, Value};
use super::{DEFAULT_UNENCRYPTED_SUFFIX, Plaintext, SecretsError};

mod seal;

pub use seal::encrypt;
pub(crate) use seal::{Block, Reuse, Seal, seal};

/// The formats SOPS files come in, chosen from the file name as `sops` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.yaml` and `.yml`.
    Yaml,
    /// `.json`.
    Json,
    /// `.env`: `KEY=VALUE` lines and `#` comments.
    Dotenv,
    /// Any other name: the whole file is one value, `data` in a JSON document, and
    /// decrypts to the same bytes.
    Binary,
}

impl Format {
    /// The format of `file` by its extension.
    ///
    /// # Errors
    ///
    /// [`SecretsError::UnknownFormat`] for INI files, not supported yet.
    pub fn from_path(file: &str) -> Result<Self, SecretsError> {
        let lower = file.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Ok(Format::Yaml)
        } else if lower.ends_with(".json") {
            Ok(Format::Json)
        } else if lower.ends_with(".env") {
            Ok(Format::Dotenv)
        } else if lower.ends_with(".ini") {
            Err(SecretsError::UnknownFormat { file: file.to_string() })
        } else {
            Ok(Format::Binary)
        }
    }

    pub(crate) fn parse(self, file: &str, text: &str) -> Result<Value, SecretsError> {
        match self {
            Format::Yaml => tree::parse_yaml(file, text),
            Format::Json | Format::Binary | Format::Dotenv => tree::parse_json(file, text),
        }
    }

    pub(crate) fn emit(self, value: &Value) -> String {
        match self {
            Format::Yaml => tree::emit_yaml(value),
            Format::Json | Format::Binary | Format::Dotenv => tree::emit_json(value),
        }
    }
}

/// Which values a file encrypts: SOPS's `unencrypted_suffix`, `encrypted_suffix`,
/// `unencrypted_regex` and `encrypted_regex`, matched against every key on a value's path.
#[derive(Debug, Default, Clone)]
pub(crate) struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
}

impl Rules {
    /// SOPS's `shouldBeEncrypted`, for values (comments are not kept).
    fn encrypts(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(suffix) = &self.unencrypted_suffix {
            encrypted = !path.iter().any(|key| key.ends_with(suffix.as_str()));
        }
        if let Some(suffix) = &self.encrypted_suffix {
            encrypted = path.iter().any(|key| key.ends_with(suffix.as_str()));
        }
        if let Some(regex) = &self.unencrypted_regex
            && path.iter().any(|key| regex.is_match(key))
        {
            encrypted = false;
        }
        if let Some(regex) = &self.encrypted_regex {
            encrypted = path.iter().any(|key| regex.is_match(key));
        }
        encrypted
    }
}

/// The parts of the `sops` block that decrypting uses.
struct Metadata {
    /// `(recipient, enc)` of each `age` entry.
    age: Vec<(String, String)>,
    /// `(fp, enc)` of each `pgp` entry.
    pgp: Vec<(String, String)>,
    /// Every recipient, for errors: age ones, then `pgp:FINGERPRINT` and other key types.
    recipients: Vec<String>,
    lastmodified: String,
    mac: String,
    rules: Rules,
}

/// Decrypts the SOPS file `file` (its name picks the format and appears in errors) with
/// the first of `identities` that unwraps its data key, and returns the clear document in
/// the same format, without the `sops` block.
///
/// # Errors
///
/// Syntax, shape and metadata errors; [`SecretsError::NoMatchingIdentity`] listing the
/// file's recipients; [`SecretsError::Value`] or [`SecretsError::MacMismatch`] when the file
/// was tampered with. Nothing is returned unless every value decrypts and the MAC matches.
pub fn decrypt(file: &str, text: &str, identities: &Identities) -> Result<Plaintext, SecretsError> {
    open(file, text, identities, false).map(|opened| opened.clear)
}

/// A decrypted file and what re-encrypting it needs.
pub(crate) struct Opened {
    /// The clear document, as [`decrypt`] returns it.
    pub clear: Plaintext,
    /// The data key.
    pub key: Zeroizing<Vec<u8>>,
    /// The `sops` block as read.
    pub sops: Value,
    /// Which values the file encrypts.
    pub rules: Rules,
    /// The ciphertext of every value, to keep for unchanged values (empty unless asked for).
    pub reuse: Reuse,
    /// The `recipient` of each `age` entry.
    pub age: Vec<String>,
    /// The `fp` of each `pgp` entry.
    pub pgp: Vec<String>,
}

/// Who the SOPS file `file` is encrypted for, read from its metadata without decrypting:
/// `age1…` recipients and `pgp:FINGERPRINT`s (other key types as `TYPE:ID`).
///
/// # Errors
///
/// Syntax and metadata errors, and [`SecretsError::NotEncrypted`].
pub fn recipient_names(file: &str, text: &str) -> Result<Vec<String>, SecretsError> {
    let format = Format::from_path(file)?;
    let sops = if format == Format::Dotenv {
        let mut lines = dotenv::parse(file, text)?;
        dotenv::take_metadata(&mut lines).ok_or_else(|| SecretsError::NotEncrypted { file: file.to_string() })?
    } else {
        let document = format.parse(file, text)?;
        let Value::Map(entries) = &document else { return Err(SecretsError::NotEncrypted { file: file.to_string() }) };
        let Some((_, sops)) = entries.iter().find(|(key, _)| key == "sops") else {
            return Err(SecretsError::NotEncrypted { file: file.to_string() });
        };
        sops.clone()
    };
    Ok(read_metadata(file, &sops)?.recipients)
}

/// [`decrypt`], also returning the data key and metadata; with `keep`, the old ciphertexts.
///
/// # Errors
///
/// As [`decrypt`].
pub(crate) fn open(file: &str, text: &str, identities: &Identities, keep: bool) -> Result<Opened, SecretsError> {
    let format = Format::from_path(file)?;
    let mut reuse = Reuse::new();
    let (clear, key, sops, metadata) = if format == Format::Dotenv {
        decrypt_dotenv(file, text, identities, keep.then_some(&mut reuse))?
    } else {
        let mut document = format.parse(file, text)?;
        let Value::Map(entries) = &mut document else {
            return Err(SecretsError::NotEncrypted { file: file.to_string() });
        };
        let Some(index) = entries.iter().position(|(key, _)| key == "sops") else {
            return Err(SecretsError::NotEncrypted { file: file.to_string() });
        };
        let (_, sops) = entries.remove(index);
        let metadata = read_metadata(file, &sops)?;
        let key = unwrap_key(file, &metadata, identities)?;
        let clear = if format == Format::Binary {
            decrypt_binary(file, &document, &metadata, &key, keep.then_some(&mut reuse))?
        } else {
            decrypt_tree(file, format, document, &metadata, &key, keep.then_some(&mut reuse))?
        };
        (clear, key, sops, metadata)
    };
    Ok(Opened {
        clear,
        key,
        sops,
        age: metadata.age.iter().map(|(recipient, _)| recipient.clone()).collect(),
        pgp: metadata.pgp.iter().map(|(fp, _)| fp.clone()).collect(),
        rules: metadata.rules,
        reuse,
    })
}

/// Decrypts every value of a YAML or JSON document and checks the MAC.
fn decrypt_tree(
    file: &str,
    format: Format,
    mut document: Value,
    metadata: &Metadata,
    key: &[u8],
    mut reuse: Option<&mut Reuse>,
) -> Result<Plaintext, SecretsError> {
    let mut hash = Sha512::new();
    walk(&mut document, &mut Vec::new(), &mut |value, path| {
        if metadata.rules.encrypts(path) {
            let key_path = || SecretsError::Value { file: file.to_string(), key_path: path.join(".") };
            let Value::Str(enc) = &*value else { return Err(key_path()) };
            let aad = aad(path);
            let clear = cipher::decrypt_leaf(enc, key, &aad).map_err(|_| key_path())?;
            if let (Some(reuse), Some((bytes, kind))) = (reuse.as_deref_mut(), cipher::leaf_bytes(&clear))
                && !enc.is_empty()
            {
                reuse.insert(seal::reuse_key(&aad, kind, &bytes), enc.clone());
            }
            *value = clear;
        }
        if let Some((bytes, _)) = cipher::leaf_bytes(value) {
            hash.update(&bytes);
        }
        Ok(())
    })?;
    verify_mac(file, metadata, key, hash)?;
    Ok(Plaintext::from(format.emit(&document)))
}

/// The data key, from the first `age` entry, else the first `pgp` entry, one of
/// `identities` opens.
fn unwrap_key(file: &str, metadata: &Metadata, identities: &Identities) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let age = metadata.age.iter().filter_map(|(_, enc)| age_keys::unwrap(enc, &identities.age));
    let pgp = metadata.pgp.iter().filter_map(|(_, enc)| pgp::unwrap(enc, &identities.pgp));
    age.chain(pgp)
        .find(|key| key.len() == 32)
        .ok_or_else(|| SecretsError::NoMatchingIdentity { file: file.to_string(), recipients: metadata.recipients.clone() })
}

/// What decrypting yields before [`Opened`] is assembled: the clear document, the data key,
/// the `sops` block and its metadata.
type Opening = (Plaintext, Zeroizing<Vec<u8>>, Value, Metadata);

/// The dotenv format: values under their key, comments under the empty path and outside
/// the MAC, metadata as `sops_…` lines.
fn decrypt_dotenv(
    file: &str,
    text: &str,
    identities: &Identities,
    mut reuse: Option<&mut Reuse>,
) -> Result<Opening, SecretsError> {
    let mut lines = dotenv::parse(file, text)?;
    let sops = dotenv::take_metadata(&mut lines).ok_or_else(|| SecretsError::NotEncrypted { file: file.to_string() })?;
    let metadata = read_metadata(file, &sops)?;
    let key = unwrap_key(file, &metadata, identities)?;
    let mut hash = Sha512::new();
    for line in &mut lines {
        match line {
            Line::Comment(text) => {
                // As `sops`: a comment that does not decrypt is taken as written in clear.
                if let Ok((clear, _)) = cipher::decrypt_bytes(text, &key, ":")
                    && let Ok(clear) = String::from_utf8(clear.to_vec())
                {
                    if let Some(reuse) = reuse.as_deref_mut() {
                        reuse.insert(seal::reuse_key(":", "comment", clear.as_bytes()), text.clone());
                    }
                    *text = clear;
                }
            }
            Line::Pair(name, value) => {
                let path = [name.clone()];
                if metadata.rules.encrypts(&path) && !value.is_empty() {
                    let damaged = || SecretsError::Value { file: file.to_string(), key_path: name.clone() };
                    let aad = aad(&path);
                    let (clear, _) = cipher::decrypt_bytes(value, &key, &aad).map_err(|_| damaged())?;
                    let clear = String::from_utf8(clear.to_vec()).map_err(|_| damaged())?;
                    if let Some(reuse) = reuse.as_deref_mut() {
                        reuse.insert(seal::reuse_key(&aad, "str", clear.as_bytes()), value.clone());
                    }
                    *value = clear;
                }
                hash.update(value.as_bytes());
            }
        }
    }
    verify_mac(file, &metadata, &key, hash)?;
    Ok((Plaintext::from(dotenv::emit(&lines)), key, sops, metadata))
}

/// Checks the stored MAC against the hash of the clear values.
fn verify_mac(file: &str, metadata: &Metadata, key: &[u8], hash: Sha512) -> Result<(), SecretsError> {
    let computed = Zeroizing::new(upper_hex(&hash.finalize()));
    let stored = cipher::decrypt_bytes(&metadata.mac, key, &metadata.lastmodified)
        .map_err(|_| SecretsError::MacMismatch { file: file.to_string() })?;
    if stored.0.as_slice() != computed.as_bytes() {
        return Err(SecretsError::MacMismatch { file: file.to_string() });
    }
    Ok(())
}

/// The binary format: the file's bytes are the `data` value, additional data `data:`.
fn decrypt_binary(
    file: &str,
    document: &Value,
    metadata: &Metadata,
    key: &[u8],
    reuse: Option<&mut Reuse>,
) -> Result<Plaintext, SecretsError> {
    let damaged = || SecretsError::Value { file: file.to_string(), key_path: BINARY_KEY.to_string() };
    let Value::Map(entries) = document else { return Err(damaged()) };
    let Some((_, Value::Str(enc))) = entries.iter().find(|(k, _)| k == BINARY_KEY) else { return Err(damaged()) };
    let aad = aad(&[BINARY_KEY.to_string()]);
    let bytes = if enc.is_empty() {
        Zeroizing::new(Vec::new())
    } else {
        cipher::decrypt_bytes(enc, key, &aad).map_err(|_| damaged())?.0
    };
    let mut hash = Sha512::new();
    hash.update(&bytes);
    verify_mac(file, metadata, key, hash)?;
    if let Some(reuse) = reuse
        && !enc.is_empty()
    {
        reuse.insert(seal::reuse_key(&aad, "str", &bytes), enc.clone());
    }
    Ok(Plaintext::new(bytes.to_vec()))
}

/// The key of the one value of a binary file.
const BINARY_KEY: &str = "data";

/// SOPS's additional data for a value: its keys joined with `:`, plus a trailing `:`.
/// Sequence items share their sequence's path.
pub(crate) fn aad(path: &[String]) -> String {
    let mut text = path.join(":");
    text.push(':');
    text
}

pub(crate) fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// What [`walk`] calls for each scalar: the value, and the mapping keys above it.
type LeafVisitor<'a> = dyn FnMut(&mut Value, &[String]) -> Result<(), SecretsError> + 'a;

/// Calls `leaf` on every scalar except null (SOPS leaves nulls alone) in document order,
/// with the mapping keys above it.
pub(crate) fn walk(
    value: &mut Value,
    path: &mut Vec<String>,
    leaf: &mut LeafVisitor<'_>,
) -> Result<(), SecretsError> {
    match value {
        Value::Map(entries) => {
            for (key, child) in entries.iter_mut() {
                path.push(key.clone());
                let result = walk(child, path, leaf);
                path.pop();
                result?;
            }
            Ok(())
        }
        Value::Seq(items) => items.iter_mut().try_for_each(|item| walk(item, path, leaf)),
        Value::Null => Ok(()),
        _ => leaf(value, path),
    }
}

fn read_metadata(file: &str, sops: &Value) -> Result<Metadata, SecretsError> {
    let invalid = |message: String| SecretsError::Metadata { file: file.to_string(), message };
    let Value::Map(fields) = sops else { return Err(invalid("`sops` is not a mapping".to_string())) };
    let text = |name: &str| -> Option<String> {
        fields.iter().find(|(k, _)| k == name).and_then(|(_, v)| match v {
            Value::Str(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
    };
    let regex = |name: &str| -> Result<Option<Regex>, SecretsError> {
        text(name)
            .map(|pattern| Regex::new(&pattern).map_err(|e| invalid(format!("`{name}` is not a valid regex: {e}"))))
            .transpose()
    };
    let mut metadata = Metadata {
        age: Vec::new(),
        pgp: Vec::new(),
        recipients: Vec::new(),
        lastmodified: text("lastmodified").ok_or_else(|| invalid("`lastmodified` is missing".to_string()))?,
        mac: text("mac").ok_or_else(|| invalid("`mac` is missing".to_string()))?,
        rules: Rules {
            unencrypted_suffix: text("unencrypted_suffix"),
            encrypted_suffix: text("encrypted_suffix"),
            unencrypted_regex: regex("unencrypted_regex")?,
            encrypted_regex: regex("encrypted_regex")?,
        },
    };
    let rules = &metadata.rules;
    if rules.unencrypted_suffix.is_none()
        && rules.encrypted_suffix.is_none()
        && rules.unencrypted_regex.is_none()
        && rules.encrypted_regex.is_none()
    {
        // As `sops` does for files written before these fields existed.
        metadata.rules.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.to_string());
    }
    for (name, value) in fields {
        let entries = match value {
            Value::Seq(entries) => entries,
            Value::Bool(true) if name == "mac_only_encrypted" => {
                return Err(invalid("`mac_only_encrypted` is not supported yet".to_string()));
            }
            _ => continue,
        };
        for entry in entries {
            let Value::Map(entry) = entry else { continue };
            let field = |key: &str| {
                entry.iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
                    Value::Str(s) => Some(s.clone()),
                    _ => None,
                })
            };
            match name.as_str() {
                "age" => {
                    let recipient = field("recipient").ok_or_else(|| invalid("an `age` entry has no `recipient`".into()))?;
                    let enc = field("enc").ok_or_else(|| invalid(format!("age entry `{recipient}` has no `enc`")))?;
                    metadata.recipients.push(recipient.clone());
                    metadata.age.push((recipient, enc));
                }
                "pgp" => {
                    let fp = field("fp").ok_or_else(|| invalid("a `pgp` entry has no `fp`".into()))?;
                    let enc = field("enc").ok_or_else(|| invalid(format!("pgp entry `{fp}` has no `enc`")))?;
                    metadata.recipients.push(format!("pgp:{fp}"));
                    metadata.pgp.push((fp, enc));
                }
                "key_groups" => return Err(invalid("key groups (Shamir secret sharing) are not supported yet".into())),
                other => metadata.recipients.push(format!("{other}:{}", field("arn").or(field("resource_id")).unwrap_or_default())),
            }
        }
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests;
