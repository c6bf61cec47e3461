//! Typed reads of YAML nodes with located errors: the small checks every job keyword uses
//! (mapping with allowed keys, string, boolean, list of strings, one of a set of words).
//!
//! Messages say what was expected and what was found (`expected a string, found an
//! integer`); the caller's key path names the keyword, so messages do not repeat it.

use crate::ci::keywords::{backticked, suggest, unknown_key_hint};
use crate::ci::node::{Map, Node, Value};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// Pushes an error at `at` about `path`.
pub(crate) fn error(diags: &mut Diagnostics, at: &Location, path: &str, message: impl Into<String>) {
    diags.push(Diagnostic::error(Some(at.clone()), path, message));
}

/// Pushes an error with a hint.
pub(crate) fn error_hint(diags: &mut Diagnostics, at: &Location, path: &str, message: impl Into<String>, hint: impl Into<String>) {
    diags.push(Diagnostic::error(Some(at.clone()), path, message).with_hint(hint));
}

/// Pushes `expected <expected>, found <node's type>` at the node.
pub(crate) fn expected(diags: &mut Diagnostics, node: &Node, path: &str, expected: &str) {
    error(diags, &node.location, path, format!("expected {expected}, found {}", node.type_name()));
}

// `child` and `item` run for every keyword of every job, though only errors read the
// result: they build the string directly, which costs a fraction of `format!`.

/// `path.key`.
pub(crate) fn child(path: &str, key: &str) -> String {
    [path, ".", key].concat()
}

/// `path[index]`.
pub(crate) fn item(path: &str, index: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(path.len() + 8);
    out.push_str(path);
    let _ = write!(out, "[{index}]");
    out
}

/// The node as a mapping, or an error `expected <what>`.
pub(crate) fn mapping<'n>(node: &'n Node, path: &str, what: &str, diags: &mut Diagnostics) -> Option<&'n Map> {
    let map = node.as_map();
    if map.is_none() {
        expected(diags, node, path, what);
    }
    map
}

/// Reports every key of `map` that is not in `allowed` (at the key, with did-you-mean);
/// returns whether all keys are allowed.
pub(crate) fn check_keys(map: &Map, allowed: &[&str], path: &str, diags: &mut Diagnostics) -> bool {
    let mut ok = true;
    for (key, _) in map.iter() {
        if !allowed.contains(&key.name.as_str()) {
            ok = false;
            let hint = unknown_key_hint(&key.name, allowed);
            error_hint(diags, &key.location, path, format!("unknown key `{}`", key.name), hint);
        }
    }
    ok
}

/// A string scalar.
pub(crate) fn string(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        _ => {
            expected(diags, node, path, "a string");
            None
        }
    }
}

/// A boolean.
pub(crate) fn boolean(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<bool> {
    match &node.value {
        Value::Bool(b) => Some(*b),
        _ => {
            expected(diags, node, path, "a boolean (`true` or `false`)");
            None
        }
    }
}

/// A sequence of strings; each bad element is reported at itself.
pub(crate) fn strings(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let Some(items) = node.as_seq() else {
        expected(diags, node, path, "a list of strings");
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, element) in items.iter().enumerate() {
        match &element.value {
            Value::Str(s) => out.push(s.clone()),
            _ => {
                ok = false;
                expected(diags, element, &item(path, i), "a string");
            }
        }
    }
    ok.then_some(out)
}

/// A string (one value) or a sequence of strings.
pub(crate) fn string_or_strings(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    match &node.value {
        Value::Str(s) => Some(vec![s.clone()]),
        Value::Seq(_) => strings(node, path, diags),
        _ => {
            expected(diags, node, path, "a string or a list of strings");
            None
        }
    }
}

/// A string that is one of `allowed`.
pub(crate) fn one_of(node: &Node, path: &str, allowed: &[&str], diags: &mut Diagnostics) -> Option<String> {
    let word = match &node.value {
        Value::Str(s) => s.clone(),
        _ => {
            expected(diags, node, path, &format!("one of {}", backticked(allowed)));
            return None;
        }
    };
    if allowed.contains(&word.as_str()) {
        return Some(word);
    }
    let message = format!("unknown value `{word}`, expected one of {}", backticked(allowed));
    match suggest(&word, allowed) {
        Some(close) => error_hint(diags, &node.location, path, message, format!("did you mean `{close}`?")),
        None => error(diags, &node.location, path, message),
    }
    None
}

/// An integer or a sequence of integers (exit codes).
pub(crate) fn exit_codes(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<i32>> {
    let one = |n: &Node| n.as_int().and_then(|i| i32::try_from(i).ok());
    if let Some(code) = one(node) {
        return Some(vec![code]);
    }
    let Some(items) = node.as_seq() else {
        expected(diags, node, path, "an integer or a list of integers");
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, element) in items.iter().enumerate() {
        match one(element) {
            Some(code) => out.push(code),
            None => expected(diags, element, &item(path, i), "an integer"),
        }
    }
    (out.len() == items.len()).then_some(out)
}

/// A mapping whose values are scalars, as `(name, to_s value)` pairs (service variables).
pub(crate) fn scalar_map(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<(String, String)>> {
    let map = mapping(node, path, "a mapping of names to values", diags)?;
    let mut out = Vec::with_capacity(map.len());
    let mut ok = true;
    for (key, value) in map.iter() {
        match value.value {
            Value::Seq(_) | Value::Map(_) | Value::Reference(_) => {
                ok = false;
                expected(diags, value, &child(path, &key.name), "a string, number or boolean");
            }
            _ => out.push((key.name.clone(), value.scalar_to_string().unwrap_or_default())),
        }
    }
    ok.then_some(out)
}
