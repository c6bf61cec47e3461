//! `rules:` of jobs, `workflow:` and `include:`: reading and validating them into [`Rule`]s
//! (this file), and choosing the first rule that matches ([`first_match`], in
//! `rules/evaluate.rs`). Paths are matched by [`glob`] as Ruby's `File.fnmatch?` does.
//!
//! Validation follows GitLab's `Entry::Rules::Rule` and `Entry::Include::Rules::Rule`: the keys
//! allowed per kind, `when` values per kind, `start_in` only (and always) with `when: delayed`
//! and at most one week, `changes`/`exists` as a list or a mapping (at most 50 paths), `if` a
//! valid expression. Every problem becomes a located [`Diagnostic`]; valid rules are returned
//! even when others are not. Nothing here decides what a matching rule *does* to a job.

mod evaluate;
pub mod glob;

use crate::diagnostic::{Diagnostic, Diagnostics, Location, did_you_mean};

use super::expr::{Expression, ExpressionCache};
use super::node::{Node, Value};

pub use evaluate::{RuleEnv, first_match};

/// Which `rules:` is being read; each allows different keys and `when` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesKind {
    /// A job's `rules:`.
    Job,
    /// `workflow:rules:`.
    Workflow,
    /// `include:rules:`.
    Include,
}

impl RulesKind {
    /// Keys GitLab accepts in one rule of this kind. Workflow rules also accept `start_in`,
    /// `allow_failure` and `needs`, which GitLab keeps for compatibility and ignores.
    pub fn allowed_keys(self) -> &'static [&'static str] {
        match self {
            RulesKind::Job => {
                &["if", "changes", "exists", "when", "start_in", "allow_failure", "variables", "needs", "interruptible"]
            }
            RulesKind::Workflow => {
                &["if", "changes", "exists", "when", "start_in", "allow_failure", "variables", "needs", "auto_cancel"]
            }
            RulesKind::Include => &["if", "exists", "when", "changes"],
        }
    }

    /// `when` values allowed in one rule of this kind.
    pub fn allowed_when(self) -> &'static [&'static str] {
        match self {
            RulesKind::Job => &["on_success", "on_failure", "always", "never", "manual", "delayed"],
            RulesKind::Workflow | RulesKind::Include => &["always", "never"],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RulesKind::Job => "job rules",
            RulesKind::Workflow => "`workflow:rules`",
            RulesKind::Include => "`include:rules`",
        }
    }
}

/// Most paths in `changes` or `exists`, as GitLab allows.
pub const MAX_PATHS: usize = 50;

/// `rules:changes`: globs of changed paths, optionally compared with another ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Globs; `$VAR`/`${VAR}` are expanded when the rule is evaluated.
    pub paths: Vec<String>,
    /// `compare_to`: the ref or sha to diff against instead of the push's own changes.
    pub compare_to: Option<String>,
}

/// `rules:exists`: globs of files that must exist in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exists {
    /// Globs; `$VAR`/`${VAR}` are expanded when the rule is evaluated.
    pub paths: Vec<String>,
    /// `project`: look in another project (only the pipeline's own project is supported).
    pub project: Option<String>,
    /// `ref`: the ref of `project` to look at.
    pub git_ref: Option<String>,
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Where the rule (its mapping) is written.
    pub location: Location,
    /// `if:`.
    pub if_: Option<Expression>,
    /// `changes:`.
    pub changes: Option<Changes>,
    /// `exists:`.
    pub exists: Option<Exists>,
    /// `when:`, one of [`RulesKind::allowed_when`].
    pub when: Option<String>,
    /// `allow_failure:` (jobs).
    pub allow_failure: Option<bool>,
    /// `start_in:` (jobs, with `when: delayed`).
    pub start_in: Option<String>,
    /// `interruptible:` (jobs).
    pub interruptible: Option<bool>,
    /// `variables:`, in order, values as strings.
    pub variables: Vec<(String, String)>,
    /// `needs:` (jobs), unparsed; the job module reads it.
    pub needs: Option<Node>,
    /// `auto_cancel:` (workflow), unparsed.
    pub auto_cancel: Option<Node>,
    /// Always `None`: GitLab has no per-rule name (`workflow:name` is separate).
    pub name: Option<String>,
}

impl Rule {
    fn empty(location: Location) -> Rule {
        Rule {
            location,
            if_: None,
            changes: None,
            exists: None,
            when: None,
            allow_failure: None,
            start_in: None,
            interruptible: None,
            variables: Vec::new(),
            needs: None,
            auto_cancel: None,
            name: None,
        }
    }
}

/// Parses a `rules:` sequence at `key_path` (such as `build.rules` or `workflow.rules`);
/// pushes located errors into `diags` and returns the valid rules, in order. Nested
/// sequences (from `!reference`) are flattened, as GitLab does.
pub fn parse(node: &Node, key_path: &str, kind: RulesKind, diags: &mut Diagnostics) -> Vec<Rule> {
    parse_cached(node, key_path, kind, &mut ExpressionCache::new(), diags)
}

/// [`parse`], reusing the `if:` expressions already parsed into `exprs` (for callers that
/// read many `rules:`, such as every job of a pipeline).
pub fn parse_cached(node: &Node, key_path: &str, kind: RulesKind, exprs: &mut ExpressionCache, diags: &mut Diagnostics) -> Vec<Rule> {
    let Some(items) = node.as_seq() else {
        diags.push(
            Diagnostic::error(Some(node.location.clone()), key_path, format!("must be a list of rules, not {}", node.type_name()))
                .with_hint("write each rule as a list item, such as `- if: $CI_COMMIT_TAG`"),
        );
        return Vec::new();
    };
    let mut flat = Vec::new();
    flatten(items, &mut flat);
    if flat.is_empty() {
        diags.push(
            Diagnostic::error(Some(node.location.clone()), key_path, "must not be an empty list")
                .with_hint("add a rule, or remove the `rules` key"),
        );
        return Vec::new();
    }
    let mut rules = Vec::new();
    for (index, item) in flat.into_iter().enumerate() {
        let path = format!("{key_path}[{index}]");
        let before = diags.errors().count();
        let rule = parse_rule(item, &path, kind, exprs, diags);
        if diags.errors().count() == before {
            rules.extend(rule);
        }
    }
    rules
}

fn flatten<'n>(items: &'n [Node], out: &mut Vec<&'n Node>) {
    for item in items {
        match item.as_seq() {
            Some(inner) => flatten(inner, out),
            None => out.push(item),
        }
    }
}

fn parse_rule(node: &Node, path: &str, kind: RulesKind, exprs: &mut ExpressionCache, diags: &mut Diagnostics) -> Option<Rule> {
    let Some(map) = node.as_map() else {
        diags.push(Diagnostic::error(
            Some(node.location.clone()),
            path,
            format!("a rule must be a mapping of {}, not {}", keys_list(kind.allowed_keys()), node.type_name()),
        ));
        return None;
    };
    if map.is_empty() {
        diags.push(
            Diagnostic::error(Some(node.location.clone()), path, "a rule must not be empty")
                .with_hint(format!("use some of {}", keys_list(kind.allowed_keys()))),
        );
        return None;
    }
    let mut rule = Rule::empty(node.location.clone());
    for (key, value) in map.iter() {
        let key_path = [path, ".", &key.name].concat();
        if !kind.allowed_keys().contains(&key.name.as_str()) {
            diags.push(unknown_key(&key.name, &key.location, path, kind));
            continue;
        }
        // GitLab compacts the rule: a key set to null is as if it were absent.
        if !value.is_null() {
            read_key(&mut rule, &key.name, value, &key_path, kind, exprs, diags);
        }
    }
    check_delay(&rule, map, path, diags);
    Some(rule)
}

fn read_key(
    rule: &mut Rule,
    key: &str,
    value: &Node,
    key_path: &str,
    kind: RulesKind,
    exprs: &mut ExpressionCache,
    diags: &mut Diagnostics,
) {
    match key {
        "if" => rule.if_ = parse_if(value, key_path, exprs, diags),
        "changes" => rule.changes = parse_changes(value, key_path, diags),
        "exists" => rule.exists = parse_exists(value, key_path, diags),
        "when" => rule.when = parse_when(value, key_path, kind, diags),
        "allow_failure" => rule.allow_failure = expect_bool(value, key_path, diags),
        "interruptible" => rule.interruptible = expect_bool(value, key_path, diags),
        "start_in" => rule.start_in = parse_start_in(value, key_path, diags),
        "variables" => rule.variables = parse_variables(value, key_path, diags),
        "needs" => rule.needs = Some(value.clone()),
        "auto_cancel" => rule.auto_cancel = Some(value.clone()),
        _ => {}
    }
    if kind == RulesKind::Workflow && matches!(key, "allow_failure" | "needs") {
        diags.push(Diagnostic::warning(
            Some(value.location.clone()),
            key_path,
            format!("`{key}` has no effect in `workflow:rules`; GitLab accepts it only for compatibility"),
        ));
    }
}

/// `when: delayed` needs `start_in`; `start_in` (even null) needs `when: delayed`.
fn check_delay(rule: &Rule, map: &super::node::Map, path: &str, diags: &mut Diagnostics) {
    let delayed = rule.when.as_deref() == Some("delayed");
    let start_in_given = map.get("start_in").is_some_and(|n| !n.is_null());
    if delayed && !start_in_given {
        diags.push(
            Diagnostic::error(Some(rule.location.clone()), path, "`when: delayed` requires `start_in`")
                .with_hint("add `start_in`, such as `start_in: 30 minutes`"),
        );
    }
    if let (false, Some(key)) = (delayed, map.key("start_in")) {
        diags.push(
            Diagnostic::error(Some(key.location.clone()), format!("{path}.start_in"), "`start_in` is only allowed with `when: delayed`")
                .with_hint("add `when: delayed`, or remove `start_in`"),
        );
    }
}

fn unknown_key(name: &str, location: &Location, path: &str, kind: RulesKind) -> Diagnostic {
    let allowed = kind.allowed_keys();
    let elsewhere = [RulesKind::Job, RulesKind::Workflow, RulesKind::Include]
        .into_iter()
        .any(|k| k.allowed_keys().contains(&name));
    let message = if elsewhere {
        format!("`{name}` is not allowed in {}", kind.describe())
    } else {
        format!("unknown key `{name}` in a rule")
    };
    let hint = match did_you_mean(name, allowed.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? allowed keys: {}", keys_list(allowed)),
        None => format!("allowed keys: {}", keys_list(allowed)),
    };
    Diagnostic::error(Some(location.clone()), format!("{path}.{name}"), message).with_hint(hint)
}

fn keys_list(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

fn parse_if(value: &Node, key_path: &str, exprs: &mut ExpressionCache, diags: &mut Diagnostics) -> Option<Expression> {
    let Some(text) = value.as_str() else {
        diags.push(
            Diagnostic::error(Some(value.location.clone()), key_path, format!("must be an expression string, not {}", value.type_name()))
                .with_hint("quote the expression, such as `if: '$CI_COMMIT_BRANCH == \"main\"'`"),
        );
        return None;
    };
    match exprs.parse(text) {
        Ok(expression) => Some(expression),
        Err(error) => {
            let mut d = Diagnostic::error(
                Some(value.location.clone()),
                key_path,
                format!("invalid expression: {} (at character {} of `{}`)", error.message, char_index(text, error.offset) + 1, text),
            );
            d.hint = error.hint;
            diags.push(d);
            None
        }
    }
}

/// The character index of byte `offset` in `text`.
fn char_index(text: &str, offset: usize) -> usize {
    text.char_indices().take_while(|(i, _)| *i < offset).count()
}

fn parse_changes(value: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<Changes> {
    match &value.value {
        Value::Seq(_) => Some(Changes { paths: path_list(value, key_path, diags)?, compare_to: None }),
        Value::Map(map) => {
            check_keys(map, &["paths", "compare_to"], key_path, diags);
            let paths = required_paths(map, value, key_path, diags)?;
            let compare_to = map.get("compare_to").and_then(|n| expect_string(n, &format!("{key_path}.compare_to"), diags));
            Some(Changes { paths, compare_to })
        }
        _ => {
            diags.push(
                Diagnostic::error(
                    Some(value.location.clone()),
                    key_path,
                    format!("must be a list of paths or a mapping with `paths` and `compare_to`, not {}", value.type_name()),
                )
                .with_hint("write `changes: [path/**/*]`"),
            );
            None
        }
    }
}

fn parse_exists(value: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<Exists> {
    let simple = |paths| Some(Exists { paths, project: None, git_ref: None });
    match &value.value {
        Value::Str(s) => simple(vec![s.clone()]),
        Value::Seq(_) => simple(path_list(value, key_path, diags)?),
        Value::Map(map) => {
            check_keys(map, &["paths", "project", "ref"], key_path, diags);
            let paths = required_paths(map, value, key_path, diags)?;
            let project = map.get("project").and_then(|n| expect_string(n, &format!("{key_path}.project"), diags));
            let git_ref = map.get("ref").and_then(|n| expect_string(n, &format!("{key_path}.ref"), diags));
            if let (Some(key), None) = (map.key("ref"), &project) {
                diags.push(
                    Diagnostic::error(Some(key.location.clone()), format!("{key_path}.ref"), "`ref` requires `project`")
                        .with_hint("add `project: group/name`, or remove `ref`"),
                );
            }
            Some(Exists { paths, project, git_ref })
        }
        _ => {
            diags.push(Diagnostic::error(
                Some(value.location.clone()),
                key_path,
                format!("must be a path, a list of paths, or a mapping with `paths`, `project` and `ref`, not {}", value.type_name()),
            ));
            None
        }
    }
}

fn required_paths(map: &super::node::Map, value: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    match map.get("paths") {
        Some(paths) => path_list(paths, &format!("{key_path}.paths"), diags),
        None => {
            diags.push(
                Diagnostic::error(Some(value.location.clone()), key_path, "`paths` is required")
                    .with_hint("add `paths: [...]` with the globs to check"),
            );
            None
        }
    }
}

/// A list of at most [`MAX_PATHS`] strings.
fn path_list(node: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let Some(items) = node.as_seq() else {
        diags.push(Diagnostic::error(Some(node.location.clone()), key_path, format!("must be a list of paths, not {}", node.type_name())));
        return None;
    };
    if items.len() > MAX_PATHS {
        diags.push(Diagnostic::error(
            Some(node.location.clone()),
            key_path,
            format!("has too many entries ({}, at most {MAX_PATHS})", items.len()),
        ));
        return None;
    }
    let mut paths = Vec::new();
    for (i, item) in items.iter().enumerate() {
        paths.push(expect_string(item, &format!("{key_path}[{i}]"), diags)?);
    }
    Some(paths)
}

fn check_keys(map: &super::node::Map, allowed: &[&str], key_path: &str, diags: &mut Diagnostics) {
    for (key, _) in map.iter() {
        if !allowed.contains(&key.name.as_str()) {
            let hint = match did_you_mean(&key.name, allowed.iter().copied()) {
                Some(best) => format!("did you mean `{best}`? allowed keys: {}", keys_list(allowed)),
                None => format!("allowed keys: {}", keys_list(allowed)),
            };
            diags.push(
                Diagnostic::error(Some(key.location.clone()), format!("{key_path}.{}", key.name), format!("unknown key `{}`", key.name))
                    .with_hint(hint),
            );
        }
    }
}

fn parse_when(value: &Node, key_path: &str, kind: RulesKind, diags: &mut Diagnostics) -> Option<String> {
    let allowed = kind.allowed_when();
    let text = value.as_str().filter(|s| allowed.contains(s));
    if text.is_none() {
        let shown = value.scalar_to_string().map_or_else(|| value.type_name().to_owned(), |s| format!("`{s}`"));
        let hint = match value.as_str().and_then(|s| did_you_mean(s, allowed.iter().copied())) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("use one of {}", keys_list(allowed)),
        };
        diags.push(
            Diagnostic::error(
                Some(value.location.clone()),
                key_path,
                format!("`when` is {shown} but must be one of {} in {}", keys_list(allowed), kind.describe()),
            )
            .with_hint(hint),
        );
    }
    text.map(str::to_owned)
}

fn parse_start_in(value: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<String> {
    let text = match &value.value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => {
            diags.push(Diagnostic::error(Some(value.location.clone()), key_path, format!("must be a duration, not {}", value.type_name())));
            return None;
        }
    };
    const ONE_WEEK: u64 = 7 * 24 * 3600;
    match crate::ci::job::parse_duration(&text) {
        Some(seconds) if seconds <= ONE_WEEK => Some(text),
        Some(_) => {
            diags.push(Diagnostic::error(Some(value.location.clone()), key_path, format!("`{text}` is longer than the limit of 1 week")));
            None
        }
        None => {
            diags.push(
                Diagnostic::error(Some(value.location.clone()), key_path, format!("`{text}` is not a valid duration"))
                    .with_hint("write a duration such as `30 minutes`, `1 hour` or `2 days`"),
            );
            None
        }
    }
}

fn parse_variables(value: &Node, key_path: &str, diags: &mut Diagnostics) -> Vec<(String, String)> {
    let Some(map) = value.as_map() else {
        diags.push(Diagnostic::error(
            Some(value.location.clone()),
            key_path,
            format!("must be a mapping of variable names to values, not {}", value.type_name()),
        ));
        return Vec::new();
    };
    let mut variables = Vec::new();
    for (key, node) in map.iter() {
        let path = format!("{key_path}.{}", key.name);
        let scalar = match &node.value {
            Value::Str(_) | Value::Int(_) | Value::Float(_) => node.scalar_to_string(),
            Value::Map(m) => m.get("value").and_then(Node::scalar_to_string),
            _ => None,
        };
        match scalar {
            Some(s) => variables.push((key.name.clone(), s)),
            None => diags.push(
                Diagnostic::error(Some(node.location.clone()), path, format!("variable value must be a string or a number, not {}", node.type_name()))
                    .with_hint("quote the value, such as `\"true\"`"),
            ),
        }
    }
    variables
}

fn expect_bool(value: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<bool> {
    let b = value.as_bool();
    if b.is_none() {
        diags.push(Diagnostic::error(Some(value.location.clone()), key_path, format!("must be `true` or `false`, not {}", value.type_name())));
    }
    b
}

fn expect_string(value: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<String> {
    let s = value.as_str().map(str::to_owned);
    if s.is_none() {
        diags.push(Diagnostic::error(Some(value.location.clone()), key_path, format!("must be a string, not {}", value.type_name())));
    }
    s
}



#[cfg(test)]
pub(crate) mod tests;
