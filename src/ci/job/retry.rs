//! `retry:` (0..=2, or `{max, when, exit_codes}`) and `allow_failure:` (a boolean or
//! `{exit_codes}`), with GitLab's `Entry::Retry` and `Entry::AllowFailure` rules.

use super::value::{check_keys, child, error, error_hint, exit_codes, expected, item, mapping};
use crate::ci::keywords::{ALLOW_FAILURE_KEYWORDS, RETRY_KEYWORDS, RETRY_WHEN, backticked, suggest};
use crate::ci::node::{Node, Value};
use crate::ci::pipeline::{AllowFailure, Retry};
use crate::diagnostic::Diagnostics;

/// Most retries GitLab allows.
const MAX_RETRY: i64 = 2;

/// Parses `retry:`.
pub(crate) fn retry(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Retry> {
    match &node.value {
        Value::Int(_) => max(node, path, diags).map(|max| Retry { max, when: Vec::new(), exit_codes: Vec::new() }),
        Value::Map(map) => {
            let mut ok = check_keys(map, RETRY_KEYWORDS, path, diags);
            let mut retry = Retry { max: 0, when: Vec::new(), exit_codes: Vec::new() };
            if let Some(value) = map.get("max") {
                match max(value, &child(path, "max"), diags) {
                    Some(m) => retry.max = m,
                    None => ok = false,
                }
            }
            if let Some(value) = map.get("when") {
                match reasons(value, &child(path, "when"), diags) {
                    Some(when) => retry.when = when,
                    None => ok = false,
                }
            }
            if let Some(value) = map.get("exit_codes") {
                match exit_codes(value, &child(path, "exit_codes"), diags) {
                    Some(codes) => retry.exit_codes = codes,
                    None => ok = false,
                }
            }
            ok.then_some(retry)
        }
        _ => {
            expected(diags, node, path, "an integer from 0 to 2 or a mapping with `max`, `when`, `exit_codes`");
            None
        }
    }
}

fn max(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<u32> {
    match node.as_int() {
        Some(n) if (0..=MAX_RETRY).contains(&n) => u32::try_from(n).ok(),
        Some(n) => {
            error(diags, &node.location, path, format!("must be from 0 to {MAX_RETRY}, found {n}"));
            None
        }
        None => {
            expected(diags, node, path, "an integer from 0 to 2");
            None
        }
    }
}

/// `retry:when`: one failure reason or a list of them.
fn reasons(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let items: Vec<(String, &Node)> = match &node.value {
        Value::Str(_) => vec![(path.to_string(), node)],
        Value::Seq(list) => list.iter().enumerate().map(|(i, n)| (item(path, i), n)).collect(),
        _ => {
            expected(diags, node, path, "a failure reason or a list of them");
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (at, element) in items {
        let Some(word) = element.as_str() else {
            expected(diags, element, &at, "a failure reason (a string)");
            continue;
        };
        if RETRY_WHEN.contains(&word) {
            out.push(word.to_string());
            continue;
        }
        let message = format!("unknown failure reason `{word}`");
        let hint = match suggest(word, RETRY_WHEN) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("reasons: {}", backticked(RETRY_WHEN)),
        };
        error_hint(diags, &element.location, &at, message, hint);
    }
    let count = node.as_seq().map_or(1, <[Node]>::len);
    (out.len() == count).then_some(out)
}

/// Parses `allow_failure:`.
pub(crate) fn allow_failure(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<AllowFailure> {
    if let Some(allowed) = node.as_bool() {
        return Some(AllowFailure { allowed, exit_codes: Vec::new() });
    }
    if node.as_map().is_none() {
        expected(diags, node, path, "a boolean or a mapping with `exit_codes`");
        return None;
    }
    let map = mapping(node, path, "a mapping with `exit_codes`", diags)?;
    if !check_keys(map, ALLOW_FAILURE_KEYWORDS, path, diags) {
        return None;
    }
    let Some(codes) = map.get("exit_codes") else {
        error(diags, &node.location, path, "missing `exit_codes`");
        return None;
    };
    exit_codes(codes, &child(path, "exit_codes"), diags).map(|exit_codes| AllowFailure { allowed: false, exit_codes })
}
