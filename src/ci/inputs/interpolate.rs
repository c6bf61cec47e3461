//! `$[[ inputs.NAME | function | … ]]` interpolation, as GitLab's `Ci::Interpolation::Template`
//! does it: every string scalar and mapping key is searched for blocks; a scalar that is exactly
//! one block takes the input's typed value (an array input written as a sequence item is spliced
//! into that sequence), otherwise each block is replaced by its value's string form.
//!
//! Functions (at most three per block, applied left to right, string values only):
//! `expand_vars` (known variables, one level, unknown ones left as written), `truncate(offset,length)`
//! (characters) and `posix_escape` (Ruby's `Shellwords.shellescape`).

use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;

use super::join;
use crate::diagnostic::did_you_mean;
use crate::ci::key_path::KeyPath;
use crate::ci::node::{Key, Map, Node, Value};
use crate::ci::variables::{Variables, expand_with};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// GitLab's `BLOCK_REGEXP`: `$[[`, optional blanks, at least two non-blank-bounded characters, `]]`.
static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // a constant pattern, checked by every test
    Regex::new(r"\$\[\[\s*(\S.*?\S)\s*\]\]").expect("valid block pattern")
});

/// Most functions in one block (GitLab's `MAX_FUNCTIONS`).
const MAX_FUNCTIONS: usize = 3;
/// Longest access expression, in bytes (GitLab's `MAX_ACCESS_BYTESIZE`).
const MAX_ACCESS_BYTES: usize = 1024;
/// The functions a block may apply, for hints.
const FUNCTIONS: &str = "`expand_vars`, `truncate(offset,length)`, `posix_escape`";

/// What a block can read.
pub(super) struct Context<'a> {
    /// Every input's value, in header order.
    pub inputs: &'a IndexMap<String, Node>,
    /// The file being interpolated, for messages.
    pub file: &'a str,
    /// Variables `expand_vars` may expand.
    pub variables: &'a Variables,
}

/// Interpolates every block in `config`; errors go to `diags`, located at the scalar or key.
pub(super) fn interpolate(config: Node, ctx: &Context, diags: &mut Diagnostics) -> Node {
    walk(config, ctx, "", diags)
}

/// Reports every block in `config` of a file that has no `spec:` header.
pub(super) fn reject_blocks(config: &Node, file: &str, diags: &mut Diagnostics) {
    // Almost no file has a block: look for one before paying for key paths and the regex.
    if !has_block_opening(config) {
        return;
    }
    let mut report = |text: &str, location: &Location, path: &KeyPath<'_>| {
        if let Some(block) = BLOCK.find(text) {
            diags.push(
                Diagnostic::error(Some(location.clone()), path.to_string(), format!("`{}` is used in `{file}`, which declares no `spec:inputs` header", block.as_str()))
                    .with_hint("declare the inputs in a header document (`spec:` then `inputs:`) at the top of the file, followed by a line `---`"),
            );
        }
    };
    visit_strings(config, &KeyPath::ROOT, &mut report);
}

/// Whether any string or key of `node` contains `$[[`, which every block starts with.
fn has_block_opening(node: &Node) -> bool {
    // Looking for the `$` first (a memchr) is much cheaper than a substring search on the
    // short strings a configuration is made of.
    let opens = |s: &str| s.contains('$') && s.contains("$[[");
    match &node.value {
        Value::Str(s) => opens(s),
        Value::Seq(items) => items.iter().any(has_block_opening),
        Value::Map(map) => map.iter().any(|(key, value)| opens(&key.name) || has_block_opening(value)),
        _ => false,
    }
}

fn visit_strings(node: &Node, path: &KeyPath<'_>, f: &mut dyn FnMut(&str, &Location, &KeyPath<'_>)) {
    match &node.value {
        Value::Str(s) => f(s, &node.location, path),
        Value::Seq(items) => items.iter().enumerate().for_each(|(i, item)| visit_strings(item, &path.index(i), f)),
        Value::Map(map) => {
            for (key, value) in map.iter() {
                let child = path.key(&key.name);
                f(&key.name, &key.location, &child);
                visit_strings(value, &child, f);
            }
        }
        _ => {}
    }
}

fn walk(node: Node, ctx: &Context, path: &str, diags: &mut Diagnostics) -> Node {
    let location = node.location;
    match node.value {
        Value::Str(text) => interpolate_scalar(text, location, ctx, path, diags),
        Value::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let was_string = matches!(item.value, Value::Str(_));
                let new = walk(item, ctx, &format!("{path}[{i}]"), diags);
                match new.value {
                    // GitLab splices an array input written as a sequence item into that sequence.
                    Value::Seq(inner) if was_string => out.extend(inner),
                    value => out.push(Node::new(value, new.location)),
                }
            }
            Node::new(Value::Seq(out), location)
        }
        Value::Map(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let child = join(path, &key.name);
                let value = walk(value, ctx, &child, diags);
                let key = interpolate_key(key, ctx, path, diags);
                out.insert(key, value);
            }
            Node::new(Value::Map(out), location)
        }
        value => Node::new(value, location),
    }
}

fn interpolate_key(key: Key, ctx: &Context, parent: &str, diags: &mut Diagnostics) -> Key {
    if !key.name.contains("$[[") {
        return key;
    }
    let path = join(parent, &key.name);
    let node = interpolate_scalar(key.name.clone(), key.location.clone(), ctx, &path, diags);
    let name = node
        .scalar_to_string()
        .unwrap_or_else(|| ruby_inspect(&node));
    Key {
        name,
        location: key.location,
    }
}

/// Interpolates one string: a lone block gives the typed value, otherwise a spliced string.
fn interpolate_scalar(
    text: String,
    location: Location,
    ctx: &Context,
    path: &str,
    diags: &mut Diagnostics,
) -> Node {
    if !text.contains("$[[") {
        return Node::new(Value::Str(text), location);
    }
    let mut values = Vec::new();
    let mut failed = false;
    for caps in BLOCK.captures_iter(&text) {
        let (Some(whole), Some(data)) = (caps.get(0), caps.get(1)) else {
            continue;
        };
        match evaluate(data.as_str(), ctx) {
            Ok(value) => values.push((whole.range(), value)),
            Err((message, hint)) => {
                failed = true;
                let d = Diagnostic::error(
                    Some(location.clone()),
                    path,
                    format!("`{}` in `{}`: {message}", whole.as_str(), ctx.file),
                );
                diags.push(match hint {
                    Some(h) => d.with_hint(h),
                    None => d,
                });
            }
        }
    }
    if failed || values.is_empty() {
        return Node::new(Value::Str(text), location);
    }
    if values.len() == 1 && values[0].0.len() == text.len() {
        let (_, value) = values.remove(0);
        return Node::new(value.value, location);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, value) in &values {
        out.push_str(&text[at..range.start]);
        out.push_str(
            &value
                .scalar_to_string()
                .unwrap_or_else(|| ruby_inspect(value)),
        );
        at = range.end;
    }
    out.push_str(&text[at..]);
    Node::new(Value::Str(out), location)
}

type BlockError = (String, Option<String>);

/// Evaluates the inside of one block: `inputs.NAME` then up to three functions.
fn evaluate(data: &str, ctx: &Context) -> Result<Node, BlockError> {
    let mut parts = data.split('|').map(str::trim);
    let access = parts.next().unwrap_or_default();
    let functions: Vec<&str> = parts.collect();
    let mut value = lookup(access, ctx)?;
    if functions.len() > MAX_FUNCTIONS {
        return Err((
            format!("too many functions in one block, at most {MAX_FUNCTIONS} are allowed"),
            None,
        ));
    }
    for function in functions {
        value = apply_function(function, value, ctx)?;
    }
    Ok(value)
}

fn lookup(access: &str, ctx: &Context) -> Result<Node, BlockError> {
    if access.len() > MAX_ACCESS_BYTES {
        return Err((
            format!("the expression is longer than {MAX_ACCESS_BYTES} bytes"),
            None,
        ));
    }
    let objects: Vec<&str> = access.splitn(5, '.').collect();
    if objects.len() < 2 {
        return Err((
            "invalid interpolation: expected `inputs.NAME`".to_owned(),
            Some("write `$[[ inputs.NAME ]]`".to_owned()),
        ));
    }
    if objects[0] != "inputs" {
        return Err((
            format!("unknown interpolation key `{}`", objects[0]),
            Some("only `inputs.NAME` can be interpolated".to_owned()),
        ));
    }
    let name = objects[1];
    let Some(value) = ctx.inputs.get(name) else {
        let hint = match did_you_mean(name, ctx.inputs.keys().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None if ctx.inputs.is_empty() => format!("`{}` declares no inputs", ctx.file),
            None => format!(
                "its inputs are: {}",
                super::backticked(&ctx.inputs.keys().collect::<Vec<_>>())
            ),
        };
        return Err((format!("unknown input `{name}`"), Some(hint)));
    };
    if let Some(field) = objects.get(2) {
        return Err((
            format!("input `{name}` has no key `{field}`: input values cannot be navigated"),
            None,
        ));
    }
    Ok(value.clone())
}

fn apply_function(function: &str, value: Node, ctx: &Context) -> Result<Node, BlockError> {
    let (name, result) = if function == "expand_vars" {
        (
            "expand_vars",
            string_arg(&value, "expand_vars").map(|s| expand_existing(s, ctx.variables)),
        )
    } else if function == "posix_escape" {
        (
            "posix_escape",
            string_arg(&value, "posix_escape").map(shell_escape),
        )
    } else if let Some((offset, length)) = parse_truncate(function) {
        (
            "truncate",
            string_arg(&value, "truncate").map(|s| s.chars().skip(offset).take(length).collect()),
        )
    } else {
        let message = format!(
            "no function matching `{function}`: check that the function name, arguments, and types are correct"
        );
        return Err((message, Some(format!("the functions are {FUNCTIONS}"))));
    };
    let text = result.map_err(|m| (format!("error in `{name}` function: {m}"), None))?;
    Ok(Node::new(Value::Str(text), value.location))
}

fn string_arg<'n>(value: &'n Node, function: &str) -> Result<&'n str, String> {
    value.as_str().ok_or_else(|| {
        format!(
            "invalid input type: {function} can only be used with string inputs, found {}",
            value.type_name()
        )
    })
}

/// `truncate(offset,length)` as GitLab matches it (the closing parenthesis is optional there).
fn parse_truncate(function: &str) -> Option<(usize, usize)> {
    static TRUNCATE: LazyLock<Regex> = LazyLock::new(|| {
        #[allow(clippy::expect_used)] // a constant pattern, checked by the tests
        Regex::new(r"^truncate\(\s*(\d+)\s*,\s*(\d+)\s*\)?$").expect("valid truncate pattern")
    });
    let caps = TRUNCATE.captures(function)?;
    let number = |i: usize| {
        caps.get(i)
            .map_or(0, |m| m.as_str().parse::<usize>().unwrap_or(usize::MAX))
    };
    Some((number(1), number(2)))
}

/// GitLab's `ExpandVariables.expand_existing`: `$VAR` and `${VAR}` of known variables are replaced
/// by their raw values (no nested expansion); unknown ones and `$$` stay as written.
fn expand_existing(text: &str, variables: &Variables) -> String {
    text.split("$$")
        .map(|part| expand_with(part, |name| variables.raw(name).map(str::to_owned)))
        .collect::<Vec<_>>()
        .join("$$")
}

/// Ruby's `Shellwords.shellescape`.
fn shell_escape(text: &str) -> String {
    if text.is_empty() {
        return "''".to_owned();
    }
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("'\n'"),
            c if c.is_ascii_alphanumeric() || "_-.,:+/@".contains(c) => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out
}

/// Ruby's `inspect` of a collection, which is what `to_s` gives inside a larger string.
fn ruby_inspect(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => serde_json::Value::String(s.clone()).to_string(),
        Value::Null => "nil".to_owned(),
        Value::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .map(ruby_inspect)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!(":{}=>{}", k.name, ruby_inspect(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Reference(path) => format!("!reference {path:?}"),
        _ => node.scalar_to_string().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_escape_matches_ruby() {
        assert_eq!(shell_escape(""), "''");
        assert_eq!(shell_escape("a b'c"), r"a\ b\'c");
        assert_eq!(shell_escape("x\ny"), "x'\n'y");
        assert_eq!(shell_escape("v1.2/x@y:z,w+q"), "v1.2/x@y:z,w+q");
    }

    #[test]
    fn truncate_pattern_is_gitlabs() {
        assert_eq!(parse_truncate("truncate(3,5)"), Some((3, 5)));
        assert_eq!(parse_truncate("truncate( 3 , 5 )"), Some((3, 5)));
        assert_eq!(parse_truncate("truncate(3,5"), Some((3, 5)));
        assert_eq!(parse_truncate("truncate(-1,5)"), None);
    }

    #[test]
    fn expand_existing_keeps_unknown_and_double_dollar() {
        let mut v = Variables::new();
        v.set("A", "x$B");
        v.set("B", "y");
        assert_eq!(expand_existing("$A ${A} $C $$A", &v), "x$B x$B $C $$A");
    }
}
