//! The document tree of a SOPS file, read from YAML or JSON and written back in the same
//! format. Mappings keep key order. String values are zeroized when the tree is dropped,
//! since a decrypted tree holds secrets.

use zeroize::Zeroize;

use super::SecretsError;

/// One value of a document. Its `Debug` shows the structure and keys (clear in SOPS files
/// too) but never a scalar, which may be a decrypted secret.
#[derive(Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Seq(items) => f.debug_list().entries(items).finish(),
            Value::Map(entries) => f.debug_map().entries(entries.iter().map(|(k, v)| (k, v))).finish(),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Str(_) => f.write_str("[REDACTED]"),
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        match self {
            Value::Str(text) => text.zeroize(),
            Value::Int(number) => number.zeroize(),
            Value::Float(number) => number.zeroize(),
            Value::Map(entries) => entries.iter_mut().for_each(|(key, _)| key.zeroize()),
            Value::Null | Value::Bool(_) | Value::Seq(_) => {}
        }
    }
}

/// Reads YAML text into a tree, as `sops` reads it (see [`super::yaml`]).
pub(crate) fn parse_yaml(file: &str, text: &str) -> Result<Value, SecretsError> {
    super::yaml::parse(file, text)
}

/// Reads JSON text into a tree.
pub(crate) fn parse_json(file: &str, text: &str) -> Result<Value, SecretsError> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| SecretsError::Syntax {
        file: file.to_string(),
        format: "JSON",
        position: format!(" at line {}, column {}", e.line(), e.column()),
    })?;
    Ok(from_json(json))
}

fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(items) => Value::Seq(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Map(map.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}

/// Writes a tree as pretty JSON with a final newline.
pub(crate) fn emit_json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&to_json(value)).unwrap_or_default();
    text.push('\n');
    text
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        // `sops` reads every JSON number as a float and writes whole ones without a fraction
        // (Go's encoding/json); do the same so both tools print the same document.
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => serde_json::Value::from(*f as i64),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => serde_json::Value::Object(entries.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// Writes a tree as block-style YAML (4-space indents, as `sops` writes), quoting every
/// string that a YAML 1.1 or 1.2 reader could take for something else.
pub(crate) fn emit_yaml(value: &Value) -> String {
    let mut out = String::new();
    for line in block_lines(value) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn block_lines(value: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    match value {
        Value::Map(entries) if !entries.is_empty() => {
            for (key, child) in entries {
                if is_inline(child) {
                    lines.push(format!("{}: {}", scalar_text(&Value::Str(key.clone())), scalar_text(child)));
                } else {
                    lines.push(format!("{}:", scalar_text(&Value::Str(key.clone()))));
                    lines.extend(block_lines(child).into_iter().map(|line| format!("    {line}")));
                }
            }
        }
        Value::Seq(items) if !items.is_empty() => {
            for item in items {
                if is_inline(item) {
                    lines.push(format!("- {}", scalar_text(item)));
                } else {
                    for (index, line) in block_lines(item).into_iter().enumerate() {
                        lines.push(if index == 0 { format!("- {line}") } else { format!("  {line}") });
                    }
                }
            }
        }
        other => lines.push(scalar_text(other)),
    }
    lines
}

fn is_inline(value: &Value) -> bool {
    match value {
        Value::Map(entries) => entries.is_empty(),
        Value::Seq(items) => items.is_empty(),
        _ => true,
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".to_string(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.to_string(),
        Value::Float(f) => {
            // `{:?}` keeps a `.0` on whole numbers, so the value reads back as a float.
            let text = format!("{f:?}");
            if text.contains(['.', 'e', 'E']) { text } else { format!("{text}.0") }
        }
        Value::Str(s) if is_plain_safe(s) => s.clone(),
        Value::Str(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Map(_) => "{}".to_string(),
        Value::Seq(_) => "[]".to_string(),
    }
}

/// Whether a string can be written unquoted and still read back as the same string under
/// both YAML 1.1 (GitLab's and our loader) and YAML 1.2 (`sops`'s yaml.v3).
fn is_plain_safe(s: &str) -> bool {
    const WORDS: &[&str] = &["null", "true", "false", "yes", "no", "on", "off", "y", "n", "~"];
    let Some(first) = s.chars().next() else { return false };
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    if WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return false;
    }
    s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    #[test]
    fn debug_shows_keys_but_no_value() {
        let tree = map(vec![("password", Value::Str("hunter2-secret".into())), ("port", Value::Int(5432))]);
        let shown = format!("{tree:?}");
        assert!(shown.contains("password") && shown.contains("[REDACTED]"), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains("5432"), "{shown}");
    }

    #[test]
    fn yaml_round_trips_through_the_emitter() {
        let tree = map(vec![
            ("name", Value::Str("db".into())),
            ("password", Value::Str("p@ss: word\n#1".into())),
            ("port", Value::Int(5432)),
            ("ratio", Value::Float(1.0)),
            ("yes_string", Value::Str("yes".into())),
            ("number_string", Value::Str("0755".into())),
            ("enabled", Value::Bool(true)),
            ("nothing", Value::Null),
            ("empty", Value::Str(String::new())),
            ("list", Value::Seq(vec![Value::Str("a".into()), map(vec![("x", Value::Int(1)), ("y", Value::Int(2))])])),
            ("nested", map(vec![("deeper", map(vec![("key", Value::Str("v".into()))])), ("none", map(vec![]))])),
            ("lists", Value::Seq(vec![Value::Seq(vec![Value::Int(1), Value::Int(2)]), Value::Seq(vec![])])),
        ]);
        let text = emit_yaml(&tree);
        assert_eq!(parse_yaml("t.yaml", &text).unwrap(), tree, "{text}");
    }

    #[test]
    fn json_keeps_key_order_and_types() {
        let text = r#"{"b": 1, "a": [true, 2.5, null, "s"], "c": {"z": "x"}}"#;
        let tree = parse_json("t.json", text).unwrap();
        let again = parse_json("t.json", &emit_json(&tree)).unwrap();
        assert_eq!(tree, again);
        let Value::Map(entries) = &tree else { panic!("not a map") };
        assert_eq!(entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["b", "a", "c"]);
        // A float `sops` decrypted from a JSON number prints as that number did.
        assert_eq!(emit_json(&Value::Seq(vec![Value::Float(3.0), Value::Float(0.5)])), "[\n  3,\n  0.5\n]\n");
    }

    #[test]
    fn syntax_errors_give_the_position_but_not_the_text() {
        let err = parse_json("s.json", "{\"password\": hunter2}").unwrap_err().to_string();
        assert!(err.contains("s.json") && err.contains("line 1"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
