//! Setting one value of an encrypted YAML, JSON or dotenv file in place, as `sops set`
//! does: the path in SOPS's `["a"]["b"][0]` syntax or dotted (`a.b`), missing mappings
//! created, and the file re-encrypted with [`super::update`] so every other value keeps its
//! ciphertext.

use std::time::SystemTime;

use super::dotenv::{self, Line};
use super::file::Format;
use super::tree::{self, Value};
use super::{Identities, Plaintext, SecretsError, decrypt, update};

/// One step of a value path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Parses `["a"]["b"][0]` (SOPS's syntax) or `a.b.0`-free dotted `a.b` (keys only).
///
/// # Errors
///
/// [`SecretsError::EntryName`] describing what is wrong with the path.
pub fn parse_path(text: &str) -> Result<Vec<PathStep>, SecretsError> {
    let bad = |reason: &str| SecretsError::EntryName { file: "PATH".to_string(), key: text.to_string(), reason: reason.to_string() };
    let trimmed = text.trim();
    if !trimmed.starts_with('[') {
        if trimmed.is_empty() || trimmed.split('.').any(str::is_empty) {
            return Err(bad("is not a path: use `a.b` or `[\"a\"][\"b\"]`"));
        }
        return Ok(trimmed.split('.').map(|key| PathStep::Key(key.to_string())).collect());
    }
    let mut steps = Vec::new();
    let mut rest = trimmed;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(|| bad("expects `[` before each step"))?;
        if let Some(quoted) = inner.strip_prefix('"') {
            let end = quoted.find("\"]").ok_or_else(|| bad("has a key without its closing `\"]`"))?;
            steps.push(PathStep::Key(quoted[..end].to_string()));
            rest = &quoted[end + 2..];
        } else {
            let end = inner.find(']').ok_or_else(|| bad("has a step without its closing `]`"))?;
            let index = inner[..end].trim().parse().map_err(|_| bad("has a step that is neither a quoted key nor an index"))?;
            steps.push(PathStep::Index(index));
            rest = &inner[end + 1..];
        }
    }
    Ok(steps)
}

/// Sets the value at `path` of the SOPS file `encrypted` to `value` (a string, or with
/// `json`, a JSON value such as `5432`, `true` or `{"a": 1}`) and returns the file
/// re-encrypted.
///
/// # Errors
///
/// As [`super::decrypt`] and [`update`]; [`SecretsError::EntryName`] when the path does not
/// fit the document (an index past a list's end, a step into a scalar, a dotenv path that is
/// not one key, a binary file) or `value` is not JSON.
pub fn set(
    file: &str,
    encrypted: &str,
    path: &[PathStep],
    value: &Plaintext,
    json: bool,
    identities: &Identities,
    now: SystemTime,
) -> Result<String, SecretsError> {
    let bad = |reason: String| SecretsError::EntryName { file: file.to_string(), key: describe(path), reason };
    let format = Format::from_path(file)?;
    let clear = decrypt(file, encrypted, identities)?;
    let text = std::str::from_utf8(clear.expose()).map_err(|_| bad("cannot be set in a binary file".to_string()))?;
    let new_value = || -> Result<Value, SecretsError> {
        let text = std::str::from_utf8(value.expose()).map_err(|_| bad("the value is not UTF-8 text".to_string()))?;
        if json {
            let wrapped = format!("{{\"v\": {text}}}");
            match &tree::parse_json(file, &wrapped) {
                Ok(Value::Map(entries)) if entries.len() == 1 => Ok(entries[0].1.clone()),
                _ => Err(bad("the value is not JSON".to_string())),
            }
        } else {
            Ok(Value::Str(text.to_string()))
        }
    };
    let updated = match format {
        Format::Binary => return Err(bad("cannot be set in a binary file; encrypt the new file instead".to_string())),
        Format::Dotenv => {
            let [PathStep::Key(name)] = path else { return Err(bad("must be one key in a dotenv file".to_string())) };
            let new = new_value()?;
            let Value::Str(new) = &new else { return Err(bad("a dotenv value must be a string".to_string())) };
            let mut lines = dotenv::parse(file, text)?;
            match lines.iter_mut().find(|line| matches!(line, Line::Pair(key, _) if key == name)) {
                Some(Line::Pair(_, old)) => *old = new.clone(),
                _ => lines.push(Line::Pair(name.clone(), new.clone())),
            }
            dotenv::emit(&lines)
        }
        Format::Yaml | Format::Json => {
            let mut document = format.parse(file, text)?;
            let slot = descend(&mut document, path).map_err(bad)?;
            *slot = new_value()?;
            format.emit(&document)
        }
    };
    update(file, encrypted, &Plaintext::from(updated), identities, now)
}

/// The slot at `path`, creating missing mapping keys.
fn descend<'v>(value: &'v mut Value, path: &[PathStep]) -> Result<&'v mut Value, String> {
    let Some((step, rest)) = path.split_first() else { return Ok(value) };
    let child = match (step, value) {
        (PathStep::Key(key), Value::Map(entries)) => {
            let index = match entries.iter().position(|(k, _)| k == key) {
                Some(index) => index,
                None => {
                    let fresh = if rest.is_empty() { Value::Null } else { Value::Map(Vec::new()) };
                    entries.push((key.clone(), fresh));
                    entries.len() - 1
                }
            };
            &mut entries[index].1
        }
        (PathStep::Index(index), Value::Seq(items)) => {
            let len = items.len();
            items.get_mut(*index).ok_or_else(|| format!("has index {index} past the end of a list of {len}"))?
        }
        (PathStep::Key(key), _) => return Err(format!("steps into `{key}` of something that is not a mapping")),
        (PathStep::Index(index), _) => return Err(format!("takes index {index} of something that is not a list")),
    };
    descend(child, rest)
}

fn describe(path: &[PathStep]) -> String {
    path.iter()
        .map(|step| match step {
            PathStep::Key(key) => format!("[\"{key}\"]"),
            PathStep::Index(index) => format!("[{index}]"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_in_both_syntaxes() {
        assert_eq!(parse_path("a.b").unwrap(), [PathStep::Key("a".into()), PathStep::Key("b".into())]);
        assert_eq!(
            parse_path(r#"["a"]["b.c"][2]"#).unwrap(),
            [PathStep::Key("a".into()), PathStep::Key("b.c".into()), PathStep::Index(2)]
        );
        assert!(parse_path("a..b").is_err());
        assert!(parse_path(r#"["a"#).is_err());
        assert!(parse_path("[x]").is_err());
    }
}
