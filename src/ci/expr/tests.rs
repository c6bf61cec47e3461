//! Tests of the expression language through its public API. Most cases come from GitLab's
//! own `statement_spec.rb` table, so they pin GitLab's behaviour rather than ours.

use proptest::prelude::*;

use super::*;

fn lookup(name: &str) -> Option<String> {
    match name {
        "PRESENT_VARIABLE" => Some("my variable".into()),
        "PATH_VARIABLE" => Some("a/path/variable/value".into()),
        "FULL_PATH_VARIABLE" => Some("/a/full/path/variable/value".into()),
        "EMPTY_VARIABLE" => Some(String::new()),
        "BLANK" => Some("  ".into()),
        "teststring" => Some("abcde".into()),
        "pattern1" => Some("/^ab.*/".into()),
        "pattern2" => Some("/^at.*/".into()),
        "ipattern" => Some("/^AB/i".into()),
        "slashpattern" => Some("/^a\\/b/".into()),
        "badpattern" => Some("/ab(/".into()),
        "A" => Some("1".into()),
        "B" => Some("2".into()),
        "C" => Some("3".into()),
        "MULTI" => Some("first\nsecond".into()),
        _ => None,
    }
}

fn eval(source: &str) -> bool {
    match Expression::parse(source) {
        Ok(e) => e.evaluate(&lookup),
        Err(e) => panic!("`{source}` did not parse: {e} at {}", e.offset),
    }
}

fn err(source: &str) -> ExprError {
    match Expression::parse(source) {
        Ok(_) => panic!("`{source}` parsed but should not"),
        Err(e) => e,
    }
}

#[test]
fn gitlab_statement_table_comparisons() {
    let cases = [
        (r#"$PRESENT_VARIABLE == "my variable""#, true),
        (r#""my variable" == $PRESENT_VARIABLE"#, true),
        ("$PRESENT_VARIABLE == null", false),
        ("$EMPTY_VARIABLE == null", false),
        (r#""" == $EMPTY_VARIABLE"#, true),
        ("$UNDEFINED_VARIABLE == null", true),
        ("null == $UNDEFINED_VARIABLE", true),
        (r#"$PRESENT_VARIABLE != "my variable""#, false),
        ("$PRESENT_VARIABLE != null", true),
        ("$EMPTY_VARIABLE != null", true),
        ("$UNDEFINED_VARIABLE != null", false),
        ("null != $UNDEFINED_VARIABLE", false),
        ("$PRESENT_VARIABLE == 'my variable'", true),
        ("$PRESENT_VARIABLE == 'no match'", false),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(source), expected, "{source}");
    }
}

#[test]
fn gitlab_statement_table_patterns() {
    let cases = [
        ("$PRESENT_VARIABLE =~ /var.*e$/", true),
        (r"$PRESENT_VARIABLE =~ /va\r.*e$/", false),
        (r"$PRESENT_VARIABLE =~ /va\/r.*e$/", false),
        ("$PRESENT_VARIABLE =~ /^var.*/", false),
        ("$EMPTY_VARIABLE =~ /var.*/", false),
        ("$UNDEFINED_VARIABLE =~ /var.*/", false),
        ("$PRESENT_VARIABLE =~ /VAR.*/i", true),
        (r"$PATH_VARIABLE =~ /path\/variable/", true),
        (r"$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/", true),
        (r"$FULL_PATH_VARIABLE =~ /\/path\/variable\/value$/", true),
        ("$PRESENT_VARIABLE !~ /var.*e$/", false),
        ("$PRESENT_VARIABLE !~ /^var.*/", true),
        ("$EMPTY_VARIABLE !~ /var.*/", true),
        ("$UNDEFINED_VARIABLE !~ /var.*/", true),
        ("$PRESENT_VARIABLE !~ /VAR.*/i", false),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(source), expected, "{source}");
    }
}

#[test]
fn gitlab_statement_table_logic_returns_operands() {
    let cases = [
        (r#"$PRESENT_VARIABLE && "string""#, true),
        ("$PRESENT_VARIABLE && $EMPTY_VARIABLE", false),
        ("$PRESENT_VARIABLE && null", false),
        // "" is true inside an expression (Ruby), only the final value must be present.
        ("$EMPTY_VARIABLE && $PRESENT_VARIABLE", true),
        (r#"$EMPTY_VARIABLE && "string""#, true),
        ("null && $PRESENT_VARIABLE", false),
        ("$UNDEFINED_VARIABLE && $PRESENT_VARIABLE", false),
        (r#"$EMPTY_VARIABLE == "" && $PRESENT_VARIABLE != "nope""#, true),
        (r#"$PRESENT_VARIABLE =~ /my var/ && $EMPTY_VARIABLE =~ /nope/"#, false),
        (r#"$PRESENT_VARIABLE && null || $EMPTY_VARIABLE == """#, true),
        ("$UNDEFINED_VARIABLE || $PRESENT_VARIABLE", true),
        ("$UNDEFINED_VARIABLE == null || $PRESENT_VARIABLE", true),
        (r#"$PRESENT_VARIABLE =~ /my var/ || $EMPTY_VARIABLE =~ /nope/"#, true),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(source), expected, "{source}");
    }
}

#[test]
fn gitlab_statement_table_parentheses() {
    let cases = [
        ("($PRESENT_VARIABLE)", true),
        ("(($PRESENT_VARIABLE))", true),
        (r#"(($PRESENT_VARIABLE && null) || $EMPTY_VARIABLE == "")"#, true),
        (r#"($PRESENT_VARIABLE) && (null || $EMPTY_VARIABLE == "")"#, true),
        (r#"("string" || "test") == "string""#, true),
        (r#"(null || ("test" == "string"))"#, false),
        (r#"("string" == ("test" && "string"))"#, true),
        (r#"("string" == ("test" || "string"))"#, false),
        (r#"("string" == "test" || "string")"#, true),
        (r#"("string" == ("string" || (("1" == "1") && ("2" == "3"))))"#, true),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(source), expected, "{source}");
    }
}

#[test]
fn bare_variable_is_true_only_when_present() {
    assert!(eval("$PRESENT_VARIABLE"));
    assert!(!eval("$UNDEFINED_VARIABLE"));
    assert!(!eval("$EMPTY_VARIABLE"));
    // ActiveSupport `present?`: whitespace-only strings are blank.
    assert!(!eval("$BLANK"));
    assert!(!eval("null"));
}

#[test]
fn and_binds_tighter_than_or() {
    // A=1, B=2, C=3
    assert!(eval(r#"$A == "1" || $B == "2" && $C == "x""#));
    assert!(!eval(r#"$A == "x" || $B == "2" && $C == "x""#));
    assert!(eval(r#"$A == "x" || $B == "2" && $C == "3""#));
    assert!(!eval(r#"($A == "1" || $B == "2") && $C == "x""#));
    assert!(eval(r#"$A == "1" && $B == "x" || $C == "3""#));
}

#[test]
fn comparisons_are_left_associative() {
    // ($A == "1") == $B  ->  true == "2"  ->  false
    assert!(!eval(r#"$A == "1" == $B"#));
    assert!(eval(r#"$A == "1" != $B"#));
}

#[test]
fn variable_held_patterns_match_as_patterns() {
    assert!(eval("$teststring =~ $pattern1"));
    assert!(!eval("$teststring =~ $pattern2"));
    assert!(eval("$teststring =~ $ipattern"));
    assert!(eval(r#""a/b" =~ $slashpattern"#));
    assert!(eval("$teststring !~ $pattern2"));
}

#[test]
fn plain_string_on_the_right_checks_containment_in_it() {
    assert!(eval(r#"$teststring =~ "abcde""#));
    assert!(eval("$teststring =~ $teststring"));
    assert!(eval(r#""bcd" =~ $teststring"#));
    assert!(!eval(r#"$teststring =~ "bcd""#));
    // An invalid pattern in a variable stays a string.
    assert!(!eval("$teststring =~ $badpattern"));
    assert!(eval(r#""ab(" =~ $badpattern"#));
}

#[test]
fn null_on_either_side_of_a_match() {
    assert!(!eval("$PRESENT_VARIABLE =~ null"));
    assert!(eval("$PRESENT_VARIABLE !~ null"));
    assert!(!eval("$PRESENT_VARIABLE =~ $UNDEFINED"));
    // GitLab reads a null left side as "": it matches patterns that match the empty string.
    assert!(eval("$UNDEFINED =~ /^$/"));
    assert!(!eval("$UNDEFINED =~ /.+/"));
}

#[test]
fn pattern_flags_and_escapes() {
    assert!(eval("$MULTI =~ /^second$/m"));
    assert!(!eval("$MULTI =~ /^second$/"));
    assert!(eval("$MULTI =~ /first.second/s"));
    assert!(!eval("$MULTI =~ /first.second/"));
    assert!(eval("$PRESENT_VARIABLE =~ /MY VAR/im"));
    assert!(eval(r"$PATH_VARIABLE =~ /^a\/path/"));
    // The character before the closing slash may itself be a slash (GitLab's lexeme).
    assert!(eval(r"$PATH_VARIABLE =~ /a\/path//"));
    // `U` swaps greediness: still a valid pattern.
    assert!(eval("$PRESENT_VARIABLE =~ /my.*/U"));
}

#[test]
fn greedy_pattern_lexeme_stops_at_first_valid_close() {
    assert!(eval(r#"$A =~ /^1$/ && $B =~ /^2$/"#));
    assert!(!eval(r#"$A =~ /^1$/ && $B =~ /^3$/"#));
}

#[test]
fn gitlab_accepts_operators_in_rpn_positions() {
    // GitLab's shunting-yard reads these as `$A == $A`; so do we.
    assert!(eval("== $A $A"));
    assert!(eval("$A (== $A)"));
}

#[test]
fn dollar_brace_is_rejected_with_hint() {
    let e = err(r#"${CI_COMMIT_BRANCH} == "main""#);
    assert_eq!(e.offset, 0);
    assert!(e.message.contains("`${…}` is not supported"), "{}", e.message);
    assert_eq!(e.hint.as_deref(), Some("write `$CI_COMMIT_BRANCH` instead of `${CI_COMMIT_BRANCH}`"));
}

#[test]
fn unary_not_is_rejected_with_hint() {
    let e = err("$A && !$B");
    assert_eq!(e.offset, 6);
    assert_eq!(e.message, "unary `!` is not supported");
    assert!(e.hint.unwrap().contains("== null"));
}

#[test]
fn unknown_lexemes_point_at_their_offset() {
    let e = err("$A = \"x\"");
    assert_eq!((e.offset, e.message.as_str()), (3, "unknown lexeme `=`"));
    let e = err("$A & $B");
    assert_eq!(e.offset, 3);
    let e = err("$A == main");
    assert_eq!((e.offset, e.message.as_str()), (6, "unknown lexeme `main`"));
    let e = err("$A == \"x");
    assert!(e.message.starts_with("unterminated string"), "{}", e.message);
    assert_eq!(e.offset, 6);
    let e = err("$ == \"x\"");
    assert_eq!(e.offset, 0);
}

#[test]
fn pattern_errors() {
    let e = err("$A =~ /ab(/");
    assert_eq!(e.offset, 6);
    assert!(e.message.contains("invalid regular expression `/ab(/`"), "{}", e.message);
    // GitLab's pattern lexeme needs two characters between the slashes.
    let e = err("$A =~ /a/");
    assert_eq!(e.offset, 6);
    assert!(e.message.contains("at least two characters"));
    assert_eq!(err("$A =~ //").offset, 6);
    // An unknown flag is not part of the pattern: `x` is then an unknown lexeme.
    assert_eq!(err("$A =~ /ab/x").offset, 10);
}

#[test]
fn structural_errors_and_offsets() {
    let e = err("($A == \"1\"");
    assert_eq!((e.offset, e.message.as_str()), (0, "unbalanced parentheses: this `(` is never closed"));
    let e = err("$A == \"1\")");
    assert_eq!(e.offset, 9);
    assert!(e.message.contains("no matching `(`"));
    let e = err("$A ==");
    assert_eq!((e.offset, e.message.as_str()), (3, "`==` needs a value on each side"));
    let e = err("$A && $B ||");
    assert_eq!(e.offset, 9);
    let e = err("$A $B");
    assert_eq!((e.offset, e.message.as_str()), (3, "missing operator between two values"));
    assert_eq!(err("").message, "expression is empty");
    assert_eq!(err("   ").message, "expression is empty");
    assert_eq!(err("()").message, "expression has nothing to evaluate");
}

#[test]
fn token_limit_is_gitlabs() {
    let ok = vec!["$A"; 50].join(" || "); // 99 tokens
    assert!(Expression::parse(&ok).is_ok());
    let too_many = vec!["$A"; 51].join(" || "); // 101 tokens
    let e = err(&too_many);
    assert!(e.message.contains("too many tokens"), "{}", e.message);
    let long = format!("\"{}\"", "x".repeat(MAX_EXPRESSION_LEN));
    assert!(err(&long).message.contains("longer than"));
}

#[test]
fn source_is_kept_and_displayed() {
    let e = Expression::parse(" $A ").unwrap();
    assert_eq!(e.source(), " $A ");
    assert_eq!(e.to_string(), " $A ");
    assert_eq!(e, Expression::parse(" $A ").unwrap());
}

/// Strings made of valid lexemes, in any order.
fn lexeme_soup() -> impl Strategy<Value = String> {
    let lexeme = prop::sample::select(vec![
        "$A", "$B", "$UNDEFINED", "$pattern1", "\"1\"", "'x'", "\"\"", "/^a.*/", "/ab/i", "null", "==", "!=", "=~",
        "!~", "&&", "||", "(", ")",
    ]);
    prop::collection::vec(lexeme, 0..120).prop_map(|parts| parts.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(source in ".{0,200}") {
        if let Ok(e) = Expression::parse(&source) {
            let _ = e.evaluate(&lookup);
        }
    }

    #[test]
    fn lexeme_sequences_parse_or_fail_cleanly(source in lexeme_soup()) {
        match Expression::parse(&source) {
            Ok(e) => { let _ = e.evaluate(&lookup); }
            Err(e) => prop_assert!(e.offset <= source.len(), "offset {} beyond {}", e.offset, source.len()),
        }
    }
}
