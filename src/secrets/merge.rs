//! The three-way merge behind the git merge driver: the base, ours and theirs are
//! decrypted, merged key by key (a key changed on one side only takes that side; the same
//! change on both sides is fine; different changes to one key are a conflict), and the
//! result re-encrypted under our data key with [`super::update`], so two people editing
//! different keys of one file get a clean merge instead of a MAC conflict.
//!
//! YAML and JSON files merge per key, recursively through mappings; lists and scalars are
//! whole values. Dotenv and binary files merge as one value. A conflict reports the key
//! paths only, never a value, and leaves nothing decrypted behind.

use std::time::SystemTime;

use super::file::Format;
use super::tree::Value;
use super::{Identities, Plaintext, SecretsError, decrypt, update};

/// What a merge gives.
#[derive(Debug)]
pub enum MergeOutcome {
    /// The merged file, encrypted under our data key for our recipients.
    Merged(String),
    /// Both sides changed these key paths differently (`.`-joined; empty for a whole-file
    /// conflict); nothing was merged.
    Conflict(Vec<String>),
}

/// Merges the SOPS files `ours` and `theirs` with their common ancestor `base` (`None` or
/// empty text when there is none). `file` picks the format and names the file in errors.
///
/// # Errors
///
/// Every error of [`super::decrypt`] for the three versions, and of [`update`].
pub fn merge(
    file: &str,
    base: Option<&str>,
    ours: &str,
    theirs: &str,
    identities: &Identities,
    now: SystemTime,
) -> Result<MergeOutcome, SecretsError> {
    let format = Format::from_path(file)?;
    let base = base.filter(|text| !text.trim().is_empty()).map(|text| decrypt(file, text, identities)).transpose()?;
    let our_clear = decrypt(file, ours, identities)?;
    let their_clear = decrypt(file, theirs, identities)?;
    let merged = match format {
        Format::Yaml | Format::Json => {
            let parse = |clear: &Plaintext| -> Result<Value, SecretsError> {
                let text = std::str::from_utf8(clear.expose())
                    .map_err(|_| SecretsError::Shape { file: file.to_string(), message: "the file is not UTF-8 text".to_string() })?;
                format.parse(file, text)
            };
            let base = base.as_ref().map(parse).transpose()?;
            let (ours_tree, theirs_tree) = (parse(&our_clear)?, parse(&their_clear)?);
            let mut conflicts = Vec::new();
            let merged = merge_value(base.as_ref(), Some(&ours_tree), Some(&theirs_tree), &mut Vec::new(), &mut conflicts);
            if !conflicts.is_empty() {
                return Ok(MergeOutcome::Conflict(conflicts));
            }
            Plaintext::from(format.emit(&merged.unwrap_or(Value::Map(Vec::new()))))
        }
        Format::Dotenv | Format::Binary => {
            let (o, t) = (our_clear.expose(), their_clear.expose());
            let b = base.as_ref().map(Plaintext::expose);
            if o == t || b == Some(t) {
                return Ok(MergeOutcome::Merged(ours.to_string()));
            }
            if b == Some(o) {
                their_clear
            } else {
                return Ok(MergeOutcome::Conflict(vec![String::new()]));
            }
        }
    };
    update(file, ours, &merged, identities, now).map(MergeOutcome::Merged)
}

/// The merged value at `path`; `None` when the key is deleted. Conflicting paths are pushed
/// to `conflicts` (our value is kept meanwhile).
fn merge_value(
    base: Option<&Value>,
    ours: Option<&Value>,
    theirs: Option<&Value>,
    path: &mut Vec<String>,
    conflicts: &mut Vec<String>,
) -> Option<Value> {
    if ours == theirs || base == theirs {
        return ours.cloned();
    }
    if base == ours {
        return theirs.cloned();
    }
    let (Some(Value::Map(our_entries)), Some(Value::Map(their_entries))) = (ours, theirs) else {
        conflicts.push(path.join("."));
        return ours.cloned();
    };
    let base_entries: &[(String, Value)] = match base {
        Some(Value::Map(entries)) => entries,
        _ => &[],
    };
    let find = |entries: &[(String, Value)], key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut keys: Vec<String> = our_entries.iter().map(|(k, _)| k.clone()).collect();
    keys.extend(their_entries.iter().map(|(k, _)| k.clone()).filter(|k| !our_entries.iter().any(|(o, _)| o == k)));
    let mut merged = Vec::new();
    for key in keys {
        path.push(key.clone());
        let (b, o, t) = (find(base_entries, &key), find(our_entries, &key), find(their_entries, &key));
        if let Some(value) = merge_value(b.as_ref(), o.as_ref(), t.as_ref(), path, conflicts) {
            merged.push((key, value));
        }
        path.pop();
    }
    Some(Value::Map(merged))
}
