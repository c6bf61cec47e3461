//! `image:` and `services:` (GitLab `Entry::Image`, `Entry::Services`, `Entry::Service`):
//! a name, or a mapping with `name` and container options.

use super::value::{check_keys, child, error, expected, item, mapping, one_of, scalar_map, string, strings};
use crate::ci::keywords::{IMAGE_KEYWORDS, PULL_POLICIES, SERVICE_KEYWORDS};
use crate::ci::node::{Map, Node, Value};
use crate::ci::pipeline::{Image, Service};
use crate::diagnostic::Diagnostics;

/// Parses `image:`.
pub(crate) fn image(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Image> {
    let blank = |name: String| Image { name, entrypoint: None, pull_policy: Vec::new(), executor_opts: None };
    match &node.value {
        Value::Str(name) => Some(blank(name.clone())),
        Value::Map(map) => {
            let mut ok = check_keys(map, IMAGE_KEYWORDS, path, diags);
            let name = required_name(map, node, path, diags);
            let mut out = blank(name.clone().unwrap_or_default());
            ok &= name.is_some();
            ok &= common(map, path, &mut out.entrypoint, &mut out.pull_policy, diags);
            let opts: serde_json::Map<String, serde_json::Value> = ["docker", "kubernetes"]
                .iter()
                .filter_map(|k| map.get(k).map(|v| (k.to_string(), v.to_json())))
                .collect();
            for key in ["docker", "kubernetes"] {
                if let Some(value) = map.get(key) {
                    ok &= mapping(value, &child(path, key), "a mapping", diags).is_some();
                }
            }
            out.executor_opts = (!opts.is_empty()).then_some(serde_json::Value::Object(opts));
            ok.then_some(out)
        }
        _ => {
            expected(diags, node, path, "an image name or a mapping with `name`");
            None
        }
    }
}

/// Parses `services:`: a list of names or mappings with `name`.
pub(crate) fn services(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<Service>> {
    let Some(list) = node.as_seq() else {
        expected(diags, node, path, "a list of service images");
        return None;
    };
    let parsed: Vec<Option<Service>> = list.iter().enumerate().map(|(i, n)| service(n, &item(path, i), diags)).collect();
    parsed.into_iter().collect()
}

fn service(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Service> {
    let blank = |name: String| Service {
        name,
        alias: None,
        entrypoint: None,
        command: None,
        variables: Vec::new(),
        pull_policy: Vec::new(),
    };
    let map = match &node.value {
        Value::Str(name) => return Some(blank(name.clone())),
        Value::Map(map) => map,
        _ => {
            expected(diags, node, path, "a service image name or a mapping with `name`");
            return None;
        }
    };
    let mut ok = check_keys(map, SERVICE_KEYWORDS, path, diags);
    let name = required_name(map, node, path, diags);
    ok &= name.is_some();
    let mut out = blank(name.unwrap_or_default());
    ok &= common(map, path, &mut out.entrypoint, &mut out.pull_policy, diags);
    if let Some(value) = map.get("alias") {
        out.alias = string(value, &child(path, "alias"), diags);
        ok &= out.alias.is_some();
    }
    if let Some(value) = map.get("command") {
        out.command = strings(value, &child(path, "command"), diags);
        ok &= out.command.is_some();
    }
    if let Some(value) = map.get("variables") {
        match scalar_map(value, &child(path, "variables"), diags) {
            Some(vars) => out.variables = vars,
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn required_name(map: &Map, node: &Node, path: &str, diags: &mut Diagnostics) -> Option<String> {
    match map.get("name") {
        Some(name) => string(name, &child(path, "name"), diags),
        None => {
            error(diags, &node.location, path, "missing `name`: the image to use");
            None
        }
    }
}

/// `entrypoint` and `pull_policy`, shared by images and services.
fn common(map: &Map, path: &str, entrypoint: &mut Option<Vec<String>>, pull_policy: &mut Vec<String>, diags: &mut Diagnostics) -> bool {
    let mut ok = true;
    if let Some(value) = map.get("entrypoint") {
        *entrypoint = strings(value, &child(path, "entrypoint"), diags);
        ok &= entrypoint.is_some();
    }
    if let Some(value) = map.get("pull_policy") {
        let at = child(path, "pull_policy");
        let items: Vec<(String, &Node)> = match value.as_seq() {
            Some(list) => list.iter().enumerate().map(|(i, n)| (item(&at, i), n)).collect(),
            None => vec![(at, value)],
        };
        for (p, n) in items {
            match one_of(n, &p, PULL_POLICIES, diags) {
                Some(policy) => pull_policy.push(policy),
                None => ok = false,
            }
        }
    }
    ok
}
