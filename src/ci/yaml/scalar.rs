//! How GitLab's Ruby loader types an untagged plain scalar: a port of Psych 5's
//! `Psych::ScalarScanner#tokenize` (ruby/psych `lib/psych/scalar_scanner.rb`, the
//! `strict_integer: false` variant that `YAML.safe_load` uses, with Psych 5.2's
//! `INTEGER_LEGACY` that requires a digit after `0b`/`0`/`0x`), plus the small pieces of
//! Ruby's `Integer()`, `Float()`, `String#to_i`/`to_f` and `unpack('m')` it relies on.
//!
//! It owns only the typing of one scalar's text; tags, quoting and locations are the
//! tree builder's business. The branches are tried in Psych's order, so the same text
//! gets the same type as in GitLab, odd corners included:
//! - `y`/`n` stay strings (only `yes|true|on` / `no|false|off`, any case, are booleans);
//! - `1e3` is a string (Psych's `FLOAT` needs a `.` and a signed exponent: `1.0e+3`);
//! - `1:30` is `5400`, not `90`: Psych weighs the parts as 60², 60¹, 60⁰ from the left
//!   (ruby/psych issue #153), and we follow Psych rather than YAML 1.1;
//! - dates and times are typed as `Date`/`Time`, which GitLab's `safe_load` refuses.
//!
//! Ruby regular expressions differ from Rust's: `\d` and `\s` are ASCII in Ruby, so the
//! patterns below spell out `[0-9]` and `[ \t\n\x0B\x0C\r]`; `[[:alpha:]]` is Unicode in
//! Ruby and is checked with `char::is_alphabetic`. `^`/`$` are line anchors in Ruby; every
//! text that reaches a regex here has no newline (those all take the first branch), where
//! the line-wise rules are applied by hand.

use std::sync::LazyLock;

use regex::Regex;

/// What Psych makes of a plain scalar.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Plain {
    /// `nil`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An `Integer` that fits in 64 bits.
    Int(i64),
    /// A `Float`.
    Float(f64),
    /// A `String`: the text as written.
    Text,
    /// An `Integer` beyond 64 bits, as its decimal digits (GitLab would keep a Bignum; its
    /// `to_s` is what any later step would see).
    BigInt(String),
    /// A `Symbol` (`:name`), with its name.
    Symbol(String),
    /// A `Date`, refused by GitLab.
    Date,
    /// A `Time`, refused by GitLab.
    Time,
    /// Text Psych types as a float but Ruby's `Float()` then rejects (`.e+1`): Ruby raises.
    BadFloat,
}

fn re(pattern: &str) -> Regex {
    // The patterns are constants checked by the unit tests; a typo is a programming error.
    Regex::new(pattern).expect("valid constant regex")
}

/// Psych `TIME` (from yaml.org/type/timestamp.html).
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^-?[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t\n\x0B\x0C\r]+)[0-9]{1,2}:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t\n\x0B\x0C\r]*(?:Z|[-+][0-9]{1,2}:?(?:[0-9][0-9])?))?$")
});
/// Psych's date pattern (then `Date.strptime`, which the restricted loader refuses first).
static DATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[0-9]{4}-(?:1[012]|0[0-9]|[0-9])-(?:[12][0-9]|3[01]|0[0-9]|[0-9])$"));
static SEXAGESIMAL_INT: LazyLock<Regex> = LazyLock::new(|| re(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9]){1,2}$"));
static SEXAGESIMAL_FLOAT: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9]){1,2}\.[0-9_]*$"));
/// Psych `FLOAT` (yaml.org/type/float.html; base 60, inf and nan handled before).
static FLOAT: LazyLock<Regex> = LazyLock::new(|| re(r"^[-+]?(?:[0-9][0-9_,]*)?\.[0-9]*(?:[eE][-+][0-9]+)?$"));
/// Psych `INTEGER_LEGACY` (yaml.org/type/int.html, commas allowed for compatibility).
static INTEGER: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:[-+]?0b[_,]*[01][01_,]*|[-+]?0[_,]*[0-7][0-7_,]*|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|[-+]?0x[_,]*[0-9a-fA-F][0-9a-fA-F_,]*)$")
});

/// Types a plain scalar's text as `Psych::ScalarScanner#tokenize` does.
pub(super) fn tokenize(s: &str) -> Plain {
    if s.is_empty() {
        return Plain::Null;
    }
    if starts_like_string(s) || s.contains('\n') {
        return word(s);
    }
    if TIME.is_match(s) {
        return Plain::Time;
    }
    if DATE.is_match(s) {
        return Plain::Date;
    }
    if s.eq_ignore_ascii_case(".inf") || s.eq_ignore_ascii_case("+.inf") {
        return Plain::Float(f64::INFINITY);
    }
    if s.eq_ignore_ascii_case("-.inf") {
        return Plain::Float(f64::NEG_INFINITY);
    }
    if s.eq_ignore_ascii_case(".nan") {
        return Plain::Float(f64::NAN);
    }
    if s.len() > 1 && s.starts_with(':') {
        return Plain::Symbol(symbol_name(s));
    }
    if SEXAGESIMAL_INT.is_match(s) {
        return sexagesimal_int(s);
    }
    if SEXAGESIMAL_FLOAT.is_match(s) {
        return Plain::Float(sexagesimal_float(s));
    }
    if FLOAT.is_match(s) {
        if matches!(s, "." | "+." | "-.") {
            return Plain::Text;
        }
        return psych_float(s).map_or(Plain::BadFloat, Plain::Float);
    }
    if INTEGER.is_match(s) {
        return ruby_integer(s);
    }
    Plain::Text
}

/// Psych's first test, `^[^\d.:-]?[[:alpha:]_\s!@#$%\^&*(){}<>|/\\~;=]+` (unanchored at
/// the end, so only the first one or two characters matter).
fn starts_like_string(s: &str) -> bool {
    fn in_class(c: char) -> bool {
        c.is_alphabetic() || matches!(c, '_' | ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r') || "!@#$%^&*(){}<>|/\\~;=".contains(c)
    }
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    if in_class(first) {
        return true;
    }
    !(first.is_ascii_digit() || matches!(first, '.' | ':' | '-')) && chars.next().is_some_and(in_class)
}

/// The branch for word-like text: long text is a string, short text may be null or boolean.
/// Ruby's `^`/`$` match at every line, hence the line-wise checks.
fn word(s: &str) -> Plain {
    if s.chars().count() > 5 {
        return Plain::Text;
    }
    // `/^[^ytonf~]/i`: some line starts with another character (an empty line's `\n` counts).
    let line_starts = std::iter::once(0).chain(s.match_indices('\n').map(|(i, _)| i + 1));
    let other_start = line_starts
        .filter_map(|i| s[i..].chars().next())
        .any(|c| !matches!(c.to_ascii_lowercase(), 'y' | 't' | 'o' | 'n' | 'f' | '~'));
    let any_line = |words: &[&str]| s.split('\n').any(|line| words.iter().any(|w| line.eq_ignore_ascii_case(w)));
    if other_start {
        Plain::Text
    } else if s == "~" || any_line(&["null"]) {
        Plain::Null
    } else if any_line(&["yes", "true", "on"]) {
        Plain::Bool(true)
    } else if any_line(&["no", "false", "off"]) {
        Plain::Bool(false)
    } else {
        Plain::Text
    }
}

/// `:name` → `name`; `:"name"` / `:'name'` → `name` without one leading `:`
/// (`$2.sub(/^:/, '')`, greedy `(.*)` up to the last matching quote).
fn symbol_name(s: &str) -> String {
    let rest = &s[1..];
    let quoted = rest.chars().next().filter(|q| *q == '"' || *q == '\'').and_then(|q| {
        let inner = &rest[1..];
        inner.rfind(q).map(|end| &inner[..end])
    });
    match quoted {
        Some(name) => name.strip_prefix(':').unwrap_or(name).to_string(),
        None => rest.to_string(),
    }
}

/// `i += n.to_i * 60 ** (e - 2).abs` over the `:`-separated parts.
fn sexagesimal_int(s: &str) -> Plain {
    let mut total: i128 = 0;
    for (e, part) in s.split(':').enumerate() {
        let weight = 60i128.pow(e.abs_diff(2) as u32);
        let Some(term) = ruby_to_i(part).checked_mul(weight) else { return Plain::Text };
        let Some(sum) = total.checked_add(term) else { return Plain::Text };
        total = sum;
    }
    int_value(total)
}

/// `i += n.to_f * 60 ** (e - 2).abs` over the `:`-separated parts.
fn sexagesimal_float(s: &str) -> f64 {
    s.split(':')
        .enumerate()
        .map(|(e, part)| ruby_to_f(part) * 60f64.powi(e.abs_diff(2) as i32))
        .sum()
}

/// Ruby `String#to_i` on `[-+]?[0-9][0-9_]*`: digits, single underscores between digits.
fn ruby_to_i(s: &str) -> i128 {
    let (negative, digits) = split_sign(s);
    let mut value: i128 = 0;
    let mut previous_digit = false;
    let bytes = digits.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                value = value.saturating_mul(10).saturating_add(i128::from(b - b'0'));
                previous_digit = true;
            }
            b'_' if previous_digit && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => previous_digit = false,
            _ => break,
        }
    }
    if negative { -value } else { value }
}

/// Ruby `String#to_f` on the parts of a sexagesimal float (`30`, `30.5`, `30.`, `3_0.5`).
fn ruby_to_f(s: &str) -> f64 {
    let cleaned: String = s.chars().filter(|c| *c != '_').collect();
    let cleaned = cleaned.strip_suffix('.').unwrap_or(&cleaned);
    cleaned.parse().unwrap_or(0.0)
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// `Float(string.delete(',_').gsub(/\.([Ee]|$)/, '\1'))`.
fn psych_float(s: &str) -> Option<f64> {
    let cleaned: String = s.chars().filter(|c| *c != ',' && *c != '_').collect();
    let mut out = String::with_capacity(cleaned.len());
    let mut chars = cleaned.chars().peekable();
    while let Some(c) = chars.next() {
        let drop_dot = c == '.' && chars.peek().is_none_or(|n| matches!(n, 'e' | 'E'));
        if !drop_dot {
            out.push(c);
        }
    }
    parse_decimal_float(&out)
}

/// Parses `[-+]?[0-9]*(\.[0-9]+)?([eE][-+]?[0-9]+)?` with at least one mantissa digit,
/// as Ruby's `Float()` does (Rust's parser alone also takes `inf`, `nan`, …).
fn parse_decimal_float(s: &str) -> Option<f64> {
    let (_, body) = split_sign(s);
    let mantissa = body.split(['e', 'E']).next().unwrap_or("");
    let valid = mantissa.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && !mantissa.ends_with('.');
    if valid { s.parse().ok() } else { None }
}

/// `Integer(string.delete(',_'))` for a text that matched `INTEGER_LEGACY`.
fn ruby_integer(s: &str) -> Plain {
    let cleaned: String = s.chars().filter(|c| *c != ',' && *c != '_').collect();
    let (negative, body) = split_sign(&cleaned);
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0b") {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    match u128::from_str_radix(digits, radix).ok().and_then(|v| i128::try_from(v).ok()) {
        Some(v) => int_value(if negative { -v } else { v }),
        // Beyond 128 bits: Ruby keeps a Bignum; we keep the digits as written.
        None => Plain::BigInt(cleaned),
    }
}

fn int_value(v: i128) -> Plain {
    i64::try_from(v).map_or_else(|_| Plain::BigInt(v.to_string()), Plain::Int)
}

/// Ruby's `Float(x)` for a `!!float` scalar: `x` is what `tokenize` made of the text.
/// `None` where Ruby raises (`Float(nil)`, `Float(true)`, `Float("abc")`).
pub(super) fn ruby_float_of(text: &str, typed: &Plain) -> Option<f64> {
    match typed {
        Plain::Float(f) => Some(*f),
        Plain::Int(i) => Some(*i as f64),
        Plain::BigInt(digits) => digits.parse().ok(),
        Plain::Text => ruby_float_of_string(text),
        Plain::Null | Plain::Bool(_) | Plain::Symbol(_) | Plain::Date | Plain::Time | Plain::BadFloat => None,
    }
}

/// Ruby `Float("…")`: surrounding whitespace, `_` between digits, hex integers.
fn ruby_float_of_string(text: &str) -> Option<f64> {
    let t = text.trim_matches([' ', '\t', '\n', '\x0B', '\x0C', '\r']);
    let (negative, body) = split_sign(t);
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = u64::from_str_radix(&hex.replace('_', ""), 16).ok()? as f64;
        return Some(if negative { -v } else { v });
    }
    let b = t.as_bytes();
    let underscores_ok =
        (0..b.len()).all(|i| b[i] != b'_' || (i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit)));
    if !underscores_ok {
        return None;
    }
    parse_decimal_float(&t.replace('_', ""))
}

/// Ruby `String#unpack('m')` (base64, lenient: other characters are skipped, `=` ends).
pub(super) fn base64_decode(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_booleans_follow_psych_not_yaml_1_1() {
        for s in ["~", "null", "Null", "NULL", ""] {
            assert_eq!(tokenize(s), Plain::Null, "{s}");
        }
        for s in ["yes", "Yes", "YES", "true", "True", "on", "ON", "oN"] {
            assert_eq!(tokenize(s), Plain::Bool(true), "{s}");
        }
        for s in ["no", "No", "false", "FALSE", "off", "Off"] {
            assert_eq!(tokenize(s), Plain::Bool(false), "{s}");
        }
        for s in ["y", "n", "Y", "N", "nil", "none", "yes!", "truth", "nulls"] {
            assert_eq!(tokenize(s), Plain::Text, "{s}");
        }
    }

    #[test]
    fn integers_in_every_base_with_legacy_separators() {
        let cases = [
            ("0", 0),
            ("42", 42),
            ("-17", -17),
            ("+3", 3),
            ("1_000", 1000),
            ("1,000", 1000),
            ("0755", 493),
            ("-0755", -493),
            ("0x1F", 31),
            ("0xff", 255),
            ("0b101", 5),
            ("-0b11", -3),
            ("0_7", 7),
        ];
        for (s, v) in cases {
            assert_eq!(tokenize(s), Plain::Int(v), "{s}");
        }
        for s in ["08", "0x", "0b", "0_", "1__000", "1,,0", "0o17", "12abc", "1e3", "0x_"] {
            assert_eq!(tokenize(s), Plain::Text, "{s}");
        }
        assert_eq!(tokenize("123456789012345678901234567890"), Plain::BigInt("123456789012345678901234567890".into()));
    }

    #[test]
    fn floats_need_a_dot_and_a_signed_exponent() {
        let cases = [("1.5", 1.5), ("-0.25", -0.25), (".5", 0.5), ("1.", 1.0), ("1,000.5", 1000.5), ("1.0e+3", 1000.0), ("1.e-2", 0.01)];
        for (s, v) in cases {
            assert_eq!(tokenize(s), Plain::Float(v), "{s}");
        }
        assert_eq!(tokenize(".inf"), Plain::Float(f64::INFINITY));
        assert_eq!(tokenize("+.INF"), Plain::Float(f64::INFINITY));
        assert_eq!(tokenize("-.Inf"), Plain::Float(f64::NEG_INFINITY));
        assert!(matches!(tokenize(".NaN"), Plain::Float(f) if f.is_nan()));
        for s in ["1e3", "1.0e3", ".", "-.", "1.2.3", "inf", "nan"] {
            assert_eq!(tokenize(s), Plain::Text, "{s}");
        }
        assert_eq!(tokenize(".e+1"), Plain::BadFloat);
    }

    #[test]
    fn sexagesimal_weighs_parts_from_the_left_like_psych() {
        assert_eq!(tokenize("1:30"), Plain::Int(5400));
        assert_eq!(tokenize("190:20:30"), Plain::Int(685_230));
        assert_eq!(tokenize("-1:30"), Plain::Int(-1800));
        assert_eq!(tokenize("1:30.5"), Plain::Float(5430.0));
        assert_eq!(tokenize("1:60"), Plain::Text);
        assert_eq!(tokenize("1:2:3:4"), Plain::Text);
    }

    #[test]
    fn dates_times_and_symbols_are_recognised() {
        for s in ["2024-01-01", "2024-1-1", "2023-02-30"] {
            assert_eq!(tokenize(s), Plain::Date, "{s}");
        }
        for s in ["2024-01-01 10:00:00", "2024-01-01T10:00:00Z", "2001-12-14t21:59:43.10-05:00"] {
            assert_eq!(tokenize(s), Plain::Time, "{s}");
        }
        assert_eq!(tokenize("2024-13-01"), Plain::Text);
        assert_eq!(tokenize(":build"), Plain::Symbol("build".into()));
        assert_eq!(tokenize(":\"a b\""), Plain::Symbol("a b".into()));
        assert_eq!(tokenize("::x"), Plain::Symbol(":x".into()));
        assert_eq!(tokenize(":\":x\""), Plain::Symbol("x".into()));
        assert_eq!(tokenize(":"), Plain::Text);
    }

    #[test]
    fn word_like_and_multiline_text_use_ruby_line_anchors() {
        assert_eq!(tokenize("echo hello"), Plain::Text);
        assert_eq!(tokenize("-foo"), Plain::Text);
        assert_eq!(tokenize("$CI_COMMIT_SHA"), Plain::Text);
        assert_eq!(tokenize("no\nn"), Plain::Bool(false));
        assert_eq!(tokenize("y\n\no"), Plain::Text);
        assert_eq!(tokenize("véla"), Plain::Text);
    }

    #[test]
    fn ruby_float_conversion_for_float_tags() {
        assert_eq!(ruby_float_of("1", &tokenize("1")), Some(1.0));
        assert_eq!(ruby_float_of("1e3", &tokenize("1e3")), Some(1000.0));
        assert_eq!(ruby_float_of("0x1A", &Plain::Text), Some(26.0));
        assert_eq!(ruby_float_of("1_000.5", &Plain::Text), Some(1000.5));
        assert_eq!(ruby_float_of("abc", &tokenize("abc")), None);
        assert_eq!(ruby_float_of("~", &tokenize("~")), None);
        assert_eq!(ruby_float_of("inf", &Plain::Text), None);
    }

    #[test]
    fn base64_like_ruby_unpack_m() {
        assert_eq!(base64_decode("aGVsbG8gd29ybGQ="), "hello world");
        assert_eq!(base64_decode("aGVs\nbG8="), "hello");
    }
}
