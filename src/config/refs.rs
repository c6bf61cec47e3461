//! Which branches and tags of a project are watched: exact names and `/regex/` patterns, read
//! and compiled once.

use std::fmt;

use regex::Regex;

use super::fields::{error_at, item, sequence, string};
use crate::ci::node::{Node, Value};
use crate::diagnostic::Diagnostics;

/// One branch or tag pattern.
#[derive(Debug, Clone)]
pub enum RefPattern {
    /// A name, matched exactly.
    Exact(String),
    /// `/regex/` (or `/regex/i`, case-insensitive): matches when the regular expression
    /// matches anywhere in the name, as in GitLab's `only: [/^release-/]`; anchor with `^…$`.
    Regex(Regex),
    /// Every name (`tags: true`).
    Any,
}

impl RefPattern {
    /// Whether `name` (a branch or tag name without `refs/heads/` or `refs/tags/`) matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == name,
            Self::Regex(regex) => regex.is_match(name),
            Self::Any => true,
        }
    }
}

impl fmt::Display for RefPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Regex(regex) => match regex.as_str().strip_prefix("(?i)") {
                Some(source) => write!(f, "/{source}/i"),
                None => write!(f, "/{}/", regex.as_str()),
            },
            Self::Any => f.write_str("*"),
        }
    }
}

/// A list of patterns; a name is watched when any of them matches. Empty: nothing is watched.
#[derive(Debug, Clone, Default)]
pub struct RefPatterns(pub Vec<RefPattern>);

impl RefPatterns {
    /// Patterns that match nothing.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// One exact name.
    pub fn exact(name: &str) -> Self {
        Self(vec![RefPattern::Exact(name.to_owned())])
    }

    /// Whether any pattern matches `name`.
    pub fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|pattern| pattern.matches(name))
    }

    /// Whether no name can match.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads a list of names and `/regex/` patterns.
pub(super) fn read_patterns(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<RefPatterns> {
    let items = sequence(node, path, diags)?;
    let mut patterns = Vec::new();
    let mut ok = true;
    for (i, entry) in items.iter().enumerate() {
        let entry_path = item(path, i);
        match string(entry, &entry_path, diags).and_then(|text| read_pattern(entry, &entry_path, text, diags)) {
            Some(pattern) => patterns.push(pattern),
            None => ok = false,
        }
    }
    ok.then_some(RefPatterns(patterns))
}

/// Reads `tags`: `true` (every tag), `false` (none) or a list of patterns.
pub(super) fn read_tags(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<RefPatterns> {
    match node.value {
        Value::Bool(true) => Some(RefPatterns(vec![RefPattern::Any])),
        Value::Bool(false) => Some(RefPatterns::none()),
        Value::Seq(_) => read_patterns(node, path, diags),
        _ => {
            let message = format!(
                "must be `true`, `false` or a list of tag names and `/regex/` patterns, not {}",
                node.type_name()
            );
            diags.push(error_at(node, path, message));
            None
        }
    }
}

fn read_pattern(node: &Node, path: &str, text: &str, diags: &mut Diagnostics) -> Option<RefPattern> {
    if let Some(body) = text.strip_prefix('/') {
        let (source, insensitive) = match body.strip_suffix("/i") {
            Some(source) => (source, true),
            None => match body.strip_suffix('/') {
                Some(source) => (source, false),
                None => {
                    let message = format!("`{text}` starts like a pattern but does not end with `/`");
                    diags.push(error_at(node, path, message).with_hint("write patterns as `/regex/` or `/regex/i`"));
                    return None;
                }
            },
        };
        let source = if insensitive { format!("(?i){source}") } else { source.to_owned() };
        return match Regex::new(&source) {
            Ok(regex) => Some(RefPattern::Regex(regex)),
            Err(error) => {
                let message = format!("`{text}` is not a valid regular expression: {}", regex_error_reason(&error));
                diags.push(error_at(node, path, message));
                None
            }
        };
    }
    match ref_name_problem(text) {
        None => Some(RefPattern::Exact(text.to_owned())),
        Some(problem) => {
            let message = format!("`{text}` is not a valid branch or tag name: {problem}");
            diags.push(error_at(node, path, message).with_hint("write a pattern as `/regex/`"));
            None
        }
    }
}

/// What makes `name` an invalid git branch or tag name (git's `check-ref-format` rules),
/// or `None` when it is valid.
pub(super) fn ref_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.starts_with('-') {
        return Some("it starts with `-`");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Some("it has an empty path component");
    }
    if name.contains("..") || name.contains("@{") || name == "@" {
        return Some("it contains `..`, `@{` or is `@`");
    }
    if name.ends_with('.') || name.ends_with(".lock") || name.split('/').any(|c| c.starts_with('.')) {
        return Some("a component starts or the name ends with `.`, or it ends with `.lock`");
    }
    if name.chars().any(|c| c.is_ascii_control() || c.is_whitespace() || "~^:?*[\\".contains(c)) {
        return Some("it contains a space, a control character or one of `~^:?*[\\`");
    }
    None
}

/// The reason of a regex error: its last non-empty line (the first ones show the pattern
/// with a caret diagram).
pub(super) fn regex_error_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let reason = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(&text);
    reason.trim().trim_start_matches("error: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::yaml;

    fn read(text: &str) -> (Option<RefPatterns>, Vec<String>) {
        let root = yaml::load("r.yaml", text).unwrap().config;
        let node = root.as_map().unwrap().get("b").unwrap();
        let mut diags = Diagnostics::new();
        let patterns = if matches!(node.value, Value::Bool(_)) || text.starts_with("b: t") {
            read_tags(node, "b", &mut diags)
        } else {
            read_patterns(node, "b", &mut diags)
        };
        (patterns, diags.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn names_and_patterns_match() {
        let (patterns, diags) = read("b: [main, '/^release-\\d+$/', '/^FEAT/i']\n");
        assert!(diags.is_empty(), "{diags:?}");
        let patterns = patterns.unwrap();
        assert!(patterns.matches("main"));
        assert!(!patterns.matches("mainline"));
        assert!(patterns.matches("release-12"));
        assert!(!patterns.matches("release-x"));
        assert!(patterns.matches("feature/x"));
        assert_eq!(
            patterns.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["main", "/^release-\\d+$/", "/^FEAT/i"]
        );
    }

    #[test]
    fn tags_are_a_bool_or_patterns() {
        assert!(read("b: true\n").0.unwrap().matches("v1.0.0"));
        assert!(!read("b: false\n").0.unwrap().matches("v1.0.0"));
        let (_, diags) = read("b: tags\n");
        assert_eq!(
            diags,
            ["r.yaml:1:4: b: must be `true`, `false` or a list of tag names and `/regex/` patterns, not a string"]
        );
    }

    #[test]
    fn every_bad_entry_is_reported() {
        let (patterns, diags) = read("b:\n  - '/(unclosed/'\n  - 'has space'\n  - 3\n  - '/open'\n");
        assert!(patterns.is_none());
        assert_eq!(diags.len(), 4, "{diags:?}");
        assert!(
            diags[0].starts_with("r.yaml:2:5: b[0]: `/(unclosed/` is not a valid regular expression: "),
            "{}",
            diags[0]
        );
        assert_eq!(
            diags[1],
            "r.yaml:3:5: b[1]: `has space` is not a valid branch or tag name: it contains a space, a control character or one of `~^:?*[\\`\n\nhint: write a pattern as `/regex/`"
        );
        assert_eq!(diags[2], "r.yaml:4:5: b[2]: must be a string, not an integer");
        assert!(diags[3].starts_with("r.yaml:5:5: b[3]: `/open` starts like a pattern but does not end with `/`"));
        let (_, diags) = read("b: main\n");
        assert_eq!(diags, ["r.yaml:1:4: b: must be a list, not a string"]);
    }
}
