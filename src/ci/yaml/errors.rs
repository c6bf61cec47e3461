//! Turns `saphyr-parser` syntax errors into located diagnostics a person can act on:
//! the parser's wording ("while parsing a block mapping, did not find expected key") is
//! replaced by what is wrong and a hint, for the mistakes people make in CI files (tabs,
//! indentation, unclosed quotes and brackets, `: ` inside values, undefined aliases).

use std::sync::Arc;

use saphyr_parser::ScanError;

use crate::diagnostic::{Diagnostic, Location};

/// The diagnostic for a syntax error of `text` (the contents of `file`).
pub(super) fn syntax(error: &ScanError, text: &str, file: &Arc<str>) -> Diagnostic {
    let mark = error.marker();
    let mut line = mark.line().max(1);
    let mut column = mark.col() + 1;
    let info = error.info();
    if info.contains("tab") {
        // The parser stops after the tab, sometimes at the end of the line before it.
        if let Some((l, c)) = find_tab(text, line) {
            (line, column) = (l, c);
        }
    }
    let (message, hint) = explain(info, || alias_name(text, mark.index()));
    let location = Location {
        file: file.clone(),
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    };
    Diagnostic::error(Some(location), "", format!("invalid YAML: {message}")).with_hint(hint)
}

/// The name of the alias `*name` starting at character `index` of `text`.
pub(super) fn alias_name(text: &str, index: usize) -> String {
    text.chars()
        .skip(index)
        .skip_while(|c| *c == '*')
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .take(100)
        .collect()
}

/// The first tab on `line` (1-based) or the line after it: (line, 1-based column).
fn find_tab(text: &str, line: usize) -> Option<(usize, usize)> {
    text.split('\n')
        .enumerate()
        .skip(line - 1)
        .take(2)
        .find_map(|(i, l)| l.chars().position(|c| c == '\t').map(|col| (i + 1, col + 1)))
}

/// What went wrong and how to fix it, from the parser's message.
fn explain(info: &str, alias: impl Fn() -> String) -> (String, String) {
    let fixed = |message: &str, hint: &str| (message.to_string(), hint.to_string());
    if info.contains("tab") {
        return fixed("a tab character is used for indentation", "YAML indentation must use spaces: replace the tab with spaces");
    }
    if info.contains("unknown anchor") {
        let name = alias();
        return (
            format!("alias `*{name}` refers to an anchor that is not defined"),
            format!("define the anchor with `&{name}` before using it; anchors do not cross files or documents"),
        );
    }
    if let Some(c) = info.strip_prefix("unexpected character: `").and_then(|r| r.strip_suffix('\'')) {
        return (format!("`{c}` cannot start a plain value: it is reserved in YAML"), format!("quote the value: `'{c}…'`"));
    }
    let table: &[(&str, &str, &str)] = &[
        (
            "block mapping, did not find expected key",
            "this line does not fit the indentation of the mapping around it",
            "check the indentation of this line: keys of one mapping start in the same column, and a value on its own line is indented more than its key",
        ),
        (
            "did not find expected '-' indicator",
            "this line does not fit the indentation of the list around it",
            "check the indentation of this line: items of one list start with `- ` in the same column",
        ),
        (
            "mapping values are not allowed",
            "unexpected `:`: a mapping value is not allowed here",
            "check the indentation of this line, or quote a value that contains `: ` (`'echo a: b'`)",
        ),
        ("quoted scalar, found unexpected", "a quoted string is not closed", "close the quote"),
        (
            "invalid indentation in quoted scalar",
            "a quoted string is not closed, or its next line is not indented",
            "close the quote, or indent the continuation lines of a multi-line quoted string",
        ),
        ("flow mapping", "a `{` mapping is not closed: expected `,` or `}`", "close the mapping with `}`, or quote a value that starts with `{`"),
        ("flow sequence", "a `[` list is not closed: expected `,` or `]`", "close the list with `]`, or quote a value that starts with `[`"),
        ("':' indicator", "unexpected `:`", "check for an unclosed `[` or `{` before this position, or quote the value"),
        ("':' may not precede", "unexpected `:` before `[` or `{`", "quote the value"),
        ("comment intercepting", "a comment interrupts a multi-line value", "check the indentation of the line after the comment"),
        ("escape", "invalid escape sequence in a double-quoted string", "use single quotes, or write a backslash as `\\\\`"),
        (
            "wrongly indented line in block scalar",
            "a line of a block scalar (`|` or `>`) is indented less than its first line",
            "indent every line of the block at least as much as its first line",
        ),
        ("':' must be followed", "`:` after a key must be followed by a space", "write `key: value`"),
        ("'-' must be followed", "`-` of a list item must be followed by a space", "write `- item`"),
        ("did not find expected node content", "a value is missing here", "check for a stray `,`, `]`, `}` or `-`"),
        ("simple key", "a key is not followed by `:`", "check the indentation of this line, or quote the value"),
    ];
    table
        .iter()
        .find(|(needle, _, _)| info.contains(needle))
        .map_or_else(|| fixed(info, "check the YAML syntax at this position"), |(_, message, hint)| fixed(message, hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tab_on_the_line_or_the_next() {
        assert_eq!(find_tab("a:\n\tb: 1\n", 2), Some((2, 1)));
        assert_eq!(find_tab("a:\n  b: 1\n  \tc: 2\n", 2), Some((3, 3)));
        assert_eq!(find_tab("a: 1\n", 1), None);
    }

    #[test]
    fn reads_alias_names() {
        assert_eq!(alias_name("a: *nope\n", 3), "nope");
        assert_eq!(alias_name("a: [*x, *y]", 4), "x");
    }
}
