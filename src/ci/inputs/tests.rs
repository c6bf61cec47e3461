use serde_json::json;

use super::*;
use crate::ci::node::{Key, Map};

/// Builds a node tree from JSON; every node of the tree gets its own line, in document order.
fn node(file: &str, value: serde_json::Value) -> Node {
    let mut line = 0;
    build(file, value, &mut line)
}

fn build(file: &str, value: serde_json::Value, line: &mut u32) -> Node {
    *line += 1;
    let location = Location::new(file, *line, 1);
    let value = match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Int),
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(items) => {
            Value::Seq(items.into_iter().map(|i| build(file, i, line)).collect())
        }
        serde_json::Value::Object(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = Key {
                    name: k,
                    location: Location::new(file, *line + 1, 1),
                };
                map.insert(key, build(file, v, line));
            }
            Value::Map(map)
        }
    };
    Node::new(value, location)
}

fn header(inputs: serde_json::Value) -> Node {
    node("t.yml", json!({ "spec": { "inputs": inputs } }))
}

fn messages(d: &Diagnostics) -> Vec<String> {
    d.errors().map(|e| e.message.clone()).collect()
}

#[test]
fn defaults_fill_missing_inputs_and_whole_scalars_keep_types() {
    let h = header(json!({
        "stage": { "default": "test" },
        "n": { "type": "number", "default": 3 },
        "flag": { "type": "boolean", "default": false },
        "needs": { "type": "array", "default": ["a", "b"] },
    }));
    let config = node(
        "t.yml",
        json!({
            "job": {
                "stage": "$[[ inputs.stage ]]",
                "parallel": "$[[ inputs.n ]]",
                "allow_failure": "$[[inputs.flag]]",
                "needs": "$[[ inputs.needs ]]",
                "script": ["echo $[[ inputs.n ]]-$[[ inputs.flag ]]", "$[[ inputs.needs ]]", "last"],
            }
        }),
    );
    let out = apply(Some(&h), None, config, "t.yml").unwrap();
    assert_eq!(
        out.to_json(),
        json!({"job": {
            "stage": "test", "parallel": 3, "allow_failure": false, "needs": ["a", "b"],
            "script": ["echo 3-false", "a", "b", "last"],
        }})
    );
}

#[test]
fn given_inputs_override_defaults_and_keys_are_interpolated() {
    let h = header(json!({ "prefix": null, "stage": { "default": "test" } }));
    let inputs = node("main.yml", json!({ "prefix": "svc", "stage": "deploy" }));
    let config = node(
        "t.yml",
        json!({ "$[[ inputs.prefix ]]-scan": { "stage": "$[[ inputs.stage ]]" } }),
    );
    let out = apply(Some(&h), Some(&inputs), config, "t.yml").unwrap();
    assert_eq!(out.to_json(), json!({ "svc-scan": { "stage": "deploy" } }));
}

#[test]
fn missing_required_and_unknown_inputs_are_reported_with_the_file() {
    let h = header(json!({ "environment": null, "stage": { "default": "test" } }));
    let inputs = node("main.yml", json!({ "stgae": "x" }));
    let err = apply(Some(&h), Some(&inputs), node("t.yml", json!({})), "t.yml").unwrap_err();
    let all: Vec<_> = err.errors().collect();
    assert_eq!(all.len(), 2, "{err}");
    assert_eq!(all[0].message, "`t.yml` has no input `stgae`");
    assert_eq!(all[0].hint.as_deref(), Some("did you mean `stage`?"));
    assert_eq!(all[0].location.as_ref().unwrap().file.as_ref(), "main.yml");
    assert_eq!(
        all[1].message,
        "input `environment` of `t.yml` is required but no value was given"
    );
}

#[test]
fn types_options_and_regex_are_checked_for_values_and_defaults() {
    let h = header(json!({
        "n": { "type": "number" },
        "env": { "options": ["dev", "prod"] },
        "version": { "regex": "^v\\d+\\.\\d+$" },
        "bad_default": { "type": "boolean", "default": "yes" },
    }));
    let inputs = node(
        "main.yml",
        json!({ "n": "3", "env": "staging", "version": "1.0" }),
    );
    let err = apply(Some(&h), Some(&inputs), node("t.yml", json!({})), "t.yml").unwrap_err();
    assert_eq!(
        messages(&err),
        [
            "the provided value of input `n` of `t.yml` must be a number, found a string",
            "the provided value `staging` of input `env` of `t.yml` is not one of its options",
            "the provided value `1.0` of input `version` of `t.yml` does not match its regex `^v\\d+\\.\\d+$`",
            "the default value of input `bad_default` of `t.yml` must be a boolean, found a string",
        ]
    );
    assert_eq!(err.0[1].hint.as_deref(), Some("use one of: `dev`, `prod`"));
}

#[test]
fn valid_regex_and_options_pass() {
    let h = header(json!({ "env": { "options": ["dev", "prod"] }, "v": { "regex": "^v\\d" } }));
    let inputs = node("main.yml", json!({ "env": "prod", "v": "v1" }));
    let out = apply(
        Some(&h),
        Some(&inputs),
        node("t.yml", json!({"x": "$[[ inputs.env ]]/$[[ inputs.v ]]"})),
        "t.yml",
    )
    .unwrap();
    assert_eq!(out.to_json(), json!({"x": "prod/v1"}));
}

#[test]
fn functions_apply_in_order() {
    let h =
        header(json!({ "test": { "default": "test $MY_VAR" }, "arg": { "default": "it's a b" } }));
    let mut vars = Variables::new();
    vars.set("MY_VAR", "my value");
    let config = node(
        "t.yml",
        json!({
            "a": "echo $[[ inputs.test | expand_vars | truncate(5,8) ]]",
            "b": "$[[ inputs.arg | posix_escape ]]",
            "c": "$[[ inputs.test | truncate(0,4) ]]",
        }),
    );
    let out = apply_with_variables(Some(&h), None, config, "t.yml", &vars).unwrap();
    assert_eq!(
        out.to_json(),
        json!({"a": "echo my value", "b": "it\\'s\\ a\\ b", "c": "test"})
    );
}

#[test]
fn unknown_input_function_and_too_many_functions_are_located_errors() {
    let h = header(json!({ "stage": { "default": "x" }, "n": { "type": "number", "default": 1 } }));
    let config = node(
        "t.yml",
        json!({
            "job": {
                "stage": "$[[ inputs.stag ]]",
                "script": ["$[[ inputs.stage | upcase ]]", "$[[ inputs.n | truncate(1,1) ]]"],
                "x": "$[[ inputs.stage | expand_vars | expand_vars | expand_vars | expand_vars ]]",
                "y": "$[[ vars.stage ]]",
            }
        }),
    );
    let err = apply(Some(&h), None, config, "t.yml").unwrap_err();
    let all: Vec<_> = err.errors().collect();
    assert_eq!(all.len(), 5, "{err}");
    assert_eq!(
        all[0].message,
        "`$[[ inputs.stag ]]` in `t.yml`: unknown input `stag`"
    );
    assert_eq!(all[0].hint.as_deref(), Some("did you mean `stage`?"));
    assert_eq!(all[0].key_path, "job.stage");
    assert_eq!(all[0].location.as_ref().unwrap().line, 3);
    assert!(
        all[1].message.contains("no function matching `upcase`"),
        "{}",
        all[1].message
    );
    assert_eq!(all[1].key_path, "job.script[0]");
    assert!(
        all[2]
            .message
            .contains("truncate can only be used with string inputs"),
        "{}",
        all[2].message
    );
    assert!(
        all[3].message.contains("too many functions"),
        "{}",
        all[3].message
    );
    assert!(
        all[4].message.contains("unknown interpolation key `vars`"),
        "{}",
        all[4].message
    );
}

#[test]
fn blocks_without_header_are_errors_and_inputs_without_header_too() {
    let config = node(
        "t.yml",
        json!({ "job": { "script": "echo $[[ inputs.x ]]" } }),
    );
    let err = apply(None, None, config.clone(), "t.yml").unwrap_err();
    assert_eq!(
        messages(&err),
        ["`$[[ inputs.x ]]` is used in `t.yml`, which declares no `spec:inputs` header"]
    );
    assert_eq!(err.0[0].key_path, "job.script");

    let plain = node(
        "t.yml",
        json!({ "job": { "script": "echo $[ not a block" } }),
    );
    let inputs = node("main.yml", json!({ "x": 1 }));
    let err = apply(None, Some(&inputs), plain.clone(), "t.yml").unwrap_err();
    assert_eq!(
        messages(&err),
        ["`t.yml` declares no `spec:inputs` header, so it takes no inputs"]
    );
    assert_eq!(apply(None, None, plain.clone(), "t.yml").unwrap(), plain);
}

#[test]
fn header_keys_are_validated() {
    let h = node(
        "t.yml",
        json!({
            "spec": { "inputs": { "a": { "typ": "string", "type": "list", "options": ["x"], "regex": "(" } }, "component": ["name"] },
            "other": 1,
        }),
    );
    let err = apply(Some(&h), None, node("t.yml", json!({})), "t.yml").unwrap_err();
    let all = messages(&err);
    assert!(
        all.contains(&"the header of `t.yml` has an unknown key `other`".to_owned()),
        "{all:?}"
    );
    assert!(
        all.contains(&"`spec` in `t.yml` has an unknown key `component`".to_owned()),
        "{all:?}"
    );
    assert!(
        all.contains(&"input `a` of `t.yml` has an unknown key `typ`".to_owned()),
        "{all:?}"
    );
    assert!(
        all.contains(&"input `a` of `t.yml` has an unknown type `list`".to_owned()),
        "{all:?}"
    );
    assert_eq!(
        err.0
            .iter()
            .find(|d| d.message.contains("`typ`"))
            .unwrap()
            .hint
            .as_deref(),
        Some(
            "did you mean `type`? allowed keys: `default`, `description`, `options`, `regex`, `type`"
        )
    );
}

#[test]
fn options_and_regex_need_the_right_type() {
    let h = header(
        json!({ "a": { "type": "array", "options": [["x"]], "default": [] }, "b": { "type": "number", "regex": "1", "default": 1 } }),
    );
    let err = apply(Some(&h), None, node("t.yml", json!({})), "t.yml").unwrap_err();
    assert_eq!(
        messages(&err),
        [
            "input `a` of `t.yml` has `options`, which only string and number inputs can have",
            "input `b` of `t.yml` has a `regex`, which only string inputs can have",
        ]
    );
}

#[test]
fn invalid_regex_is_reported_when_used() {
    let h = header(json!({ "a": { "regex": "(", "default": "x" } }));
    let err = apply(Some(&h), None, node("t.yml", json!({})), "t.yml").unwrap_err();
    assert!(
        err.0[0]
            .message
            .starts_with("the regex of input `a` of `t.yml` is invalid"),
        "{err}"
    );
}

#[test]
fn number_options_and_array_inside_a_string() {
    let h = header(
        json!({ "n": { "type": "number", "options": [1, 2], "default": 2 }, "l": { "type": "array", "default": ["a", 1] } }),
    );
    let out = apply(
        Some(&h),
        None,
        node("t.yml", json!({"x": "n=$[[ inputs.n ]] l=$[[ inputs.l ]]"})),
        "t.yml",
    )
    .unwrap();
    assert_eq!(out.to_json(), json!({"x": "n=2 l=[\"a\", 1]"}));
}

#[test]
fn main_file_missing_input_points_at_the_header() {
    let h = header(json!({ "x": null }));
    let err = apply(Some(&h), None, node("t.yml", json!({})), "t.yml").unwrap_err();
    assert_eq!(err.0[0].key_path, "spec.inputs.x");
    assert_eq!(err.0[0].location.as_ref().unwrap().line, 4);
}
