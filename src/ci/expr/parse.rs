//! The parser of CI/CD expressions: tokens to a tree, with GitLab's own algorithm.
//!
//! GitLab's `Expression::Parser` turns the tokens into reverse Polish notation with the
//! shunting-yard algorithm, then builds the tree from it. Precedences (lower binds tighter):
//! `==` `!=` `=~` `!~` 10, `&&` 11, `||` 12, all left-associative; parentheses group. We
//! reproduce the algorithm rather than a textbook grammar so that exactly the same inputs are
//! accepted: GitLab also accepts odd forms such as `== $A $B` (read as `$A == $B`), and so do we.
//!
//! Errors: an operator missing an operand, values with no operator between them, an
//! unmatched `(` or `)`, and nothing to evaluate.

use std::sync::Arc;

use super::ExprError;
use super::lex::{Pattern, Token, TokenKind};

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Equals,
    NotEquals,
    Matches,
    NotMatches,
    And,
    Or,
}

impl Op {
    /// GitLab's precedence numbers (lower binds tighter).
    fn precedence(self) -> u16 {
        match self {
            Op::Equals | Op::NotEquals | Op::Matches | Op::NotMatches => 10,
            Op::And => 11,
            Op::Or => 12,
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Equals => "==",
            Op::NotEquals => "!=",
            Op::Matches => "=~",
            Op::NotMatches => "!~",
            Op::And => "&&",
            Op::Or => "||",
        }
    }
}

/// An operand as written.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Variable(String),
    Str(String),
    Pattern(Arc<Pattern>),
    Null,
}

/// The expression tree.
#[derive(Debug, Clone)]
pub(crate) enum Ast {
    Value(Operand),
    Binary { op: Op, left: Box<Ast>, right: Box<Ast> },
}

/// An entry of the operator stack: an operator, or an open parenthesis (precedence 901 in
/// GitLab, higher than everything, so nothing pops it but `)`).
#[derive(Debug, Clone, Copy)]
enum Stacked {
    Op(Op, usize),
    Open(usize),
}

/// An entry of the reverse Polish output.
#[derive(Debug, Clone)]
enum Rpn {
    Value(Operand, usize),
    Op(Op, usize),
    /// A `(` never closed: GitLab finds it in the output and fails.
    Open(usize),
}

/// Parses tokens into a tree.
///
/// # Errors
/// See the module documentation; each error carries the byte offset of the token at fault.
pub(crate) fn parse(tokens: Vec<Token>, source_len: usize) -> Result<Ast, ExprError> {
    if tokens.is_empty() {
        return Err(ExprError::new("expression is empty", 0)
            .with_hint("write a condition such as `$CI_COMMIT_BRANCH == \"main\"`"));
    }
    let rpn = to_rpn(tokens)?;
    build(rpn, source_len)
}

/// Shunting-yard, as `Parser#tokens_rpn`.
fn to_rpn(tokens: Vec<Token>) -> Result<Vec<Rpn>, ExprError> {
    let mut output = Vec::new();
    let mut operators: Vec<Stacked> = Vec::new();
    for token in tokens {
        let offset = token.offset;
        let op = match token.kind {
            TokenKind::Variable(name) => {
                output.push(Rpn::Value(Operand::Variable(name), offset));
                continue;
            }
            TokenKind::Str(s) => {
                output.push(Rpn::Value(Operand::Str(s), offset));
                continue;
            }
            TokenKind::Pattern(p) => {
                output.push(Rpn::Value(Operand::Pattern(p), offset));
                continue;
            }
            TokenKind::Null => {
                output.push(Rpn::Value(Operand::Null, offset));
                continue;
            }
            TokenKind::ParenOpen => {
                operators.push(Stacked::Open(offset));
                continue;
            }
            TokenKind::ParenClose => {
                close_paren(&mut output, &mut operators, offset)?;
                continue;
            }
            TokenKind::Equals => Op::Equals,
            TokenKind::NotEquals => Op::NotEquals,
            TokenKind::Matches => Op::Matches,
            TokenKind::NotMatches => Op::NotMatches,
            TokenKind::And => Op::And,
            TokenKind::Or => Op::Or,
        };
        while let Some(Stacked::Op(top, top_offset)) = operators.last().copied() {
            if op.precedence() < top.precedence() {
                break;
            }
            operators.pop();
            output.push(Rpn::Op(top, top_offset));
        }
        operators.push(Stacked::Op(op, offset));
    }
    while let Some(entry) = operators.pop() {
        output.push(match entry {
            Stacked::Op(op, offset) => Rpn::Op(op, offset),
            Stacked::Open(offset) => Rpn::Open(offset),
        });
    }
    Ok(output)
}

/// `)`: pops operators to the output down to the matching `(`, which it removes.
fn close_paren(output: &mut Vec<Rpn>, operators: &mut Vec<Stacked>, offset: usize) -> Result<(), ExprError> {
    loop {
        match operators.pop() {
            Some(Stacked::Op(op, op_offset)) => output.push(Rpn::Op(op, op_offset)),
            Some(Stacked::Open(_)) => return Ok(()),
            None => {
                return Err(ExprError::new("unbalanced parentheses: this `)` has no matching `(`", offset)
                    .with_hint("remove the `)` or add the missing `(`"));
            }
        }
    }
}

/// Builds the tree from reverse Polish notation, as `Parser#tree`.
fn build(rpn: Vec<Rpn>, source_len: usize) -> Result<Ast, ExprError> {
    // Each result keeps the offset of its leftmost token, to point at stray values.
    let mut results: Vec<(Ast, usize)> = Vec::new();
    for item in rpn {
        match item {
            Rpn::Value(operand, offset) => results.push((Ast::Value(operand), offset)),
            Rpn::Op(op, offset) => {
                let right = results.pop();
                let left = results.pop();
                let (Some((left, start)), Some((right, _))) = (left, right) else {
                    return Err(missing_operand(op, offset));
                };
                results.push((Ast::Binary { op, left: Box::new(left), right: Box::new(right) }, start.min(offset)));
            }
            Rpn::Open(offset) => {
                return Err(ExprError::new("unbalanced parentheses: this `(` is never closed", offset)
                    .with_hint("add the missing `)`"));
            }
        }
    }
    match results.len() {
        0 => Err(ExprError::new("expression has nothing to evaluate", source_len.saturating_sub(1))
            .with_hint("put a condition inside the parentheses")),
        1 => Ok(results.remove(0).0),
        _ => {
            let stray = results.get(1).map_or(0, |(_, offset)| *offset);
            Err(ExprError::new("missing operator between two values", stray)
                .with_hint("join conditions with `&&` or `||`, and compare values with `==`, `!=`, `=~` or `!~`"))
        }
    }
}

fn missing_operand(op: Op, offset: usize) -> ExprError {
    let symbol = op.symbol();
    ExprError::new(format!("`{symbol}` needs a value on each side"), offset)
        .with_hint(format!("write `<value> {symbol} <value>`; values are `$VAR`, \"strings\", /patterns/ and `null`"))
}
