//! Tests of `only`/`except` through [`parse`] and [`included`].

use serde_json::json;

use super::*;
use crate::ci::context::MergeRequest;
use crate::ci::rules::tests::node;
use crate::ci::variables::Variables;

fn policy(value: serde_json::Value) -> OnlyExcept {
    let mut diags = Diagnostics::new();
    let p = parse(&node(value), "job.only", &mut diags);
    assert!(!diags.has_errors(), "unexpected errors: {diags}");
    p
}

fn errors(value: serde_json::Value) -> Vec<Diagnostic> {
    let mut diags = Diagnostics::new();
    parse(&node(value), "job.only", &mut diags);
    diags.errors().cloned().collect()
}

fn branch(name: &str) -> PipelineContext {
    PipelineContext::push("group/app", name, "abc")
}

fn tag(name: &str) -> PipelineContext {
    let mut ctx = branch("main");
    ctx.git_ref = GitRef::Tag(name.into());
    ctx
}

fn with_source(mut ctx: PipelineContext, source: PipelineSource) -> PipelineContext {
    ctx.source = source;
    ctx
}

fn merge_request() -> PipelineContext {
    let mut ctx = with_source(branch("feature"), PipelineSource::MergeRequestEvent);
    ctx.merge_request = Some(MergeRequest { iid: 1, source_branch: "feature".into(), target_branch: "main".into(), ..Default::default() });
    ctx
}

/// Whether the job is included, with `vars` visible and `changed` paths (None = unknown).
fn run(only: Option<&OnlyExcept>, except: Option<&OnlyExcept>, ctx: &PipelineContext, vars: &[(&str, &str)], changed: Option<&[&str]>) -> bool {
    let mut variables = Variables::new();
    for (k, v) in vars {
        variables.set(*k, *v);
    }
    let changed: Option<Vec<String>> = changed.map(|c| c.iter().map(|s| s.to_string()).collect());
    let since = |_: &str| None;
    let files = Vec::new;
    let env = RuleEnv { variables: &variables, changed_paths: changed.as_deref(), changed_since: &since, files: &files };
    included(only, except, &env, ctx)
}

fn inc(only: Option<&OnlyExcept>, except: Option<&OnlyExcept>, ctx: &PipelineContext) -> bool {
    run(only, except, ctx, &[], None)
}

#[test]
fn default_is_branches_and_tags() {
    assert!(inc(None, None, &branch("main")));
    assert!(inc(None, None, &tag("v1")));
    assert!(!inc(None, None, &merge_request()), "merge request pipelines are not branch pipelines");
    assert!(inc(None, None, &with_source(branch("main"), PipelineSource::Schedule)));
}

#[test]
fn refs_keywords_match_pipeline_sources() {
    let cases = [
        ("merge_requests", merge_request(), true),
        ("merge_requests", branch("main"), false),
        ("schedules", with_source(branch("main"), PipelineSource::Schedule), true),
        ("pushes", branch("main"), true),
        ("web", with_source(branch("main"), PipelineSource::Web), true),
        ("api", with_source(branch("main"), PipelineSource::Api), true),
        ("triggers", with_source(branch("main"), PipelineSource::Trigger), true),
        ("pipelines", with_source(branch("main"), PipelineSource::Pipeline), true),
        ("chat", with_source(branch("main"), PipelineSource::Chat), true),
        ("external_pull_requests", with_source(branch("x"), PipelineSource::ExternalPullRequestEvent), true),
        ("merge_requests", with_source(branch("x"), PipelineSource::ExternalPullRequestEvent), true),
        ("tags", branch("main"), false),
        ("branches", tag("v1"), false),
        ("external", branch("main"), false),
    ];
    for (keyword, ctx, expected) in cases {
        let only = policy(json!([keyword]));
        assert_eq!(inc(Some(&only), None, &ctx), expected, "{keyword} on {:?}", ctx.source);
    }
}

#[test]
fn refs_names_patterns_and_projects() {
    let only = policy(json!(["main", "/^release-.*$/", "/^HOTFIX/i"]));
    assert!(inc(Some(&only), None, &branch("main")));
    assert!(!inc(Some(&only), None, &branch("main2")));
    assert!(inc(Some(&only), None, &branch("release-1.2")));
    assert!(inc(Some(&only), None, &tag("hotfix-3")));
    assert!(!inc(Some(&only), None, &branch("feature")));
    let scoped = policy(json!(["main@group/app"]));
    assert!(inc(Some(&scoped), None, &branch("main")));
    let other = policy(json!(["main@other/app"]));
    assert!(!inc(Some(&other), None, &branch("main")));
    let by_project = policy(json!(["branches@group/app"]));
    assert!(inc(Some(&by_project), None, &branch("x")));
}

#[test]
fn ref_patterns_do_not_apply_to_merge_request_pipelines() {
    let only = policy(json!(["/.*/"]));
    assert!(!inc(Some(&only), None, &merge_request()));
}

#[test]
fn except_excludes_matching_refs() {
    let except = policy(json!(["main", "tags"]));
    assert!(!inc(None, Some(&except), &branch("main")));
    assert!(!inc(None, Some(&except), &tag("v1")));
    assert!(inc(None, Some(&except), &branch("dev")));
}

#[test]
fn only_variables_any_expression_and_default_refs() {
    let only = policy(json!({"variables": ["$DEPLOY == \"yes\"", "$FORCE"]}));
    let ctx = branch("dev");
    assert!(run(Some(&only), None, &ctx, &[("DEPLOY", "yes")], None));
    assert!(run(Some(&only), None, &ctx, &[("FORCE", "1")], None));
    assert!(!run(Some(&only), None, &ctx, &[("DEPLOY", "no")], None));
    // refs default to [branches, tags] even when only `variables` is given.
    assert!(!run(Some(&only), None, &merge_request(), &[("FORCE", "1")], None));
}

#[test]
fn only_needs_every_key_and_except_any_key() {
    let only = policy(json!({"refs": ["main"], "variables": ["$GO"]}));
    assert!(run(Some(&only), None, &branch("main"), &[("GO", "1")], None));
    assert!(!run(Some(&only), None, &branch("main"), &[], None));
    assert!(!run(Some(&only), None, &branch("dev"), &[("GO", "1")], None));
    // GitLab's `none_of_except?`: one matching key is enough to exclude.
    let except = policy(json!({"refs": ["main"], "variables": ["$SKIP"]}));
    assert!(!run(None, Some(&except), &branch("main"), &[], None));
    assert!(!run(None, Some(&except), &branch("dev"), &[("SKIP", "1")], None));
    assert!(run(None, Some(&except), &branch("dev"), &[], None));
}

#[test]
fn changes_apply_only_to_pushes_with_a_diff() {
    let only = policy(json!({"changes": ["docs/**/*", "*.md"]}));
    let mut push = branch("dev");
    push.before_sha = Some("1111111111111111111111111111111111111111".into());
    assert!(run(Some(&only), None, &push, &[], Some(&["docs/x/a.txt"])));
    assert!(run(Some(&only), None, &push, &[], Some(&["README.md"])));
    assert!(!run(Some(&only), None, &push, &[], Some(&["src/a.md"])));
    assert!(run(Some(&only), None, &push, &[], None), "unknown changes match");
    // A new branch (no before sha) or a tag has no push diff: changes is true.
    assert!(run(Some(&only), None, &branch("dev"), &[], Some(&["src/a.rs"])));
    assert!(run(Some(&only), None, &tag("v1"), &[], Some(&["src/a.rs"])));
    let scheduled = with_source(push.clone(), PipelineSource::Schedule);
    assert!(run(Some(&only), None, &scheduled, &[], Some(&["src/a.rs"])));
    let except = policy(json!({"changes": ["*.md"]}));
    assert!(!run(None, Some(&except), &push, &[], Some(&["README.md"])));
    assert!(run(None, Some(&except), &push, &[], Some(&["src/a.rs"])));
}

#[test]
fn kubernetes_is_never_active() {
    let only = policy(json!({"kubernetes": "active"}));
    assert!(!inc(Some(&only), None, &branch("main")));
    let except = policy(json!({"kubernetes": "active"}));
    assert!(inc(None, Some(&except), &branch("main")));
}

#[test]
fn empty_refs_list_never_matches() {
    let only = policy(json!([]));
    assert!(!inc(Some(&only), None, &branch("main")));
}

#[test]
fn parse_errors_are_located() {
    let e = errors(json!({"ref": ["main"]}));
    assert_eq!(e[0].key_path, "job.only.ref");
    assert_eq!(e[0].hint.as_deref(), Some("did you mean `refs`? allowed keys: `refs`, `variables`, `changes`, `kubernetes`"));
    let e = errors(json!("main"));
    assert!(e[0].message.starts_with("must be a list of refs or a mapping"));
    let e = errors(json!({}));
    assert_eq!(e[0].message, "must not be an empty mapping");
    let e = errors(json!({"variables": ["$A == \"x\"", "!$B"]}));
    assert_eq!(e[0].key_path, "job.only.variables[1]");
    assert!(e[0].message.contains("unary `!` is not supported"));
    let e = errors(json!(["main", 1]));
    assert_eq!(e[0].key_path, "job.only[1]");
    let e = errors(json!(["/ab(/"]));
    assert!(e[0].message.contains("not a valid regular expression"));
    let e = errors(json!({"kubernetes": "inactive"}));
    assert_eq!(e[0].message, "`kubernetes` must be `active`");
    let e = errors(json!({"changes": "README.md"}));
    assert_eq!(e[0].key_path, "job.only.changes");
}
