//! The lexer of CI/CD expressions: source text to [`Token`]s, as GitLab's
//! `Gitlab::Ci::Pipeline::Expression::Lexer` scans it.
//!
//! Lexemes, tried at each position after skipping whitespace: `(`, `)`, a variable `$NAME`
//! (`NAME` is ASCII letters, digits, `_`), a string `"…"` or `'…'` (no escapes, no line
//! breaks), a pattern `/…/flags`, `null`, `==`, `=~`, `!=`, `!~`, `&&`, `||`. Like GitLab, at
//! most 99 tokens are read (its lexer gives up at the 100th). A pattern literal is compiled
//! here, so an invalid regular expression is a syntax error, as in GitLab.
//!
//! This file must not evaluate anything; it only reads text.

use std::sync::{Arc, LazyLock};

use regex::Regex;

use super::ExprError;

/// GitLab's lexer reads at most this many iterations; the last one must find the end.
pub(crate) const MAX_TOKENS: usize = 100;

/// Compiled-program size limit of one regular expression (RE2 in GitLab has a similar cap).
const REGEX_SIZE_LIMIT: usize = 2 << 20;

/// GitLab's pattern lexeme: `/`, then at least one character that is not `/` (or an escaped
/// `\/`), then one character that is not `\`, then `/` and optional flags. Taken verbatim
/// from `Lexeme::Pattern::PATTERN`; the `regex` crate's leftmost-first semantics find the
/// same match as Ruby's backtracking engine. Note that it needs at least two characters
/// between the slashes, so GitLab rejects `/a/`.
static PATTERN_LEXEME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\A/([^/]|\\/)+[^\\]/[ismU]*").ok());

/// One token with its byte offset in the expression.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// What was read.
    pub kind: TokenKind,
    /// Byte offset of the token's first character.
    pub offset: usize,
}

/// The kinds of lexemes.
#[derive(Debug, Clone)]
pub(crate) enum TokenKind {
    ParenOpen,
    ParenClose,
    Variable(String),
    Str(String),
    Pattern(Arc<Pattern>),
    Null,
    Equals,
    NotEquals,
    Matches,
    NotMatches,
    And,
    Or,
}

/// A compiled `/regex/flags` pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The pattern as GitLab keeps it: `/body/flags` with `\/` already turned into `/`.
    pub text: String,
    /// The compiled expression (flags applied as an inline group, as GitLab does for RE2).
    pub regex: Regex,
}

impl Pattern {
    /// Builds a pattern from `/body/flags` text, as `UntrustedRegexp::RubySyntax` does:
    /// `\/` becomes `/`, the body is everything between the first and the last `/`, flags
    /// are `i`, `m`, `s`, `U`. `None` when the text has no pattern shape; `Err` when it has
    /// one but does not compile.
    pub fn from_text(text: &str) -> Option<Result<Pattern, regex::Error>> {
        let text = text.replace("\\/", "/");
        let rest = text.strip_prefix('/')?;
        let close = rest.rfind('/')?;
        let (body, flags) = (&rest[..close], &rest[close + 1..]);
        if !flags.chars().all(|c| matches!(c, 'i' | 'm' | 's' | 'U')) {
            return None;
        }
        Some(compile(body, flags).map(|regex| Pattern { text: text.clone(), regex }))
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// Compiles `body` with `flags` prefixed as `(?flags)`, bounded in size.
pub(crate) fn compile(body: &str, flags: &str) -> Result<Regex, regex::Error> {
    let source = if flags.is_empty() { body.to_owned() } else { format!("(?{flags}){body}") };
    regex::RegexBuilder::new(&source).size_limit(REGEX_SIZE_LIMIT).dfa_size_limit(REGEX_SIZE_LIMIT).build()
}

/// Splits `source` into tokens.
///
/// # Errors
/// An unknown lexeme (with a specific message for `${VAR}`, unary `!`, a lone `=`, `&` or
/// `|`, unterminated strings and malformed patterns), an invalid regular expression, or more
/// tokens than GitLab reads.
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, ExprError> {
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        pos += source[pos..].len() - source[pos..].trim_start_matches(is_ruby_space).len();
        if pos >= source.len() {
            return Ok(tokens);
        }
        if tokens.len() >= MAX_TOKENS - 1 {
            return Err(ExprError::new(
                format!("expression has too many tokens (GitLab reads at most {})", MAX_TOKENS - 1),
                pos,
            )
            .with_hint("split the condition into several rules"));
        }
        let (kind, len) = scan(&source[pos..], pos)?;
        tokens.push(Token { kind, offset: pos });
        pos += len;
    }
}

/// Ruby's `\s`: space, tab, line feed, vertical tab, form feed, carriage return.
fn is_ruby_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// Reads one token at the start of `rest` (which starts at byte `offset` of the source).
fn scan(rest: &str, offset: usize) -> Result<(TokenKind, usize), ExprError> {
    let two = rest.get(..2).unwrap_or("");
    let fixed = match two {
        "==" => Some(TokenKind::Equals),
        "=~" => Some(TokenKind::Matches),
        "!=" => Some(TokenKind::NotEquals),
        "!~" => Some(TokenKind::NotMatches),
        "&&" => Some(TokenKind::And),
        "||" => Some(TokenKind::Or),
        _ => None,
    };
    if let Some(kind) = fixed {
        return Ok((kind, 2));
    }
    if rest.starts_with("null") {
        return Ok((TokenKind::Null, 4));
    }
    let first = rest.chars().next().unwrap_or(' ');
    match first {
        '(' => Ok((TokenKind::ParenOpen, 1)),
        ')' => Ok((TokenKind::ParenClose, 1)),
        '$' => scan_variable(rest, offset),
        '"' | '\'' => scan_string(rest, first, offset),
        '/' => scan_pattern(rest, offset),
        _ => Err(unknown(rest, first, offset)),
    }
}

fn scan_variable(rest: &str, offset: usize) -> Result<(TokenKind, usize), ExprError> {
    let name_len = rest[1..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    if name_len > 0 {
        return Ok((TokenKind::Variable(rest[1..1 + name_len].to_owned()), 1 + name_len));
    }
    if rest[1..].starts_with('{') {
        let name: String = rest[2..].chars().take_while(|c| *c != '}').collect();
        let name = if name.is_empty() { "NAME".to_owned() } else { name };
        return Err(ExprError::new("`${…}` is not supported in expressions", offset)
            .with_hint(format!("write `${name}` instead of `${{{name}}}`")));
    }
    if rest[1..].starts_with("[[") {
        return Err(ExprError::new("`$[[ … ]]` inputs must be interpolated before the expression is read", offset)
            .with_hint("check that the input is declared in the file's `spec:inputs`"));
    }
    Err(ExprError::new("unknown lexeme `$`: a variable name must follow `$`", offset)
        .with_hint("variable names are letters, digits and `_`, as in `$CI_COMMIT_BRANCH`"))
}

fn scan_string(rest: &str, quote: char, offset: usize) -> Result<(TokenKind, usize), ExprError> {
    let body = &rest[1..];
    match body.find([quote, '\n']) {
        Some(end) if body[end..].starts_with(quote) => Ok((TokenKind::Str(body[..end].to_owned()), end + 2)),
        _ => Err(ExprError::new(format!("unterminated string: no closing {quote} on the same line"), offset)
            .with_hint(format!("strings cannot contain {quote} or a line break; there is no escape"))),
    }
}

fn scan_pattern(rest: &str, offset: usize) -> Result<(TokenKind, usize), ExprError> {
    let found = PATTERN_LEXEME.as_ref().and_then(|re| re.find(rest));
    let Some(found) = found else {
        return Err(ExprError::new(
            "unknown lexeme: a pattern is written `/regex/` with at least two characters between the slashes, \
             optionally followed by the flags `i`, `m`, `s`, `U`",
            offset,
        )
        .with_hint("escape `/` inside a pattern as `\\/`; for one character use a class such as `/[a]/`"));
    };
    let text = found.as_str();
    match Pattern::from_text(text) {
        Some(Ok(pattern)) => Ok((TokenKind::Pattern(Arc::new(pattern)), text.len())),
        Some(Err(error)) => Err(ExprError::new(format!("invalid regular expression `{text}`"), offset)
            .with_hint(first_line(&error.to_string()))),
        None => Err(ExprError::new(format!("invalid regular expression `{text}`"), offset)),
    }
}

/// The most useful line of a `regex` error (its last non-empty line names the problem).
fn first_line(message: &str) -> String {
    message.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or(message).to_owned()
}

fn unknown(rest: &str, first: char, offset: usize) -> ExprError {
    let (message, hint) = match first {
        '!' => (
            "unary `!` is not supported".to_owned(),
            "use `!=` or `!~` to negate a comparison, or `$VAR == null` to test that a variable is not set".to_owned(),
        ),
        '=' => ("unknown lexeme `=`".to_owned(), "compare with `==`, or match a pattern with `=~`".to_owned()),
        '&' => ("unknown lexeme `&`".to_owned(), "write `&&` for a logical and".to_owned()),
        '|' => ("unknown lexeme `|`".to_owned(), "write `||` for a logical or".to_owned()),
        c if c.is_alphanumeric() || c == '_' => {
            let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').take(40).collect();
            (
                format!("unknown lexeme `{word}`"),
                format!("start variables with `$` (`${word}`) and quote strings (`\"{word}\"`)"),
            )
        }
        c => (format!("unknown lexeme `{c}`"), "expressions use `$VAR`, \"strings\", /patterns/, `null`, `==`, `!=`, `=~`, `!~`, `&&`, `||` and parentheses".to_owned()),
    };
    ExprError::new(message, offset).with_hint(hint)
}
