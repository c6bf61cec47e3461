//! Checks that involve more than one keyword of a job (which keys a job or trigger job may
//! have, `script`/`run`/`trigger` presence and conflicts, `rules` against `only`/`except`/
//! `start_in`, `when: delayed` with `start_in`, `dependencies` within `needs`) and the
//! one-time validation of the top-level `default:` mapping.

use super::value::{check_keys, child, error, error_hint, mapping};
use super::{JobSpec, apply};
use crate::ci::keywords::{DEFAULT_KEYWORDS, JOB_KEYWORDS, TRIGGER_JOB_KEYWORDS, backticked};
use crate::ci::node::{Map, Node};
use crate::diagnostic::Diagnostics;

/// Reports unknown keys (with did-you-mean) and, for trigger jobs, keys a trigger job cannot have.
pub(super) fn job_keys(map: &Map, name: &str, is_trigger: bool, diags: &mut Diagnostics) {
    check_keys(map, JOB_KEYWORDS, name, diags);
    if !is_trigger {
        return;
    }
    for (key, _) in map.iter() {
        let k = key.name.as_str();
        if JOB_KEYWORDS.contains(&k) && !TRIGGER_JOB_KEYWORDS.contains(&k) && !matches!(k, "script" | "run") {
            error_hint(
                diags,
                &key.location,
                name,
                format!("`{k}` cannot be used in a trigger job"),
                format!("a trigger job starts a downstream pipeline; it accepts {}", backticked(TRIGGER_JOB_KEYWORDS)),
            );
        }
    }
}

fn present<'m>(map: &'m Map, key: &str) -> Option<&'m Node> {
    map.get(key).filter(|v| !v.is_null())
}

/// Checks between keywords, after each keyword was parsed into `spec`.
pub(super) fn job_rules(spec: &JobSpec, map: &Map, node: &Node, diags: &mut Diagnostics) {
    let name = spec.name.as_str();
    let script = present(map, "script");
    let run = present(map, "run");
    let trigger = present(map, "trigger");
    if script.is_none() && run.is_none() && trigger.is_none() {
        error_hint(
            diags,
            &node.location,
            name,
            "job must have a `script`, `run` or `trigger` keyword",
            format!("to define a template for other jobs, hide it: `.{name}`"),
        );
    }
    for (a, b) in [("script", "trigger"), ("run", "trigger"), ("script", "run")] {
        if let (Some(_), Some(_), Some(second)) = (present(map, a), present(map, b), map.key(b)) {
            error(diags, &second.location, name, format!("`{a}` and `{b}` cannot be used together"));
        }
    }
    if let Some(script) = script
        && spec.script.is_empty() && script.as_seq().is_some_and(|s| s.is_empty()) {
            error(diags, &script.location, &child(name, "script"), "must not be empty");
        }
    if map.contains_key("rules") {
        for key in ["only", "except", "start_in"] {
            if let (Some(_), Some(k)) = (present(map, key), map.key(key)) {
                error_hint(
                    diags,
                    &k.location,
                    name,
                    format!("`{key}` may not be used with `rules`"),
                    if key == "start_in" { "set `start_in` in the rule that has `when: delayed`" } else { "express the condition as a `rules:` entry, or remove `rules:`" },
                );
            }
        }
    }
    delayed(spec, map, diags);
    dependencies_in_needs(spec, map, diags);
    if let (Some(_), Some(k)) = (present(map, "publish"), map.key("publish")) {
        let pages_job = present(map, "pages").is_some_and(|p| p.as_bool() != Some(false)) || (name == "pages" && map.get("pages").and_then(Node::as_bool) != Some(false));
        if !pages_job {
            error(diags, &k.location, name, "`publish` can only be used in a `pages` job");
        }
    }
}

/// `when: delayed` needs `start_in`; `start_in` needs `when: delayed` (with `rules`, it is
/// already reported as not allowed).
fn delayed(spec: &JobSpec, map: &Map, diags: &mut Diagnostics) {
    let name = spec.name.as_str();
    let when_delayed = map.get("when").and_then(Node::as_str) == Some("delayed");
    let start_in = present(map, "start_in");
    if when_delayed && start_in.is_none() {
        let at = map.get("when").map_or(&spec.location, |n| &n.location);
        error_hint(diags, at, &child(name, "when"), "`when: delayed` needs `start_in`", "add `start_in: 30 minutes` (at most 1 week)");
    }
    if let (Some(_), Some(k), false, false) = (start_in, map.key("start_in"), when_delayed, map.contains_key("rules")) {
        error(diags, &k.location, name, "`start_in` can only be used with `when: delayed`");
    }
}

/// Every `dependencies` entry must be a `needs` entry when both are given (and needs is not empty).
fn dependencies_in_needs(spec: &JobSpec, map: &Map, diags: &mut Diagnostics) {
    let (Some(dependencies), Some(needs)) = (&spec.dependencies, &spec.needs) else { return };
    if needs.is_empty() {
        return;
    }
    let Some(node) = map.get("dependencies") else { return };
    let missing: Vec<&str> =
        dependencies.iter().filter(|d| !needs.iter().any(|n| n.is_local() && &n.job == *d)).map(String::as_str).collect();
    if !missing.is_empty() {
        error_hint(
            diags,
            &node.location,
            &child(&spec.name, "dependencies"),
            format!("{} must also be listed in `needs`", backticked(&missing)),
            "a job with `needs` only gets artifacts from the jobs it needs",
        );
    }
}

/// Validates the top-level `default:` mapping once: its keys (only the keywords a job can
/// inherit) and each value, with paths `default.<key>`. [`super::parse_job`] does not report
/// problems of inherited values.
pub fn validate_default(node: &Node, diags: &mut Diagnostics) {
    let Some(map) = mapping(node, "default", "a mapping of job keywords", diags) else { return };
    let mut spec = JobSpec::new("default", node.location.clone());
    for (key, value) in map.iter() {
        let k = key.name.as_str();
        if DEFAULT_KEYWORDS.contains(&k) {
            if !value.is_null() {
                apply(&mut spec, k, value, &child("default", k), diags);
            }
        } else if JOB_KEYWORDS.contains(&k) {
            error_hint(
                diags,
                &key.location,
                "default",
                format!("`{k}` cannot be set in `default:`"),
                format!("`default:` accepts {}", backticked(DEFAULT_KEYWORDS)),
            );
        } else {
            check_keys(&single(map, k), DEFAULT_KEYWORDS, "default", diags);
        }
    }
}

/// A mapping with only the entry `key` of `map` (to report one unknown key).
fn single(map: &Map, key: &str) -> Map {
    let mut out = Map::new();
    if let (Some(k), Some(v)) = (map.key(key), map.get(key)) {
        out.insert(k.clone(), v.clone());
    }
    out
}
