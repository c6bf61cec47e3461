//! Reads SOPS YAML files as `sops` does (Go's yaml.v3, YAML 1.2 core schema with its
//! extras), from `saphyr-parser` events.
//!
//! Not [`crate::ci::yaml`]: that loader types scalars as GitLab's Ruby (YAML 1.1) does, so
//! `yes`, `on` and `1:30` would become a boolean and an integer where `sops` keeps strings,
//! and it refuses unquoted dates; a value typed differently is a different value once
//! encrypted (`type:bool` against `type:str`), and `sops` would print another document.
//! Here plain scalars resolve as yaml.v3 resolves them: booleans are `true`/`false` only,
//! integers take Go's prefixes (`0x`, `0o`, `0b`, a leading `0` for octal) and `_`,
//! floats need no dot (`1e3`), and timestamps stay text. Aliases are expanded within a
//! node budget; merge keys (`<<`) are kept as ordinary keys and tags other than `!!str`
//! are ignored.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle};

use super::SecretsError;
use super::tree::Value;

/// The most values one file may expand to, aliases included: far above any secrets file,
/// low enough that an alias bomb fails fast.
const MAX_NODES: usize = 100_000;
/// The deepest nesting accepted.
const MAX_DEPTH: usize = 128;

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Vec<(String, Value)>, Option<String>, usize),
}

/// Parses one YAML document into a tree.
pub(crate) fn parse(file: &str, text: &str) -> Result<Value, SecretsError> {
    let shape = |message: String| SecretsError::Shape { file: file.to_string(), message };
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut documents = 0;
    let mut nodes = 0usize;
    while let Some(next) = parser.next_event() {
        let (event, _) = next.map_err(|e| SecretsError::Syntax {
            file: file.to_string(),
            format: "YAML",
            position: format!(" at line {}, column {}", e.marker().line(), e.marker().col() + 1),
        })?;
        let (value, anchor) = match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(shape("files with several YAML documents are not supported yet".to_string()));
                }
                continue;
            }
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => continue,
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), anchor));
                if stack.len() > MAX_DEPTH {
                    return Err(shape(format!("nesting is deeper than {MAX_DEPTH} levels")));
                }
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(Vec::new(), None, anchor));
                if stack.len() > MAX_DEPTH {
                    return Err(shape(format!("nesting is deeper than {MAX_DEPTH} levels")));
                }
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => (Value::Seq(items), anchor),
                _ => return Err(shape("unbalanced sequence".to_string())),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, None, anchor)) => (Value::Map(entries), anchor),
                _ => return Err(shape("unbalanced mapping".to_string())),
            },
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string = tag.as_ref().is_some_and(|t| t.handle == "tag:yaml.org,2002:" && t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !forced_string {
                    resolve_plain(&text)
                } else {
                    Value::Str(text.into_owned())
                };
                (value, anchor)
            }
            Event::Alias(id) => {
                let value = anchors.get(&id).cloned().ok_or_else(|| shape("an alias names an unknown anchor".to_string()))?;
                nodes += count(&value);
                (value, 0)
            }
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(shape(format!("the file expands to more than {MAX_NODES} values")));
        }
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(entries, pending, _)) => match pending.take() {
                None => {
                    let key = match value {
                        Value::Str(ref s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Seq(_) | Value::Map(_) => return Err(shape("a mapping key is not a scalar".to_string())),
                    };
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(shape(format!("the key `{key}` appears twice in one mapping")));
                    }
                    *pending = Some(key);
                }
                Some(key) => entries.push((key, value)),
            },
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

fn count(value: &Value) -> usize {
    match value {
        Value::Seq(items) => items.iter().map(count).sum::<usize>() + 1,
        Value::Map(entries) => entries.iter().map(|(_, v)| count(v)).sum::<usize>() + 1,
        _ => 1,
    }
}

static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").unwrap_or_else(|_| unreachable!())
});

/// yaml.v3's `resolve` for an untagged plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        let plain: String = text.chars().filter(|&c| c != '_').collect();
        if let Some(int) = go_parse_int(&plain) {
            return Value::Int(int);
        }
        if FLOAT.is_match(&plain)
            && let Ok(float) = plain.parse::<f64>()
        {
            return Value::Float(float);
        }
    }
    Value::Str(text.to_string())
}

/// Go's `strconv.ParseInt(text, 0, 64)`: an optional sign, then `0x`, `0o`, `0b`, a
/// leading `0` (octal) or decimal digits.
fn go_parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_as_yaml_v3_does() {
        let text = "a: yes\nb: 1e3\nc: 1:30\nd: 0755\ne: 2025-01-01\nf: 0o17\ng: .5\nh: 0x1F\ni: ~\nj: True\nk: on\nl: 0b101\nm: +12\nn: 1_000\no: '42'\np: !!str 7\nq: -3\n";
        let tree = parse("t.yaml", text).unwrap();
        let Value::Map(entries) = &tree else { panic!("not a map") };
        let got: Vec<Value> = entries.iter().map(|(_, v)| v.clone()).collect();
        let s = |t: &str| Value::Str(t.to_string());
        assert_eq!(
            got,
            vec![
                s("yes"), Value::Float(1000.0), s("1:30"), Value::Int(493), s("2025-01-01"), Value::Int(15),
                Value::Float(0.5), Value::Int(31), Value::Null, Value::Bool(true), s("on"), Value::Int(5),
                Value::Int(12), Value::Int(1000), s("42"), s("7"), Value::Int(-3),
            ]
        );
    }

    #[test]
    fn structure_anchors_and_limits() {
        let text = "base: &b {x: 1, y: [a, b]}\ncopy: *b\nlist:\n  - - 1\n    - 2\n  - k: v\n";
        let tree = parse("t.yaml", text).unwrap();
        let Value::Map(entries) = &tree else { panic!("not a map") };
        assert_eq!(entries[0].1, entries[1].1);
        assert!(matches!(parse("t.yaml", "a: 1\na: 2\n"), Err(SecretsError::Shape { .. })));
        assert!(matches!(parse("t.yaml", "a: [1\n"), Err(SecretsError::Syntax { .. })));
        assert!(matches!(parse("t.yaml", "a: 1\n---\nb: 2\n"), Err(SecretsError::Shape { .. })));
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
        assert!(matches!(parse("t.yaml", bomb), Err(SecretsError::Shape { .. })));
    }
}
