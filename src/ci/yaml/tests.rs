//! Behaviour of [`super::load`]: typing, locations, anchors, merge keys, duplicates,
//! tags and documents.

use super::*;
use crate::ci::node::Map;

const FILE: &str = ".gitlab-ci.yml";

fn config(text: &str) -> Node {
    match load(FILE, text) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("load failed:\n{e}"),
    }
}

fn map(node: &Node) -> &Map {
    node.as_map().unwrap_or_else(|| panic!("not a mapping: {node:?}"))
}

fn get<'n>(node: &'n Node, key: &str) -> &'n Node {
    map(node).get(key).unwrap_or_else(|| panic!("no key {key} in {node:?}"))
}

fn json(text: &str) -> serde_json::Value {
    config(text).to_json()
}

fn error(text: &str) -> Diagnostic {
    match load(FILE, text) {
        Ok(loaded) => panic!("expected an error, got {:?}", loaded.config.to_json()),
        Err(e) => e.errors().next().cloned().unwrap_or_else(|| panic!("no error in {e}")),
    }
}

fn at(d: &Diagnostic) -> (u32, u32) {
    let l = d.location.as_ref().expect("located");
    (l.line, l.column)
}

#[test]
fn plain_scalars_are_typed_like_psych() {
    let c = config(
        "a: ~\nb: null\nc:\nd: yes\ne: Off\nf: y\ng: n\nh: 0755\ni: 0x1F\nj: 1_000\nk: 1.5\nl: .inf\nm: -.inf\nn: 1:30\no: 0b11\np: 1e3\nq: 08\nr: 1,000\n",
    );
    let j = c.to_json();
    assert_eq!(j["a"], serde_json::Value::Null);
    assert_eq!(j["b"], serde_json::Value::Null);
    assert_eq!(j["c"], serde_json::Value::Null);
    assert_eq!(j["d"], true);
    assert_eq!(j["e"], false);
    assert_eq!(j["f"], "y");
    assert_eq!(j["g"], "n");
    assert_eq!(j["h"], 493);
    assert_eq!(j["i"], 31);
    assert_eq!(j["j"], 1000);
    assert_eq!(j["k"], 1.5);
    assert_eq!(get(&c, "l").value, Value::Float(f64::INFINITY));
    assert_eq!(get(&c, "m").value, Value::Float(f64::NEG_INFINITY));
    assert_eq!(j["n"], 5400, "Psych weighs 1:30 as 1*3600 + 30*60");
    assert_eq!(j["o"], 3);
    assert_eq!(j["p"], "1e3");
    assert_eq!(j["q"], "08");
    assert_eq!(j["r"], 1000);
    assert!(matches!(get(&config("x: .NaN\n"), "x").value, Value::Float(f) if f.is_nan()));
}

#[test]
fn quoted_and_block_scalars_are_strings() {
    let j = json("a: 'yes'\nb: \"0755\"\nc: |\n  true\nd: >\n  12\ne: ''\nf: \"~\"\n");
    assert_eq!(j["a"], "yes");
    assert_eq!(j["b"], "0755");
    assert_eq!(j["c"], "true\n");
    assert_eq!(j["d"], "12\n");
    assert_eq!(j["e"], "");
    assert_eq!(j["f"], "~");
}

#[test]
fn core_tags_are_honoured() {
    let j = json("a: !!str 42\nb: !!int \"42\"\nc: !!float 1\nd: !!bool yes\ne: !!null ~\nf: !!map {x: 1}\ng: !!seq [1]\nh: !!str yes\n");
    assert_eq!(j["a"], "42");
    assert_eq!(j["b"], 42);
    assert_eq!(j["c"], 1.0);
    assert_eq!(j["d"], true);
    assert_eq!(j["e"], serde_json::Value::Null);
    assert_eq!(j["f"], serde_json::json!({"x": 1}));
    assert_eq!(j["g"], serde_json::json!([1]));
    assert_eq!(j["h"], "yes");
    let e = error("a: !!float abc\n");
    assert!(e.message.contains("not a number"), "{e}");
}

#[test]
fn unquoted_dates_and_times_are_refused_at_their_location() {
    let e = error("deploy:\n  script: echo\n  start: 2024-01-01\n");
    assert_eq!(e.message, "`2024-01-01` is loaded as a date, which GitLab refuses");
    assert_eq!(at(&e), (3, 10));
    assert_eq!(e.key_path, "deploy.start");
    assert!(e.hint.as_deref().unwrap_or("").contains("'2024-01-01'"));
    let e = error("a:\n  - 2024-01-01 10:00:00\n");
    assert!(e.message.contains("loaded as a time"), "{e}");
    assert_eq!(e.key_path, "a[0]");
    assert_eq!(json("a: '2024-01-01'\n")["a"], "2024-01-01");
    // Every error of the file is reported, not just the first.
    let all = load(FILE, "a: 2024-01-01\nb: 2024-01-02\n").unwrap_err();
    assert_eq!(all.errors().count(), 2);
}

#[test]
fn keys_and_values_keep_their_line_and_column() {
    let c = config("build:\n  stage: test\n  script:\n    - echo one\n    - \"echo two\"\n");
    let build = get(&c, "build");
    assert_eq!((build.location.line, build.location.column), (2, 3));
    let key = map(&c).key("build").unwrap();
    assert_eq!((key.location.line, key.location.column), (1, 1));
    let stage_key = map(build).key("stage").unwrap();
    assert_eq!((stage_key.location.line, stage_key.location.column), (2, 3));
    let stage = get(build, "stage");
    assert_eq!((stage.location.line, stage.location.column), (2, 10));
    let script = get(build, "script").as_seq().unwrap();
    assert_eq!((script[0].location.line, script[0].location.column), (4, 7));
    assert_eq!((script[1].location.line, script[1].location.column), (5, 7));
    assert_eq!(&*script[1].location.file, FILE);
    // One shared file name for all nodes.
    assert!(Arc::ptr_eq(&script[0].location.file, &stage.location.file));
}

#[test]
fn non_string_keys_are_named_by_their_source_text() {
    let c = config("1: a\ntrue: b\n0x10: c\n~: d\n1.50: e\n");
    assert_eq!(map(&c).keys().collect::<Vec<_>>(), ["1", "true", "0x10", "~", "1.50"]);
}

#[test]
fn aliases_copy_the_anchored_node_with_its_locations() {
    let c = config(".base: &base\n  image: ruby\n  script: [a]\njob:\n  extra: *base\n");
    let copy = get(get(&c, "job"), "extra");
    assert_eq!(copy.to_json(), serde_json::json!({"image": "ruby", "script": ["a"]}));
    let image = get(copy, "image");
    assert_eq!((image.location.line, image.location.column), (2, 10));
    // Anchors may be redefined; an alias takes the latest definition.
    assert_eq!(json("a: &x 1\nb: &x 2\nc: *x\n")["c"], 2);
    // An alias can be a key.
    assert_eq!(json("k: &k name\n*k : v\n")["name"], "v");
}

#[test]
fn merge_keys_follow_psych_hash_merge_order() {
    // Keys before `<<` are overwritten by the merged mapping; keys after it win.
    let j = json(".a: &a {x: 1, y: 1}\njob:\n  x: 0\n  <<: *a\n  y: 2\n");
    assert_eq!(j["job"], serde_json::json!({"x": 1, "y": 2}));
    let keys: Vec<String> = config(".a: &a {x: 1, y: 1}\njob:\n  z: 0\n  <<: *a\n")
        .as_map()
        .and_then(|m| m.get("job"))
        .and_then(Node::as_map)
        .map(|m| m.keys().map(String::from).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["z", "x", "y"]);
    // A sequence of mappings: earlier entries take precedence; order as Psych builds it.
    let c = config(".a: &a {x: a, y: a}\n.b: &b {z: b, x: b}\njob:\n  <<: [*a, *b]\n");
    let job = get(&c, "job");
    assert_eq!(job.to_json(), serde_json::json!({"z": "b", "x": "a", "y": "a"}));
    assert_eq!(map(job).keys().collect::<Vec<_>>(), ["z", "x", "y"]);
    // Merged nodes keep their locations.
    assert_eq!(get(job, "x").location.line, 1);
    // An inline mapping merges too.
    assert_eq!(json("job:\n  <<: {a: 1}\n  b: 2\n")["job"], serde_json::json!({"a": 1, "b": 2}));
}

#[test]
fn merge_key_with_a_scalar_or_mixed_sequence_stays_a_literal_key() {
    assert_eq!(json("job:\n  <<: text\n")["job"], serde_json::json!({"<<": "text"}));
    assert_eq!(json("s: &s [1]\njob:\n  <<: *s\n")["job"], serde_json::json!({"<<": [1]}));
    assert_eq!(json("a: &a {x: 1}\njob:\n  <<: [*a, 2]\n")["job"], serde_json::json!({"<<": [{"x": 1}, 2]}));
    assert_eq!(json("a: &a {x: 1}\njob:\n  !!str <<: *a\n")["job"], serde_json::json!({"<<": {"x": 1}}));
}

#[test]
fn duplicate_keys_warn_and_the_last_wins_in_the_first_position() {
    let loaded = load(FILE, "job:\n  script: a\n  stage: s\n  script: b\n").unwrap();
    let job = get(&loaded.config, "job");
    assert_eq!(map(job).keys().collect::<Vec<_>>(), ["script", "stage"]);
    assert_eq!(get(job, "script").as_str(), Some("b"));
    let warnings: Vec<_> = loaded.warnings.warnings().collect();
    assert_eq!(warnings.len(), 1);
    let w = warnings[0];
    assert_eq!(w.message, "duplicate key `script` (first at .gitlab-ci.yml:2:3); the last one wins, as in GitLab");
    assert_eq!(at(w), (4, 3));
    assert_eq!(w.key_path, "job.script");
    // Overwrites by a merge key are not warned about.
    let merged = load(FILE, ".a: &a {x: 1}\njob:\n  x: 0\n  <<: *a\n  x: 2\n").unwrap();
    assert_eq!(merged.warnings.0.len(), 1, "only the explicit second `x`: {}", merged.warnings);
    let quiet = load(FILE, ".a: &a {x: 1}\njob:\n  <<: *a\n  x: 2\n").unwrap();
    assert!(quiet.warnings.is_empty(), "{}", quiet.warnings);
}

#[test]
fn reference_tags_become_reference_nodes() {
    let c = config("test:\n  script:\n    - !reference [.setup, script]\n    - echo\n  after_script: !reference\n    - .teardown\n    - after_script\n");
    let script = get(get(&c, "test"), "script").as_seq().unwrap();
    assert_eq!(script[0].value, Value::Reference(vec![".setup".into(), "script".into()]));
    assert_eq!((script[0].location.line, script[0].location.column), (3, 7));
    let after = get(get(&c, "test"), "after_script");
    assert_eq!(after.value, Value::Reference(vec![".teardown".into(), "after_script".into()]));
}

#[test]
fn invalid_reference_tags_are_located_errors() {
    for (text, line_col) in [
        ("a: !reference job\n", (1, 4)),
        ("a: !reference {x: 1}\n", (1, 4)),
        ("a: !reference []\n", (1, 4)),
        ("a:\n  b: !reference [x, [y]]\n", (2, 6)),
        ("a: !reference [x, 1]\n", (1, 4)),
    ] {
        let e = error(text);
        assert!(e.message.starts_with("`!reference` must tag a non-empty sequence of strings"), "{text}: {e}");
        assert_eq!(at(&e), line_col, "{text}");
    }
}

#[test]
fn unknown_tags_are_ignored_with_a_warning() {
    let loaded = load(FILE, "a: !foo 3\nb: !bar [1]\n").unwrap();
    let j = loaded.config.to_json();
    assert_eq!(j["a"], 3);
    assert_eq!(j["b"], serde_json::json!([1]));
    let w: Vec<_> = loaded.warnings.warnings().map(|w| w.message.clone()).collect();
    assert_eq!(w, ["unknown tag `!foo` is ignored, as GitLab does", "unknown tag `!bar` is ignored, as GitLab does"]);
    assert!(error("a: !ruby/object:Foo {x: 1}\n").message.contains("Ruby object"));
}

#[test]
fn symbols_load_as_their_name_with_a_warning() {
    let loaded = load(FILE, "a: :build\n").unwrap();
    assert_eq!(loaded.config.to_json()["a"], "build");
    assert_eq!(loaded.warnings.0.len(), 1);
}

#[test]
fn two_documents_are_header_and_config() {
    let loaded = load(FILE, "spec:\n  inputs:\n    stage:\n---\nbuild:\n  script: echo\n").unwrap();
    let header = loaded.header.expect("header");
    assert!(map(&header).contains_key("spec"));
    assert_eq!(map(&loaded.config).keys().collect::<Vec<_>>(), ["build"]);
    assert_eq!(map(&loaded.config).key("build").unwrap().location.line, 5);
    // A leading `---` does not count as a document.
    let loaded = load(FILE, "---\nspec: {}\n---\nbuild: {}\n").unwrap();
    assert!(loaded.header.is_some());
    // Without `spec`, GitLab reads only the first document.
    let loaded = load(FILE, "a: 1\n---\nb: 2\n").unwrap();
    assert!(loaded.header.is_none());
    assert_eq!(loaded.config.to_json(), serde_json::json!({"a": 1}));
    assert_eq!(loaded.warnings.0.len(), 1);
}

#[test]
fn empty_files_and_documents_give_a_null_config() {
    for text in ["", "# only a comment\n", "---\n", "---\n...\n", "spec:\n  inputs: {}\n---\n"] {
        let loaded = load(FILE, text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(loaded.config.is_null() || loaded.config.as_map().is_some_and(|m| m.contains_key("spec")), "{text:?}");
    }
    assert!(load(FILE, "---\n").unwrap().config.is_null());
}

#[test]
fn three_documents_are_an_error() {
    let e = error("spec: {}\n---\na: 1\n---\nb: 2\n");
    assert!(e.message.contains("at most two YAML documents"), "{e}");
    assert_eq!(at(&e).0, 4);
}

#[test]
fn top_level_must_be_a_mapping() {
    for (text, line_col) in [("- a\n- b\n", (1, 1)), ("just text\n", (1, 1)), ("---\n42\n", (2, 1))] {
        let e = error(text);
        assert!(e.message.starts_with("invalid configuration format"), "{text}: {e}");
        assert_eq!(at(&e), line_col, "{text}");
    }
}

#[test]
fn syntax_errors_are_located_with_a_hint() {
    let e = error("build:\n\tscript: echo\n");
    assert_eq!(e.message, "invalid YAML: a tab character is used for indentation");
    assert_eq!(at(&e), (2, 1));
    let e = error("build:\n  script: echo\n\tstage: test\n");
    assert_eq!(at(&e), (3, 1));
    assert!(e.message.contains("tab"), "{e}");
    let e = error("build:\n  script: echo\n stage: test\n");
    assert_eq!(at(&e).0, 3);
    assert!(e.hint.as_deref().unwrap_or("").contains("check the indentation of this line"), "{e}");
    let e = error("a: 'abc\n");
    assert!(e.message.contains("quoted string is not closed"), "{e}");
    assert_eq!(at(&e), (1, 4));
    let e = error("a: *nope\n");
    assert_eq!(e.message, "invalid YAML: alias `*nope` refers to an anchor that is not defined");
    let e = error("a: [1, 2\nb: 3\n");
    assert!(e.hint.is_some(), "{e}");
    let e = error("script: echo a: b\n");
    assert!(e.message.contains("unexpected `:`"), "{e}");
}

#[test]
fn aliases_do_not_cross_documents_or_recurse() {
    let e = error("spec: &s {a: 1}\n---\nb: *s\n");
    assert!(e.message.contains("`*s`"), "{e}");
    let e = error("a: &x [1, *x]\n");
    assert!(e.message.contains("inside the node it refers to"), "{e}");
}

#[test]
fn collection_keys_are_errors() {
    let e = error("? [a, b]\n: c\n");
    assert_eq!(e.message, "a mapping key must be a string, not a sequence");
    assert_eq!(at(&e), (1, 3));
}

#[test]
fn windows_line_endings_and_bom_are_accepted() {
    let j = json("\u{feff}a: 1\r\nb:\r\n  - x\r\n");
    assert_eq!(j, serde_json::json!({"a": 1, "b": ["x"]}));
}
