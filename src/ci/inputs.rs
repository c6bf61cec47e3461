//! `spec:inputs`: the header a reusable CI file declares its parameters in, the values an
//! `include:inputs` gives them, and the `$[[ inputs.NAME ]]` interpolation of the file's content.
//!
//! This module owns validating a header (`spec:inputs` and each input's `default`, `description`,
//! `options`, `regex`, `type`), validating given values against it (GitLab's
//! `Ci::Interpolation::Inputs`), and interpolating them ([`interpolate`], GitLab's
//! `Ci::Interpolation::Template`). It does not read files or resolve includes ([`super::include`]
//! calls it once per loaded file). Every error names the input and the file it belongs to.
//!
//! Where GitLab 18.5 and this module differ on purpose:
//! - a `$[[ … ]]` block in a file without a `spec:` header is an error here; GitLab leaves the
//!   text as written, which only moves the failure to the job that runs it;
//! - `spec:inputs:rules` (conditional options, behind a feature flag in 18.5) and `spec:component`
//!   (18.6) are rejected as unknown keys.

mod interpolate;
mod spec;

use indexmap::IndexMap;

use super::node::{Node, Value};
use super::variables::Variables;
use crate::diagnostic::{Diagnostic, Diagnostics, Location, did_you_mean};
use spec::{InputSpec, InputType, parse_header};

/// Most `options` one input may list (GitLab's `ALLOWED_OPTIONS_LIMIT`).
pub const MAX_OPTIONS: usize = 50;

/// Validates `inputs` (an `include:inputs` mapping) against the `spec:inputs` of `header` and
/// interpolates `$[[ inputs.NAME ]]` in `config`, the content of `file`.
///
/// Equivalent to [`apply_with_variables`] with no variables: the `expand_vars` function then
/// leaves every `$VAR` as written.
///
/// # Errors
/// Every problem found, located: an invalid header, unknown or missing inputs, a value of the
/// wrong type, not in `options` or not matching `regex`, and every bad interpolation block.
pub fn apply(
    header: Option<&Node>,
    inputs: Option<&Node>,
    config: Node,
    file: &str,
) -> Result<Node, Diagnostics> {
    apply_with_variables(header, inputs, config, file, &Variables::new())
}

/// [`apply`], with the variables the `expand_vars` interpolation function may expand
/// (GitLab allows the same variables as in `include` paths; nested references are not expanded).
///
/// # Errors
/// As [`apply`].
pub fn apply_with_variables(
    header: Option<&Node>,
    inputs: Option<&Node>,
    config: Node,
    file: &str,
    variables: &Variables,
) -> Result<Node, Diagnostics> {
    let site = Site {
        location: None,
        key_path: String::new(),
    };
    apply_at(header, inputs, config, file, variables, &site)
}

/// Where the values of a file's inputs were given: the `include` entry (or nothing, for the main
/// file). A missing required input is reported here when no `inputs:` mapping was written.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// The include entry's location, `None` for the main file.
    pub location: Option<Location>,
    /// The include entry's key path (`include[2]`), empty for the main file.
    pub key_path: String,
}

/// [`apply_with_variables`], reporting input problems at `site` (the include entry).
pub(crate) fn apply_at(
    header: Option<&Node>,
    inputs: Option<&Node>,
    config: Node,
    file: &str,
    variables: &Variables,
    site: &Site,
) -> Result<Node, Diagnostics> {
    let mut diags = Diagnostics::new();
    let Some(header) = header else {
        reject_inputs_without_header(inputs, file, site, &mut diags);
        interpolate::reject_blocks(&config, file, &mut diags);
        return if diags.has_errors() {
            Err(diags)
        } else {
            Ok(config)
        };
    };
    let specs = parse_header(header, file, &mut diags);
    let values = resolve_values(&specs, inputs, file, site, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    let ctx = interpolate::Context {
        inputs: &values,
        file,
        variables,
    };
    let config = interpolate::interpolate(config, &ctx, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(config)
    }
}

/// The value of every input (given or default), in header order, validated.
fn resolve_values(
    specs: &[InputSpec],
    given: Option<&Node>,
    file: &str,
    site: &Site,
    diags: &mut Diagnostics,
) -> IndexMap<String, Node> {
    let given_map = match given {
        Some(node) if node.is_null() => None,
        Some(node) => match node.as_map() {
            Some(map) => Some(map),
            None => {
                diags.push(error(
                    &node.location,
                    &join(&site.key_path, "inputs"),
                    format!(
                        "`inputs` must be a mapping of input names to values, found {}",
                        node.type_name()
                    ),
                ));
                return IndexMap::new();
            }
        },
        None => None,
    };
    if let Some(map) = given_map {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        for (key, _) in map
            .iter()
            .filter(|(k, _)| !names.contains(&k.name.as_str()))
        {
            diags.push(unknown_input(
                key,
                &join(&site.key_path, "inputs"),
                &names,
                file,
            ));
        }
    }
    let mut values = IndexMap::new();
    for spec in specs {
        let value = given_map.and_then(|m| m.get(&spec.name));
        if let Some(default) = &spec.default {
            validate_value(
                spec,
                default,
                "default",
                file,
                &format!("spec.inputs.{}.default", spec.name),
                diags,
            );
        }
        if let Some(value) = value {
            let key_path = join(&site.key_path, &format!("inputs.{}", spec.name));
            validate_value(spec, value, "provided", file, &key_path, diags);
        }
        match value.or(spec.default.as_ref()) {
            Some(v) => {
                values.insert(spec.name.clone(), v.clone());
            }
            None => diags.push(missing_input(spec, given, file, site)),
        }
    }
    values
}

fn missing_input(spec: &InputSpec, given: Option<&Node>, file: &str, site: &Site) -> Diagnostic {
    let name = &spec.name;
    let (location, key_path) = match (given, &site.location) {
        (Some(node), _) => (Some(node.location.clone()), join(&site.key_path, "inputs")),
        (None, Some(location)) => (Some(location.clone()), site.key_path.clone()),
        (None, None) => (Some(spec.location.clone()), format!("spec.inputs.{name}")),
    };
    let hint = if site.location.is_some() {
        format!(
            "add `{name}:` under `inputs:` of this include, or give the input a `default` in `{file}`"
        )
    } else {
        format!(
            "give the input a `default` in `{file}`, or pass a value for it when creating the pipeline"
        )
    };
    Diagnostic::error(
        location,
        key_path,
        format!("input `{name}` of `{file}` is required but no value was given"),
    )
    .with_hint(hint)
}

/// Checks one value (given or default) against its input's type, options and regex.
fn validate_value(
    spec: &InputSpec,
    value: &Node,
    what: &str,
    file: &str,
    key_path: &str,
    diags: &mut Diagnostics,
) {
    let name = &spec.name;
    if !spec.kind.accepts(value) {
        diags.push(error(
            &value.location,
            key_path,
            format!(
                "the {what} value of input `{name}` of `{file}` must be {}, found {}",
                type_article(spec.kind),
                value.type_name()
            ),
        ));
        return;
    }
    if let Some(options) = &spec.options
        && !options.iter().any(|o| same_value(o, value)) {
            let allowed: Vec<String> = options.iter().map(display).collect();
            diags.push(
                error(&value.location, key_path, format!("the {what} value `{}` of input `{name}` of `{file}` is not one of its options", display(value)))
                    .with_hint(format!("use one of: {}", backticked(&allowed))),
            );
        }
    if let (Some((pattern, re_location)), Some(text)) = (&spec.regex, value.as_str()) {
        match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(text) => {}
            Ok(_) => diags.push(error(
                &value.location,
                key_path,
                format!("the {what} value `{text}` of input `{name}` of `{file}` does not match its regex `{pattern}`"),
            )),
            Err(e) => diags.push(error(re_location, &format!("spec.inputs.{name}.regex"), format!("the regex of input `{name}` of `{file}` is invalid: {}", first_line(&e.to_string())))),
        }
    }
}

fn reject_inputs_without_header(
    inputs: Option<&Node>,
    file: &str,
    site: &Site,
    diags: &mut Diagnostics,
) {
    let Some(node) = inputs else { return };
    let empty = node.is_null() || node.as_map().is_some_and(|m| m.is_empty());
    if !empty {
        diags.push(
            error(&node.location, &join(&site.key_path, "inputs"), format!("`{file}` declares no `spec:inputs` header, so it takes no inputs"))
                .with_hint(format!("remove `inputs:` here, or declare the inputs in a `spec:` header document at the top of `{file}`")),
        );
    }
}

fn unknown_input(key: &super::node::Key, key_path: &str, names: &[&str], file: &str) -> Diagnostic {
    let d = error(
        &key.location,
        &join(key_path, &key.name),
        format!("`{file}` has no input `{}`", key.name),
    );
    match did_you_mean(&key.name, names.iter().copied()) {
        Some(best) => d.with_hint(format!("did you mean `{best}`?")),
        None if names.is_empty() => d.with_hint(format!("`{file}` declares no inputs")),
        None => d.with_hint(format!("its inputs are: {}", backticked(names))),
    }
}

/// Whether two nodes hold the same value, ignoring where they were written (Ruby `==`).
pub(crate) fn same_value(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(&k.name).is_some_and(|w| same_value(v, w)))
        }
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (x, y) => x == y,
    }
}



/// A value for a message: scalars as Ruby prints them, collections as JSON.
pub(crate) fn display(node: &Node) -> String {
    node.scalar_to_string()
        .unwrap_or_else(|| node.to_json().to_string())
}

/// `` `a`, `b`, `c` ``.
pub(crate) fn backticked<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_article(kind: InputType) -> String {
    match kind {
        InputType::Array => "an array".to_owned(),
        other => format!("a {}", other.name()),
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

fn error(location: &Location, key_path: &str, message: String) -> Diagnostic {
    Diagnostic::error(Some(location.clone()), key_path, message)
}

#[cfg(test)]
mod tests;
