//! Handlebars templates: strict (a missing value is an error, not an empty string), no HTML
//! escaping (the output is YAML), no partials or helpers that read files.

use std::path::PathBuf;

use handlebars::Handlebars;
use serde_json::Value;

use super::RenderError;

/// Renders each `(name, path)` template over `context`, returning `(name, text)` pairs in the
/// same order. `name` is the template's path relative to the manifests directory.
///
/// # Errors
///
/// [`RenderError::Io`] for an unreadable file; [`RenderError::Template`] naming the file,
/// line and column of a template that does not parse or does not render.
pub(crate) fn render(templates: &[(String, PathBuf)], context: &Value) -> Result<Vec<(String, String)>, RenderError> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    let mut out = Vec::with_capacity(templates.len());
    for (name, path) in templates {
        let source = std::fs::read_to_string(path).map_err(|source| RenderError::Io {
            path: name.clone(),
            source,
        })?;
        let located = |line: Option<usize>, column: Option<usize>, reason: String| RenderError::Template {
            file: name.clone(),
            line: line.unwrap_or(1),
            column: column.unwrap_or(1),
            message: reason,
        };
        registry.register_template_string(name, &source).map_err(|e| {
            let reason = e.reason().to_string();
            let (line, column) = e.pos().unzip();
            located(line, column, reason)
        })?;
        let text = registry.render(name, context).map_err(|e| {
            let reason = e.reason().to_string();
            located(e.line_no, e.column_no, reason)
        })?;
        out.push((name.clone(), text));
    }
    Ok(out)
}
