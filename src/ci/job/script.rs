//! `script`, `before_script`, `after_script` and `hooks:pre_get_sources_script`: a string, or
//! a list of strings nested up to 10 levels deep (nesting comes from `!reference`), flattened
//! in order as GitLab's `Entry::Commands` does.

use super::value::{expected, item};
use crate::ci::node::{Node, Value};
use crate::diagnostic::Diagnostics;

/// How deep lists of commands may nest (GitLab's `MAX_NESTING_LEVEL`).
const MAX_LEVEL: usize = 10;

/// The commands of a script keyword, flattened; errors at each offending element.
pub(crate) fn commands(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    match &node.value {
        Value::Str(s) => Some(vec![s.clone()]),
        Value::Seq(_) => {
            let mut out = Vec::new();
            flatten(node, path, 1, &mut out, diags).then_some(out)
        }
        _ => {
            expected(diags, node, path, "a string or a list of strings (nested up to 10 levels)");
            None
        }
    }
}

fn flatten(node: &Node, path: &str, level: usize, out: &mut Vec<String>, diags: &mut Diagnostics) -> bool {
    let Some(items) = node.as_seq() else { return false };
    let mut ok = true;
    for (i, element) in items.iter().enumerate() {
        let at = item(path, i);
        match &element.value {
            Value::Str(s) => out.push(s.clone()),
            Value::Seq(_) if level < MAX_LEVEL => ok &= flatten(element, &at, level + 1, out, diags),
            Value::Seq(_) => {
                ok = false;
                expected(diags, element, &at, "a string (lists of commands nest at most 10 levels)");
            }
            _ => {
                ok = false;
                let found = if matches!(element.value, Value::Map(_)) {
                    "a string (a command containing `: ` must be quoted)"
                } else {
                    "a string"
                };
                expected(diags, element, &at, found);
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Location;

    fn at(line: u32) -> Location {
        Location::new("t.yml", line, 5)
    }
    fn s(text: &str, line: u32) -> Node {
        Node::new(Value::Str(text.into()), at(line))
    }
    fn seq(items: Vec<Node>, line: u32) -> Node {
        Node::new(Value::Seq(items), at(line))
    }

    #[test]
    fn flattens_nested_lists_in_order() {
        let node = seq(vec![s("a", 1), seq(vec![s("b", 2), seq(vec![s("c", 3)], 3)], 2), s("d", 4)], 1);
        let mut diags = Diagnostics::new();
        assert_eq!(commands(&node, "j.script", &mut diags).unwrap(), ["a", "b", "c", "d"]);
        assert!(diags.is_empty());
    }

    #[test]
    fn rejects_eleven_levels_and_non_strings() {
        let mut node = s("deep", 11);
        for line in (1..=11).rev() {
            node = seq(vec![node], line);
        }
        let mut diags = Diagnostics::new();
        assert!(commands(&node, "j.script", &mut diags).is_none());
        assert_eq!(diags.0[0].message, "expected a string (lists of commands nest at most 10 levels), found a sequence");

        let node = seq(vec![s("ok", 1), Node::new(Value::Int(3), at(2))], 1);
        let mut diags = Diagnostics::new();
        assert!(commands(&node, "j.script", &mut diags).is_none());
        assert_eq!(diags.0[0].to_string(), "t.yml:2:5: j.script[1]: expected a string, found an integer");
    }
}
