//! Parsing a header document: `spec:` with `inputs:`, each input's `default`, `description`,
//! `options`, `regex` and `type` (GitLab's `Header::Root`, `Header::Spec`, `Header::Input`).

use super::{MAX_OPTIONS, backticked, display, error, join};
use crate::ci::node::{Key, Node, Value};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// The keys an input definition may have.
const INPUT_KEYS: [&str; 5] = ["default", "description", "options", "regex", "type"];

/// The input types GitLab knows.
const INPUT_TYPES: [&str; 4] = ["array", "boolean", "number", "string"];

/// One input as its `spec:inputs` entry declares it.
#[derive(Debug, Clone)]
pub(super) struct InputSpec {
    pub name: String,
    /// Where the input's name is written in the header.
    pub location: Location,
    pub kind: InputType,
    pub default: Option<Node>,
    pub options: Option<Vec<Node>>,
    pub regex: Option<(String, Location)>,
}

/// `spec:inputs:type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InputType {
    String,
    Number,
    Boolean,
    Array,
}

impl InputType {
    pub(super) fn parse(name: &str) -> Option<Self> {
        match name {
            "string" => Some(Self::String),
            "number" => Some(Self::Number),
            "boolean" => Some(Self::Boolean),
            "array" => Some(Self::Array),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
        }
    }

    pub(super) fn accepts(self, node: &Node) -> bool {
        match self {
            Self::String => matches!(node.value, Value::Str(_)),
            Self::Number => matches!(node.value, Value::Int(_) | Value::Float(_)),
            Self::Boolean => matches!(node.value, Value::Bool(_)),
            Self::Array => matches!(node.value, Value::Seq(_)),
        }
    }
}

/// Parses and validates a header document: `spec:` with `inputs:` only.
pub(super) fn parse_header(header: &Node, file: &str, diags: &mut Diagnostics) -> Vec<InputSpec> {
    let Some(root) = header.as_map() else {
        diags.push(error(
            &header.location,
            "",
            format!(
                "the header of `{file}` must be a mapping with a `spec` key, found {}",
                header.type_name()
            ),
        ));
        return Vec::new();
    };
    for (key, _) in root.iter().filter(|(k, _)| k.name != "spec") {
        diags.push(unknown_key(
            key,
            "",
            &["spec"],
            &format!("the header of `{file}`"),
        ));
    }
    let Some(spec) = root.get("spec") else {
        return Vec::new();
    };
    let Some(spec_map) = spec.as_map() else {
        if !spec.is_null() {
            diags.push(error(
                &spec.location,
                "spec",
                format!("`spec` must be a mapping, found {}", spec.type_name()),
            ));
        }
        return Vec::new();
    };
    for (key, _) in spec_map.iter().filter(|(k, _)| k.name != "inputs") {
        diags.push(unknown_key(
            key,
            "spec",
            &["inputs"],
            &format!("`spec` in `{file}`"),
        ));
    }
    let Some(inputs) = spec_map.get("inputs") else {
        return Vec::new();
    };
    let Some(inputs_map) = inputs.as_map() else {
        if !inputs.is_null() {
            diags.push(error(
                &inputs.location,
                "spec.inputs",
                format!(
                    "`spec:inputs` must be a mapping of input names, found {}",
                    inputs.type_name()
                ),
            ));
        }
        return Vec::new();
    };
    inputs_map
        .iter()
        .filter_map(|(key, node)| parse_input(&key.name, &key.location, node, file, diags))
        .collect()
}

/// Parses one `spec:inputs:NAME` entry (null means a required string input).
fn parse_input(
    name: &str,
    location: &Location,
    node: &Node,
    file: &str,
    diags: &mut Diagnostics,
) -> Option<InputSpec> {
    let path = format!("spec.inputs.{name}");
    let mut spec = InputSpec {
        name: name.to_owned(),
        location: location.clone(),
        kind: InputType::String,
        default: None,
        options: None,
        regex: None,
    };
    if node.is_null() {
        return Some(spec);
    }
    let Some(map) = node.as_map() else {
        diags.push(error(
            &node.location,
            &path,
            format!(
                "input `{name}` of `{file}` must be a mapping or empty, found {}",
                node.type_name()
            ),
        ));
        return None;
    };
    let before = diags.0.len();
    for (key, value) in map.iter() {
        let key_path = format!("{path}.{}", key.name);
        match key.name.as_str() {
            "default" => spec.default = Some(value.clone()),
            "description" => {
                if value.as_str().is_none() {
                    diags.push(error(
                        &value.location,
                        &key_path,
                        format!(
                            "the description of input `{name}` must be a string, found {}",
                            value.type_name()
                        ),
                    ));
                }
            }
            "type" => match value.as_str().and_then(InputType::parse) {
                Some(kind) => spec.kind = kind,
                None => diags.push(
                    error(
                        &value.location,
                        &key_path,
                        format!(
                            "input `{name}` of `{file}` has an unknown type `{}`",
                            display(value)
                        ),
                    )
                    .with_hint(format!("use one of: {}", backticked(&INPUT_TYPES))),
                ),
            },
            "options" => spec.options = parse_options(name, value, &key_path, diags),
            "regex" => match value.as_str() {
                Some(re) => spec.regex = Some((re.to_owned(), value.location.clone())),
                None => diags.push(error(
                    &value.location,
                    &key_path,
                    format!(
                        "the regex of input `{name}` must be a string, found {}",
                        value.type_name()
                    ),
                )),
            },
            _ => diags.push(unknown_key(
                key,
                &path,
                &INPUT_KEYS,
                &format!("input `{name}` of `{file}`"),
            )),
        }
    }
    if spec.options.is_some() && matches!(spec.kind, InputType::Boolean | InputType::Array) {
        diags.push(error(location, &path, format!("input `{name}` of `{file}` has `options`, which only string and number inputs can have")));
    }
    if spec.regex.is_some() && spec.kind != InputType::String {
        diags.push(error(
            location,
            &path,
            format!("input `{name}` of `{file}` has a `regex`, which only string inputs can have"),
        ));
    }
    (diags.0.len() == before).then_some(spec)
}

fn parse_options(
    name: &str,
    value: &Node,
    key_path: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<Node>> {
    let Some(items) = value.as_seq() else {
        diags.push(error(
            &value.location,
            key_path,
            format!(
                "the options of input `{name}` must be a sequence, found {}",
                value.type_name()
            ),
        ));
        return None;
    };
    if items.len() > MAX_OPTIONS {
        diags.push(error(
            &value.location,
            key_path,
            format!(
                "input `{name}` lists {} options, more than the {MAX_OPTIONS} allowed",
                items.len()
            ),
        ));
        return None;
    }
    Some(items.to_vec())
}
fn unknown_key(key: &Key, parent_path: &str, allowed: &[&str], what: &str) -> Diagnostic {
    let d = error(
        &key.location,
        &join(parent_path, &key.name),
        format!("{what} has an unknown key `{}`", key.name),
    );
    match crate::diagnostic::did_you_mean(&key.name, allowed.iter().copied()) {
        Some(best) => d.with_hint(format!(
            "did you mean `{best}`? allowed keys: {}",
            backticked(allowed)
        )),
        None => d.with_hint(format!("allowed keys: {}", backticked(allowed))),
    }
}
