//! Evaluation of CI/CD expressions with GitLab's Ruby value semantics.
//!
//! In GitLab each node evaluates to a Ruby value, not a boolean: a variable gives its string
//! or `nil`, `&&`/`||` return one of their operands (Ruby's `&&`/`||`, where only `nil` and
//! `false` are false, so `""` is true *inside* an expression), comparisons give `true` or
//! `false`. Only the final value is turned into a boolean, with ActiveSupport's `present?`:
//! `nil`, `false`, and strings that are empty or only whitespace are false. So `$EMPTY` alone
//! is false but `$EMPTY && "x"` is true, exactly as in GitLab.
//!
//! `=~`/`!~`: the left side is read as a string (`nil` as `""`); the right side is a pattern,
//! or a string that holds one (`/…/flags`, GitLab 15.0+), or else a plain string, in which
//! case GitLab checks that the left text occurs *in the right string* (`String#scan`). A
//! `null` right side gives `false` for `=~` and `true` for `!~`.
//!
//! Evaluation is recursive over a tree of at most 99 tokens, so its depth is bounded; it has
//! no error path (GitLab's `truthful?` turns runtime errors into `false`).

use std::sync::Arc;

use super::lex::Pattern;
use super::parse::{Ast, Op, Operand};

/// A Ruby value during evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Str(String),
    Pattern(Arc<Pattern>),
}

impl Value {
    /// Ruby truthiness: only `nil` and `false` are false.
    fn truthy(&self) -> bool {
        !matches!(self, Value::Null | Value::Bool(false))
    }

    /// ActiveSupport `present?`: not `nil`, not `false`, not a blank string.
    pub fn present(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Str(s) => !s.chars().all(char::is_whitespace),
            Value::Pattern(_) => true,
        }
    }

    /// Ruby `to_s` of the left side of `=~` (`nil.to_s` is `""`).
    fn to_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Str(s) => s.clone(),
            Value::Pattern(p) => p.text.clone(),
        }
    }

    /// Ruby `==` between two values; patterns compare by their source.
    fn equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Pattern(a), Value::Pattern(b)) => a.text == b.text,
            _ => false,
        }
    }
}

/// Evaluates `ast` to a Ruby value.
pub(crate) fn evaluate(ast: &Ast, lookup: &dyn Fn(&str) -> Option<String>) -> Value {
    match ast {
        Ast::Value(Operand::Variable(name)) => lookup(name).map_or(Value::Null, Value::Str),
        Ast::Value(Operand::Str(s)) => Value::Str(s.clone()),
        Ast::Value(Operand::Pattern(p)) => Value::Pattern(Arc::clone(p)),
        Ast::Value(Operand::Null) => Value::Null,
        Ast::Binary { op: Op::And, left, right } => {
            let left = evaluate(left, lookup);
            if left.truthy() { evaluate(right, lookup) } else { left }
        }
        Ast::Binary { op: Op::Or, left, right } => {
            let left = evaluate(left, lookup);
            if left.truthy() { left } else { evaluate(right, lookup) }
        }
        Ast::Binary { op, left, right } => {
            let left = evaluate(left, lookup);
            let right = evaluate(right, lookup);
            Value::Bool(match op {
                Op::Equals => left.equals(&right),
                Op::NotEquals => !left.equals(&right),
                Op::Matches => matches(&left, &right).unwrap_or(false),
                Op::NotMatches => matches(&left, &right).is_none_or(|m| !m),
                Op::And | Op::Or => false, // handled above
            })
        }
    }
}

/// `left =~ right`; `None` when the right side is `null`, which GitLab answers before
/// matching (`=~` false, `!~` true).
fn matches(left: &Value, right: &Value) -> Option<bool> {
    let text = left.to_text();
    match right {
        Value::Null => None,
        Value::Pattern(p) => Some(p.is_match(&text)),
        Value::Str(s) => Some(match pattern_in_string(s) {
            Some(pattern) => pattern.is_match(&text),
            None => s.contains(&text),
        }),
        // GitLab raises NoMethodError (`true.scan`); a failing expression is false there.
        Value::Bool(_) => Some(false),
    }
}

/// A pattern held in a variable's value, as `Lexeme::Pattern.build_and_evaluate` finds it:
/// Ruby's `^/(.*)/([ismU]*)$` is line-anchored, so the first line shaped like a pattern counts.
/// A value that looks like a pattern but does not compile stays a plain string, as in GitLab.
fn pattern_in_string(value: &str) -> Option<Pattern> {
    value.split('\n').find_map(Pattern::from_text).and_then(Result::ok)
}
