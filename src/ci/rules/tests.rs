//! Tests of `rules:` parsing and matching through the public functions, on hand-built nodes.

use serde_json::json;

use super::*;
use crate::ci::node::{Key, Map};
use crate::ci::variables::Variables;

/// Builds a located node tree from JSON; every node gets its own line, in document order.
pub(crate) fn node(value: serde_json::Value) -> Node {
    let mut line = 0;
    build(&value, &mut line)
}

fn build(value: &serde_json::Value, line: &mut u32) -> Node {
    use serde_json::Value as J;
    *line += 1;
    let location = Location::new(".gitlab-ci.yml", *line, 3);
    let v = match value {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Int),
        J::String(s) => Value::Str(s.clone()),
        J::Array(items) => Value::Seq(items.iter().map(|i| build(i, line)).collect()),
        J::Object(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let child = build(v, line);
                let key = Key { name: k.clone(), location: Location::new(".gitlab-ci.yml", child.location.line, 1) };
                map.insert(key, child);
            }
            Value::Map(map)
        }
    };
    Node::new(v, location)
}

fn parse_ok(value: serde_json::Value, kind: RulesKind) -> Vec<Rule> {
    let mut diags = Diagnostics::new();
    let rules = parse(&node(value), "job.rules", kind, &mut diags);
    assert!(!diags.has_errors(), "unexpected errors: {diags}");
    rules
}

fn parse_err(value: serde_json::Value, kind: RulesKind) -> Diagnostics {
    let mut diags = Diagnostics::new();
    parse(&node(value), "job.rules", kind, &mut diags);
    assert!(diags.has_errors(), "expected errors");
    diags
}

fn vars(pairs: &[(&str, &str)]) -> Variables {
    let mut v = Variables::new();
    for (k, val) in pairs {
        v.set(*k, *val);
    }
    v
}

struct Env {
    variables: Variables,
    changed: Option<Vec<String>>,
    files: Vec<String>,
}

impl Env {
    fn new(pairs: &[(&str, &str)]) -> Env {
        Env { variables: vars(pairs), changed: None, files: Vec::new() }
    }
    fn changed(mut self, paths: &[&str]) -> Env {
        self.changed = Some(paths.iter().map(|s| s.to_string()).collect());
        self
    }
    fn files(mut self, paths: &[&str]) -> Env {
        self.files = paths.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Index of the first matching rule.
    fn first(&self, rules: &[Rule]) -> Option<usize> {
        let since = |r: &str| match r {
            "main" => Some(vec!["src/lib.rs".to_string()]),
            "empty" => Some(Vec::new()),
            _ => None,
        };
        let files = || self.files.clone();
        let env = RuleEnv { variables: &self.variables, changed_paths: self.changed.as_deref(), changed_since: &since, files: &files };
        first_match(rules, &env).map(|r| rules.iter().position(|x| std::ptr::eq(x, r)).unwrap_or(usize::MAX))
    }
}

#[test]
fn reads_every_job_rule_key() {
    let rules = parse_ok(
        json!([{
            "if": "$CI_COMMIT_TAG", "changes": ["a/*"], "exists": ["Dockerfile"], "when": "delayed",
            "start_in": "10 minutes", "allow_failure": true, "interruptible": false,
            "variables": {"A": "1", "N": 2}, "needs": ["build"]
        }]),
        RulesKind::Job,
    );
    let r = &rules[0];
    assert_eq!(r.if_.as_ref().map(Expression::source), Some("$CI_COMMIT_TAG"));
    assert_eq!(r.changes, Some(Changes { paths: vec!["a/*".into()], compare_to: None }));
    assert_eq!(r.exists.as_ref().map(|e| e.paths.clone()), Some(vec!["Dockerfile".to_string()]));
    assert_eq!(r.when.as_deref(), Some("delayed"));
    assert_eq!(r.start_in.as_deref(), Some("10 minutes"));
    assert_eq!((r.allow_failure, r.interruptible), (Some(true), Some(false)));
    assert_eq!(r.variables, vec![("A".to_string(), "1".to_string()), ("N".to_string(), "2".to_string())]);
    assert!(r.needs.is_some());
    assert_eq!(r.location.line, 2);
}

#[test]
fn unknown_key_is_located_with_did_you_mean() {
    let diags = parse_err(json!([{"if": "$A"}, {"chnages": ["x"]}]), RulesKind::Job);
    let d = diags.errors().next().unwrap();
    assert_eq!(d.key_path, "job.rules[1].chnages");
    assert_eq!(d.message, "unknown key `chnages` in a rule");
    assert!(d.hint.as_deref().unwrap().starts_with("did you mean `changes`?"), "{:?}", d.hint);
    assert_eq!(d.location.as_ref().unwrap().column, 1);
}

#[test]
fn keys_are_checked_per_kind() {
    let d = parse_err(json!([{"if": "$A", "auto_cancel": {}}]), RulesKind::Job);
    assert_eq!(d.errors().next().unwrap().message, "`auto_cancel` is not allowed in job rules");
    let d = parse_err(json!([{"if": "$A", "variables": {"A": "1"}}]), RulesKind::Include);
    assert_eq!(d.errors().next().unwrap().message, "`variables` is not allowed in `include:rules`");
    parse_ok(json!([{"if": "$A", "auto_cancel": {"on_new_commit": "none"}, "variables": {"X": "y"}}]), RulesKind::Workflow);
}

#[test]
fn workflow_accepts_legacy_keys_with_a_warning() {
    let mut diags = Diagnostics::new();
    let rules = parse(&node(json!([{"if": "$A", "allow_failure": true}])), "workflow.rules", RulesKind::Workflow, &mut diags);
    assert_eq!(rules.len(), 1);
    assert!(!diags.has_errors());
    assert_eq!(diags.warnings().count(), 1);
}

#[test]
fn when_values_are_checked_per_kind() {
    parse_ok(json!([{"when": "manual"}, {"when": "on_failure"}]), RulesKind::Job);
    let d = parse_err(json!([{"when": "manual"}]), RulesKind::Workflow);
    let e = d.errors().next().unwrap();
    assert_eq!(e.key_path, "job.rules[0].when");
    assert!(e.message.contains("must be one of `always`, `never`"), "{}", e.message);
    let d = parse_err(json!([{"when": "allways"}]), RulesKind::Include);
    assert_eq!(d.errors().next().unwrap().hint.as_deref(), Some("did you mean `always`?"));
}

#[test]
fn delayed_needs_start_in_and_start_in_needs_delayed() {
    let d = parse_err(json!([{"when": "delayed"}]), RulesKind::Job);
    assert_eq!(d.errors().next().unwrap().message, "`when: delayed` requires `start_in`");
    let d = parse_err(json!([{"if": "$A", "start_in": "1 day"}]), RulesKind::Job);
    assert_eq!(d.errors().next().unwrap().key_path, "job.rules[0].start_in");
    let d = parse_err(json!([{"when": "delayed", "start_in": "8 days"}]), RulesKind::Job);
    assert!(d.errors().next().unwrap().message.contains("limit of 1 week"));
    let d = parse_err(json!([{"when": "delayed", "start_in": "later"}]), RulesKind::Job);
    assert!(d.errors().next().unwrap().message.contains("not a valid duration"));
}

#[test]
fn types_are_checked() {
    let d = parse_err(json!([{"if": true}, {"allow_failure": "yes"}, {"changes": "a.txt"}, {"variables": ["A"]}]), RulesKind::Job);
    let paths: Vec<&str> = d.errors().map(|e| e.key_path.as_str()).collect();
    assert_eq!(paths, ["job.rules[0].if", "job.rules[1].allow_failure", "job.rules[2].changes", "job.rules[3].variables"]);
    let d = parse_err(json!({"if": "$A"}), RulesKind::Job);
    assert!(d.errors().next().unwrap().message.starts_with("must be a list of rules"));
    parse_err(json!([]), RulesKind::Job);
    parse_err(json!([{}]), RulesKind::Job);
    parse_err(json!(["$A"]), RulesKind::Job);
}

#[test]
fn invalid_if_reports_expression_error_and_hint() {
    let d = parse_err(json!([{"if": "${CI_COMMIT_TAG}"}, {"when": "never"}]), RulesKind::Job);
    let e = d.errors().next().unwrap();
    assert_eq!(e.key_path, "job.rules[0].if");
    assert!(e.message.starts_with("invalid expression: `${…}` is not supported"), "{}", e.message);
    assert!(e.message.contains("at character 1"));
    assert_eq!(e.hint.as_deref(), Some("write `$CI_COMMIT_TAG` instead of `${CI_COMMIT_TAG}`"));
}

#[test]
fn null_keys_are_absent() {
    let rules = parse_ok(json!([{"if": null, "when": null, "changes": null}]), RulesKind::Job);
    assert_eq!(rules[0], Rule::empty(rules[0].location.clone()));
    parse_err(json!([{"when": "delayed", "start_in": null}]), RulesKind::Job);
    parse_err(json!([{"if": "$A", "start_in": null}]), RulesKind::Job);
}

#[test]
fn valid_rules_survive_invalid_siblings() {
    let mut diags = Diagnostics::new();
    let rules = parse(&node(json!([{"if": "$A =="}, {"when": "never"}])), "job.rules", RulesKind::Job, &mut diags);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].when.as_deref(), Some("never"));
}

#[test]
fn nested_sequences_from_references_are_flattened() {
    let rules = parse_ok(json!([[{"if": "$A"}, {"if": "$B"}], {"when": "never"}]), RulesKind::Job);
    assert_eq!(rules.len(), 3);
}

#[test]
fn changes_and_exists_forms() {
    let rules = parse_ok(
        json!([
            {"changes": {"paths": ["a"], "compare_to": "refs/heads/main"}},
            {"exists": "Dockerfile"},
            {"exists": {"paths": ["x"], "project": "g/p", "ref": "main"}},
            {"exists": null}
        ]),
        RulesKind::Job,
    );
    assert_eq!(rules[0].changes.as_ref().unwrap().compare_to.as_deref(), Some("refs/heads/main"));
    assert_eq!(rules[1].exists.as_ref().unwrap().paths, ["Dockerfile"]);
    assert_eq!(rules[2].exists.as_ref().unwrap().git_ref.as_deref(), Some("main"));
    // A null key is absent, as GitLab compacts rules.
    assert!(rules[3].exists.is_none());
    parse_err(json!([{"changes": {"compare_to": "main"}}]), RulesKind::Job);
    parse_err(json!([{"exists": {"paths": ["x"], "ref": "main"}}]), RulesKind::Job);
    parse_err(json!([{"changes": {"paths": ["x"], "compare": "main"}}]), RulesKind::Job);
    let many: Vec<String> = (0..51).map(|i| format!("f{i}")).collect();
    parse_err(json!([{"changes": many}]), RulesKind::Job);
}

#[test]
fn first_match_picks_first_rule_whose_clauses_all_match() {
    let rules = parse_ok(
        json!([{"if": "$A == \"x\"", "when": "never"}, {"if": "$A", "changes": ["docs/*"]}, {"when": "manual"}]),
        RulesKind::Job,
    );
    assert_eq!(Env::new(&[("A", "x")]).first(&rules), Some(0));
    assert_eq!(Env::new(&[("A", "y")]).changed(&["docs/a.md"]).first(&rules), Some(1));
    assert_eq!(Env::new(&[("A", "y")]).changed(&["src/a.rs"]).first(&rules), Some(2));
    let only_if = parse_ok(json!([{"if": "$A"}]), RulesKind::Job);
    assert_eq!(Env::new(&[]).first(&only_if), None);
}

#[test]
fn changes_semantics() {
    let rules = parse_ok(json!([{"changes": ["*.md"]}]), RulesKind::Job);
    assert_eq!(Env::new(&[]).first(&rules), Some(0), "unknown changes match");
    assert_eq!(Env::new(&[]).changed(&[]).first(&rules), None, "no changes do not match");
    assert_eq!(Env::new(&[]).changed(&["docs/a.md"]).first(&rules), None, "`*` stays in its directory");
    assert_eq!(Env::new(&[]).changed(&["README.md"]).first(&rules), Some(0));
    let deep = parse_ok(json!([{"changes": ["**/*.md"]}]), RulesKind::Job);
    assert_eq!(Env::new(&[]).changed(&["a.md"]).first(&deep), Some(0));
    assert_eq!(Env::new(&[]).changed(&["x/y/a.md"]).first(&deep), Some(0));
}

#[test]
fn changes_expand_variables_and_keep_unknown_ones() {
    let rules = parse_ok(json!([{"changes": ["$DIR/**/*", "${OTHER}/x"]}]), RulesKind::Job);
    let env = Env::new(&[("DIR", "services/api")]);
    assert_eq!(env.changed(&["services/api/src/main.rs"]).first(&rules), Some(0));
    // An unknown `${OTHER}` stays as written; its braces then expand as a glob group, as in
    // Ruby, so the glob is `$OTHER/x`.
    assert_eq!(Env::new(&[]).changed(&["$OTHER/x"]).first(&rules), Some(0));
    assert_eq!(Env::new(&[]).changed(&["${OTHER}/x"]).first(&rules), None);
}

#[test]
fn compare_to_uses_changed_since() {
    let rules = parse_ok(json!([{"changes": {"paths": ["src/*"], "compare_to": "$BASE"}}]), RulesKind::Job);
    // The push's own changes are ignored when compare_to is given.
    assert_eq!(Env::new(&[("BASE", "main")]).changed(&["docs/x"]).first(&rules), Some(0));
    assert_eq!(Env::new(&[("BASE", "empty")]).changed(&["src/a"]).first(&rules), None);
    // Unknown ref: treated as unknown changes, so the clause matches.
    assert_eq!(Env::new(&[("BASE", "nope")]).changed(&[]).first(&rules), Some(0));
}

#[test]
fn exists_semantics() {
    let files = ["Dockerfile", "docs/guide.md", "src/lib.rs", ".hidden/x.yml"];
    let check = |paths: serde_json::Value, vars: &[(&str, &str)]| {
        let rules = parse_ok(json!([{"exists": paths}]), RulesKind::Job);
        Env::new(vars).files(&files).first(&rules).is_some()
    };
    assert!(check(json!(["Dockerfile"]), &[]));
    assert!(!check(json!(["Makefile"]), &[]));
    assert!(check(json!(["docs"]), &[]), "top-level directories count for top-level globs");
    assert!(check(json!(["docs/"]), &[]));
    assert!(check(json!(["**/*.md"]), &[]));
    assert!(!check(json!(["*.md"]), &[]));
    assert!(check(json!(["**/*.yml"]), &[]));
    assert!(check(json!(["$DIR/*.rs"]), &[("DIR", "src")]));
    assert!(!check(json!([]), &[]));
    let project = json!({"paths": ["Dockerfile"], "project": "$CI_PROJECT_PATH"});
    assert!(check(project.clone(), &[("CI_PROJECT_PATH", "g/p")]));
    assert!(!check(json!({"paths": ["Dockerfile"], "project": "other/p"}), &[("CI_PROJECT_PATH", "g/p")]));
}

#[test]
fn exists_gives_up_as_gitlab_does_after_10000_checks() {
    let files: Vec<String> = (0..10_001).map(|i| format!("f{i}.txt")).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let rules = parse_ok(json!([{"exists": ["*.nothing"]}]), RulesKind::Job);
    assert_eq!(Env::new(&[]).files(&refs).first(&rules), Some(0));
    let rules = parse_ok(json!([{"exists": ["nothing.txt"]}]), RulesKind::Job);
    assert_eq!(Env::new(&[]).files(&refs).first(&rules), None, "exact names have no limit");
}
