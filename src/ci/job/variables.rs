//! `variables:` (job or global) and `inherit:` (`default` and `variables`: all, none, or a
//! list), with GitLab's `Entry::Variables`, `Entry::Variable` and `Entry::Inherit` rules.

use super::value::{boolean, check_keys, child, error, error_hint, expected, item, mapping, string, strings};
use crate::ci::keywords::{DEFAULT_KEYWORDS, GLOBAL_VARIABLE_KEYWORDS, INHERIT_KEYWORDS, JOB_VARIABLE_KEYWORDS, backticked, suggest};
use crate::ci::node::{Node, Value};
use crate::ci::pipeline::{InheritList, JobVariable};
use crate::diagnostic::Diagnostics;

/// Where a `variables:` block is, which decides the keys a variable mapping may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableScope {
    /// A job's `variables:`: `value` and `expand`.
    Job,
    /// The top-level `variables:`: also `description` and `options`.
    Global,
}

/// Parses a `variables:` mapping: each name maps to a scalar (printed as Ruby's `to_s`;
/// null is the empty string) or to `{value, expand}` (`description`, `options` too for the
/// global block). `None` when any variable is invalid.
pub fn parse_variables(node: &Node, key_path: &str, scope: VariableScope, diags: &mut Diagnostics) -> Option<Vec<(String, JobVariable)>> {
    if node.is_null() {
        return Some(Vec::new());
    }
    let map = mapping(node, key_path, "a mapping of variable names to values", diags)?;
    let mut out = Vec::with_capacity(map.len());
    let mut ok = true;
    for (key, value) in map.iter() {
        let at = child(key_path, &key.name);
        if key.name.is_empty() {
            error(diags, &key.location, key_path, "variable name must not be empty");
            ok = false;
            continue;
        }
        match variable(value, &at, scope, diags) {
            Some(variable) => out.push((key.name.clone(), variable)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn variable(node: &Node, path: &str, scope: VariableScope, diags: &mut Diagnostics) -> Option<JobVariable> {
    let plain = |value: String| JobVariable { value, expand: true, description: None, options: Vec::new() };
    let map = match &node.value {
        Value::Map(map) => map,
        Value::Seq(_) | Value::Reference(_) => {
            expected(diags, node, path, "a string, number, boolean or a mapping with `value`");
            return None;
        }
        _ => return Some(plain(node.scalar_to_string().unwrap_or_default())),
    };
    let allowed = match scope {
        VariableScope::Job => JOB_VARIABLE_KEYWORDS,
        VariableScope::Global => GLOBAL_VARIABLE_KEYWORDS,
    };
    let mut ok = true;
    for (key, _) in map.iter() {
        if allowed.contains(&key.name.as_str()) {
            continue;
        }
        ok = false;
        if GLOBAL_VARIABLE_KEYWORDS.contains(&key.name.as_str()) {
            error(diags, &key.location, path, format!("`{}` is only allowed in the top-level `variables:`", key.name));
        } else {
            check_keys(map, allowed, path, diags);
            break;
        }
    }
    let mut out = plain(String::new());
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        ok &= match key.name.as_str() {
            "value" => match value.value {
                Value::Seq(_) | Value::Map(_) | Value::Reference(_) => {
                    expected(diags, value, &at, "a string, number or boolean");
                    false
                }
                _ => {
                    out.value = value.scalar_to_string().unwrap_or_default();
                    true
                }
            },
            "expand" => boolean(value, &at, diags).map(|b| out.expand = b).is_some(),
            "description" if scope == VariableScope::Global => string(value, &at, diags).map(|s| out.description = Some(s)).is_some(),
            "options" if scope == VariableScope::Global => strings(value, &at, diags).map(|o| out.options = o).is_some(),
            _ => true,
        };
    }
    if ok && !out.options.is_empty() && !out.options.contains(&out.value) {
        error(diags, &node.location, path, format!("value `{}` must be one of its `options`", out.value));
        ok = false;
    }
    ok.then_some(out)
}

/// `inherit:` of a job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Inherit {
    /// Which `default:` keywords the job takes.
    pub default: InheritList,
    /// Which global variables the job sees.
    pub variables: InheritList,
}

/// Parses `inherit:`: `{default: bool | [keywords], variables: bool | [names]}`.
pub(crate) fn inherit(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Inherit> {
    let map = mapping(node, path, "a mapping with `default` and/or `variables`", diags)?;
    let mut ok = check_keys(map, INHERIT_KEYWORDS, path, diags);
    let mut out = Inherit::default();
    if let Some(value) = map.get("default") {
        match inherit_list(value, &child(path, "default"), Some(DEFAULT_KEYWORDS), diags) {
            Some(list) => out.default = list,
            None => ok = false,
        }
    }
    if let Some(value) = map.get("variables") {
        match inherit_list(value, &child(path, "variables"), None, diags) {
            Some(list) => out.variables = list,
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn inherit_list(node: &Node, path: &str, allowed: Option<&[&str]>, diags: &mut Diagnostics) -> Option<InheritList> {
    if let Some(all) = node.as_bool() {
        return Some(InheritList::All(all));
    }
    if node.as_seq().is_none() {
        expected(diags, node, path, "a boolean or a list of names");
        return None;
    }
    let names = strings(node, path, diags)?;
    let Some(allowed) = allowed else { return Some(InheritList::Only(names)) };
    let mut ok = true;
    for (i, name) in names.iter().enumerate() {
        if allowed.contains(&name.as_str()) {
            continue;
        }
        ok = false;
        let at = node.as_seq().and_then(|s| s.get(i)).map_or(&node.location, |n| &n.location);
        let hint = match suggest(name, allowed) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("`default:` keywords: {}", backticked(allowed)),
        };
        error_hint(diags, at, &item(path, i), format!("`{name}` is not a `default:` keyword"), hint);
    }
    ok.then_some(InheritList::Only(names))
}
