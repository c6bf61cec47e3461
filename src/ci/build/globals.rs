//! The global keywords of a configuration: `stages`, `variables`, `default` (with the
//! deprecated top-level `image`, `services`, `cache`, `before_script`, `after_script`) and
//! `workflow`. Everything else at the top level is a job or a hidden template.

use crate::diagnostic::did_you_mean;
use crate::ci::job::{self, VariableScope};
use crate::ci::keywords::{DEPRECATED_GLOBAL_KEYWORDS, WORKFLOW_KEYWORDS};
use crate::ci::node::{Key, Map, Node, Value};
use crate::ci::pipeline::{AutoCancel, JobVariable};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// GitLab's default stages.
pub const DEFAULT_STAGES: [&str; 3] = ["build", "test", "deploy"];

/// The global keywords, validated.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// Stages in order, `.pre` first and `.post` last.
    pub stages: Vec<String>,
    /// Where `stages:` is written, if it is.
    pub stages_location: Option<Location>,
    /// Global `variables:`, in order.
    pub variables: Vec<(String, JobVariable)>,
    /// `default:` with the deprecated top-level keywords merged in.
    pub default: Option<Node>,
    /// `workflow:`, if given.
    pub workflow: Workflow,
}

/// `workflow:`, kept mostly raw for the rules parser.
#[derive(Debug, Clone, Default)]
pub struct Workflow {
    /// `workflow:rules`, as written.
    pub rules: Option<Node>,
    /// `workflow:name`, unexpanded.
    pub name: Option<String>,
    /// `workflow:auto_cancel`, as far as given.
    pub auto_cancel: AutoCancelSettings,
}

/// The settings of an `auto_cancel:` mapping; `None` where a key is not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutoCancelSettings {
    /// `on_new_commit`.
    pub on_new_commit: Option<AutoCancel>,
    /// `on_job_failure`: `all` is `true`, `none` is `false`.
    pub on_job_failure: Option<bool>,
}

impl AutoCancelSettings {
    /// These settings, with `fallback`'s where these give none (a `workflow:rules` entry's
    /// over `workflow:`'s, as GitLab merges them).
    pub fn or(self, fallback: AutoCancelSettings) -> AutoCancelSettings {
        AutoCancelSettings {
            on_new_commit: self.on_new_commit.or(fallback.on_new_commit),
            on_job_failure: self.on_job_failure.or(fallback.on_job_failure),
        }
    }
}

/// Reads the global keywords of the top-level mapping `map`.
pub fn read(map: &Map, diags: &mut Diagnostics) -> Globals {
    let (stages, stages_location) = match map.get("stages") {
        Some(node) => (stages(node, diags), Some(node.location.clone())),
        None => (with_edges(DEFAULT_STAGES.iter().map(|s| (*s).to_owned()).collect()), None),
    };
    Globals {
        stages,
        stages_location,
        variables: map
            .get("variables")
            .and_then(|v| job::parse_variables(v, "variables", VariableScope::Global, diags))
            .unwrap_or_default(),
        default: default(map, diags),
        workflow: map.get("workflow").map(|w| workflow(w, diags)).unwrap_or_default(),
    }
}

/// `.pre` first, `.post` last, whatever `stages` says about them (GitLab's
/// `EdgeStagesInjector`); duplicates keep their first position.
fn with_edges(stages: Vec<String>) -> Vec<String> {
    let mut out = vec![".pre".to_owned()];
    for stage in stages {
        if stage != ".pre" && stage != ".post" && !out.contains(&stage) {
            out.push(stage);
        }
    }
    out.push(".post".to_owned());
    out
}

fn stages(node: &Node, diags: &mut Diagnostics) -> Vec<String> {
    let mut names = Vec::new();
    match &node.value {
        Value::Seq(items) => flatten_strings(items, "stages", &mut names, diags),
        Value::Null => {}
        _ => diags.push(
            Diagnostic::error(Some(node.location.clone()), "stages", format!("`stages` must be a sequence of stage names, not {}", node.type_name()))
                .with_hint("write `stages: [build, test, deploy]`"),
        ),
    }
    with_edges(names)
}

/// Strings of a sequence, nested sequences (from `!reference`) flattened.
fn flatten_strings(items: &[Node], path: &str, out: &mut Vec<String>, diags: &mut Diagnostics) {
    for (i, item) in items.iter().enumerate() {
        match &item.value {
            Value::Str(s) => out.push(s.clone()),
            Value::Seq(inner) => flatten_strings(inner, path, out, diags),
            _ => diags.push(Diagnostic::error(
                Some(item.location.clone()),
                format!("{path}[{i}]"),
                format!("a stage name must be a string, not {}", item.type_name()),
            )),
        }
    }
}

fn type_error(node: &Node, path: &str, expected: &str, diags: &mut Diagnostics) -> bool {
    diags.push(Diagnostic::error(Some(node.location.clone()), path, format!("must be {expected}, not {}", node.type_name())));
    false
}

fn unknown_key(key: &Key, path: &str, allowed: &[&str]) -> Diagnostic {
    let d = Diagnostic::error(Some(key.location.clone()), path, format!("unknown key `{}`", key.name));
    match did_you_mean(&key.name, allowed.iter().copied()) {
        Some(s) => d.with_hint(format!("did you mean `{s}`?")),
        None => d.with_hint(format!("allowed keys: {}", allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))),
    }
}

/// `default:`, with each deprecated top-level keyword moved in (GitLab: defining one at the
/// top level and in `default:` is an error).
fn default(map: &Map, diags: &mut Diagnostics) -> Option<Node> {
    let mut default = match map.get("default") {
        Some(node) if node.as_map().is_some() => node.clone(),
        Some(node) if node.is_null() => Node::new(Value::Map(Map::new()), node.location.clone()),
        Some(node) => {
            diags.push(Diagnostic::error(Some(node.location.clone()), "default", format!("`default` must be a mapping, not {}", node.type_name())));
            return None;
        }
        None => Node::new(Value::Map(Map::new()), Location::new("", 0, 0)),
    };
    let given = map.contains_key("default");
    let mut moved = false;
    for keyword in DEPRECATED_GLOBAL_KEYWORDS {
        let (Some(key), Some(value)) = (map.key(keyword), map.get(keyword)) else { continue };
        let Some(target) = default.as_map_mut() else { continue };
        if target.contains_key(keyword) {
            diags.push(
                Diagnostic::error(Some(key.location.clone()), *keyword, format!("`{keyword}` is defined at the top level and in `default:`"))
                    .with_hint(format!("keep only `default:{keyword}`; top-level `{keyword}` is deprecated")),
            );
            continue;
        }
        target.insert(key.clone(), value.clone());
        moved = true;
    }
    if given || moved {
        job::validate_default(&default, diags);
    }
    (given || moved).then_some(default)
}

fn workflow(node: &Node, diags: &mut Diagnostics) -> Workflow {
    let Some(map) = node.as_map() else {
        if !node.is_null() {
            diags.push(Diagnostic::error(Some(node.location.clone()), "workflow", format!("`workflow` must be a mapping, not {}", node.type_name())));
        }
        return Workflow::default();
    };
    for (key, _) in map.iter().filter(|(k, _)| !WORKFLOW_KEYWORDS.contains(&k.name.as_str())) {
        diags.push(unknown_key(key, "workflow", WORKFLOW_KEYWORDS));
    }
    let name = map.get("name").and_then(|n| match &n.value {
        Value::Str(s) => Some(s.clone()),
        Value::Null => None,
        _ => {
            type_error(n, "workflow.name", "a string", diags);
            None
        }
    });
    let auto_cancel = map.get("auto_cancel").map(|n| auto_cancel(n, "workflow.auto_cancel", diags)).unwrap_or_default();
    Workflow { rules: map.get("rules").cloned(), name, auto_cancel }
}

/// An `auto_cancel:` mapping (`workflow:` or a `workflow:rules` entry): its
/// `on_new_commit` and `on_job_failure` settings, where given and valid.
pub(super) fn auto_cancel(node: &Node, path: &str, diags: &mut Diagnostics) -> AutoCancelSettings {
    const KEYS: &[&str] = &["on_new_commit", "on_job_failure"];
    let Some(map) = node.as_map() else {
        type_error(node, path, "a mapping", diags);
        return AutoCancelSettings::default();
    };
    for (key, _) in map.iter().filter(|(k, _)| !KEYS.contains(&k.name.as_str())) {
        diags.push(unknown_key(key, path, KEYS));
    }
    let on_job_failure = map.get("on_job_failure").and_then(|n| match &n.value {
        Value::Str(s) if s == "all" => Some(true),
        Value::Str(s) if s == "none" => Some(false),
        _ => {
            let message = "must be `all` or `none`";
            diags.push(Diagnostic::error(Some(n.location.clone()), format!("{path}.on_job_failure"), message));
            None
        }
    });
    let on_new_commit = map.get("on_new_commit").and_then(|n| {
        let setting = match &n.value {
            Value::Str(word) => AutoCancel::from_word(word),
            _ => None,
        };
        if setting.is_none() {
            let message = "must be `conservative`, `interruptible` or `none`";
            diags.push(Diagnostic::error(Some(n.location.clone()), format!("{path}.on_new_commit"), message));
        }
        setting
    });
    AutoCancelSettings { on_new_commit, on_job_failure }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn globals(config: serde_json::Value) -> (Globals, Diagnostics) {
        let config = crate::ci::yaml::load("t.yml", &config.to_string()).expect("yaml").config;
        let mut diags = Diagnostics::new();
        let empty = Map::new();
        let globals = read(config.as_map().unwrap_or(&empty), &mut diags);
        (globals, diags)
    }

    #[test]
    fn default_stages_and_edges() {
        let (g, _) = globals(json!({}));
        assert_eq!(g.stages, [".pre", "build", "test", "deploy", ".post"]);
        let (g, d) = globals(json!({"stages": [".post", "lint", [".pre", "ship"], "lint"]}));
        assert!(d.is_empty());
        assert_eq!(g.stages, [".pre", "lint", "ship", ".post"]);
        let (_, d) = globals(json!({"stages": "build"}));
        assert_eq!(d.0[0].message, "`stages` must be a sequence of stage names, not a string");
    }

    #[test]
    fn variables_simple_and_complex() {
        let (g, d) = globals(json!({"variables": {
            "A": "x", "N": 3,
            "C": {"value": "b", "description": "pick", "options": ["a", "b"], "expand": false},
        }}));
        assert!(d.is_empty(), "{d}");
        let values: Vec<(&str, &str, bool)> = g.variables.iter().map(|(n, v)| (n.as_str(), v.value.as_str(), v.expand)).collect();
        assert_eq!(values, [("A", "x", true), ("N", "3", true), ("C", "b", false)]);
        let (g, d) = globals(json!({"variables": {"D": {"vaule": 1}}}));
        assert!(d.has_errors());
        assert!(g.variables.is_empty());
    }

    #[test]
    fn deprecated_globals_move_into_default() {
        let (g, d) = globals(json!({"image": "ruby", "default": {"tags": ["x"]}}));
        assert!(d.is_empty());
        assert_eq!(g.default.map(|n| n.to_json()), Some(json!({"tags": ["x"], "image": "ruby"})));
        let (_, d) = globals(json!({"image": "ruby", "default": {"image": "go"}}));
        assert_eq!(d.0[0].message, "`image` is defined at the top level and in `default:`");
    }

    #[test]
    fn workflow_keys_are_checked() {
        let (g, d) = globals(json!({"workflow": {"name": "P $X", "rulez": []}}));
        assert_eq!(g.workflow.name.as_deref(), Some("P $X"));
        assert_eq!(d.0[0].message, "unknown key `rulez`");
        assert_eq!(d.0[0].hint.as_deref(), Some("did you mean `rules`?"));
    }
}
