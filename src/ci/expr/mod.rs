//! The CI/CD expression language of `rules:if`, `workflow:rules:if`, `include:rules:if` and
//! `only/except:variables`: `$VAR == "x" && ($B =~ /re/i || $C != null)`.
//!
//! It follows GitLab's `lib/gitlab/ci/pipeline/expression/`: the same lexemes (`lex.rs`), the
//! same shunting-yard parser and precedences (`parse.rs`: comparisons bind tighter than `&&`,
//! which binds tighter than `||`), and the same Ruby value semantics (`eval.rs`). Patterns use
//! the `regex` crate, which like GitLab's RE2 has no backreferences or look-around; unlike
//! RE2 its `\d`, `\w` and `\b` are Unicode-aware.
//!
//! This module only reads and evaluates expressions; where the variables come from is the
//! caller's business.

mod eval;
mod lex;
mod parse;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Longest expression accepted, in bytes. GitLab has no such limit but reads at most 99
/// tokens; this bounds what a token (a long string or pattern) may cost.
pub const MAX_EXPRESSION_LEN: usize = 64 * 1024;

/// A parsed expression, ready to evaluate any number of times. Cloning is cheap: the text
/// and the tree (with its compiled patterns) are shared.
#[derive(Debug, Clone)]
pub struct Expression {
    source: Arc<str>,
    ast: Arc<parse::Ast>,
}

/// Why an expression could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// What is wrong, one sentence without trailing period.
    pub message: String,
    /// Byte offset in the expression of the character or token at fault.
    pub offset: usize,
    /// How to fix it, if we can tell.
    pub hint: Option<String>,
}

impl ExprError {
    pub(crate) fn new(message: impl Into<String>, offset: usize) -> Self {
        Self { message: message.into(), offset, hint: None }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl Expression {
    /// Parses a `rules:if` / `workflow:rules:if` / `only:variables` expression.
    ///
    /// # Errors
    /// Everything GitLab rejects as "invalid expression syntax": an unknown lexeme (including
    /// `${VAR}` and unary `!`, which GitLab does not support), an unterminated string, a
    /// malformed or invalid pattern, unbalanced parentheses, an operator missing an operand,
    /// two values with no operator, an empty expression, more than 99 tokens; and, ours, an
    /// expression longer than [`MAX_EXPRESSION_LEN`].
    pub fn parse(source: &str) -> Result<Expression, ExprError> {
        if source.len() > MAX_EXPRESSION_LEN {
            return Err(ExprError::new(format!("expression is longer than {MAX_EXPRESSION_LEN} bytes"), MAX_EXPRESSION_LEN));
        }
        let tokens = lex::tokenize(source)?;
        let ast = parse::parse(tokens, source.len())?;
        Ok(Expression { source: source.into(), ast: Arc::new(ast) })
    }

    /// Evaluates the expression; `lookup(name)` gives a variable's (already expanded) value,
    /// `None` if the variable is not defined. Never fails: like GitLab's `truthful?`, the
    /// result is whether the final value is present (not null, false, or a blank string).
    pub fn evaluate(&self, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
        eval::evaluate(&self.ast, lookup).present()
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// A `/regex/flags` string compiled as GitLab's `UntrustedRegexp::RubySyntax` reads it (flags
/// `i`, `m`, `s`, `U`); `None` when the text is not shaped like a pattern. Used for
/// `only`/`except` ref patterns.
pub(crate) fn ruby_regex(text: &str) -> Option<Result<regex::Regex, regex::Error>> {
    lex::Pattern::from_text(text).map(|compiled| compiled.map(|pattern| pattern.regex))
}

/// Expressions already parsed, by source text, for one planning run.
///
/// Why: a large pipeline repeats the same `if:` in hundreds of jobs (templates, anchors,
/// `!reference`), and parsing compiles each `/pattern/` into a `regex::Regex`, which costs far
/// more than evaluating it; sharing one compiled regex also shares its match cache. Only
/// valid expressions are kept, so an invalid one is parsed (and reported) at every place it
/// is written, exactly as without the cache. Lookups only, never iterated, so the `HashMap`
/// cannot change any output order.
#[derive(Debug, Default)]
pub struct ExpressionCache {
    parsed: HashMap<String, Expression>,
}

impl ExpressionCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`Expression::parse`], reusing an earlier result for the same text.
    ///
    /// # Errors
    /// As [`Expression::parse`].
    pub fn parse(&mut self, source: &str) -> Result<Expression, ExprError> {
        if let Some(done) = self.parsed.get(source) {
            return Ok(done.clone());
        }
        let expression = Expression::parse(source)?;
        self.parsed.insert(source.to_owned(), expression.clone());
        Ok(expression)
    }
}

impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests;
