//! The legacy `only:`/`except:` job keywords: reading them ([`parse`]) and deciding whether
//! a job is in the pipeline ([`included`]), as GitLab's `Entry::Policy` and
//! `Gitlab::Ci::Build::Policy::{Refs, Variables, Changes, Kubernetes}` do.
//!
//! Forms: a list (refs only), or a mapping with `refs`, `variables`, `changes`, `kubernetes`.
//! Refs are keywords (`branches`, `tags`, and pipeline sources: `api`, `external`,
//! `pipelines`, `pushes`, `schedules`, `triggers`, `web`, `merge_requests`, `chat`,
//! `external_pull_requests`, …), `/regex/` patterns or exact ref names, each optionally
//! limited to a project with `@group/project`.
//!
//! Semantics, from GitLab's code: `only` matches when *every* key it has matches (a key
//! matches when *any* of its entries does), with `refs` defaulting to `[branches, tags]`
//! even when only other keys are given (GitLab deep-merges that default into `only`).
//! `except` excludes the job when *any* of its keys matches (`Seed::Build#none_of_except?`
//! is `@except.none? { satisfied }`). A job without `only`/`except` (and without `rules`,
//! which the job module checks) behaves as `only: [branches, tags]`.
//!
//! This file does not know about `rules`: a job with both is an error reported by the job
//! module.

use crate::diagnostic::{Diagnostic, Diagnostics, Location};

use super::context::{GitRef, PipelineContext, PipelineSource};
use super::expr::{Expression, ruby_regex};
use super::node::{Node, Value};
use super::rules::glob::Glob;
use super::rules::RuleEnv;
use crate::diagnostic::did_you_mean;

/// The refs `only` has when it does not say.
pub const DEFAULT_ONLY_REFS: [&str; 2] = ["branches", "tags"];

/// One `only:` or `except:` policy.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlyExcept {
    /// Where the policy is written.
    pub location: Location,
    /// `refs` (or the list form): keywords, `/regex/` patterns or ref names, `@project` allowed.
    pub refs: Option<Vec<String>>,
    /// `variables`: expressions; any true one matches.
    pub variables: Option<Vec<Expression>>,
    /// `changes`: globs of changed paths (not variable-expanded, as in GitLab).
    pub changes: Option<Vec<String>>,
    /// `kubernetes: active`. Sluice plans without any Kubernetes integration, so this key
    /// never matches: `only: {kubernetes: active}` excludes the job, `except` ignores it.
    pub kubernetes: bool,
}

const KEYS: [&str; 4] = ["refs", "variables", "changes", "kubernetes"];

/// Parses an `only:` or `except:` value at `key_path` (such as `build.only`); problems go to
/// `diags` (the returned policy then holds what was valid).
pub fn parse(node: &Node, key_path: &str, diags: &mut Diagnostics) -> OnlyExcept {
    let mut policy = OnlyExcept { location: node.location.clone(), refs: None, variables: None, changes: None, kubernetes: false };
    match &node.value {
        Value::Seq(_) => policy.refs = parse_refs(node, key_path, diags),
        Value::Map(map) if map.is_empty() => diags.push(
            Diagnostic::error(Some(node.location.clone()), key_path, "must not be an empty mapping")
                .with_hint(format!("use some of {}", list(&KEYS))),
        ),
        Value::Map(map) => {
            for (key, value) in map.iter() {
                let path = format!("{key_path}.{}", key.name);
                match key.name.as_str() {
                    "refs" => policy.refs = parse_refs(value, &path, diags),
                    "variables" => policy.variables = parse_variables(value, &path, diags),
                    "changes" => policy.changes = strings(value, &path, "paths", diags),
                    "kubernetes" => policy.kubernetes = parse_kubernetes(value, &path, diags),
                    other => {
                        let hint = match did_you_mean(other, KEYS.iter().copied()) {
                            Some(best) => format!("did you mean `{best}`? allowed keys: {}", list(&KEYS)),
                            None => format!("allowed keys: {}", list(&KEYS)),
                        };
                        diags.push(Diagnostic::error(Some(key.location.clone()), path, format!("unknown key `{other}`")).with_hint(hint));
                    }
                }
            }
        }
        _ => diags.push(
            Diagnostic::error(
                Some(node.location.clone()),
                key_path,
                format!("must be a list of refs or a mapping of {}, not {}", list(&KEYS), node.type_name()),
            )
            .with_hint("write a list, such as `[main, tags]`"),
        ),
    }
    policy
}

fn list(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

/// A list of strings.
fn strings(node: &Node, key_path: &str, what: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let Some(items) = node.as_seq() else {
        diags.push(Diagnostic::error(Some(node.location.clone()), key_path, format!("must be a list of {what}, not {}", node.type_name())));
        return None;
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) => out.push(s.to_owned()),
            None => {
                diags.push(
                    Diagnostic::error(Some(item.location.clone()), format!("{key_path}[{i}]"), format!("must be a string, not {}", item.type_name()))
                        .with_hint("quote the value"),
                );
                return None;
            }
        }
    }
    Some(out)
}

fn parse_refs(node: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let refs = strings(node, key_path, "refs", diags)?;
    let items = node.as_seq().unwrap_or_default();
    for (i, (text, item)) in refs.iter().zip(items).enumerate() {
        let (pattern, _) = split_project(text);
        if let Some(Err(error)) = ruby_regex(pattern) {
            let reason = error.to_string();
            let reason = reason.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("invalid").to_owned();
            diags.push(
                Diagnostic::error(Some(item.location.clone()), format!("{key_path}[{i}]"), format!("`{pattern}` is not a valid regular expression"))
                    .with_hint(format!("{reason}; look-around and backreferences are not supported")),
            );
            return None;
        }
    }
    Some(refs)
}

fn parse_variables(node: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<Vec<Expression>> {
    let texts = strings(node, key_path, "expressions", diags)?;
    let items = node.as_seq().unwrap_or_default();
    let mut expressions = Vec::new();
    for (i, (text, item)) in texts.iter().zip(items).enumerate() {
        match Expression::parse(text) {
            Ok(e) => expressions.push(e),
            Err(error) => {
                let at = text.char_indices().take_while(|(b, _)| *b < error.offset).count() + 1;
                let mut d = Diagnostic::error(
                    Some(item.location.clone()),
                    format!("{key_path}[{i}]"),
                    format!("invalid expression: {} (at character {at} of `{text}`)", error.message),
                );
                d.hint = error.hint;
                diags.push(d);
            }
        }
    }
    (expressions.len() == texts.len()).then_some(expressions)
}

fn parse_kubernetes(node: &Node, key_path: &str, diags: &mut Diagnostics) -> bool {
    if node.as_str() == Some("active") {
        return true;
    }
    diags.push(
        Diagnostic::error(Some(node.location.clone()), key_path, "`kubernetes` must be `active`").with_hint("write `kubernetes: active`"),
    );
    false
}

/// `pattern@group/project` → (`pattern`, `Some("group/project")`), as GitLab's
/// `split('@', 2)`.
fn split_project(text: &str) -> (&str, Option<&str>) {
    match text.split_once('@') {
        Some((pattern, project)) => (pattern, Some(project)),
        None => (text, None),
    }
}

/// Whether a job with these `only`/`except` is in the pipeline. `only: None` is GitLab's
/// default `only: [branches, tags]`; `except: None` excludes nothing.
pub fn included(only: Option<&OnlyExcept>, except: Option<&OnlyExcept>, env: &RuleEnv, ctx: &PipelineContext) -> bool {
    let only_matches = match only {
        None => refs_match(&DEFAULT_ONLY_REFS.map(String::from), ctx),
        Some(policy) => {
            let refs = policy.refs.clone().unwrap_or_else(|| DEFAULT_ONLY_REFS.map(String::from).to_vec());
            refs_match(&refs, ctx)
                && policy.variables.as_ref().is_none_or(|v| variables_match(v, env))
                && policy.changes.as_ref().is_none_or(|c| changes_match(c, env, ctx))
                && !policy.kubernetes
        }
    };
    let excluded = except.is_some_and(|policy| {
        policy.refs.as_ref().is_some_and(|r| refs_match(r, ctx))
            || policy.variables.as_ref().is_some_and(|v| variables_match(v, env))
            || policy.changes.as_ref().is_some_and(|c| changes_match(c, env, ctx))
    });
    only_matches && !excluded
}

/// `Policy::Refs#satisfied_by?`: any entry matches.
fn refs_match(refs: &[String], ctx: &PipelineContext) -> bool {
    refs.iter().any(|entry| {
        let (pattern, project) = split_project(entry);
        project.is_none_or(|p| p == ctx.project_path) && pattern_matches(pattern, ctx)
    })
}

fn pattern_matches(pattern: &str, ctx: &PipelineContext) -> bool {
    let is_tag = matches!(ctx.git_ref, GitRef::Tag(_));
    let is_branch = !is_tag && ctx.merge_request.is_none() && ctx.source != PipelineSource::MergeRequestEvent;
    let source = ctx.source.as_str().trim_end_matches("_event");
    if (is_tag && pattern == "tags") || (is_branch && pattern == "branches") {
        return true;
    }
    if pattern == source || pattern == pluralize(source) {
        return true;
    }
    if ctx.source == PipelineSource::ExternalPullRequestEvent && pattern == "merge_requests" {
        return true;
    }
    // Ref names and patterns only apply to branch and tag pipelines.
    if !(is_branch || is_tag) {
        return false;
    }
    match ruby_regex(pattern) {
        Some(Ok(regex)) => regex.is_match(ctx.git_ref.name()),
        _ => pattern == ctx.git_ref.name(),
    }
}

/// ActiveSupport's `pluralize` for the pipeline source names.
fn pluralize(word: &str) -> String {
    if word.ends_with("sh") || word.ends_with("ch") || word.ends_with('s') || word.ends_with('x') {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// `Policy::Variables#satisfied_by?`: any expression is true.
fn variables_match(expressions: &[Expression], env: &RuleEnv) -> bool {
    let lookup = |name: &str| env.variables.value(name);
    expressions.iter().any(|e| e.evaluate(&lookup))
}

/// `Policy::Changes#satisfied_by?`: true when the pipeline has no push changes (tags,
/// schedules, web, API, triggers, new branches) or they are unknown; otherwise any changed
/// path matches any glob.
fn changes_match(globs: &[String], env: &RuleEnv, ctx: &PipelineContext) -> bool {
    let has_push_changes = match ctx.source {
        PipelineSource::MergeRequestEvent | PipelineSource::ExternalPullRequestEvent => true,
        PipelineSource::Push => matches!(ctx.git_ref, GitRef::Branch(_)) && ctx.real_before_sha().is_some(),
        _ => false,
    };
    let Some(paths) = env.changed_paths.filter(|_| has_push_changes) else {
        return true;
    };
    let globs: Vec<Glob> = globs.iter().map(|g| Glob::new(g)).collect();
    paths.iter().any(|path| globs.iter().any(|glob| glob.matches(path)))
}

#[cfg(test)]
mod tests;
