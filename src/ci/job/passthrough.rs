//! Keywords Sluice checks for shape but keeps as written because it does not act on them
//! (`hooks`, `id_tokens`, `secrets`, `identity`, `pages`, `publish`, `manual_confirmation`,
//! `dast_configuration`, `run`, `extends`), plus `tags` and `coverage`.

use super::script::commands;
use super::value::{check_keys, child, error, expected, item, mapping, string, string_or_strings, strings};
use crate::ci::keywords::HOOKS_KEYWORDS;
use crate::ci::node::{Node, Value};
use crate::diagnostic::Diagnostics;

/// Most runner tags a job may have.
const MAX_TAGS: usize = 50;

/// `tags:`: a list of at most 50 strings.
pub(crate) fn tags(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let tags = strings(node, path, diags)?;
    if tags.len() > MAX_TAGS {
        error(diags, &node.location, path, format!("has {} tags, at most {MAX_TAGS} are allowed", tags.len()));
        return None;
    }
    Some(tags)
}

/// `coverage:`: a `/regular expression/`; returns the expression between the slashes.
pub(crate) fn coverage(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<String> {
    let text = string(node, path, diags)?;
    let inner = text.strip_prefix('/').and_then(|t| t.strip_suffix('/')).filter(|t| !t.is_empty());
    let Some(inner) = inner else {
        error(diags, &node.location, path, format!("`{text}` is not a regular expression: write it between slashes, as `/Coverage: \\d+%/`"));
        return None;
    };
    if let Err(problem) = regex::Regex::new(inner) {
        let first = problem.to_string().lines().last().unwrap_or_default().trim().to_string();
        error(diags, &node.location, path, format!("invalid regular expression `{text}`: {first}"));
        return None;
    }
    Some(inner.to_string())
}

/// Checks the shape of a kept-as-written keyword; `true` when it is valid.
pub(crate) fn check(key: &str, node: &Node, path: &str, diags: &mut Diagnostics) -> bool {
    match key {
        "hooks" => hooks(node, path, diags),
        "id_tokens" => id_tokens(node, path, diags),
        "secrets" => map_of_maps(node, path, "a mapping of secret names to their source", diags),
        "dast_configuration" => mapping(node, path, "a mapping", diags).is_some(),
        "identity" | "manual_confirmation" | "publish" => string(node, path, diags).is_some(),
        "pages" => match node.value {
            Value::Bool(_) => true,
            _ => mapping(node, path, "a boolean or a mapping", diags).is_some(),
        },
        "run" => run_steps(node, path, diags),
        "extends" => string_or_strings(node, path, diags).is_some(),
        _ => true,
    }
}

fn hooks(node: &Node, path: &str, diags: &mut Diagnostics) -> bool {
    let Some(map) = mapping(node, path, "a mapping with `pre_get_sources_script`", diags) else { return false };
    let mut ok = check_keys(map, HOOKS_KEYWORDS, path, diags);
    for (key, value) in map.iter() {
        ok &= commands(value, &child(path, &key.name), diags).is_some();
    }
    ok
}

fn id_tokens(node: &Node, path: &str, diags: &mut Diagnostics) -> bool {
    let Some(map) = mapping(node, path, "a mapping of token names to `{aud: …}`", diags) else { return false };
    let mut ok = true;
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        let Some(token) = mapping(value, &at, "a mapping with `aud`", diags) else {
            ok = false;
            continue;
        };
        ok &= check_keys(token, &["aud"], &at, diags);
        match token.get("aud") {
            Some(aud) => ok &= string_or_strings(aud, &child(&at, "aud"), diags).is_some(),
            None => {
                error(diags, &value.location, &at, "missing `aud`");
                ok = false;
            }
        }
    }
    ok
}

fn map_of_maps(node: &Node, path: &str, what: &str, diags: &mut Diagnostics) -> bool {
    let Some(map) = mapping(node, path, what, diags) else { return false };
    let mut ok = true;
    for (key, value) in map.iter() {
        ok &= mapping(value, &child(path, &key.name), "a mapping", diags).is_some();
    }
    ok
}

/// `run:`: a list of step mappings (GitLab validates them against its `run_steps` schema;
/// Sluice checks only that each step is a mapping).
fn run_steps(node: &Node, path: &str, diags: &mut Diagnostics) -> bool {
    let Some(steps) = node.as_seq() else {
        expected(diags, node, path, "a list of steps");
        return false;
    };
    let mut ok = true;
    for (i, step) in steps.iter().enumerate() {
        ok &= mapping(step, &item(path, i), "a step mapping", diags).is_some();
    }
    ok
}
