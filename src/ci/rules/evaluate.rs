//! Choosing the first matching rule: the `if`, `changes` and `exists` clauses as GitLab's
//! `Gitlab::Ci::Build::Rules::Rule::Clause::*` evaluate them.
//!
//! A rule matches when every clause it has matches; a rule without clauses always matches.
//! Nothing here reads files or git: the caller supplies the changed paths, a diff function
//! for `compare_to` and the file list through [`RuleEnv`].

use std::borrow::Cow;

use super::glob::Glob;
use super::{Changes, Exists, Rule};
use crate::ci::variables::Lookup;

/// `rules:changes` answers true, as GitLab does, once paths × globs exceeds this.
pub const CHANGES_MAX_COMPARISONS: usize = 50_000;
/// `rules:exists` answers true, as GitLab does, once files × patterned globs exceeds this
/// ("after the 10,000th check, rules with patterned globs always match").
pub const EXISTS_MAX_COMPARISONS: usize = 10_000;

/// What rules evaluation can see.
pub struct RuleEnv<'a> {
    /// Everything visible to rules; values are read expanded, with [`Lookup::value`].
    pub variables: &'a dyn Lookup,
    /// Paths changed by the push or merge request; `None` when unknown, which makes
    /// `changes` true, as GitLab does for pipelines without a push event (tags, schedules,
    /// web, API, triggers): callers pass `None` for those.
    pub changed_paths: Option<&'a [String]>,
    /// Paths changed between the ref or sha `compare_to` and the pipeline's commit; `None`
    /// when the ref is unknown or invalid.
    pub changed_since: &'a dyn Fn(&str) -> Option<Vec<String>>,
    /// All files of the repository at the pipeline's commit (for `exists`).
    pub files: &'a dyn Fn() -> Vec<String>,
}

/// The first rule whose clauses all match, or `None` (the job or pipeline is then not
/// created, as with `when: never`).
pub fn first_match<'r>(rules: &'r [Rule], env: &RuleEnv) -> Option<&'r Rule> {
    rules.iter().find(|rule| rule_matches(rule, env))
}

fn rule_matches(rule: &Rule, env: &RuleEnv) -> bool {
    let lookup = |name: &str| env.variables.value(name);
    rule.if_.as_ref().is_none_or(|e| e.evaluate(&lookup))
        && rule.changes.as_ref().is_none_or(|c| changes_match(c, env))
        && rule.exists.as_ref().is_none_or(|e| exists_match(e, env))
}

/// `Clause::Changes#satisfied_by?`.
///
/// With `compare_to`, GitLab fails the pipeline when the ref does not exist ("rules:changes:
/// compare_to is not a valid ref"); this function has no error path, so an unknown ref makes
/// the clause true, like unknown changes. The caller may validate refs beforehand.
fn changes_match(changes: &Changes, env: &RuleEnv) -> bool {
    let changed: Cow<'_, [String]> = match &changes.compare_to {
        Some(compare_to) => match (env.changed_since)(&env.variables.expand_known(compare_to)) {
            Some(paths) => Cow::Owned(paths),
            None => return true,
        },
        None => match env.changed_paths {
            Some(paths) => Cow::Borrowed(paths),
            None => return true,
        },
    };
    if changed.is_empty() {
        return false;
    }
    let globs = expanded_unique(&changes.paths, env.variables);
    if globs.is_empty() {
        return false;
    }
    if changed.len().saturating_mul(globs.len()) > CHANGES_MAX_COMPARISONS {
        return true;
    }
    let globs: Vec<Glob> = globs.iter().map(|g| Glob::new(g)).collect();
    changed.iter().any(|path| globs.iter().any(|glob| glob.matches(path)))
}

/// Globs with variables expanded (unknown ones left as written), duplicates removed.
fn expanded_unique(globs: &[String], variables: &dyn Lookup) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for glob in globs {
        let expanded = variables.expand_known(glob);
        if !out.contains(&expanded) {
            out.push(expanded);
        }
    }
    out
}

/// `Clause::Exists#satisfied_by?`.
///
/// `project:`/`ref:` pointing anywhere but the pipeline's own project and commit cannot be
/// checked here (Sluice reads one repository), so such a clause is false.
fn exists_match(exists: &Exists, env: &RuleEnv) -> bool {
    if exists.paths.is_empty() || !same_repository(exists, env.variables) {
        return false;
    }
    let globs = expanded_unique(&exists.paths, env.variables);
    let top_level_only = globs.iter().all(|g| !g.contains('/') && !g.contains("**"));
    let files = (env.files)();
    let paths = if top_level_only { top_level_entries(&files) } else { files };
    let (mut exact, mut extensions, mut patterns) = (Vec::new(), Vec::new(), Vec::new());
    for glob in &globs {
        let without_prefix = glob.strip_prefix("**/*").unwrap_or(glob);
        if is_exact(glob) {
            exact.push(glob.as_str());
        } else if without_prefix.starts_with('.') && !without_prefix.contains('/') && is_exact(without_prefix) {
            extensions.push(without_prefix);
        } else {
            patterns.push(Glob::new(glob));
        }
    }
    let exact_hit = exact.iter().any(|glob| {
        if glob.ends_with('/') { paths.iter().any(|p| p.starts_with(glob)) } else { paths.iter().any(|p| p == glob) }
    });
    if exact_hit || paths.iter().any(|p| extensions.iter().any(|ext| p.ends_with(ext))) {
        return true;
    }
    if patterns.is_empty() {
        return false;
    }
    if paths.len().saturating_mul(patterns.len()) > EXISTS_MAX_COMPARISONS {
        return true;
    }
    patterns.iter().any(|glob| paths.iter().any(|p| glob.matches(p)))
}

/// Whether `project`/`ref` (if given) name the pipeline's own project and commit.
fn same_repository(exists: &Exists, variables: &dyn Lookup) -> bool {
    let Some(project) = &exists.project else { return true };
    if Some(variables.expand_known(project)) != variables.value("CI_PROJECT_PATH") {
        return false;
    }
    exists.git_ref.as_ref().is_none_or(|r| {
        let r = variables.expand_known(r);
        [variables.value("CI_COMMIT_REF_NAME"), variables.value("CI_COMMIT_SHA")].contains(&Some(r))
    })
}

/// A glob without `fnmatch` metacharacters, compared as a plain path.
fn is_exact(glob: &str) -> bool {
    !glob.contains(['*', '?', '[', '{'])
}

/// The entries of the repository's root (files and directories), as GitLab lists them for
/// globs that cannot reach below it.
fn top_level_entries(files: &[String]) -> Vec<String> {
    let mut entries: Vec<String> = files.iter().map(|f| f.split('/').next().unwrap_or(f).to_owned()).collect();
    entries.sort();
    entries.dedup();
    entries
}
