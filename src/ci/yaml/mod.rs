//! Loads one `.gitlab-ci.yml` text into located [`Node`] trees, exactly as GitLab's Ruby
//! loader sees it: Psych 5's `YAML.safe_load(..., aliases: true)` typing of scalars
//! (YAML 1.1 flavoured, see [`scalar`]), anchors, aliases and merge keys `<<`, GitLab's
//! `!reference` tag, and GitLab's split of a file into a `spec:` header and the
//! configuration (`Gitlab::Ci::Config::Yaml::Documents`).
//!
//! It owns the YAML layer only: it knows nothing of CI keywords, and resolves neither
//! `!reference` (see [`crate::ci::reference`]) nor `include`. Every node and key keeps its
//! file, line and column; all nodes share one `Arc<str>` file name. Input size, nesting
//! depth and alias expansion are bounded, so no input makes it slow, large or panic.

mod build;
mod errors;
mod scalar;
mod tags;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;

use std::sync::Arc;

use crate::ci::node::{Node, Value};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// The largest file accepted, in bytes: GitLab's default `max_yaml_size_bytes` (2 MB),
/// applied to the text.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// The deepest nesting of mappings and sequences accepted, aliases expanded: GitLab's
/// default `max_yaml_depth`.
pub const MAX_DEPTH: usize = 100;
/// The most nodes one file may create, alias copies included. GitLab bounds the loaded
/// size too (`max_yaml_size_bytes`, 2 MB measured on the Ruby objects, aliases expanded:
/// some tens of thousands of nodes); this budget is well above that, and low enough that
/// a "billion laughs" file fails in a few tens of milliseconds and megabytes.
pub const MAX_NODES: usize = 250_000;

/// The result of loading one CI file.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The `spec:` header: the first of two documents, when it has a `spec` key.
    pub header: Option<Node>,
    /// The configuration: a mapping, or `Null` for an empty file.
    pub config: Node,
    /// Warnings (duplicate keys, ignored tags, …); never errors.
    pub warnings: Diagnostics,
}

/// Parses `text` (the contents of `file`, a name used in locations) into located nodes.
///
/// `header` is the first document when the file has two and the first has a `spec` key
/// (`spec:` header, `---`, config). Without `spec`, GitLab reads only the first document;
/// so do we, with a warning. An empty file (or empty documents only) gives `config` = Null.
///
/// # Errors
///
/// All problems found, located: YAML syntax errors, values GitLab's loader refuses
/// (unquoted dates and times), invalid `!reference` tags, a top level that is not a
/// mapping, more than two documents, and the size, depth and alias-expansion limits. The
/// warnings found so far come along.
pub fn load(file: &str, text: &str) -> Result<Loaded, Diagnostics> {
    let file: Arc<str> = Arc::from(file);
    if text.len() > MAX_FILE_BYTES {
        let message = format!(
            "the file is {} bytes, more than the {MAX_FILE_BYTES} bytes (2 MiB) GitLab accepts in one YAML file",
            text.len()
        );
        let hint = "split the configuration into several files joined with `include:`";
        return Err(Diagnostic::error(Some(Location { file, line: 1, column: 1 }), "", message).with_hint(hint).into());
    }
    let mut diags = Diagnostics::new();
    let Some(documents) = build::documents(&file, text, &mut diags) else {
        return Err(diags);
    };
    let (header, config) = split_documents(documents, &file, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Loaded { header, config, warnings: diags })
}

/// GitLab's `MultiDocYaml` (blank documents dropped, at most two) and `Documents`
/// (a first document with `spec` is the header, the last is the configuration).
fn split_documents(documents: Vec<build::Document>, file: &Arc<str>, diags: &mut Diagnostics) -> (Option<Node>, Node) {
    let mut documents: Vec<build::Document> = documents.into_iter().filter(|d| !is_blank(&d.root)).collect();
    for document in &documents {
        if !matches!(document.root.value, Value::Map(_)) {
            let message = format!(
                "invalid configuration format: a YAML document of a CI file must be a mapping of keys to values, not {}",
                document.root.type_name()
            );
            let hint = "write jobs and keywords as `name:` entries at the start of the line";
            diags.push(Diagnostic::error(Some(document.root.location.clone()), "", message).with_hint(hint));
        }
    }
    if documents.len() > 2 {
        let message = format!(
            "a CI file holds at most two YAML documents (a `spec:` header, then the configuration), found {}",
            documents.len()
        );
        let hint = "remove the extra `---` lines";
        diags.push(Diagnostic::error(Some(documents[2].start.clone()), "", message).with_hint(hint));
    }
    let empty = || Node::new(Value::Null, Location { file: file.clone(), line: 1, column: 1 });
    match documents.len() {
        0 => (None, empty()),
        1 => (None, documents.remove(0).root),
        _ => {
            let second = documents.remove(1);
            let first = documents.remove(0);
            if first.root.as_map().is_some_and(|m| m.contains_key("spec")) {
                return (Some(first.root), second.root);
            }
            let message = "the second YAML document is ignored: GitLab reads it only after a first document with `spec:`";
            let hint = "add `spec:` to the first document to make it a header, or remove the `---` line";
            diags.push(Diagnostic::warning(Some(second.start), "", message).with_hint(hint));
            (None, first.root)
        }
    }
}

/// Ruby's `blank?` on a loaded document: `nil`, `false`, `""`, `{}`, `[]`.
fn is_blank(node: &Node) -> bool {
    match &node.value {
        Value::Null | Value::Bool(false) => true,
        Value::Str(s) => s.trim().is_empty(),
        Value::Seq(items) => items.is_empty(),
        Value::Map(map) => map.is_empty(),
        Value::Bool(true) | Value::Int(_) | Value::Float(_) | Value::Reference(_) => false,
    }
}
