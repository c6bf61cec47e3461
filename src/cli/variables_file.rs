//! `--variables-file`: CI/CD variables for `sluice run`, as YAML.
//!
//! ```yaml
//! DEPLOY_ENV: staging                 # a plain variable
//! API_TOKEN:                          # a masked one
//!   value: "c2VjcmV0LXRva2Vu"
//!   masked: true
//! KUBECONFIG:                         # a file variable: the job sees a path
//!   value: "apiVersion: v1 ..."
//!   type: file
//! ```
//!
//! The file is read with the `ci` YAML loader, so every error names its line and column.

use crate::ci::node::{Node, Value};
use crate::ci::yaml;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::run::RunVariable;

const KEYS: &[&str] = &["value", "masked", "type", "description"];

/// Reads the variables in `text` (the contents of `file`).
///
/// # Errors
/// Every problem in the file, located: not a mapping, a bad name, an unknown key, a value
/// that is not a scalar, a `type` other than `env_var` or `file`.
pub fn parse(file: &str, text: &str) -> Result<Vec<RunVariable>, Diagnostics> {
    let loaded = yaml::load(file, text)?;
    let mut diags = Diagnostics::new();
    let mut variables = Vec::new();
    let map = match &loaded.config.value {
        Value::Map(map) => map,
        Value::Null => return Ok(variables),
        _ => {
            diags.push(Diagnostic::error(Some(loaded.config.location.clone()), "", "must be a mapping of variable names to values"));
            return Err(diags);
        }
    };
    for (key, node) in map.iter() {
        if key.name.is_empty() || !key.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            diags.push(
                Diagnostic::error(Some(key.location.clone()), &key.name, "is not a valid variable name")
                    .with_hint("use letters, digits and `_`"),
            );
            continue;
        }
        if let Some(variable) = parse_one(&key.name, node, &mut diags) {
            variables.push(variable);
        }
    }
    if diags.has_errors() { Err(diags) } else { Ok(variables) }
}

fn parse_one(name: &str, node: &Node, diags: &mut Diagnostics) -> Option<RunVariable> {
    let Value::Map(map) = &node.value else {
        return match node.scalar_to_string() {
            Some(value) => Some(RunVariable::new(name, value)),
            None => {
                diags.push(scalar_error(node, name));
                None
            }
        };
    };
    let mut variable = RunVariable::new(name, "");
    for (key, value) in map.iter() {
        let path = format!("{name}.{}", key.name);
        match key.name.as_str() {
            "value" => match value.scalar_to_string() {
                Some(text) => variable.value = text,
                None => diags.push(scalar_error(value, &path)),
            },
            "masked" => match value.as_bool() {
                Some(masked) => variable.masked = masked,
                None => diags.push(Diagnostic::error(Some(value.location.clone()), path, "must be `true` or `false`")),
            },
            "type" => match value.as_str() {
                Some("env_var") => variable.file = false,
                Some("file") => variable.file = true,
                _ => diags.push(
                    Diagnostic::error(Some(value.location.clone()), path, "must be `env_var` or `file`")
                        .with_hint("`file` gives the job the path of a file that holds the value"),
                ),
            },
            "description" => {}
            other => {
                let mut d = Diagnostic::error(Some(key.location.clone()), path, format!("unknown key `{other}`"));
                d = match did_you_mean(other, KEYS.iter().copied()) {
                    Some(close) => d.with_hint(format!("did you mean `{close}`?")),
                    None => d.with_hint("allowed keys: `value`, `masked`, `type`, `description`"),
                };
                diags.push(d);
            }
        }
    }
    Some(variable)
}

fn scalar_error(node: &Node, path: &str) -> Diagnostic {
    Diagnostic::error(Some(node.location.clone()), path, format!("must be a string, number or boolean, not {}", node.type_name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_masked_and_file_variables() {
        let text = "A: plain\nN: 3\nT:\n  value: c2VjcmV0LXRva2Vu\n  masked: true\nK:\n  value: kube\n  type: file\n";
        let vars = parse("vars.yml", text).unwrap();
        assert_eq!(vars.len(), 4);
        assert_eq!((vars[0].name.as_str(), vars[0].value.as_str()), ("A", "plain"));
        assert_eq!(vars[1].value, "3");
        assert!(vars[2].masked && !vars[2].file);
        assert!(vars[3].file && !vars[3].masked);
    }

    #[test]
    fn every_error_is_located() {
        let text = "bad-name: x\nA:\n  valeu: x\nB:\n  type: secret\nC: [1, 2]\n";
        let errors = parse("vars.yml", text).unwrap_err();
        let rendered: Vec<String> = errors.errors().map(ToString::to_string).collect();
        assert_eq!(rendered.len(), 4, "{rendered:?}");
        assert!(rendered[0].starts_with("vars.yml:1:1: bad-name: is not a valid variable name"), "{}", rendered[0]);
        assert!(rendered[1].starts_with("vars.yml:3:3: A.valeu: unknown key `valeu`") && rendered[1].contains("`value`"));
        assert!(rendered[2].starts_with("vars.yml:5:9: B.type: must be `env_var` or `file`"), "{}", rendered[2]);
        assert!(rendered[3].starts_with("vars.yml:6:4: C: must be a string"), "{}", rendered[3]);
    }
}
