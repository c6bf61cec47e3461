//! Tests of job parsing through the public functions, on YAML text (loaded with a small
//! test-only loader so that locations are real).

use super::*;
use crate::ci::node::{Key, Map, Value};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Loads the single YAML document `text` (file `t.yml`; no anchors or tags) into nodes.
fn load(text: &str) -> Node {
    let events: Vec<(Event, Span)> = Parser::new_from_str(text).map(|e| e.expect("valid YAML")).collect();
    let mut pos = events.iter().position(|(e, _)| matches!(e, Event::DocumentStart(_))).expect("document") + 1;
    build(&events, &mut pos)
}

fn loc(span: &Span) -> Location {
    Location::new("t.yml", span.start.line() as u32, span.start.col() as u32 + 1)
}

fn build(events: &[(Event, Span)], pos: &mut usize) -> Node {
    let (event, span) = &events[*pos];
    *pos += 1;
    match event {
        Event::Scalar(text, style, _, _) => Node::new(scalar(text, *style), loc(span)),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            while !matches!(events[*pos].0, Event::SequenceEnd) {
                items.push(build(events, pos));
            }
            *pos += 1;
            Node::new(Value::Seq(items), loc(span))
        }
        Event::MappingStart(..) => {
            let mut map = Map::new();
            while !matches!(events[*pos].0, Event::MappingEnd) {
                let key = build(events, pos);
                let value = build(events, pos);
                map.insert(Key { name: key.scalar_to_string().unwrap_or_default(), location: key.location }, value);
            }
            *pos += 1;
            Node::new(Value::Map(map), loc(span))
        }
        other => panic!("unexpected event {other:?}"),
    }
}

fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => text
            .parse::<i64>()
            .map(Value::Int)
            .or_else(|_| text.parse::<f64>().map(Value::Float))
            .unwrap_or_else(|_| Value::Str(text.to_string())),
    }
}

/// Parses the first top-level key of `text` as a job, with `default:` if present.
fn parse(text: &str) -> (Option<JobSpec>, Diagnostics) {
    let root = load(text);
    let map = root.as_map().expect("mapping");
    let (key, node) = map.iter().find(|(k, _)| k.name != "default").expect("a job");
    let mut diags = Diagnostics::new();
    let spec = parse_job(&key.name, node, map.get("default"), &mut diags);
    (spec, diags)
}

fn ok(text: &str) -> JobSpec {
    let (spec, diags) = parse(text);
    assert!(diags.is_empty(), "unexpected diagnostics:\n{diags}");
    spec.expect("a job")
}

/// The errors as `line:column key_path: message`.
fn errors(text: &str) -> Vec<String> {
    let (spec, diags) = parse(text);
    assert!(spec.is_none(), "expected errors");
    diags
        .errors()
        .map(|d| {
            let l = d.location.as_ref().expect("located");
            format!("{}:{} {}: {}", l.line, l.column, d.key_path, d.message)
        })
        .collect()
}

fn hints(text: &str) -> Vec<String> {
    parse(text).1.0.iter().filter_map(|d| d.hint.clone()).collect()
}

#[test]
fn minimal_job_gets_gitlab_defaults() {
    let spec = ok("build:\n  script: make\n");
    assert_eq!(spec.stage, "test");
    assert_eq!(spec.when, When::OnSuccess);
    assert_eq!(spec.script, ["make"]);
    assert!(!spec.default_allow_failure());
    assert_eq!(spec.location, Location::new("t.yml", 2, 3));
    let job = serde_json::to_value(spec.to_job()).unwrap();
    assert_eq!(job["name"], "build");
    assert_eq!(job["when"], "on_success");
    assert_eq!(job["allow_failure"], false);
    assert_eq!(job["needs"], serde_json::Value::Null);
    assert_eq!(job["location"], "t.yml:2:3");
}

#[test]
fn unknown_key_is_located_with_did_you_mean() {
    assert_eq!(errors("build:\n  script: x\n  scirpt: y\n"), ["3:3 build: unknown key `scirpt`"]);
    assert_eq!(hints("build:\n  script: x\n  scirpt: y\n"), ["did you mean `script`?"]);
}

#[test]
fn job_must_be_a_mapping() {
    assert_eq!(errors("build: make\n"), ["1:8 build: job `build` must be a mapping of job keywords, found a string"]);
    assert_eq!(hints("stage: [a]\n"), ["did you mean the global keyword `stages`?"]);
}

#[test]
fn job_needs_script_run_or_trigger() {
    assert_eq!(errors("build:\n  stage: b\n"), ["2:3 build: job must have a `script`, `run` or `trigger` keyword"]);
    assert_eq!(hints("build:\n  stage: b\n"), ["to define a template for other jobs, hide it: `.build`"]);
    assert_eq!(errors("build:\n  script: []\n"), ["2:11 build.script: must not be empty"]);
}

#[test]
fn script_forms() {
    let spec = ok("j:\n  before_script: [a]\n  script:\n    - b\n    - [c, [d]]\n  after_script: e\n");
    assert_eq!(spec.before_script, ["a"]);
    assert_eq!(spec.script, ["b", "c", "d"]);
    assert_eq!(spec.after_script, ["e"]);
    assert_eq!(errors("j:\n  script:\n    - echo\n    - 42\n"), ["4:7 j.script[1]: expected a string, found an integer"]);
    assert_eq!(
        errors("j:\n  script:\n    - echo status: ok\n"),
        ["3:7 j.script[0]: expected a string (a command containing `: ` must be quoted), found a mapping"]
    );
    assert_eq!(
        errors("j:\n  script: x\n  after_script: 1\n"),
        ["3:17 j.after_script: expected a string or a list of strings (nested up to 10 levels), found an integer"]
    );
}

#[test]
fn script_and_trigger_conflict() {
    assert_eq!(errors("j:\n  script: x\n  trigger: a/b\n"), ["3:3 j: `script` and `trigger` cannot be used together"]);
    assert_eq!(errors("j:\n  script: x\n  run: [{name: a}]\n"), ["3:3 j: `script` and `run` cannot be used together"]);
}

#[test]
fn stage_must_be_a_string() {
    assert_eq!(ok("j:\n  script: x\n  stage: build\n").stage, "build");
    assert_eq!(errors("j:\n  script: x\n  stage: [a]\n"), ["3:10 j.stage: expected a string, found a sequence"]);
}

#[test]
fn when_values_and_never_error() {
    assert_eq!(ok("j:\n  script: x\n  when: always\n").when, When::Always);
    assert_eq!(
        errors("j:\n  script: x\n  when: never\n"),
        ["3:9 j.when: `never` is not allowed here: `when` must be one of `on_success`, `on_failure`, `always`, `manual`, `delayed`"]
    );
    assert_eq!(hints("j:\n  script: x\n  when: never\n"), ["to leave a job out, use `rules:` with `when: never`"]);
    assert_eq!(
        errors("j:\n  script: x\n  when: manul\n"),
        ["3:9 j.when: unknown value `manul`, expected one of `on_success`, `on_failure`, `always`, `manual`, `delayed`"]
    );
    assert_eq!(hints("j:\n  script: x\n  when: manul\n"), ["did you mean `manual`?"]);
}

#[test]
fn delayed_needs_start_in_within_a_week() {
    let spec = ok("j:\n  script: x\n  when: delayed\n  start_in: 30 minutes\n");
    assert_eq!((spec.when, spec.start_in), (When::Delayed, Some(1800)));
    assert_eq!(errors("j:\n  script: x\n  when: delayed\n"), ["3:9 j.when: `when: delayed` needs `start_in`"]);
    assert_eq!(errors("j:\n  script: x\n  start_in: 1 hour\n"), ["3:3 j: `start_in` can only be used with `when: delayed`"]);
    assert_eq!(
        errors("j:\n  script: x\n  when: delayed\n  start_in: 8 days\n"),
        ["4:13 j.start_in: `8 days` is longer than the limit of 1 week"]
    );
    assert!(parse("j:\n  script: x\n  when: delayed\n  start_in: 1 week\n").0.is_some());
}

#[test]
fn manual_jobs_allow_failure_by_default() {
    assert!(ok("j:\n  script: x\n  when: manual\n").default_allow_failure());
    assert!(!ok("j:\n  script: x\n  when: manual\n  allow_failure: false\n").default_allow_failure());
    let spec = ok("j:\n  script: x\n  allow_failure:\n    exit_codes: [137, 255]\n");
    assert_eq!(spec.allow_failure, Some(AllowFailure { allowed: false, exit_codes: vec![137, 255] }));
    assert_eq!(spec.to_job().allow_failure_exit_codes, [137, 255]);
    assert_eq!(
        errors("j:\n  script: x\n  allow_failure: yes please\n"),
        ["3:18 j.allow_failure: expected a boolean or a mapping with `exit_codes`, found a string"]
    );
    assert_eq!(
        errors("j:\n  script: x\n  allow_failure: {exit_codes: [a]}\n"),
        ["3:32 j.allow_failure.exit_codes[0]: expected an integer, found a string"]
    );
}

#[test]
fn rules_exclude_only_except_and_start_in() {
    let text = "j:\n  script: x\n  rules:\n    - when: always\n  only: [main]\n  except: [tags]\n";
    assert_eq!(
        errors(text),
        ["5:3 j: `only` may not be used with `rules`", "6:3 j: `except` may not be used with `rules`"]
    );
    assert!(ok("j:\n  script: x\n  only: [main]\n  except: [tags]\n").only.is_some());
}

#[test]
fn needs_forms() {
    let spec = ok("j:\n  script: x\n  needs:\n    - a\n    - job: b\n      artifacts: false\n      optional: true\n    - {pipeline: $PARENT_PIPELINE_ID, job: c}\n    - {project: g/p, job: d, ref: main}\n");
    let needs = spec.needs.unwrap();
    assert_eq!(needs.iter().map(|n| n.job.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert!(needs[0].artifacts && !needs[0].optional);
    assert!(!needs[1].artifacts && needs[1].optional);
    assert_eq!(needs[2].pipeline.as_deref(), Some("$PARENT_PIPELINE_ID"));
    assert_eq!((needs[3].project.as_deref(), needs[3].git_ref.as_deref()), (Some("g/p"), Some("main")));
    assert_eq!(needs[1].location, Location::new("t.yml", 5, 7));
    assert_eq!(ok("j:\n  script: x\n  needs: []\n").needs, Some(vec![]));
    let matrix = ok("j:\n  script: x\n  needs:\n    - job: t\n      parallel:\n        matrix:\n          - {OS: [a, b]}\n").needs.unwrap();
    assert_eq!(matrix[0].matrix.as_ref().unwrap()[0].variables, [("OS".to_string(), vec!["a".to_string(), "b".to_string()])]);
}

#[test]
fn needs_errors() {
    assert_eq!(
        errors("j:\n  script: x\n  needs: build\n"),
        ["3:10 j.needs: expected a list of job names or `{job: …}` mappings, found a string"]
    );
    assert_eq!(
        errors("j:\n  script: x\n  needs:\n    - artifacts: true\n"),
        ["4:7 j.needs[0]: missing `job`: a need names the job it waits for"]
    );
    assert_eq!(errors("j:\n  script: x\n  needs:\n    - {jb: a}\n"), [
        "4:8 j.needs[0]: unknown key `jb`",
        "4:7 j.needs[0]: missing `job`: a need names the job it waits for"
    ]);
    assert_eq!(
        errors("j:\n  script: x\n  needs:\n    - {job: a, artifacts: maybe}\n"),
        ["4:27 j.needs[0].artifacts: expected a boolean (`true` or `false`), found a string"]
    );
}

#[test]
fn rules_needs_use_the_given_key_path() {
    let node = load("- a\n- 3\n");
    let mut diags = Diagnostics::new();
    assert!(parse_needs(&node, "j.rules[0].needs", &mut diags).is_none());
    assert_eq!(diags.0[0].to_string(), "t.yml:2:3: j.rules[0].needs[1]: expected a job name or a `{job: …}` mapping, found an integer");
}

#[test]
fn dependencies_must_be_in_needs() {
    assert_eq!(ok("j:\n  script: x\n  dependencies: [a]\n").dependencies, Some(vec!["a".into()]));
    assert_eq!(
        errors("j:\n  script: x\n  needs: [a]\n  dependencies: [a, b]\n"),
        ["4:17 j.dependencies: `b` must also be listed in `needs`"]
    );
    assert_eq!(errors("j:\n  script: x\n  dependencies: a\n"), ["3:17 j.dependencies: expected a list of strings, found a string"]);
}

#[test]
fn parallel_forms() {
    assert_eq!(ok("j:\n  script: x\n  parallel: 5\n").parallel, Some(Parallel::Count(5)));
    let spec = ok("j:\n  script: x\n  parallel:\n    matrix:\n      - PROVIDER: aws\n        STACK: [a, b]\n      - PROVIDER: [gcp]\n");
    let Some(Parallel::Matrix(entries)) = spec.parallel else { panic!("matrix") };
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].variables[1], ("STACK".to_string(), vec!["a".to_string(), "b".to_string()]));
    assert_eq!(errors("j:\n  script: x\n  parallel: 201\n"), ["3:13 j.parallel: must be from 1 to 200, found 201"]);
    assert_eq!(errors("j:\n  script: x\n  parallel: 0\n"), ["3:13 j.parallel: must be from 1 to 200, found 0"]);
    assert_eq!(errors("j:\n  script: x\n  parallel:\n    matrx: []\n"), ["4:5 j.parallel: unknown key `matrx`"]);
    assert_eq!(
        errors("j:\n  script: x\n  parallel:\n    matrix:\n      - A: {b: c}\n"),
        ["5:12 j.parallel.matrix[0].A: expected a string, an integer or a list of them, found a mapping"]
    );
}

#[test]
fn retry_forms() {
    assert_eq!(ok("j:\n  script: x\n  retry: 2\n").retry.unwrap().max, 2);
    let retry = ok("j:\n  script: x\n  retry:\n    max: 1\n    when: [script_failure, api_failure]\n    exit_codes: 137\n").retry.unwrap();
    assert_eq!((retry.max, retry.when.len(), retry.exit_codes), (1, 2, vec![137]));
    assert_eq!(ok("j:\n  script: x\n  retry: {when: always}\n").retry.unwrap().when, ["always"]);
    assert_eq!(errors("j:\n  script: x\n  retry: 3\n"), ["3:10 j.retry: must be from 0 to 2, found 3"]);
    assert_eq!(
        errors("j:\n  script: x\n  retry: {when: [script_falure]}\n"),
        ["3:18 j.retry.when[0]: unknown failure reason `script_falure`"]
    );
    assert_eq!(hints("j:\n  script: x\n  retry: {when: [script_falure]}\n"), ["did you mean `script_failure`?"]);
    assert_eq!(
        errors("j:\n  script: x\n  retry: always\n"),
        ["3:10 j.retry: expected an integer from 0 to 2 or a mapping with `max`, `when`, `exit_codes`, found a string"]
    );
}

#[test]
fn timeout_is_a_duration_up_to_a_month() {
    assert_eq!(ok("j:\n  script: x\n  timeout: 1h 30m\n").timeout, Some(5400));
    assert_eq!(ok("j:\n  script: x\n  timeout: 3 hours\n").timeout, Some(10_800));
    assert_eq!(errors("j:\n  script: x\n  timeout: 3 hourz\n"), ["3:12 j.timeout: `3 hourz` is not a duration"]);
    assert_eq!(errors("j:\n  script: x\n  timeout: 3600\n"), ["3:12 j.timeout: expected a duration string, found `3600`"]);
    assert_eq!(errors("j:\n  script: x\n  timeout: 2 months\n"), ["3:12 j.timeout: `2 months` is longer than the limit of 1 month"]);
}

#[test]
fn booleans_and_strings() {
    let spec = ok("j:\n  script: x\n  interruptible: true\n  resource_group: prod\n");
    assert_eq!((spec.interruptible, spec.resource_group.as_deref()), (Some(true), Some("prod")));
    assert_eq!(
        errors("j:\n  script: x\n  interruptible: 1\n"),
        ["3:18 j.interruptible: expected a boolean (`true` or `false`), found an integer"]
    );
    assert_eq!(errors("j:\n  script: x\n  resource_group: [a]\n"), ["3:19 j.resource_group: expected a string, found a sequence"]);
}

#[test]
fn environment_forms() {
    let spec = ok("j:\n  script: x\n  environment: review/$CI_COMMIT_REF_SLUG\n");
    assert_eq!(spec.environment.unwrap().action, "start");
    let env = ok("j:\n  script: x\n  environment:\n    name: production\n    url: https://example.com\n    action: stop\n    deployment_tier: production\n    auto_stop_in: 1 day\n").environment.unwrap();
    assert_eq!((env.action.as_str(), env.auto_stop_in), ("stop", Some(crate::ci::pipeline::Expiry::Seconds(86_400))));
    assert_eq!(
        errors("j:\n  script: x\n  environment:\n    name: prod\n    action: destroy\n"),
        ["5:13 j.environment.action: unknown value `destroy`, expected one of `start`, `prepare`, `stop`, `verify`, `access`"]
    );
    assert_eq!(errors("j:\n  script: x\n  environment:\n    url: https://x\n"), ["4:5 j.environment: missing `name`"]);
    assert_eq!(
        errors("j:\n  script: x\n  environment: /prod\n"),
        ["3:16 j.environment: invalid environment name `/prod`: use letters, digits, `-`, `_`, `/`, `$`, `{`, `}`, `.` and spaces, not starting or ending with `/`"]
    );
}

#[test]
fn artifacts_forms() {
    let a = ok("j:\n  script: x\n  artifacts:\n    paths: [dist/]\n    expire_in: 1 week\n    when: always\n    reports:\n      junit: report.xml\n      dotenv: [build.env]\n").artifacts.unwrap();
    assert_eq!(a.paths, ["dist/"]);
    assert_eq!(a.expire_in, Some(crate::ci::pipeline::Expiry::Seconds(604_800)));
    assert_eq!(a.when, When::Always);
    assert_eq!(a.reports.len(), 2);
    assert_eq!(ok("j:\n  script: x\n  artifacts: {paths: [a], expire_in: never}\n").artifacts.unwrap().expire_in, Some(crate::ci::pipeline::Expiry::Never));
    assert_eq!(
        errors("j:\n  script: x\n  artifacts:\n    paths: dist\n    when: never\n"),
        [
            "4:12 j.artifacts.paths: expected a list of strings, found a string",
            "5:11 j.artifacts.when: unknown value `never`, expected one of `on_success`, `on_failure`, `always`"
        ]
    );
    assert_eq!(errors("j:\n  script: x\n  artifacts:\n    reports:\n      junitt: r.xml\n"), ["5:7 j.artifacts.reports: unknown key `junitt`"]);
    assert_eq!(
        errors("j:\n  script: x\n  artifacts: {paths: [a], public: true, access: none}\n"),
        ["3:41 j.artifacts: `public` and `access` cannot be used together"]
    );
}

#[test]
fn cache_forms() {
    let caches = ok("j:\n  script: x\n  cache:\n    key:\n      files: [Cargo.lock]\n      prefix: rust\n    paths: [target/]\n    policy: pull\n").cache;
    assert_eq!(caches.len(), 1);
    assert_eq!(caches[0].policy, "pull");
    assert_eq!(
        caches[0].key,
        crate::ci::pipeline::CacheKey::Files { files: vec!["Cargo.lock".into()], prefix: Some("rust".into()) }
    );
    assert_eq!(ok("j:\n  script: x\n  cache: [{key: a}, {key: b, policy: $POLICY}]\n").cache.len(), 2);
    assert_eq!(
        errors("j:\n  script: x\n  cache:\n    key: a/b\n    policy: pul\n"),
        [
            "4:10 j.cache.key: cannot contain the `/` character",
            "5:13 j.cache.policy: unknown value `pul`, expected one of `pull-push`, `pull`, `push`"
        ]
    );
    assert_eq!(
        errors("j:\n  script: x\n  cache: [{}, {}, {}, {}, {}]\n"),
        ["3:10 j.cache: has 5 caches, at most 4 are allowed"]
    );
}

#[test]
fn image_and_services() {
    let spec = ok("j:\n  script: x\n  image:\n    name: ruby:3.3\n    entrypoint: ['']\n    pull_policy: [always, if-not-present]\n  services:\n    - postgres:16\n    - name: redis\n      alias: cache\n      variables: {PORT: 6379}\n");
    let image = spec.image.unwrap();
    assert_eq!((image.name.as_str(), image.pull_policy.len()), ("ruby:3.3", 2));
    assert_eq!(spec.services[1].variables, [("PORT".to_string(), "6379".to_string())]);
    assert_eq!(errors("j:\n  script: x\n  image:\n    entrypoint: [a]\n"), ["4:5 j.image: missing `name`: the image to use"]);
    assert_eq!(errors("j:\n  script: x\n  services: postgres\n"), ["3:13 j.services: expected a list of service images, found a string"]);
    assert_eq!(
        errors("j:\n  script: x\n  image: {name: a, pull_policy: sometimes}\n"),
        ["3:33 j.image.pull_policy: unknown value `sometimes`, expected one of `always`, `never`, `if-not-present`"]
    );
}

#[test]
fn tags_and_coverage() {
    let spec = ok("j:\n  script: x\n  tags: [docker]\n  coverage: '/Coverage: \\d+\\.\\d+%/'\n");
    assert_eq!(spec.tags, ["docker"]);
    assert_eq!(spec.coverage.as_deref(), Some("Coverage: \\d+\\.\\d+%"));
    assert_eq!(errors("j:\n  script: x\n  tags: docker\n"), ["3:9 j.tags: expected a list of strings, found a string"]);
    assert_eq!(
        errors("j:\n  script: x\n  coverage: Coverage\n"),
        ["3:13 j.coverage: `Coverage` is not a regular expression: write it between slashes, as `/Coverage: \\d+%/`"]
    );
}

#[test]
fn trigger_forms() {
    let t = ok("j:\n  trigger: group/project\n").trigger.unwrap();
    assert_eq!(t.project.as_deref(), Some("group/project"));
    let t = ok("j:\n  trigger:\n    include: child.yml\n    strategy: depend\n    forward: {pipeline_variables: true}\n").trigger.unwrap();
    assert_eq!(t.include, [serde_json::json!({"local": "child.yml"})]);
    assert!(t.forward_yaml_variables && t.forward_pipeline_variables);
    assert_eq!(t.strategy.as_deref(), Some("depend"));
    assert_eq!(errors("j:\n  trigger: {strategy: depend}\n"), ["2:12 j.trigger: missing `project` (multi-project pipeline) or `include` (child pipeline)"]);
    assert_eq!(errors("j:\n  trigger: a/b\n  image: ruby\n"), ["3:3 j: `image` cannot be used in a trigger job"]);
    assert_eq!(
        errors("j:\n  trigger:\n    include:\n      - artifact: gen.yml\n"),
        ["4:9 j.trigger.include[0]: `artifact` needs `job`"]
    );
}

#[test]
fn release_requires_tag_and_description() {
    let r = ok("j:\n  script: x\n  release:\n    tag_name: v1\n    description: notes\n    milestones: [m1]\n").release.unwrap();
    assert_eq!((r.tag_name.as_str(), r.milestones.len()), ("v1", 1));
    assert_eq!(errors("j:\n  script: x\n  release:\n    tag_name: v1\n"), ["4:5 j.release: missing `description`"]);
}

#[test]
fn variables_forms() {
    let spec = ok("j:\n  script: x\n  variables:\n    A: one\n    B: 2\n    C: 1.5\n    D: true\n    E:\n    F: {value: $A, expand: false}\n");
    let values: Vec<(&str, &str, bool)> = spec.variables.iter().map(|(n, v)| (n.as_str(), v.value.as_str(), v.expand)).collect();
    assert_eq!(values, [("A", "one", true), ("B", "2", true), ("C", "1.5", true), ("D", "true", true), ("E", "", true), ("F", "$A", false)]);
    assert_eq!(
        errors("j:\n  script: x\n  variables:\n    A: [1]\n"),
        ["4:8 j.variables.A: expected a string, number, boolean or a mapping with `value`, found a sequence"]
    );
    assert_eq!(
        errors("j:\n  script: x\n  variables:\n    A: {value: a, description: d}\n"),
        ["4:19 j.variables.A: `description` is only allowed in the top-level `variables:`"]
    );
    let node = load("A: {value: a, description: d, options: [a, b]}\n");
    let mut diags = Diagnostics::new();
    let globals = parse_variables(&node, "variables", VariableScope::Global, &mut diags).unwrap();
    assert_eq!(globals[0].1.options, ["a", "b"]);
}

#[test]
fn default_applies_unless_set_or_not_inherited() {
    let text = "default:\n  image: ruby\n  tags: [shared]\n  before_script: [setup]\n  retry: 1\nj:\n  script: x\n  tags: [own]\n";
    let spec = ok(text);
    assert_eq!(spec.image.unwrap().name, "ruby");
    assert_eq!(spec.tags, ["own"]);
    assert_eq!(spec.before_script, ["setup"]);
    assert_eq!(spec.retry.unwrap().max, 1);

    let spec = ok("default:\n  image: ruby\n  retry: 1\nj:\n  script: x\n  inherit:\n    default: false\n    variables: [A]\n");
    assert!(spec.image.is_none() && spec.retry.is_none());
    assert_eq!(spec.inherit_variables, InheritList::Only(vec!["A".into()]));

    let spec = ok("default:\n  image: ruby\n  retry: 1\nj:\n  script: x\n  inherit:\n    default: [retry]\n");
    assert!(spec.image.is_none());
    assert_eq!(spec.retry.unwrap().max, 1);

    assert_eq!(
        errors("j:\n  script: x\n  inherit:\n    default: [imag]\n"),
        ["4:15 j.inherit.default[0]: `imag` is not a `default:` keyword"]
    );
    assert_eq!(errors("j:\n  script: x\n  inherit:\n    defaults: false\n"), ["4:5 j.inherit: unknown key `defaults`"]);
}

#[test]
fn trigger_jobs_only_inherit_interruptible() {
    let spec = ok("default:\n  image: ruby\n  interruptible: true\nj:\n  trigger: a/b\n");
    assert!(spec.image.is_none());
    assert_eq!(spec.interruptible, Some(true));
}

#[test]
fn default_errors_are_reported_once_by_validate_default() {
    let text = "default:\n  image: {entrypoint: [a]}\n  stage: build\n  tgas: [a]\nj:\n  script: x\n";
    let (spec, diags) = parse(text);
    assert!(spec.is_some() && diags.is_empty(), "{diags}");
    let root = load(text);
    let mut diags = Diagnostics::new();
    validate_default(root.as_map().unwrap().get("default").unwrap(), &mut diags);
    let rendered: Vec<String> = diags.0.iter().map(|d| format!("{} {}: {}", d.location.as_ref().unwrap(), d.key_path, d.message)).collect();
    assert_eq!(
        rendered,
        [
            "t.yml:2:10 default.image: missing `name`: the image to use",
            "t.yml:3:3 default: `stage` cannot be set in `default:`",
            "t.yml:4:3 default: unknown key `tgas`"
        ]
    );
}

#[test]
fn kept_as_written_keywords_are_shape_checked() {
    let spec = ok("j:\n  script: x\n  id_tokens:\n    TOKEN: {aud: https://vault}\n  manual_confirmation: sure?\n  hooks:\n    pre_get_sources_script: [echo]\n");
    let keys: Vec<&str> = spec.passthrough.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["id_tokens", "manual_confirmation", "hooks"]);
    assert_eq!(errors("j:\n  script: x\n  id_tokens:\n    TOKEN: {audience: x}\n"), [
        "4:13 j.id_tokens.TOKEN: unknown key `audience`",
        "4:12 j.id_tokens.TOKEN: missing `aud`"
    ]);
    assert_eq!(errors("j:\n  script: x\n  publish: public\n"), ["3:3 j: `publish` can only be used in a `pages` job"]);
    assert!(parse("pages:\n  script: x\n  publish: public\n").0.is_some());
}

#[test]
fn all_errors_of_a_job_are_collected() {
    let text = "j:\n  script: 1\n  stage: [a]\n  when: later\n  retry: 5\n";
    assert_eq!(errors(text).len(), 4);
}
