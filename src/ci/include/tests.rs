use serde_json::json;

use super::*;
use crate::ci::source::MemoryReader;
use crate::ci::variables::predefined;

fn ctx() -> PipelineContext {
    PipelineContext::push("group/app", "main", "0123456789abcdef")
}

fn load(reader: &MemoryReader) -> Result<(Node, Diagnostics), Diagnostics> {
    let ctx = ctx();
    load_config(".gitlab-ci.yml", reader, &ctx, &predefined(&ctx), &|_| None)
}

fn ok(reader: &MemoryReader) -> serde_json::Value {
    match load(reader) {
        Ok((node, _)) => node.to_json(),
        Err(d) => panic!("unexpected errors:\n{d}"),
    }
}

fn errors(reader: &MemoryReader) -> Vec<Diagnostic> {
    match load(reader) {
        Ok((node, _)) => panic!("expected errors, got {}", node.to_json()),
        Err(d) => d.errors().cloned().collect(),
    }
}

fn main_with(text: &str) -> MemoryReader {
    MemoryReader::new().with_local(".gitlab-ci.yml", text)
}

#[test]
fn local_include_merges_and_removes_the_include_key() {
    let reader = main_with("include: ci/build.yml\nstages: [build]\n")
        .with_local("ci/build.yml", "build:\n  script: make\n");
    assert_eq!(
        ok(&reader),
        json!({"build": {"script": "make"}, "stages": ["build"]})
    );
    let reader = main_with("include:\n  - local: /ci/build.yml\n")
        .with_local("ci/build.yml", "build:\n  script: make\n");
    assert_eq!(ok(&reader), json!({"build": {"script": "make"}}));
}

#[test]
fn merge_order_is_includes_in_order_then_the_file_itself() {
    let reader = main_with(
        "include: [a.yml, b.yml]\nvariables:\n  MAIN: m\njob:\n  script: [main]\n",
    )
    .with_local("a.yml", "variables:\n  A: a\n  SHARED: from-a\njob:\n  stage: test\n  script: [a1, a2]\n  tags: [x]\n")
    .with_local("b.yml", "variables:\n  SHARED: from-b\njob:\n  tags: [y]\n");
    assert_eq!(
        ok(&reader),
        json!({
            "variables": {"A": "a", "SHARED": "from-b", "MAIN": "m"},
            "job": {"stage": "test", "script": ["main"], "tags": ["y"]},
        })
    );
}

#[test]
fn nested_includes_resolve_depth_first() {
    let reader = main_with("include: a.yml\n")
        .with_local("a.yml", "include: b.yml\nx: from-a\n")
        .with_local("b.yml", "x: from-b\ny: from-b\n");
    assert_eq!(ok(&reader), json!({"x": "from-a", "y": "from-b"}));
}

#[test]
fn wildcards_match_with_gitlab_semantics_in_path_order() {
    let reader = main_with("include: 'ci/*.yml'\n")
        .with_local("ci/b.yml", "b: 1\n")
        .with_local("ci/a.yml", "a: 1\n")
        .with_local("ci/sub/c.yml", "c: 1\n");
    let out = ok(&reader);
    assert_eq!(out, json!({"a": 1, "b": 1}));
    let reader = main_with("include:\n  - local: 'ci/**.yml'\n")
        .with_local("ci/a.yml", "a: 1\n")
        .with_local("ci/sub/c.yml", "c: 1\n");
    assert_eq!(ok(&reader), json!({"a": 1, "c": 1}));
}

#[test]
fn wildcard_matching_nothing_is_a_warning_and_non_yaml_matches_are_errors() {
    let reader = main_with("include: 'nothing/*.yml'\njob:\n  script: x\n");
    let (node, warnings) = load(&reader).unwrap();
    assert_eq!(node.to_json(), json!({"job": {"script": "x"}}));
    let w: Vec<_> = warnings.warnings().collect();
    assert_eq!(w.len(), 1);
    assert!(w[0].message.contains("matches no file"), "{}", w[0].message);

    let reader = main_with("include: 'ci/*'\n")
        .with_local("ci/a.yml", "a: 1\n")
        .with_local("ci/notes.txt", "hello\n");
    let errs = errors(&reader);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].message,
        "included file `ci/notes.txt` does not have a `.yml` or `.yaml` extension"
    );
}

#[test]
fn variables_expand_in_include_paths() {
    let reader = main_with("include: 'ci/$CI_COMMIT_REF_NAME.yml'\n")
        .with_local("ci/main.yml", "on_main: true\n");
    assert_eq!(ok(&reader), json!({"on_main": true}));
}

#[test]
fn project_includes_read_that_project_and_nested_locals_stay_in_it() {
    let tools = FileSource::Project {
        project: "group/tools".into(),
        git_ref: Some("v1".into()),
    };
    let reader = main_with("include:\n  project: group/tools\n  ref: v1\n  file: [/ci/a.yml]\n")
        .with(&tools, "ci/a.yml", "include: ci/b.yml\na: tools\n")
        .with(&tools, "ci/b.yml", "b: tools\n")
        .with_local("ci/b.yml", "b: wrong-project\n");
    assert_eq!(ok(&reader), json!({"b": "tools", "a": "tools"}));
}

#[test]
fn missing_project_file_names_project_and_ref() {
    let reader = main_with("include:\n  project: group/tools\n  file: ci/a.yml\n");
    let errs = errors(&reader);
    assert_eq!(
        errs[0].message,
        "file `ci/a.yml` does not exist in project `group/tools` on its default branch"
    );
    assert_eq!(errs[0].key_path, "include.file");
}

#[test]
fn templates_are_read_from_the_bundle_or_reported_missing() {
    let reader = main_with("include:\n  - template: Sluice/Verify.gitlab-ci.yml\n").with(
        &FileSource::Template,
        "Sluice/Verify.gitlab-ci.yml",
        "verify:\n  script: check\n",
    );
    assert_eq!(ok(&reader), json!({"verify": {"script": "check"}}));

    let errs = errors(&main_with(
        "include:\n  - template: Auto-DevOps.gitlab-ci.yml\n",
    ));
    assert_eq!(
        errs[0].message,
        "GitLab's template `Auto-DevOps.gitlab-ci.yml` is not bundled with Sluice"
    );
    assert!(errs[0].hint.as_deref().unwrap().contains("include:local"));
    assert_eq!(errs[0].key_path, "include[0].template");
}

#[test]
fn remote_includes_come_from_the_cache_only() {
    let url = "https://example.com/ci/shared.yml";
    let errs = errors(&main_with(&format!("include: {url}\n")));
    assert_eq!(
        errs[0].message,
        format!("remote includes are not fetched offline: `{url}` is not in the cache")
    );
    assert_eq!(
        errs[0].hint.as_deref(),
        Some(format!("download `{url}` into the repository and use `include:local`").as_str())
    );

    let reader = main_with(&format!("include:\n  remote: {url}\n")).with(
        &FileSource::Remote,
        url,
        "shared: 1\n",
    );
    assert_eq!(ok(&reader), json!({"shared": 1}));

    let errs = errors(&main_with(
        "include:\n  remote: http://192.168.0.10/a.yml\n",
    ));
    assert!(
        errs[0].message.contains("a private address"),
        "{}",
        errs[0].message
    );
    let errs = errors(&main_with("include: http://localhost:8080/a.yml\n"));
    assert!(
        errs[0].message.contains("`localhost`"),
        "{}",
        errs[0].message
    );
}

#[test]
fn components_are_refused_with_a_vendoring_hint() {
    let errs = errors(&main_with(
        "include:\n  - component: gitlab.com/org/comp/lint@1.0\n",
    ));
    assert_eq!(
        errs[0].message,
        "CI/CD components are not fetched by Sluice: cannot include `gitlab.com/org/comp/lint@1.0`"
    );
    assert!(errs[0].hint.as_deref().unwrap().contains("include:local"));
}

#[test]
fn rules_skip_includes() {
    let reader = main_with(
        "include:\n\
         \x20 - local: a.yml\n\
         \x20   rules:\n\
         \x20     - if: $CI_COMMIT_BRANCH == \"main\"\n\
         \x20 - local: b.yml\n\
         \x20   rules:\n\
         \x20     - if: $CI_COMMIT_BRANCH == \"other\"\n\
         \x20 - local: c.yml\n\
         \x20   rules:\n\
         \x20     - if: $CI_COMMIT_BRANCH\n\
         \x20       when: never\n\
         \x20 - local: d.yml\n\
         \x20   rules:\n\
         \x20     - exists: [Dockerfile]\n\
         \x20 - local: e.yml\n\
         \x20   rules:\n\
         \x20     - exists: [Makefile]\n",
    )
    .with_local("a.yml", "a: 1\n")
    .with_local("b.yml", "b: 1\n")
    .with_local("c.yml", "c: 1\n")
    .with_local("d.yml", "d: 1\n")
    .with_local("e.yml", "e: 1\n")
    .with_local("Dockerfile", "FROM scratch\n");
    assert_eq!(ok(&reader), json!({"a": 1, "d": 1}));
}

#[test]
fn inputs_are_passed_to_included_files() {
    let reader = main_with(
        "include:\n  - local: scan.yml\n    inputs:\n      stage: deploy\n      parallel: 2\n",
    )
    .with_local(
        "scan.yml",
        "spec:\n  inputs:\n    stage:\n      default: test\n    parallel:\n      type: number\n---\nscan:\n  stage: $[[ inputs.stage ]]\n  parallel: $[[ inputs.parallel ]]\n",
    );
    assert_eq!(
        ok(&reader),
        json!({"scan": {"stage": "deploy", "parallel": 2}})
    );
}

#[test]
fn input_errors_point_at_the_include_entry() {
    let reader = main_with(
        "job:\n  script: x\ninclude:\n  - local: scan.yml\n    inputs:\n      stgae: deploy\n",
    )
    .with_local(
        "scan.yml",
        "spec:\n  inputs:\n    stage:\n---\nscan:\n  stage: $[[ inputs.stage ]]\n",
    );
    let errs = errors(&reader);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].message, "`scan.yml` has no input `stgae`");
    assert_eq!(errs[0].hint.as_deref(), Some("did you mean `stage`?"));
    let loc = errs[0].location.as_ref().unwrap();
    assert_eq!((loc.file.as_ref(), loc.line), (".gitlab-ci.yml", 6));
    assert_eq!(errs[0].key_path, "include[0].inputs.stgae");
    assert_eq!(
        errs[1].message,
        "input `stage` of `scan.yml` is required but no value was given"
    );
}

#[test]
fn main_file_spec_uses_defaults() {
    let reader = main_with(
        "spec:\n  inputs:\n    image:\n      default: alpine\n---\njob:\n  image: $[[ inputs.image ]]\n",
    );
    assert_eq!(ok(&reader), json!({"job": {"image": "alpine"}}));
}

#[test]
fn the_same_file_may_be_included_twice() {
    let reader = main_with("include: [a.yml, b.yml, a.yml]\n")
        .with_local("a.yml", "x: a\n")
        .with_local("b.yml", "x: b\n");
    assert_eq!(ok(&reader), json!({"x": "a"}));
}

#[test]
fn at_most_150_includes_counting_repeats() {
    let list = |n: usize| format!("include:\n{}", "  - a.yml\n".repeat(n));
    let reader = main_with(&list(MAX_INCLUDES)).with_local("a.yml", "a: 1\n");
    assert_eq!(ok(&reader), json!({"a": 1}));
    let reader = main_with(&list(MAX_INCLUDES + 1)).with_local("a.yml", "a: 1\n");
    let errs = errors(&reader);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].message,
        "including `a.yml` goes over the limit of 150 includes per pipeline"
    );
    assert_eq!(errs[0].key_path, "include[150]");
    // Nested includes count too.
    let reader = main_with(&list(76))
        .with_local("a.yml", "include: b.yml\n")
        .with_local("b.yml", "b: 1\n");
    assert!(errors(&reader)[0].message.contains("limit of 150"));
}

#[test]
fn cycles_are_reported_with_their_path() {
    let reader = main_with("include: a.yml\n")
        .with_local("a.yml", "include: b.yml\n")
        .with_local("b.yml", "include: a.yml\n");
    let errs = errors(&reader);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].message, "include cycle: a.yml -> b.yml -> a.yml");
    let loc = errs[0].location.as_ref().unwrap();
    assert_eq!((loc.file.as_ref(), loc.line), ("b.yml", 1));

    let errs = errors(&main_with("include: .gitlab-ci.yml\n"));
    assert_eq!(
        errs[0].message,
        "include cycle: .gitlab-ci.yml -> .gitlab-ci.yml"
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_an_error() {
    let mut reader = main_with("include: f0.yml\n");
    for i in 0..=MAX_DEPTH {
        reader = reader.with_local(&format!("f{i}.yml"), &format!("include: f{}.yml\n", i + 1));
    }
    reader = reader.with_local(&format!("f{}.yml", MAX_DEPTH + 1), "end: 1\n");
    let errs = errors(&reader);
    assert!(
        errs[0].message.contains("more than 100 levels deep"),
        "{}",
        errs[0].message
    );
}

#[test]
fn errors_in_nested_files_are_located_there() {
    let reader = main_with("include: a.yml\n")
        .with_local(
            "a.yml",
            "x: 1\ninclude:\n  - local: missing.yml\n  - locl: b.yml\n",
        )
        .with_local("mising.yml", "");
    let errs = errors(&reader);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].message, "include has an unknown key `locl`");
    assert_eq!(errs[0].key_path, "include[1].locl");
    assert_eq!(
        errs[1].message,
        "file `missing.yml` does not exist in the repository"
    );
    assert_eq!(errs[1].hint.as_deref(), Some("did you mean `mising.yml`?"));
    let loc = errs[1].location.as_ref().unwrap();
    assert_eq!((loc.file.as_ref(), loc.line), ("a.yml", 3));
    assert_eq!(errs[1].key_path, "include[0].local");
}

#[test]
fn empty_and_non_mapping_files_are_errors() {
    let reader = main_with("include: [empty.yml, list.yml]\n")
        .with_local("empty.yml", "  \n")
        .with_local("list.yml", "- a\n- b\n");
    let errs = errors(&reader);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].message, "included file `empty.yml` is empty");
    assert_eq!(
        errs[0].location.as_ref().unwrap().file.as_ref(),
        ".gitlab-ci.yml"
    );
    // The YAML loader rejects a document that is not a mapping, located in that file.
    assert_eq!(errs[1].location.as_ref().unwrap().file.as_ref(), "list.yml");
}

#[test]
fn missing_main_file_is_an_error() {
    let errs = errors(&MemoryReader::new());
    assert!(
        errs[0]
            .message
            .starts_with("cannot read the CI configuration `.gitlab-ci.yml`"),
        "{}",
        errs[0].message
    );
}

#[test]
fn expand_vars_sees_the_pipeline_variables() {
    let reader = main_with("include:\n  - local: t.yml\n    inputs:\n      v: $CI_COMMIT_REF_NAME-x\n")
        .with_local("t.yml", "spec:\n  inputs:\n    v:\n---\njob:\n  script: echo $[[ inputs.v | expand_vars ]] $[[ inputs.v ]]\n");
    assert_eq!(
        ok(&reader),
        json!({"job": {"script": "echo main-x $CI_COMMIT_REF_NAME-x"}})
    );
}

#[test]
fn the_same_file_with_other_inputs_is_not_a_cycle() {
    let reader = main_with("include:\n  - local: t.yml\n    inputs: {n: one}\n").with_local(
        "t.yml",
        "spec:\n  inputs:\n    n:\n---\ninclude:\n  - local: t.yml\n    inputs: {n: two}\n    rules:\n      - if: '\"$[[ inputs.n ]]\" == \"one\"'\n$[[ inputs.n ]]: 1\n",
    );
    assert_eq!(ok(&reader), json!({"two": 1, "one": 1}));
}

#[test]
fn include_rules_changes_compare_to_reads_the_paths_changed_since_that_ref() {
    let text = "include:\n  - local: a.yml\n    rules:\n      - changes: {paths: [docs/*], compare_to: $BASE}\n  - local: b.yml\n    rules:\n      - changes: {paths: [src/*], compare_to: other}\n";
    let reader = main_with(text).with_local("a.yml", "a:\n  script: x\n").with_local("b.yml", "b:\n  script: x\n");
    let mut ctx = ctx();
    ctx.changed_paths = Some(vec!["src/main.rs".into()]);
    let mut variables = predefined(&ctx);
    variables.set("BASE", "main");
    let changed_since = |r: &str| (r == "main").then(|| vec!["docs/guide.md".to_owned()]);
    let (node, _) = load_config(".gitlab-ci.yml", &reader, &ctx, &variables, &changed_since).expect("valid");
    // `main` changed docs only; `other` is unknown, which GitLab would refuse and we take as changed.
    assert_eq!(node.to_json(), json!({"a": {"script": "x"}, "b": {"script": "x"}}));
    let changed_since = |r: &str| (r == "main").then(Vec::new).or_else(|| (r == "other").then(|| vec!["README.md".to_owned()]));
    let (node, _) = load_config(".gitlab-ci.yml", &reader, &ctx, &variables, &changed_since).expect("valid");
    assert_eq!(node.to_json(), json!({}));
}
