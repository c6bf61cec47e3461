//! One file's `include:` value turned into checked entries: the string, list and mapping forms
//! normalised (GitLab's `Mapper::Normalizer` and `Matcher`), keys validated, `$VAR`s expanded in
//! locations (`Mapper::VariablesExpander`). Reading, rules and wildcards happen in the resolver.

use crate::ci::inputs::backticked;
use crate::diagnostic::did_you_mean;
use crate::ci::node::{Node, Value};
use crate::ci::variables::{Variables, expand_with};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

use super::location;

/// Every key an include mapping may have in GitLab 18.5 (`Entry::Include::ALLOWED_KEYS`).
const ALLOWED_KEYS: [&str; 12] = [
    "local",
    "file",
    "remote",
    "project",
    "ref",
    "integrity",
    "template",
    "artifact",
    "inputs",
    "job",
    "rules",
    "component",
];

/// The keys that say where a file comes from; exactly one must be given.
const SUBKEYS: [&str; 6] = [
    "local",
    "project",
    "remote",
    "template",
    "artifact",
    "component",
];

/// Where an include entry's file comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// `include:local` (leading `/` removed; may hold `*` wildcards).
    Local(Located),
    /// `include:project` + `file` (one or more) + optional `ref`.
    Project {
        /// Full path of the project.
        project: String,
        /// Branch, tag or sha; `None` for the default branch.
        git_ref: Option<String>,
        /// The files (leading `/` removed), each with where it is written.
        files: Vec<Located>,
    },
    /// `include:template`.
    Template(Located),
    /// `include:remote`, a URL already checked by [`location::check_remote_url`].
    Remote(Located),
    /// `include:component`: never fetched, always reported.
    Component(Located),
    /// `include:artifact` + `job`: only valid in `trigger:include`, always reported.
    Artifact(Located),
}

/// A string value and the place it is written, with its key path (`include[1].local`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Located {
    /// The value, variables expanded.
    pub value: String,
    /// Where it is written.
    pub location: Location,
    /// Its key path.
    pub key_path: String,
}

/// One entry of an `include:` list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// What to include.
    pub target: Target,
    /// `inputs:` as written.
    pub inputs: Option<Node>,
    /// `rules:` as written.
    pub rules: Option<Node>,
    /// Where the entry starts.
    pub location: Location,
    /// The entry's key path: `include` or `include[3]`.
    pub key_path: String,
}

/// Parses the value of an `include:` key. Problems go to `diags`; the valid entries are returned.
pub(crate) fn parse(include: &Node, variables: &Variables, diags: &mut Diagnostics) -> Vec<Entry> {
    match &include.value {
        Value::Null => Vec::new(),
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter(|(_, item)| !item.is_null())
            .filter_map(|(i, item)| parse_one(item, &format!("include[{i}]"), variables, diags))
            .collect(),
        _ => parse_one(include, "include", variables, diags)
            .into_iter()
            .collect(),
    }
}

fn parse_one(
    node: &Node,
    key_path: &str,
    variables: &Variables,
    diags: &mut Diagnostics,
) -> Option<Entry> {
    let entry = |target| Entry {
        target,
        inputs: None,
        rules: None,
        location: node.location.clone(),
        key_path: key_path.to_owned(),
    };
    match &node.value {
        Value::Str(text) => {
            let value = expand(text, variables);
            let located = Located {
                value: value.clone(),
                location: node.location.clone(),
                key_path: key_path.to_owned(),
            };
            if location::looks_like_url(&value) {
                match location::check_remote_url(&value) {
                    Ok(()) => Some(entry(Target::Remote(located))),
                    Err(e) => {
                        diags.push(e.at(&node.location, key_path));
                        None
                    }
                }
            } else {
                Some(entry(Target::Local(Located {
                    value: strip_slashes(&value),
                    ..located
                })))
            }
        }
        Value::Map(_) => parse_map(node, key_path, variables, diags),
        _ => {
            diags.push(
                Diagnostic::error(Some(node.location.clone()), key_path, format!("each include must be a string or a mapping, found {}", node.type_name()))
                    .with_hint("write a path (`ci/build.yml`), a URL, or a mapping such as `local: ci/build.yml`"),
            );
            None
        }
    }
}

fn parse_map(
    node: &Node,
    key_path: &str,
    variables: &Variables,
    diags: &mut Diagnostics,
) -> Option<Entry> {
    let map = node.as_map()?;
    let before = diags.0.len();
    let mut unknown = 0;
    for (key, _) in map
        .iter()
        .filter(|(k, _)| !ALLOWED_KEYS.contains(&k.name.as_str()))
    {
        unknown += 1;
        let d = Diagnostic::error(
            Some(key.location.clone()),
            format!("{key_path}.{}", key.name),
            format!("include has an unknown key `{}`", key.name),
        );
        diags.push(match did_you_mean(&key.name, ALLOWED_KEYS.iter().copied()) {
            Some(best) => d.with_hint(format!(
                "did you mean `{best}`? allowed keys: {}",
                backticked(&ALLOWED_KEYS)
            )),
            None => d.with_hint(format!("allowed keys: {}", backticked(&ALLOWED_KEYS))),
        });
    }
    let present: Vec<&str> = SUBKEYS
        .iter()
        .copied()
        .filter(|k| is_present(map.get(k)))
        .collect();
    let target = match present.as_slice() {
        [one] => parse_target(one, node, key_path, variables, diags),
        // An unknown key (a typo of `local`, say) already explains the missing subkey.
        [] if unknown > 0 => None,
        [] => {
            let d = Diagnostic::error(
                Some(node.location.clone()),
                key_path,
                "include does not say what to include",
            );
            diags.push(d.with_hint(format!("use one of: {}", backticked(&SUBKEYS))));
            None
        }
        several => {
            let d = Diagnostic::error(
                Some(node.location.clone()),
                key_path,
                format!(
                    "include uses {}; each include must use only one of them",
                    backticked(several)
                ),
            );
            diags.push(d.with_hint("split it into one include per file"));
            None
        }
    };
    check_integrity(node, key_path, diags);
    let target = target?;
    (diags.0.len() == before).then(|| Entry {
        target,
        inputs: map.get("inputs").cloned(),
        rules: map.get("rules").cloned(),
        location: node.location.clone(),
        key_path: key_path.to_owned(),
    })
}

fn parse_target(
    kind: &str,
    node: &Node,
    key_path: &str,
    variables: &Variables,
    diags: &mut Diagnostics,
) -> Option<Target> {
    let map = node.as_map()?;
    let field = |name: &str, diags: &mut Diagnostics| {
        string_field(
            map.get(name)?,
            &format!("{key_path}.{name}"),
            variables,
            diags,
        )
    };
    match kind {
        "local" => field("local", diags).map(|l| {
            Target::Local(Located {
                value: strip_slashes(&l.value),
                ..l
            })
        }),
        "template" => field("template", diags).map(Target::Template),
        "component" => field("component", diags).map(Target::Component),
        "remote" => {
            let url = field("remote", diags)?;
            match location::check_remote_url(&url.value) {
                Ok(()) => Some(Target::Remote(url)),
                Err(e) => {
                    diags.push(e.at(&url.location, &url.key_path));
                    None
                }
            }
        }
        "artifact" => {
            if !is_present(map.get("job")) {
                diags.push(Diagnostic::error(
                    Some(node.location.clone()),
                    key_path,
                    "`include:artifact` needs `job`, the job whose artifact holds the file",
                ));
            }
            field("artifact", diags).map(Target::Artifact)
        }
        _ => parse_project(node, key_path, variables, diags),
    }
}

fn parse_project(
    node: &Node,
    key_path: &str,
    variables: &Variables,
    diags: &mut Diagnostics,
) -> Option<Target> {
    let map = node.as_map()?;
    let project = string_field(
        map.get("project")?,
        &format!("{key_path}.project"),
        variables,
        diags,
    )?;
    let git_ref = match map.get("ref") {
        Some(r) if !r.is_null() => {
            Some(string_field(r, &format!("{key_path}.ref"), variables, diags)?.value)
        }
        _ => None,
    };
    let file_path = format!("{key_path}.file");
    let files: Vec<Located> = match map.get("file") {
        Some(node) if is_present(Some(node)) => match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    string_field(item, &format!("{file_path}[{i}]"), variables, diags)
                })
                .collect(),
            _ => string_field(node, &file_path, variables, diags)
                .into_iter()
                .collect(),
        },
        _ => {
            let d = Diagnostic::error(
                Some(node.location.clone()),
                key_path,
                format!(
                    "include of project `{}` needs `file`, the file to include from it",
                    project.value
                ),
            );
            diags.push(d.with_hint("add `file: path/to/file.yml` (a string or a list of paths)"));
            return None;
        }
    };
    let files = files
        .into_iter()
        .map(|f| Located {
            value: strip_slashes(&f.value),
            ..f
        })
        .collect();
    Some(Target::Project {
        project: project.value,
        git_ref,
        files,
    })
}

/// `integrity` is accepted for remote includes only, as `sha256-` and base64.
fn check_integrity(node: &Node, key_path: &str, diags: &mut Diagnostics) {
    let Some(map) = node.as_map() else { return };
    let Some(integrity) = map.get("integrity") else {
        return;
    };
    let path = format!("{key_path}.integrity");
    let at = Some(integrity.location.clone());
    if !is_present(map.get("remote")) {
        diags.push(Diagnostic::error(
            at.clone(),
            path.clone(),
            "`integrity` can only be given for remote includes",
        ));
    }
    match integrity.as_str().and_then(|s| s.strip_prefix("sha256-")) {
        Some(hash) if is_base64(hash) => {}
        Some(_) => diags.push(Diagnostic::error(at, path, "the `integrity` hash after `sha256-` must be base64 encoded")),
        None => diags.push(
            Diagnostic::error(at, path, "`integrity` must start with `sha256-`")
                .with_hint("write `sha256-` followed by the base64 SHA-256 of the file, as `openssl dgst -sha256 -binary FILE | base64` prints it"),
        ),
    }
}

fn is_base64(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    !text.is_empty()
        && text.len().is_multiple_of(4)
        && text.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// A string value with variables expanded; anything else is reported.
fn string_field(
    node: &Node,
    key_path: &str,
    variables: &Variables,
    diags: &mut Diagnostics,
) -> Option<Located> {
    match node.as_str() {
        Some(text) => Some(Located {
            value: expand(text, variables),
            location: node.location.clone(),
            key_path: key_path.to_owned(),
        }),
        None => {
            let d = Diagnostic::error(
                Some(node.location.clone()),
                key_path,
                format!(
                    "the included file must be given as a string, found {}",
                    node.type_name()
                ),
            );
            diags.push(d);
            None
        }
    }
}

/// Ruby's `present?` for a YAML value: not null, not an empty or blank string, not empty.
fn is_present(node: Option<&Node>) -> bool {
    node.is_some_and(|n| match &n.value {
        Value::Null => false,
        Value::Str(s) => !s.trim().is_empty(),
        Value::Seq(items) => !items.is_empty(),
        Value::Map(map) => !map.is_empty(),
        _ => true,
    })
}

/// GitLab's `ExpandVariables.expand` for include locations: `$VAR`/`${VAR}` replaced by the
/// variable's value, unknown variables by nothing.
pub(crate) fn expand(text: &str, variables: &Variables) -> String {
    expand_with(text, |name| {
        Some(variables.raw(name).unwrap_or_default().to_owned())
    })
}

fn strip_slashes(path: &str) -> String {
    path.trim_start_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::node::{Key, Map};

    fn at(line: u32) -> Location {
        Location::new("main.yml", line, 3)
    }

    fn s(v: &str, line: u32) -> Node {
        Node::new(Value::Str(v.into()), at(line))
    }

    fn map(entries: Vec<(&str, Node)>, line: u32) -> Node {
        let mut m = Map::new();
        for (k, v) in entries {
            let loc = v.location.clone();
            m.insert(
                Key {
                    name: k.into(),
                    location: loc,
                },
                v,
            );
        }
        Node::new(Value::Map(m), at(line))
    }

    fn seq(items: Vec<Node>) -> Node {
        Node::new(Value::Seq(items), at(1))
    }

    #[test]
    fn strings_become_local_or_remote_and_variables_expand() {
        let mut vars = Variables::new();
        vars.set("DIR", "ci");
        let include = seq(vec![
            s("/$DIR/a.yml", 2),
            s("https://example.com/x.yml", 3),
            s("${UNSET}b.yml", 4),
        ]);
        let mut diags = Diagnostics::new();
        let entries = parse(&include, &vars, &mut diags);
        assert!(diags.is_empty(), "{diags}");
        assert!(matches!(&entries[0].target, Target::Local(l) if l.value == "ci/a.yml"));
        assert_eq!(entries[0].key_path, "include[0]");
        assert!(
            matches!(&entries[1].target, Target::Remote(l) if l.value == "https://example.com/x.yml")
        );
        assert!(matches!(&entries[2].target, Target::Local(l) if l.value == "b.yml"));
    }

    #[test]
    fn project_with_file_list_and_ref() {
        let include = map(
            vec![
                ("project", s("group/tools", 2)),
                ("ref", s("v1", 3)),
                ("file", seq(vec![s("/a.yml", 4), s("b.yml", 5)])),
            ],
            2,
        );
        let mut diags = Diagnostics::new();
        let entries = parse(&include, &Variables::new(), &mut diags);
        assert!(diags.is_empty(), "{diags}");
        let Target::Project {
            project,
            git_ref,
            files,
        } = &entries[0].target
        else {
            panic!("{entries:?}")
        };
        assert_eq!(
            (project.as_str(), git_ref.as_deref()),
            ("group/tools", Some("v1"))
        );
        assert_eq!(
            files.iter().map(|f| f.value.as_str()).collect::<Vec<_>>(),
            ["a.yml", "b.yml"]
        );
        assert_eq!(files[1].key_path, "include.file[1]");
    }

    #[test]
    fn unknown_keys_missing_and_ambiguous_subkeys_are_errors() {
        let include = seq(vec![
            map(vec![("locl", s("a.yml", 2))], 2),
            map(vec![("inputs", map(vec![], 6))], 6),
            map(
                vec![("local", s("a.yml", 3)), ("template", s("b.yml", 3))],
                3,
            ),
            map(vec![("project", s("g/p", 4))], 4),
            Node::new(Value::Int(3), at(5)),
        ]);
        let mut diags = Diagnostics::new();
        let entries = parse(&include, &Variables::new(), &mut diags);
        assert!(entries.is_empty());
        let messages: Vec<_> = diags
            .errors()
            .map(|d| (d.key_path.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                ("include[0].locl", "include has an unknown key `locl`"),
                ("include[1]", "include does not say what to include"),
                (
                    "include[2]",
                    "include uses `local`, `template`; each include must use only one of them"
                ),
                (
                    "include[3]",
                    "include of project `g/p` needs `file`, the file to include from it"
                ),
                (
                    "include[4]",
                    "each include must be a string or a mapping, found an integer"
                ),
            ]
        );
        assert!(
            diags.0[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("did you mean `local`?")
        );
        assert_eq!(diags.0[0].location, Some(at(2)));
    }

    #[test]
    fn integrity_is_checked_for_form_only() {
        let good = map(
            vec![
                ("remote", s("https://example.com/a.yml", 2)),
                ("integrity", s("sha256-L3d5ZQ==", 3)),
            ],
            2,
        );
        let mut diags = Diagnostics::new();
        assert_eq!(parse(&good, &Variables::new(), &mut diags).len(), 1);
        assert!(diags.is_empty(), "{diags}");
        let bad = map(
            vec![("local", s("a.yml", 2)), ("integrity", s("md5-x", 3))],
            2,
        );
        parse(&bad, &Variables::new(), &mut diags);
        let messages: Vec<_> = diags.errors().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`integrity` can only be given for remote includes",
                "`integrity` must start with `sha256-`"
            ]
        );
    }

    #[test]
    fn private_remote_is_refused_at_parse() {
        let include = map(vec![("remote", s("http://10.0.0.1/a.yml", 2))], 2);
        let mut diags = Diagnostics::new();
        assert!(parse(&include, &Variables::new(), &mut diags).is_empty());
        assert_eq!(diags.0[0].key_path, "include.remote");
        assert!(
            diags.0[0].message.contains("private"),
            "{}",
            diags.0[0].message
        );
    }
}
