//! `!reference [key, subkey, ...]`: a YAML tag that is replaced by a copy of the node at that
//! path of the configuration, after `include` and `extends` (GitLab resolves tags after
//! `extends`, in `Config::Yaml::Tags::Resolver`).
//!
//! References inside the referenced node are resolved too, up to 10 levels of nesting (the
//! limit GitLab documents); cycles are errors. The substitution is literal: a reference
//! inside a sequence whose target is a sequence becomes a nested sequence, exactly as in
//! GitLab; the keywords that accept nested sequences (`script`, `rules`, `needs`, …) flatten
//! them where they are parsed.

use std::collections::BTreeMap;

use super::key_path::KeyPath;
use super::node::{Node, Value};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// How many `!reference` tags may be nested inside one another (a reference whose target
/// holds a reference is two levels).
pub const MAX_REFERENCE_DEPTH: usize = 10;

/// Replaces every [`Value::Reference`] in `config` by a copy of the node it names. A
/// replaced node keeps the location of the referenced node, so later errors point at the
/// text that was written.
///
/// # Errors
/// Pushed to `diags` and located at the `!reference` tag: an empty path, a path that does not
/// exist (naming the first missing key, with a did-you-mean hint), a path through something
/// that is not a mapping, a null target (GitLab: "could not be found"), a cycle, and nesting
/// deeper than [`MAX_REFERENCE_DEPTH`]. A failed reference is replaced by `null`.
pub fn resolve(config: &mut Node, diags: &mut Diagnostics) {
    // Resolve against the configuration as written, then substitute: targets are read from
    // the unresolved tree, so nothing is copied but the targets themselves.
    let mut resolved = Vec::new();
    let mut resolver = Resolver { source: config, memo: BTreeMap::new(), stack: Vec::new(), diags };
    resolver.collect(config, &KeyPath::ROOT, &mut resolved);
    substitute(config, &mut resolved.into_iter());
}

/// A reference resolved: the substituted node and how many reference levels it spans
/// (itself included).
type Resolved = Option<(Node, usize)>;

struct Resolver<'a> {
    source: &'a Node,
    memo: BTreeMap<Vec<String>, Resolved>,
    stack: Vec<Vec<String>>,
    diags: &'a mut Diagnostics,
}

impl Resolver<'_> {
    /// Resolves the references under `node`, in document order, into `out` (`None` for one
    /// that failed); returns the deepest reference level found.
    fn collect(&mut self, node: &Node, key_path: &KeyPath<'_>, out: &mut Vec<Option<Node>>) -> usize {
        match &node.value {
            Value::Reference(path) => match self.reference(path, &node.location, key_path) {
                Some((resolved, height)) => {
                    out.push(Some(resolved));
                    height
                }
                None => {
                    out.push(None);
                    0
                }
            },
            Value::Seq(items) => {
                let mut height = 0;
                for (i, item) in items.iter().enumerate() {
                    height = height.max(self.collect(item, &key_path.index(i), out));
                }
                height
            }
            Value::Map(map) => {
                let mut height = 0;
                for (key, value) in map.iter() {
                    height = height.max(self.collect(value, &key_path.key(&key.name), out));
                }
                height
            }
            _ => 0,
        }
    }

    fn reference(&mut self, path: &[String], at: &Location, key_path: &KeyPath<'_>) -> Resolved {
        let tag = show(path);
        if path.is_empty() {
            self.error(at, key_path, format!("{tag} is not valid: it needs at least one key"), None);
            return None;
        }
        if let Some(start) = self.stack.iter().position(|p| p == path) {
            let mut chain: Vec<String> = self.stack[start..].iter().map(|p| show(p)).collect();
            chain.push(tag.clone());
            self.error(at, key_path, format!("{tag} is part of a circular chain: {}", chain.join(" -> ")), None);
            return None;
        }
        let resolved = match self.memo.get(path) {
            Some(done) => done.clone(),
            None => {
                let done = self.resolve_target(path, at, key_path);
                self.memo.insert(path.to_vec(), done.clone());
                done
            }
        };
        let (node, height) = resolved?;
        if self.stack.len() + height > MAX_REFERENCE_DEPTH {
            let hint = "reference the final keys directly instead of a key that is itself a `!reference`";
            let message = format!("{tag} is nested more than {MAX_REFERENCE_DEPTH} levels deep");
            self.error(at, key_path, message, Some(hint));
            return None;
        }
        Some((node, height))
    }

    fn resolve_target(&mut self, path: &[String], at: &Location, key_path: &KeyPath<'_>) -> Resolved {
        let target = match dig(self.source, path) {
            Ok(target) => target,
            Err((message, hint)) => {
                self.error(at, key_path, format!("{}: {message}", show(path)), hint.as_deref());
                return None;
            }
        };
        self.stack.push(path.to_vec());
        let mut inner_resolved = Vec::new();
        let inner = self.collect(target, &KeyPath::Text(&path.join(".")), &mut inner_resolved);
        self.stack.pop();
        let mut target = target.clone();
        substitute(&mut target, &mut inner_resolved.into_iter());
        Some((target, inner + 1))
    }

    fn error(&mut self, at: &Location, key_path: &KeyPath<'_>, message: String, hint: Option<&str>) {
        let mut d = Diagnostic::error(Some(at.clone()), key_path.to_string(), message);
        if let Some(hint) = hint {
            d = d.with_hint(hint);
        }
        self.diags.push(d);
    }
}

/// Replaces the references under `node`, in document order, by what [`Resolver::collect`]
/// found for them; a failed one becomes `null`.
fn substitute(node: &mut Node, resolved: &mut impl Iterator<Item = Option<Node>>) {
    match &mut node.value {
        Value::Reference(_) => match resolved.next().flatten() {
            Some(replacement) => *node = replacement,
            None => node.value = Value::Null,
        },
        Value::Seq(items) => items.iter_mut().for_each(|item| substitute(item, resolved)),
        Value::Map(map) => map.iter_mut().for_each(|(_, value)| substitute(value, resolved)),
        _ => {}
    }
}

/// The node at `path` in `root`, or what is wrong (message, hint).
fn dig<'n>(root: &'n Node, path: &[String]) -> Result<&'n Node, (String, Option<String>)> {
    let mut current = root;
    for (i, key) in path.iter().enumerate() {
        let here = path[..i].join(".");
        let Some(map) = current.as_map() else {
            return Err((format!("`{here}` is {}, not a mapping with key `{key}`", current.type_name()), None));
        };
        match map.get(key) {
            Some(next) => current = next,
            None => {
                let message = if i == 0 { format!("`{key}` does not exist") } else { format!("`{here}` has no key `{key}`") };
                let hint = crate::diagnostic::did_you_mean(key, map.keys()).map(|s| format!("did you mean `{s}`?"));
                return Err((message, hint));
            }
        }
    }
    match current.value {
        // GitLab raises "could not be found" for any falsy target.
        Value::Null => Err((format!("`{}` is null, which cannot be referenced", path.join(".")), None)),
        Value::Bool(false) => Err((format!("`{}` is `false`, which cannot be referenced", path.join(".")), None)),
        _ => Ok(current),
    }
}

/// `!reference [a, b]` as written.
fn show(path: &[String]) -> String {
    format!("!reference [{}]", path.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::yaml;
    use serde_json::json;

    fn run(text: &str) -> (serde_json::Value, Diagnostics) {
        let mut config = yaml::load("t.yml", text).expect("valid YAML").config;
        let mut diags = Diagnostics::new();
        resolve(&mut config, &mut diags);
        (config.to_json(), diags)
    }

    fn messages(diags: &Diagnostics) -> Vec<&str> {
        diags.0.iter().map(|d| d.message.as_str()).collect()
    }

    #[test]
    fn scripts_variables_and_rules_are_substituted() {
        let (out, diags) = run("
.setup:
  script: [a, b]
  variables: {X: '1'}
  rules:
    - if: $A
job:
  script:
    - !reference [.setup, script]
    - c
  variables: !reference [.setup, variables]
  rules:
    - !reference [.setup, rules]
    - when: never
");
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(
            out["job"],
            json!({"script": [["a", "b"], "c"], "variables": {"X": "1"}, "rules": [[{"if": "$A"}], {"when": "never"}]})
        );
    }

    fn nest(levels: usize) -> String {
        let mut text = ".r1:\n  v: end\n".to_owned();
        for i in 2..=levels {
            text.push_str(&format!(".r{i}:\n  v: !reference [.r{}, v]\n", i - 1));
        }
        text.push_str(&format!("job:\n  script:\n    - !reference [.r{levels}, v]\n"));
        text
    }

    #[test]
    fn references_inside_targets_resolve_and_ten_levels_are_the_limit() {
        let (out, diags) = run(&nest(10));
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(out["job"]["script"], json!(["end"]));
        let (_, diags) = run(&nest(11));
        assert!(!diags.is_empty());
        assert!(diags.0.iter().all(|d| d.message.contains("is nested more than 10 levels deep")), "{diags}");
    }

    #[test]
    fn missing_key_names_what_is_missing() {
        let (out, diags) = run("
.setup:
  scripts: [a]
job:
  script:
    - !reference [.setup, script]
");
        assert_eq!(diags.0.len(), 1);
        let d = &diags.0[0];
        assert_eq!(d.key_path, "job.script[0]");
        assert_eq!(d.message, "!reference [.setup, script]: `.setup` has no key `script`");
        assert_eq!(d.hint.as_deref(), Some("did you mean `scripts`?"));
        assert_eq!(d.location.as_ref().map(|l| l.line), Some(6));
        assert_eq!(out["job"]["script"], json!([null]));
    }

    #[test]
    fn missing_top_level_key_and_non_mapping_path() {
        let (_, diags) = run("
.setup:
  script: [a]
a: {x: !reference [.nope, script]}
b: {x: !reference [.setup, script, more]}
");
        assert_eq!(
            messages(&diags),
            [
                "!reference [.nope, script]: `.nope` does not exist",
                "!reference [.setup, script, more]: `.setup.script` is a sequence, not a mapping with key `more`",
            ]
        );
    }

    #[test]
    fn cycles_are_errors() {
        let (_, diags) = run("
.a: {x: !reference [.b, x]}
.b: {x: !reference [.a, x]}
");
        assert_eq!(
            messages(&diags),
            ["!reference [.b, x] is part of a circular chain: !reference [.b, x] -> !reference [.a, x] -> !reference [.b, x]"]
        );
    }

    #[test]
    fn null_target_is_an_error_like_gitlab() {
        let (_, diags) = run(".a: {x: null}\njob: {y: !reference [.a, x]}\n");
        assert_eq!(messages(&diags), ["!reference [.a, x]: `.a.x` is null, which cannot be referenced"]);
    }

    #[test]
    fn empty_path_is_invalid() {
        let mut config = yaml::load("t.yml", "job: {x: 1}\n").expect("yaml").config;
        if let Some(job) = config.as_map_mut().and_then(|m| m.get_mut("job")) {
            job.value = Value::Reference(Vec::new());
        }
        let mut diags = Diagnostics::new();
        resolve(&mut config, &mut diags);
        assert_eq!(messages(&diags), ["!reference [] is not valid: it needs at least one key"]);
    }
}
