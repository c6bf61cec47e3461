//! Limits and robustness of [`super::load`]: alias expansion, depth, size, and no panic
//! or slow path on arbitrary input.

use std::fmt::Write as _;

use proptest::prelude::*;

use super::*;

const FILE: &str = ".gitlab-ci.yml";

/// `levels` anchors, each a sequence of `width` aliases of the one before.
fn laughs(levels: usize, width: usize) -> String {
    let mut text = String::from("l0: &l0 [lol]\n");
    for level in 1..=levels {
        let items = vec![format!("*l{}", level - 1); width].join(", ");
        let _ = writeln!(text, "l{level}: &l{level} [{items}]");
    }
    text
}

#[test]
fn billion_laughs_fails_fast_at_the_alias() {
    let text = laughs(10, 10);
    // The node budget is what keeps this fast and small; `cargo bench` measures speed.
    let errors = load(FILE, &text).unwrap_err();
    let e = errors.errors().next().unwrap();
    assert_eq!(e.message, format!("YAML aliases expand to more than {MAX_NODES} nodes"));
    let l = e.location.as_ref().unwrap();
    assert!(l.line >= 6 && l.line <= 8, "located at an alias line: {e}");
}

#[test]
fn moderate_alias_use_is_fine() {
    let loaded = load(FILE, &laughs(3, 10)).unwrap();
    assert_eq!(loaded.config.as_map().unwrap().get("l3").unwrap().as_seq().unwrap().len(), 10);
}

fn nested(depth: usize) -> String {
    let mut text = String::new();
    for level in 0..depth {
        let _ = writeln!(text, "{}k{level}:", "  ".repeat(level));
    }
    let _ = writeln!(text, "{}leaf: 1", "  ".repeat(depth));
    text
}

#[test]
fn nesting_is_limited_to_gitlab_depth() {
    // `depth` nested keys plus the leaf mapping: depth + 1 mappings in all.
    assert!(load(FILE, &nested(MAX_DEPTH - 1)).is_ok());
    let e = load(FILE, &nested(MAX_DEPTH)).unwrap_err();
    let e = e.errors().next().unwrap();
    assert!(e.message.contains("nested more than 100 levels"), "{e}");
    assert_eq!(e.location.as_ref().unwrap().line, MAX_DEPTH as u32 + 1);
    // Flow collections too, without recursion.
    let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert!(load(FILE, &flow).is_err());
}

#[test]
fn depth_counts_alias_expansion() {
    let mut text = String::new();
    let _ = writeln!(text, "a: &deep {}1{}", "[".repeat(60), "]".repeat(60));
    let _ = writeln!(text, "b: {}*deep{}", "[".repeat(45), "]".repeat(45));
    let e = load(FILE, &text).unwrap_err();
    assert!(e.errors().next().unwrap().message.contains("nested more than"), "{e}");
}

#[test]
fn files_over_two_mebibytes_are_refused() {
    let text = format!("a: '{}'\n", "x".repeat(MAX_FILE_BYTES));
    let e = load(FILE, &text).unwrap_err();
    let e = e.errors().next().unwrap();
    assert!(e.message.contains(&format!("{} bytes", text.len())), "{e}");
    assert!(e.message.contains("2 MiB"), "{e}");
    assert_eq!(e.location.as_ref().map(|l| l.line), Some(1));
}

/// A CI file with `jobs` jobs sharing anchors, about 10 lines per job.
pub(super) fn big_file(jobs: usize) -> String {
    let mut text = String::from(
        "stages: [build, test, deploy]\n.defaults: &defaults\n  image: ruby:3.3\n  retry: 2\n  tags: [docker, linux]\n",
    );
    for i in 0..jobs {
        let _ = write!(
            text,
            "job-{i}:\n  <<: *defaults\n  stage: test\n  variables:\n    INDEX: {i}\n    NAME: \"job {i}\"\n  script:\n    - echo start {i}\n    - make test SHARD={i}\n  when: on_success\n"
        );
    }
    text
}

#[test]
fn large_files_load_whole() {
    let text = big_file(2000);
    let loaded = load(FILE, &text).unwrap();
    assert_eq!(loaded.config.as_map().unwrap().len(), 2002);
}

const FRAGMENTS: &[&str] = &[
    "a:", " b:", "  - ", "- ", "&x ", "*x", "<<: ", "!reference [a, b]", "!!str ", "!foo ", "[", "]", "{", "}", ", ", "'q'", "\"d\\n\"",
    "|\n", ">-\n", "\n", "  ", "\t", "---\n", "...\n", "? ", ": ", "# c\n", "2024-01-01", "0x1F", "1:30", ".inf", "yes", "~", ":sym", "%YAML 1.1\n",
    "\u{feff}", "é", "\r\n",
];

proptest! {
    // `YAML_CASES=100000 cargo test --release --lib ci::yaml::tests_limits::never` for a longer run.
    #![proptest_config(ProptestConfig { cases: std::env::var("YAML_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200), ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(text in ".{0,200}") {
        let _ = load(FILE, &text);
    }

    #[test]
    fn never_panics_on_yaml_like_text(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..60)) {
        let text = parts.concat();
        if let Err(errors) = load(FILE, &text) {
            prop_assert!(errors.has_errors());
            prop_assert!(errors.errors().all(|e| e.location.is_some()));
        }
    }
}
