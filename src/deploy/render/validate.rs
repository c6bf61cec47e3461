//! Checks a rendered manifest file: every YAML document in it parses (YAML 1.1, as
//! Kubernetes' loader reads it) and is an object with `apiVersion`, `kind` and
//! `metadata.name`.

use serde_json::Value;

use super::{ObjectRef, RenderError};
use crate::ci::yaml;

/// The objects of the rendered text of `file`, in order; empty documents are skipped.
///
/// # Errors
///
/// [`RenderError::Invalid`] naming the file and line of the first bad document.
pub(crate) fn objects(file: &str, text: &str) -> Result<Vec<ObjectRef>, RenderError> {
    let mut objects = Vec::new();
    for (first_line, document) in documents(text) {
        if document
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let loaded = yaml::load(file, &document).map_err(|diags| {
            let first = diags.errors().next();
            let line = first.and_then(|d| d.location.as_ref()).map_or(1, |l| l.line as usize);
            RenderError::Invalid {
                file: file.to_string(),
                line: first_line + line - 1,
                message: first.map_or_else(|| "invalid YAML".to_string(), |d| d.message.clone()),
            }
        })?;
        let invalid = |message: &str| RenderError::Invalid {
            file: file.to_string(),
            line: first_line,
            message: message.to_string(),
        };
        let json = loaded.config.to_json();
        let text_at = |pointer: &str| json.pointer(pointer).and_then(Value::as_str).map(str::to_string);
        let api_version = text_at("/apiVersion").ok_or_else(|| invalid("the object has no `apiVersion` string"))?;
        let kind = text_at("/kind").ok_or_else(|| invalid("the object has no `kind` string"))?;
        let name = text_at("/metadata/name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("the object has no `metadata.name` string"))?;
        let namespace = text_at("/metadata/namespace");
        objects.push(ObjectRef {
            api_version,
            kind,
            name,
            namespace,
            document: json,
        });
    }
    Ok(objects)
}

/// The documents of a YAML stream, each with the 1-based line it starts on. A line that
/// is `---` (optionally followed by a space and more) starts a document; `...` ends one.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut documents = vec![(1, String::new())];
    for (index, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") || line == "..." {
            documents.push((index + 2, String::new()));
            continue;
        }
        let current = &mut documents.last_mut().expect("never empty").1;
        current.push_str(line);
        current.push('\n');
    }
    documents
}
