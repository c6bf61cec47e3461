//! What a scalar or collection becomes given its style and tag, as Psych's `ToRuby`
//! visitor (ruby/psych `lib/psych/visitors/to_ruby.rb`) decides it under GitLab's
//! `YAML.safe_load(permitted_classes: [Symbol, Tags::Reference], aliases: true)`.
//!
//! Psych looks at the tag before the quoting: a *tagged* scalar never counts as quoted
//! (libyaml reports neither implicit flag), so `!!int "3"` is `3`. Then:
//! - `!!str` / `!str` → the text; `!!float` / `!float` → Ruby `Float(tokenize(text))`;
//!   `!!binary` → base64-decoded text; `!ruby/sym` → a Symbol;
//! - any other tag, `!!int`, `!!bool`, `!!null` and unknown local tags included, is
//!   ignored and the text typed as if plain (so `!!null foo` is the string `foo`);
//! - tags that make Psych load a Ruby class (`!ruby/object:…`, `!!set`, `!!omap`, …) are
//!   refused by the restricted class loader;
//! - `!reference` is GitLab's own tag and must tag a sequence of strings.
//!
//! Unknown local tags are accepted silently by GitLab; we accept them too, with a warning,
//! because they are almost always a typo (`!refrence`).

use saphyr_parser::{ScalarStyle, Tag};

use super::scalar::{self, Plain};
use crate::ci::node::Value;

/// Something to report about one node; the builder adds location and key path.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Problem {
    /// Error (rejects the file) or warning.
    pub error: bool,
    /// The message, one sentence without trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Problem {
    fn error(message: String, hint: impl Into<String>) -> Self {
        Self { error: true, message, hint: Some(hint.into()) }
    }

    fn warning(message: String, hint: impl Into<String>) -> Self {
        Self { error: false, message, hint: Some(hint.into()) }
    }
}

/// What a tag asks of Psych.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TagKind {
    /// GitLab's `!reference`.
    Reference,
    /// `!!str`, `!str`, `!ruby/string`.
    Str,
    /// `!!float`, `!float`.
    Float,
    /// `!!binary`, `!binary`.
    Binary,
    /// `!ruby/sym`, `!ruby/symbol`.
    Symbol,
    /// A tag that loads a Ruby class, which GitLab's restricted loader refuses.
    RubyObject,
    /// Another `tag:yaml.org,2002:` tag (`!!int`, `!!map`, …): Psych ignores it.
    Core,
    /// A local tag Psych does not know (`!foo`, or the non-specific `!`): ignored.
    Unknown,
}

const CORE: &str = "tag:yaml.org,2002:";

/// The tag as Psych sees it (`tag:yaml.org,2002:str`, `!reference`).
pub(super) fn full_name(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// The tag as users write it (`!!str`, `!reference`).
pub(super) fn display(full: &str) -> String {
    match full.strip_prefix(CORE) {
        Some(rest) => format!("!!{rest}"),
        None => full.to_string(),
    }
}

/// Classifies a full tag name.
pub(super) fn classify(full: &str) -> TagKind {
    let core = full.strip_prefix(CORE);
    match (full, core) {
        ("!reference", _) => TagKind::Reference,
        ("!str" | "!ruby/string", _) | (_, Some("str")) => TagKind::Str,
        ("!float", _) | (_, Some("float")) => TagKind::Float,
        ("!binary", _) | (_, Some("binary")) => TagKind::Binary,
        ("!set" | "!omap", _) | (_, Some("set" | "omap")) => TagKind::RubyObject,
        (_, Some(_)) => TagKind::Core,
        _ if full.starts_with("!ruby/sym") => TagKind::Symbol,
        _ if ["!ruby/", "!map:", "!seq:", "!str:"].iter().any(|p| full.starts_with(p)) => TagKind::RubyObject,
        _ => TagKind::Unknown,
    }
}

/// The value of a scalar written with `style` and `tag`. `None` means "the text itself,
/// as a string" (so the caller can move it instead of copying).
pub(super) fn scalar(raw: &str, style: ScalarStyle, tag: Option<&Tag>) -> (Option<Value>, Option<Problem>) {
    let Some(tag) = tag else {
        if style == ScalarStyle::Plain {
            return typed(raw, scalar::tokenize(raw));
        }
        return (None, None);
    };
    let full = full_name(tag);
    match classify(&full) {
        TagKind::Str => (None, None),
        TagKind::Float => match scalar::ruby_float_of(raw, &scalar::tokenize(raw)) {
            Some(f) => (Some(Value::Float(f)), None),
            None => (None, Some(Problem::error(
                format!("`{raw}` is tagged `{}` but is not a number", display(&full)),
                "write a number such as `1.5`, or remove the tag",
            ))),
        },
        TagKind::Binary => (Some(Value::Str(scalar::base64_decode(raw))), None),
        TagKind::Symbol => (Some(Value::Str(raw.to_string())), Some(symbol_warning(raw, raw))),
        TagKind::Reference => (Some(Value::Null), Some(reference_error(&format!("`{raw}`")))),
        TagKind::RubyObject => (Some(Value::Null), Some(ruby_object_error(&full))),
        TagKind::Core => typed(raw, scalar::tokenize(raw)),
        TagKind::Unknown => {
            let (value, problem) = typed(raw, scalar::tokenize(raw));
            (value, problem.or_else(|| Some(unknown_tag_warning(&full))))
        }
    }
}

/// The value Psych gives a plain scalar typed as `plain`.
fn typed(raw: &str, plain: Plain) -> (Option<Value>, Option<Problem>) {
    match plain {
        Plain::Null => (Some(Value::Null), None),
        Plain::Bool(b) => (Some(Value::Bool(b)), None),
        Plain::Int(i) => (Some(Value::Int(i)), None),
        Plain::Float(f) => (Some(Value::Float(f)), None),
        Plain::Text => (None, None),
        Plain::BigInt(digits) => (Some(Value::Str(digits)), None),
        Plain::Symbol(name) => {
            let problem = symbol_warning(raw, &name);
            (Some(Value::Str(name)), Some(problem))
        }
        Plain::Date => (None, Some(Problem::error(
            format!("`{raw}` is loaded as a date, which GitLab refuses"),
            format!("quote it to keep it as text: `'{raw}'`"),
        ))),
        Plain::Time => (None, Some(Problem::error(
            format!("`{raw}` is loaded as a time, which GitLab refuses"),
            format!("quote it to keep it as text: `'{raw}'`"),
        ))),
        Plain::BadFloat => (None, Some(Problem::error(
            format!("`{raw}` looks like a float to GitLab's YAML loader but is not one, so GitLab fails to load it"),
            format!("quote it to keep it as text: `'{raw}'`"),
        ))),
    }
}

fn symbol_warning(raw: &str, name: &str) -> Problem {
    Problem::warning(
        format!("`{raw}` is loaded as the Ruby symbol `{name}`, which GitLab treats as the text `{name}`"),
        format!("quote it to keep the colon: `'{raw}'`"),
    )
}

/// The error for a `!reference` that does not tag a sequence of strings; `what` describes
/// what it tags.
pub(super) fn reference_error(what: &str) -> Problem {
    Problem::error(
        format!("`!reference` must tag a non-empty sequence of strings, not {what}"),
        "write the job or anchor name, then the keys: `!reference [.setup, script]`",
    )
}

/// The error for a tag that makes Psych load a Ruby class.
pub(super) fn ruby_object_error(full: &str) -> Problem {
    Problem::error(
        format!("tag `{}` asks GitLab to load a Ruby object, which its YAML loader refuses", display(full)),
        "remove the tag",
    )
}

/// The warning for a tag GitLab ignores.
pub(super) fn unknown_tag_warning(full: &str) -> Problem {
    Problem::warning(
        format!("unknown tag `{}` is ignored, as GitLab does", display(full)),
        "GitLab knows only `!reference`; remove the tag or fix its spelling",
    )
}

/// The warning for a scalar tag on a collection, which Psych ignores.
pub(super) fn ignored_tag_warning(full: &str, mapping: bool) -> Problem {
    let what = if mapping { "a mapping" } else { "a sequence" };
    Problem::warning(format!("tag `{}` has no effect on {what} and is ignored, as in GitLab", display(full)), "remove the tag")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(handle: &str, suffix: &str) -> Tag {
        Tag { handle: handle.into(), suffix: suffix.into() }
    }

    #[test]
    fn classifies_tags_as_psych_treats_them() {
        assert_eq!(classify("!reference"), TagKind::Reference);
        assert_eq!(classify("tag:yaml.org,2002:str"), TagKind::Str);
        assert_eq!(classify("tag:yaml.org,2002:int"), TagKind::Core);
        assert_eq!(classify("tag:yaml.org,2002:set"), TagKind::RubyObject);
        assert_eq!(classify("!ruby/object:Foo"), TagKind::RubyObject);
        assert_eq!(classify("!ruby/sym"), TagKind::Symbol);
        assert_eq!(classify("!foo"), TagKind::Unknown);
        assert_eq!(classify("!"), TagKind::Unknown);
        assert_eq!(display("tag:yaml.org,2002:float"), "!!float");
    }

    #[test]
    fn tagged_scalars_are_never_quoted_for_psych() {
        let int = tag(CORE, "int");
        assert_eq!(scalar("3", ScalarStyle::DoubleQuoted, Some(&int)).0, Some(Value::Int(3)));
        assert_eq!(scalar("3", ScalarStyle::DoubleQuoted, None).0, None);
        assert_eq!(scalar("3", ScalarStyle::Plain, Some(&tag(CORE, "str"))).0, None);
        assert_eq!(scalar("1", ScalarStyle::Plain, Some(&tag(CORE, "float"))).0, Some(Value::Float(1.0)));
        let (value, problem) = scalar("x", ScalarStyle::Plain, Some(&tag(CORE, "float")));
        assert_eq!(value, None);
        assert!(problem.is_some_and(|p| p.error));
    }
}
