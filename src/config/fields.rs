//! Reading located YAML mappings field by field, reporting every problem as a located
//! [`Diagnostic`] and carrying on, so that one pass over a file finds all of its errors.
//!
//! Every reader returns `None` after reporting; callers skip what they cannot read and go on
//! with the next field. A `null` value (`key:` with nothing after it) counts as absent.

use crate::ci::node::{Map, Node, Value};
use crate::diagnostic::{Diagnostic, Diagnostics, Location, did_you_mean};

/// The key path of `key` inside `path` (`projects[0]` + `repo` = `projects[0].repo`).
pub(super) fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// The key path of item `index` of the sequence at `path`.
pub(super) fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// An error at `node` about `path`.
pub(super) fn error_at(node: &Node, path: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(Some(node.location.clone()), path, message)
}

/// A warning at `node` about `path`.
pub(super) fn warning_at(node: &Node, path: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic::warning(Some(node.location.clone()), path, message)
}

/// A mapping with known keys: [`Fields::open`] reports a value that is not a mapping and every
/// unknown key (with a did-you-mean hint) once, up front.
pub(super) struct Fields<'a> {
    node: &'a Node,
    map: &'a Map,
    path: String,
}

impl<'a> Fields<'a> {
    /// Opens `node` (at `path`) as a mapping whose keys must be among `allowed`.
    pub(super) fn open(node: &'a Node, path: &str, allowed: &[&str], diags: &mut Diagnostics) -> Option<Self> {
        let Value::Map(map) = &node.value else {
            diags.push(error_at(node, path, format!("must be a mapping, not {}", node.type_name())));
            return None;
        };
        for (key, _) in map.iter() {
            if allowed.contains(&key.name.as_str()) {
                continue;
            }
            let diagnostic = unknown_key(&key.location, &child(path, &key.name), &key.name, allowed);
            diags.push(diagnostic);
        }
        Some(Self { node, map, path: path.to_owned() })
    }

    /// The mapping node itself.
    pub(super) fn node(&self) -> &'a Node {
        self.node
    }

    /// The key path of `key` in this mapping.
    pub(super) fn path_of(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// The value of `key`, unless it is absent or `null`.
    pub(super) fn get(&self, key: &str) -> Option<&'a Node> {
        self.map.get(key).filter(|node| !node.is_null())
    }

    /// The value of `key`; reports it missing when it is absent or `null`.
    pub(super) fn required(&self, key: &str, diags: &mut Diagnostics) -> Option<&'a Node> {
        let value = self.get(key);
        if value.is_none() {
            let at = self.map.key(key).map_or(&self.node.location, |k| &k.location);
            diags.push(Diagnostic::error(Some(at.clone()), &self.path, format!("missing required key `{key}`")));
        }
        value
    }

    /// The string value of `key`, if present; reports a value of another type.
    pub(super) fn string(&self, key: &str, diags: &mut Diagnostics) -> Option<(&'a Node, &'a str)> {
        let node = self.get(key)?;
        string(node, &self.path_of(key), diags).map(|text| (node, text))
    }
}

fn unknown_key(location: &Location, path: &str, name: &str, allowed: &[&str]) -> Diagnostic {
    let diagnostic = Diagnostic::error(Some(location.clone()), path, format!("unknown key `{name}`"));
    match did_you_mean(name, allowed.iter().copied()) {
        Some(close) => diagnostic.with_hint(format!("did you mean `{close}`?")),
        None => {
            let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
            diagnostic.with_hint(format!("allowed keys here: {}", list.join(", ")))
        }
    }
}

/// `node` as a string; reports any other type.
pub(super) fn string<'a>(node: &'a Node, path: &str, diags: &mut Diagnostics) -> Option<&'a str> {
    match &node.value {
        Value::Str(text) => Some(text),
        _ => {
            diags.push(error_at(node, path, format!("must be a string, not {}", node.type_name())));
            None
        }
    }
}

/// `node` as a sequence; reports any other type.
pub(super) fn sequence<'a>(node: &'a Node, path: &str, diags: &mut Diagnostics) -> Option<&'a [Node]> {
    match &node.value {
        Value::Seq(items) => Some(items),
        _ => {
            diags.push(error_at(node, path, format!("must be a list, not {}", node.type_name())));
            None
        }
    }
}

/// `node` as a positive integer; reports anything else.
pub(super) fn positive_integer(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<std::num::NonZeroUsize> {
    let value = node.as_int().and_then(|n| usize::try_from(n).ok()).and_then(std::num::NonZeroUsize::new);
    if value.is_none() {
        let found = match node.as_int() {
            Some(n) => format!("`{n}`"),
            None => node.type_name().to_owned(),
        };
        diags.push(error_at(node, path, format!("must be a positive integer, not {found}")));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::yaml;

    fn node(text: &str) -> Node {
        yaml::load("f.yaml", text).unwrap().config
    }

    #[test]
    fn unknown_keys_get_a_hint() {
        let root = node("listn: x\nzzz: 1\n");
        let mut diags = Diagnostics::new();
        let fields = Fields::open(&root, "", &["listen", "data_dir"], &mut diags);
        assert!(fields.is_some());
        let all: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
        assert_eq!(all[0], "f.yaml:1:1: listn: unknown key `listn`\n\nhint: did you mean `listen`?");
        assert_eq!(all[1], "f.yaml:2:1: zzz: unknown key `zzz`\n\nhint: allowed keys here: `listen`, `data_dir`");
    }

    #[test]
    fn missing_and_null_values_are_reported_as_missing() {
        let root = node("a:\n  name:\n");
        let mut diags = Diagnostics::new();
        let a = Fields::open(root.as_map().unwrap().get("a").unwrap(), "a", &["name"], &mut diags).unwrap();
        assert!(a.required("name", &mut diags).is_none());
        assert_eq!(diags.0[0].to_string(), "f.yaml:2:3: a: missing required key `name`");
    }

    #[test]
    fn typed_readers_name_the_type_found() {
        let root = node("n: 0\ns: [1]\n");
        let map = root.as_map().unwrap();
        let mut diags = Diagnostics::new();
        assert!(positive_integer(map.get("n").unwrap(), "n", &mut diags).is_none());
        assert!(string(map.get("s").unwrap(), "s", &mut diags).is_none());
        assert_eq!(diags.0[0].to_string(), "f.yaml:1:4: n: must be a positive integer, not `0`");
        assert_eq!(diags.0[1].to_string(), "f.yaml:2:4: s: must be a string, not a sequence");
    }
}
