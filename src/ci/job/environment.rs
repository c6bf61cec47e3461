//! `environment:`, `trigger:` and `release:` (GitLab `Entry::Environment`, `Entry::Trigger`,
//! `Entry::Release`): where a job deploys, which downstream pipeline it starts, which release
//! it creates.

use super::artifacts::expiry;
use super::value::{boolean, check_keys, child, error, expected, item, mapping, one_of, string, strings};
use crate::ci::keywords::{
    DEPLOYMENT_TIERS, ENVIRONMENT_ACTIONS, ENVIRONMENT_KEYWORDS, FORWARD_KEYWORDS, RELEASE_KEYWORDS, TRIGGER_INCLUDE_KEYWORDS,
    TRIGGER_KEYWORDS, TRIGGER_STRATEGIES,
};
use crate::ci::node::{Map, Node, Value};
use crate::ci::pipeline::{Environment, Release, Trigger};
use crate::diagnostic::Diagnostics;

/// Longest environment URL.
const MAX_URL: usize = 255;
/// Most `trigger:include` files.
const MAX_TRIGGER_INCLUDES: usize = 3;

/// Parses `environment:`.
pub(crate) fn environment(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Environment> {
    let mut out = Environment {
        name: String::new(),
        url: None,
        action: "start".into(),
        deployment_tier: None,
        auto_stop_in: None,
        on_stop: None,
        kubernetes: None,
    };
    let map = match &node.value {
        Value::Str(name) => {
            out.name = env_name(name, node, path, diags)?;
            return Some(out);
        }
        Value::Map(map) => map,
        _ => {
            expected(diags, node, path, "an environment name or a mapping with `name`");
            return None;
        }
    };
    let mut ok = check_keys(map, ENVIRONMENT_KEYWORDS, path, diags);
    match map.get("name") {
        Some(name) => {
            let at = child(path, "name");
            match string(name, &at, diags).and_then(|n| env_name(&n, name, &at, diags)) {
                Some(n) => out.name = n,
                None => ok = false,
            }
        }
        None => {
            error(diags, &node.location, path, "missing `name`");
            ok = false;
        }
    }
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        ok &= match key.name.as_str() {
            "url" => url(value, &at, diags).map(|v| out.url = Some(v)).is_some(),
            "action" => one_of(value, &at, ENVIRONMENT_ACTIONS, diags).map(|v| out.action = v).is_some(),
            "deployment_tier" => one_of(value, &at, DEPLOYMENT_TIERS, diags).map(|v| out.deployment_tier = Some(v)).is_some(),
            "auto_stop_in" => expiry(value, &at, diags).map(|v| out.auto_stop_in = Some(v)).is_some(),
            "on_stop" => string(value, &at, diags).map(|v| out.on_stop = Some(v)).is_some(),
            "kubernetes" => mapping(value, &at, "a mapping", diags).map(|_| out.kubernetes = Some(value.to_json())).is_some(),
            _ => true,
        };
    }
    ok.then_some(out)
}

/// GitLab's environment name rule: letters, digits, spaces, `-`, `_`, `/`, `$`, `{`, `}`, `.`;
/// not starting or ending with `/`.
fn env_name(name: &str, node: &Node, path: &str, diags: &mut Diagnostics) -> Option<String> {
    let chars_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || " -_/${}.".contains(c));
    if name.is_empty() || !chars_ok || name.starts_with('/') || name.ends_with('/') {
        error(
            diags,
            &node.location,
            path,
            format!("invalid environment name `{name}`: use letters, digits, `-`, `_`, `/`, `$`, `{{`, `}}`, `.` and spaces, not starting or ending with `/`"),
        );
        return None;
    }
    Some(name.to_string())
}

fn url(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<String> {
    let text = string(node, path, diags)?;
    if text.chars().count() > MAX_URL {
        error(diags, &node.location, path, format!("is too long (at most {MAX_URL} characters)"));
        return None;
    }
    Some(text)
}

/// Parses `trigger:`: a project path, or a mapping with `project` (multi-project) or
/// `include` (child pipeline).
pub(crate) fn trigger(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Trigger> {
    let mut out = Trigger {
        project: None,
        branch: None,
        include: Vec::new(),
        strategy: None,
        forward_yaml_variables: true,
        forward_pipeline_variables: false,
        inputs: None,
    };
    let map = match &node.value {
        Value::Str(project) => {
            out.project = Some(project.clone());
            return Some(out);
        }
        Value::Map(map) => map,
        _ => {
            expected(diags, node, path, "a project path or a mapping with `project` or `include`");
            return None;
        }
    };
    let mut ok = check_keys(map, TRIGGER_KEYWORDS, path, diags);
    match (map.key("project"), map.key("include")) {
        (Some(_), Some(include)) => {
            error(diags, &include.location, path, "`project` and `include` cannot be used together");
            ok = false;
        }
        (None, None) => {
            error(diags, &node.location, path, "missing `project` (multi-project pipeline) or `include` (child pipeline)");
            ok = false;
        }
        (None, Some(_)) if map.key("branch").is_some() => {
            error(diags, &node.location, &child(path, "branch"), "can only be used with `project`");
            ok = false;
        }
        _ => {}
    }
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        ok &= match key.name.as_str() {
            "project" => string(value, &at, diags).map(|v| out.project = Some(v)).is_some(),
            "branch" => string(value, &at, diags).map(|v| out.branch = Some(v)).is_some(),
            "strategy" => one_of(value, &at, TRIGGER_STRATEGIES, diags).map(|v| out.strategy = Some(v)).is_some(),
            "include" => trigger_includes(value, &at, diags).map(|v| out.include = v).is_some(),
            "forward" => forward(value, &at, &mut out, diags),
            "inputs" => mapping(value, &at, "a mapping of input names to values", diags).map(|_| out.inputs = Some(value.to_json())).is_some(),
            _ => true,
        };
    }
    ok.then_some(out)
}

fn forward(node: &Node, path: &str, out: &mut Trigger, diags: &mut Diagnostics) -> bool {
    let Some(map) = mapping(node, path, "a mapping with `yaml_variables` and/or `pipeline_variables`", diags) else { return false };
    let mut ok = check_keys(map, FORWARD_KEYWORDS, path, diags);
    if let Some(v) = map.get("yaml_variables") {
        ok &= boolean(v, &child(path, "yaml_variables"), diags).map(|b| out.forward_yaml_variables = b).is_some();
    }
    if let Some(v) = map.get("pipeline_variables") {
        ok &= boolean(v, &child(path, "pipeline_variables"), diags).map(|b| out.forward_pipeline_variables = b).is_some();
    }
    ok
}

/// `trigger:include`: a local file path, or a list of at most 3 files (`local`, `template`,
/// `artifact` + `job`, `project` + `file` [+ `ref`]), kept as written (strings become `{local}`).
fn trigger_includes(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<serde_json::Value>> {
    if let Value::Str(local) = &node.value {
        return Some(vec![serde_json::json!({ "local": local })]);
    }
    let Some(list) = node.as_seq() else {
        expected(diags, node, path, "a file path or a list of files");
        return None;
    };
    if list.is_empty() || list.len() > MAX_TRIGGER_INCLUDES {
        error(diags, &node.location, path, format!("must list from 1 to {MAX_TRIGGER_INCLUDES} files, found {}", list.len()));
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, entry) in list.iter().enumerate() {
        let at = item(path, i);
        match &entry.value {
            Value::Str(local) => out.push(serde_json::json!({ "local": local })),
            Value::Map(map) => {
                ok &= trigger_include(map, entry, &at, diags);
                out.push(entry.to_json());
            }
            _ => {
                expected(diags, entry, &at, "a file path or a mapping with `local`, `template`, `artifact` or `project`");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn trigger_include(map: &Map, node: &Node, path: &str, diags: &mut Diagnostics) -> bool {
    let mut ok = check_keys(map, TRIGGER_INCLUDE_KEYWORDS, path, diags);
    let sources: Vec<&str> = ["local", "template", "artifact", "project"].into_iter().filter(|k| map.contains_key(k)).collect();
    if sources.len() != 1 {
        error(diags, &node.location, path, "must use exactly one of `local`, `template`, `artifact`, `project`");
        return false;
    }
    let needs = match sources[0] {
        "artifact" => Some("job"),
        "project" => Some("file"),
        _ => None,
    };
    if let Some(needed) = needs
        && !map.contains_key(needed) {
            error(diags, &node.location, path, format!("`{}` needs `{needed}`", sources[0]));
            ok = false;
        }
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        ok &= match key.name.as_str() {
            "file" => matches!(value.value, Value::Str(_)) || strings(value, &at, diags).is_some(),
            "inputs" => mapping(value, &at, "a mapping", diags).is_some(),
            _ => string(value, &at, diags).is_some(),
        };
    }
    ok
}

/// Parses `release:`; `tag_name` and `description` are required.
pub(crate) fn release(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Release> {
    let map = mapping(node, path, "a mapping with `tag_name` and `description`", diags)?;
    let mut ok = check_keys(map, RELEASE_KEYWORDS, path, diags);
    let required = |key: &str, diags: &mut Diagnostics| match map.get(key) {
        Some(value) => string(value, &child(path, key), diags),
        None => {
            error(diags, &node.location, path, format!("missing `{key}`"));
            None
        }
    };
    let tag_name = required("tag_name", diags);
    let description = required("description", diags);
    ok &= tag_name.is_some() && description.is_some();
    let mut out = Release {
        tag_name: tag_name.unwrap_or_default(),
        tag_message: None,
        name: None,
        description: description.unwrap_or_default(),
        git_ref: None,
        milestones: Vec::new(),
        released_at: None,
        assets: None,
    };
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        ok &= match key.name.as_str() {
            "tag_message" => string(value, &at, diags).map(|v| out.tag_message = Some(v)).is_some(),
            "name" => string(value, &at, diags).map(|v| out.name = Some(v)).is_some(),
            "ref" => string(value, &at, diags).map(|v| out.git_ref = Some(v)).is_some(),
            "released_at" => string(value, &at, diags).map(|v| out.released_at = Some(v)).is_some(),
            "milestones" => strings(value, &at, diags).map(|v| out.milestones = v).is_some(),
            "assets" => assets(value, &at, diags).map(|v| out.assets = Some(v)).is_some(),
            _ => true,
        };
    }
    ok.then_some(out)
}

/// `release:assets`: `{links: [{name, url, filepath?, direct_asset_path?, link_type?}]}`.
fn assets(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<serde_json::Value> {
    let map = mapping(node, path, "a mapping with `links`", diags)?;
    let mut ok = check_keys(map, &["links"], path, diags);
    let links_path = child(path, "links");
    let Some(links) = map.get("links") else {
        error(diags, &node.location, path, "missing `links`");
        return None;
    };
    let Some(list) = links.as_seq() else {
        expected(diags, links, &links_path, "a list of links");
        return None;
    };
    for (i, link) in list.iter().enumerate() {
        let at = item(&links_path, i);
        let Some(link_map) = mapping(link, &at, "a mapping with `name` and `url`", diags) else {
            ok = false;
            continue;
        };
        ok &= check_keys(link_map, &["name", "url", "filepath", "direct_asset_path", "link_type"], &at, diags);
        for key in ["name", "url"] {
            if !link_map.contains_key(key) {
                error(diags, &link.location, &at, format!("missing `{key}`"));
                ok = false;
            }
        }
        for (key, value) in link_map.iter() {
            let p = child(&at, &key.name);
            ok &= match key.name.as_str() {
                "link_type" => one_of(value, &p, &["other", "runbook", "image", "package"], diags).is_some(),
                _ => string(value, &p, diags).is_some(),
            };
        }
    }
    ok.then(|| node.to_json())
}
