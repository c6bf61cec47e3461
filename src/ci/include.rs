//! `include:`: loads the main CI file and every file it includes, recursively, and merges them
//! into one top-level mapping, as GitLab's `Config::External::Processor` does.
//!
//! For each file: its `spec:inputs` are applied ([`super::inputs`]), its includes are resolved in
//! order (rules evaluated, `$VAR`s expanded, wildcards matched), each included file's own result
//! is deep-merged over the previous ones, then the file's own keys over them; the `include` key
//! is removed. This module reads files only through [`FileReader`]: local files in the pipeline's
//! repository (or, inside a project include, in that project), other projects, Sluice's bundled
//! templates, and a cache of remote files. It never fetches anything.
//!
//! GitLab behaviours kept: at most [`MAX_INCLUDES`] includes per pipeline, counting a file each
//! time it is included (including the same file twice is allowed and merges it again); a
//! `local` include inside a project-included file resolves in that project and ref; include
//! `rules` see the variables passed in (predefined and caller ones) but never the YAML's own
//! `variables:` (GitLab resolves includes before reading them); `rules:exists` looks at the files
//! of the project the including file belongs to.
//!
//! Where Sluice differs: an include cycle (`a.yml -> b.yml -> a.yml`, same inputs) is reported
//! with its path as soon as it closes, where GitLab keeps including until it reaches the limit;
//! nesting deeper than [`MAX_DEPTH`] is an error; a wildcard that matches no file is a warning
//! (GitLab includes nothing, silently); `integrity` is checked for form (`sha256-` + base64) but
//! not verified, since remote files come from a cache the caller filled; `include:component` and
//! `include:artifact` are errors that say how to vendor the file instead.

mod entry;
mod location;
mod resolve;

use super::context::PipelineContext;
use super::node::{Map, Node, Value};
use super::source::{FileReader, FileSource};
use super::variables::Variables;
use crate::diagnostic::{Diagnostic, Diagnostics};

/// Most included files per pipeline, counting a file each time it is included (GitLab's
/// default `ci_max_includes`).
pub const MAX_INCLUDES: usize = 150;

/// Deepest nesting of includes (a file including a file including …).
pub const MAX_DEPTH: usize = 100;

/// Loads `path` from [`FileSource::Local`], resolves every `include:` recursively, and returns the
/// merged top-level mapping (included files merged in order, each including file over its
/// includes; the `include` key removed) plus the warnings of every file loaded.
///
/// `variables` are what GitLab allows in include locations, `include:rules` and the
/// `expand_vars` input function: predefined and caller variables. `changed_since(ref)` gives
/// the paths changed between `ref` and the pipeline's commit, for `include:rules:changes:
/// compare_to` (`None` when the ref is unknown). A main file with a
/// `spec:inputs` header gets its defaults (there is no way to pass it inputs here).
///
/// # Errors
/// Every problem found, located at the `include` entry (or, for a problem inside an included
/// file, in that file): unreadable or missing files, invalid entries, bad inputs, cycles, and the
/// include limits (which stop the resolution at once).
pub fn load_config(
    path: &str,
    reader: &dyn FileReader,
    ctx: &PipelineContext,
    variables: &Variables,
    changed_since: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Result<(Node, Diagnostics), Diagnostics> {
    let text = reader.read(&FileSource::Local, path).map_err(|e| {
        Diagnostics::from(Diagnostic::error(
            None,
            "",
            format!("cannot read the CI configuration `{path}`: {e}"),
        ))
    })?;
    let loaded = super::yaml::load(path, &text)?;
    let mut warnings = loaded.warnings;
    let site = super::inputs::Site {
        location: None,
        key_path: String::new(),
    };
    let config = super::inputs::apply_at(
        loaded.header.as_ref(),
        None,
        loaded.config,
        path,
        variables,
        &site,
    )?;
    let config = match config.value {
        Value::Null => Node::new(Value::Map(Map::new()), config.location),
        Value::Map(_) => config,
        _ => {
            let message = format!(
                "the CI configuration `{path}` must be a mapping of jobs and keywords, found {}",
                config.type_name()
            );
            return Err(Diagnostic::error(Some(config.location.clone()), "", message).into());
        }
    };
    let mut resolver = resolve::Resolver::new(reader, ctx, variables, changed_since);
    let merged = resolver.expand_main(config, path);
    warnings.extend(resolver.warnings);
    let mut diags = resolver.diags;
    if diags.has_errors() {
        diags.extend(warnings);
        return Err(diags);
    }
    Ok((merged, warnings))
}

#[cfg(test)]
mod tests;
