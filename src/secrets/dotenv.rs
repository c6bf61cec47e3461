//! SOPS's dotenv format (`stores/dotenv`): `KEY=VALUE` lines and `#` comments, newlines in
//! values written as `\n`, empty lines dropped. Encrypted, each value is an `ENC[…]` string
//! under the path `KEY`, each comment an `ENC[…]` of type `comment` under the empty path,
//! and the `sops` metadata follows as `sops_…` lines flattened with `__list_N__` and
//! `__map_` (`sops_age__list_0__map_recipient=age1…`).

use super::SecretsError;
use super::tree::Value;

/// One line of a dotenv file. Its `Debug` shows keys only: values and comments may be
/// decrypted secrets.
#[derive(Clone, PartialEq)]
pub(crate) enum Line {
    /// `#text`, without the `#`.
    Comment(String),
    /// `KEY=VALUE`, with `\n` turned into newlines.
    Pair(String, String),
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Comment(_) => f.write_str("Comment([REDACTED])"),
            Line::Pair(key, _) => write!(f, "Pair({key:?}, [REDACTED])"),
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        match self {
            Line::Comment(text) => text.zeroize(),
            Line::Pair(_, value) => value.zeroize(),
        }
    }
}

/// Parses dotenv text. Line numbers, never contents, appear in errors.
pub(crate) fn parse(file: &str, text: &str) -> Result<Vec<Line>, SecretsError> {
    let mut lines = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            lines.push(Line::Comment(comment.to_string()));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(SecretsError::Syntax {
                file: file.to_string(),
                format: "dotenv",
                position: format!(" at line {}: a line is neither `KEY=VALUE` nor a `#` comment", index + 1),
            });
        };
        lines.push(Line::Pair(key.to_string(), value.replace("\\n", "\n")));
    }
    Ok(lines)
}

/// Writes lines back as dotenv text.
pub(crate) fn emit(lines: &[Line]) -> String {
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Comment(text) => {
                out.push('#');
                out.push_str(text);
            }
            Line::Pair(key, value) => {
                out.push_str(key);
                out.push('=');
                out.push_str(&value.replace('\n', "\\n"));
            }
        }
        out.push('\n');
    }
    out
}

/// Splits off the `sops_…` lines and rebuilds the `sops` mapping they flatten.
pub(crate) fn take_metadata(lines: &mut Vec<Line>) -> Option<Value> {
    let mut fields: Vec<(String, Value)> = Vec::new();
    let mut kept = Vec::new();
    for line in lines.drain(..) {
        match &line {
            Line::Pair(key, value) if key.starts_with("sops_") => {
                insert_flat(&mut fields, &key["sops_".len()..], value.clone());
            }
            _ => kept.push(line),
        }
    }
    *lines = kept;
    (!fields.is_empty()).then_some(Value::Map(fields))
}

/// Inserts `age__list_0__map_enc` = value into a nested mapping.
fn insert_flat(fields: &mut Vec<(String, Value)>, flat: &str, value: String) {
    let Some((name, rest)) = flat.split_once("__list_") else {
        fields.push((flat.to_string(), Value::Str(value)));
        return;
    };
    let Some((index, field)) = rest.split_once("__map_") else { return };
    let Ok(index) = index.parse::<usize>() else { return };
    if !fields.iter().any(|(k, _)| k == name) {
        fields.push((name.to_string(), Value::Seq(Vec::new())));
    }
    if let Some((_, Value::Seq(items))) = fields.iter_mut().find(|(k, _)| k == name) {
        while items.len() <= index {
            items.push(Value::Map(Vec::new()));
        }
        if let Value::Map(entry) = &mut items[index] {
            entry.push((field.to_string(), Value::Str(value)));
        }
    }
}

/// Flattens a `sops` mapping into `sops_…` lines, keys sorted as `sops` writes them.
pub(crate) fn metadata_lines(sops: &Value) -> Vec<Line> {
    let mut pairs = Vec::new();
    if let Value::Map(fields) = sops {
        for (name, value) in fields {
            match value {
                Value::Seq(items) => {
                    for (index, item) in items.iter().enumerate() {
                        if let Value::Map(entry) = item {
                            for (field, value) in entry {
                                if let Value::Str(text) = value {
                                    pairs.push((format!("sops_{name}__list_{index}__map_{field}"), text.clone()));
                                }
                            }
                        }
                    }
                }
                Value::Str(text) => pairs.push((format!("sops_{name}"), text.clone())),
                _ => {}
            }
        }
    }
    pairs.sort();
    pairs.into_iter().map(|(key, value)| Line::Pair(key, value)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_keys_but_no_value() {
        let shown = format!("{:?}", parse("a.env", "# hidden note\nTOKEN=hunter2-secret\n").unwrap());
        assert!(shown.contains("TOKEN"), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains("hidden note"), "{shown}");
    }

    #[test]
    fn lines_round_trip_and_metadata_unflattens() {
        let text = "# top\nA=1\nB=x=y\nC=two\\nlines\nD=\nsops_age__list_0__map_recipient=age1r\nsops_age__list_0__map_enc=E\\nF\nsops_mac=M\n";
        let mut lines = parse("a.env", text).unwrap();
        assert_eq!(lines[3], Line::Pair("C".into(), "two\nlines".into()));
        let sops = take_metadata(&mut lines).unwrap();
        assert_eq!(emit(&lines), "# top\nA=1\nB=x=y\nC=two\\nlines\nD=\n");
        let flat = emit(&metadata_lines(&sops));
        assert_eq!(flat, "sops_age__list_0__map_enc=E\\nF\nsops_age__list_0__map_recipient=age1r\nsops_mac=M\n");
        assert!(matches!(parse("a.env", "A=1\nnot a pair\n"), Err(SecretsError::Syntax { .. })));
    }
}
