//! `needs:` entries and `parallel:` (a count or a `matrix:`), parsed but not resolved: the
//! job graph and the matrix expansion are [`crate::ci::needs`] and [`crate::ci::matrix`].
//!
//! Needs forms (GitLab `Entry::Need`): a job name; `{job, artifacts, optional, parallel:
//! {matrix}}`; `{job, pipeline, artifacts}` (another pipeline, usually the parent);
//! `{job, project, ref, artifacts}` (another project). Nested lists (from `!reference`) are
//! flattened as GitLab's `[config].flatten` does; a single mapping is one need.

use super::value::{boolean, check_keys, child, error, expected, item, mapping, string};
use crate::ci::keywords::{NEED_KEYWORDS, PARALLEL_KEYWORDS};
use crate::ci::node::{Node, Value};
use crate::ci::pipeline::{MatrixEntry, Need, Parallel};
use crate::diagnostic::Diagnostics;

/// Most instances `parallel` may create (GitLab's `PARALLEL_LIMIT`).
pub const MAX_PARALLEL: i64 = 200;

/// Parses a `needs:` value (also used for `rules:needs`). `key_path` is the path of the
/// `needs` key, such as `build.needs`. `None` when any entry is invalid.
pub fn parse_needs(node: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<Vec<Need>> {
    let mut flat = Vec::new();
    match &node.value {
        Value::Seq(_) => flatten(node, key_path, &mut flat),
        Value::Map(_) => flat.push((key_path.to_string(), node)),
        _ => {
            expected(diags, node, key_path, "a list of job names or `{job: …}` mappings");
            return None;
        }
    }
    let mut needs = Vec::with_capacity(flat.len());
    let mut ok = true;
    for (path, entry) in flat {
        match need(entry, &path, diags) {
            Some(need) => needs.push(need),
            None => ok = false,
        }
    }
    ok.then_some(needs)
}

fn flatten<'n>(node: &'n Node, path: &str, out: &mut Vec<(String, &'n Node)>) {
    for (i, element) in node.as_seq().unwrap_or_default().iter().enumerate() {
        let at = item(path, i);
        if element.as_seq().is_some() {
            flatten(element, &at, out);
        } else {
            out.push((at, element));
        }
    }
}

fn need(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Need> {
    let mut need = Need::on(String::new(), node.location.clone());
    if let Value::Str(name) = &node.value {
        if name.is_empty() {
            error(diags, &node.location, path, "job name must not be empty");
            return None;
        }
        need.job = name.clone();
        return Some(need);
    }
    let map = mapping(node, path, "a job name or a `{job: …}` mapping", diags)?;
    let mut ok = check_keys(map, NEED_KEYWORDS, path, diags);
    match map.get("job") {
        Some(job) => match string(job, &child(path, "job"), diags) {
            Some(name) => need.job = name,
            None => ok = false,
        },
        None => {
            error(diags, &node.location, path, "missing `job`: a need names the job it waits for");
            ok = false;
        }
    }
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        let good = match key.name.as_str() {
            "artifacts" => boolean(value, &at, diags).map(|b| need.artifacts = b).is_some(),
            "optional" => boolean(value, &at, diags).map(|b| need.optional = b).is_some(),
            "project" => string(value, &at, diags).map(|s| need.project = Some(s)).is_some(),
            "ref" => string(value, &at, diags).map(|s| need.git_ref = Some(s)).is_some(),
            "pipeline" => string(value, &at, diags).map(|s| need.pipeline = Some(s)).is_some(),
            "parallel" => parallel_filter(value, &at, diags).map(|m| need.matrix = Some(m)).is_some(),
            _ => true,
        };
        ok &= good;
    }
    ok &= cross_checks(&need, map, node, path, diags);
    ok.then_some(need)
}

/// Keys that only make sense together: `ref` needs `project`; `project` and `pipeline` exclude
/// each other; `optional` and `parallel` are for needs in the same pipeline.
fn cross_checks(need: &Need, map: &crate::ci::node::Map, node: &Node, path: &str, diags: &mut Diagnostics) -> bool {
    let mut ok = true;
    if need.project.is_some() && need.pipeline.is_some() {
        error(diags, &node.location, path, "`project` and `pipeline` cannot be used together");
        ok = false;
    }
    if need.git_ref.is_some() && need.project.is_none() {
        error(diags, &node.location, path, "`ref` can only be used with `project`");
        ok = false;
    }
    if !need.is_local() {
        for key in ["optional", "parallel"] {
            if let Some(k) = map.key(key) {
                error(diags, &k.location, path, format!("`{key}` can only be used for a job of the same pipeline"));
                ok = false;
            }
        }
    }
    ok
}

/// `needs:parallel:` — `{matrix: [...]}` selecting instances of a matrix job.
fn parallel_filter(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<MatrixEntry>> {
    let map = mapping(node, path, "a mapping with `matrix`", diags)?;
    if !check_keys(map, PARALLEL_KEYWORDS, path, diags) {
        return None;
    }
    let Some(matrix) = map.get("matrix") else {
        error(diags, &node.location, path, "missing `matrix`");
        return None;
    };
    parse_matrix(matrix, &child(path, "matrix"), diags)
}

/// Parses `parallel:` — an integer from 1 to 200, or `{matrix: [{VAR: value | [values]}, …]}`.
/// The 200-instance limit of a matrix is checked by [`crate::ci::matrix`].
pub fn parse_parallel(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Parallel> {
    match &node.value {
        Value::Int(n) if (1..=MAX_PARALLEL).contains(n) => u32::try_from(*n).ok().map(Parallel::Count),
        Value::Int(n) => {
            error(diags, &node.location, path, format!("must be from 1 to {MAX_PARALLEL}, found {n}"));
            None
        }
        Value::Map(map) => {
            if !check_keys(map, PARALLEL_KEYWORDS, path, diags) {
                return None;
            }
            let Some(matrix) = map.get("matrix") else {
                error(diags, &node.location, path, "missing `matrix`");
                return None;
            };
            parse_matrix(matrix, &child(path, "matrix"), diags).map(Parallel::Matrix)
        }
        _ => {
            expected(diags, node, path, "an integer from 1 to 200 or a mapping with `matrix`");
            None
        }
    }
}

/// A `matrix:` list: mappings of variable names to a value or a list of values (strings or
/// integers, as GitLab's `variables: { array_values: true }` validator allows).
pub fn parse_matrix(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<MatrixEntry>> {
    let Some(items) = node.as_seq() else {
        expected(diags, node, path, "a list of mappings of variables to values");
        return None;
    };
    if items.is_empty() {
        error(diags, &node.location, path, "must have at least one entry");
        return None;
    }
    let mut entries = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, element) in items.iter().enumerate() {
        match matrix_entry(element, &item(path, i), diags) {
            Some(entry) => entries.push(entry),
            None => ok = false,
        }
    }
    ok.then_some(entries)
}

fn matrix_entry(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<MatrixEntry> {
    let map = mapping(node, path, "a mapping of variables to values", diags)?;
    if map.is_empty() {
        error(diags, &node.location, path, "must set at least one variable");
        return None;
    }
    let mut variables = Vec::with_capacity(map.len());
    let mut ok = true;
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        let values = match &value.value {
            Value::Seq(list) => list.iter().enumerate().map(|(i, v)| matrix_value(v, &item(&at, i), diags)).collect(),
            _ => matrix_value(value, &at, diags).map(|v| vec![v]),
        };
        match values {
            Some(values) => variables.push((key.name.clone(), values)),
            None => ok = false,
        }
    }
    ok.then(|| MatrixEntry { variables, location: node.location.clone() })
}

fn matrix_value(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => {
            expected(diags, node, path, "a string, an integer or a list of them");
            None
        }
    }
}
