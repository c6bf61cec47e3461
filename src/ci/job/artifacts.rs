//! `artifacts:` and `cache:` (one mapping or a list of up to 4), with GitLab's
//! `Entry::Artifacts`, `Entry::Reports`, `Entry::Caches`, `Entry::Cache` and `Entry::Key` rules.

use super::duration::parse_duration;
use super::value::{boolean, check_keys, child, error, error_hint, expected, item, mapping, one_of, string, strings};
use crate::ci::keywords::{
    ARTIFACTS_ACCESS, ARTIFACTS_KEYWORDS, CACHE_KEYWORDS, CACHE_KEY_KEYWORDS, CACHE_POLICIES, REPORT_KEYWORDS,
    UPLOAD_WHEN,
};
use crate::ci::node::{Node, Value};
use crate::ci::pipeline::{Artifacts, Cache, CacheKey, Expiry, When};
use crate::diagnostic::Diagnostics;

/// Most caches a job may have.
const MAX_CACHES: usize = 4;
/// Most `cache:fallback_keys`.
const MAX_FALLBACK_KEYS: usize = 5;
/// Longest `artifacts:expose_as`.
const MAX_EXPOSE_AS: usize = 100;

/// A lifetime: `never` (any case) or a duration.
pub(crate) fn expiry(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Expiry> {
    let text = string(node, path, diags)?;
    if text.trim().eq_ignore_ascii_case("never") {
        return Some(Expiry::Never);
    }
    match parse_duration(&text) {
        Some(seconds) => Some(Expiry::Seconds(seconds)),
        None => {
            error_hint(diags, &node.location, path, format!("`{text}` is not a duration"), "write a duration such as `30 days`, `1 week` or `never`");
            None
        }
    }
}

fn upload_when(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<When> {
    one_of(node, path, UPLOAD_WHEN, diags).and_then(|w| When::parse(&w))
}

/// Parses `artifacts:`.
pub(crate) fn artifacts(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Artifacts> {
    let map = mapping(node, path, "a mapping", diags)?;
    let mut ok = check_keys(map, ARTIFACTS_KEYWORDS, path, diags);
    let mut out = Artifacts {
        name: None,
        paths: Vec::new(),
        exclude: Vec::new(),
        untracked: false,
        when: When::OnSuccess,
        expire_in: None,
        expose_as: None,
        public: None,
        access: None,
        reports: Vec::new(),
    };
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        ok &= match key.name.as_str() {
            "name" => string(value, &at, diags).map(|v| out.name = Some(v)).is_some(),
            "paths" => strings(value, &at, diags).map(|v| out.paths = v).is_some(),
            "exclude" => strings(value, &at, diags).map(|v| out.exclude = v).is_some(),
            "untracked" => boolean(value, &at, diags).map(|v| out.untracked = v).is_some(),
            "when" => upload_when(value, &at, diags).map(|v| out.when = v).is_some(),
            "expire_in" => expiry(value, &at, diags).map(|v| out.expire_in = Some(v)).is_some(),
            "expose_as" => string(value, &at, diags).map(|v| out.expose_as = Some(v)).is_some(),
            "public" => boolean(value, &at, diags).map(|v| out.public = Some(v)).is_some(),
            "access" => one_of(value, &at, ARTIFACTS_ACCESS, diags).map(|v| out.access = Some(v)).is_some(),
            "reports" => reports(value, &at, diags).map(|v| out.reports = v).is_some(),
            _ => true,
        };
    }
    if let (Some(_), Some(access)) = (map.key("public"), map.key("access")) {
        error(diags, &access.location, path, "`public` and `access` cannot be used together");
        ok = false;
    }
    if let Some(expose_as) = &out.expose_as {
        ok &= check_expose_as(expose_as, &out, map.get("expose_as").unwrap_or(node), path, diags);
    }
    ok.then_some(out)
}

/// `expose_as`: at most 100 letters, digits, `-`, `_` and spaces, starting with a letter or
/// digit; needs `paths` without globs.
fn check_expose_as(expose_as: &str, artifacts: &Artifacts, node: &Node, path: &str, diags: &mut Diagnostics) -> bool {
    let at = child(path, "expose_as");
    let mut ok = true;
    let first_ok = expose_as.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_');
    if !first_ok || !expose_as.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' ')) {
        error(diags, &node.location, &at, "can contain only letters, digits, `-`, `_` and spaces, and must start with a letter or digit");
        ok = false;
    }
    if expose_as.chars().count() > MAX_EXPOSE_AS {
        error(diags, &node.location, &at, format!("is too long (at most {MAX_EXPOSE_AS} characters)"));
        ok = false;
    }
    if artifacts.paths.is_empty() {
        error(diags, &node.location, &at, "needs `artifacts:paths` to be set");
        ok = false;
    } else if artifacts.paths.iter().any(|p| p.contains('*')) {
        error(diags, &node.location, &child(path, "paths"), "cannot contain `*` when used with `expose_as`");
        ok = false;
    }
    ok
}

/// `artifacts:reports`: known report kinds, each a path or list of paths
/// (`coverage_report` is `{coverage_format, path}`); kept as written.
fn reports(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<(String, serde_json::Value)>> {
    let map = mapping(node, path, "a mapping of report kinds to paths", diags)?;
    let mut ok = check_keys(map, REPORT_KEYWORDS, path, diags);
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        let good = if key.name == "coverage_report" {
            coverage_report(value, &at, diags)
        } else {
            matches!(value.value, Value::Str(_)) || strings(value, &at, diags).is_some()
        };
        ok &= good;
        out.push((key.name.clone(), value.to_json()));
    }
    ok.then_some(out)
}

fn coverage_report(node: &Node, path: &str, diags: &mut Diagnostics) -> bool {
    let Some(map) = mapping(node, path, "a mapping with `coverage_format` and `path`", diags) else { return false };
    let mut ok = check_keys(map, &["coverage_format", "path"], path, diags);
    for key in ["coverage_format", "path"] {
        match map.get(key) {
            Some(v) if key == "coverage_format" => ok &= one_of(v, &child(path, key), &["cobertura", "jacoco"], diags).is_some(),
            Some(v) => ok &= string(v, &child(path, key), diags).is_some(),
            None => {
                error(diags, &node.location, path, format!("missing `{key}`"));
                ok = false;
            }
        }
    }
    ok
}

/// Parses `cache:`: one mapping or a list of at most 4.
pub(crate) fn caches(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<Cache>> {
    match &node.value {
        Value::Map(_) => cache(node, path, diags).map(|c| vec![c]),
        Value::Seq(list) => {
            if list.len() > MAX_CACHES {
                error(diags, &node.location, path, format!("has {} caches, at most {MAX_CACHES} are allowed", list.len()));
                return None;
            }
            let parsed: Vec<Option<Cache>> = list.iter().enumerate().map(|(i, n)| cache(n, &item(path, i), diags)).collect();
            parsed.into_iter().collect()
        }
        _ => {
            expected(diags, node, path, "a mapping or a list of up to 4 mappings");
            None
        }
    }
}

fn cache(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Cache> {
    let map = mapping(node, path, "a mapping", diags)?;
    let mut ok = check_keys(map, CACHE_KEYWORDS, path, diags);
    let mut out = Cache {
        key: CacheKey::Literal("default".into()),
        paths: Vec::new(),
        untracked: false,
        unprotect: false,
        when: When::OnSuccess,
        policy: "pull-push".into(),
        fallback_keys: Vec::new(),
    };
    for (key, value) in map.iter() {
        let at = child(path, &key.name);
        ok &= match key.name.as_str() {
            "key" => cache_key(value, &at, diags).map(|v| out.key = v).is_some(),
            "paths" => strings(value, &at, diags).map(|v| out.paths = v).is_some(),
            "untracked" => boolean(value, &at, diags).map(|v| out.untracked = v).is_some(),
            "unprotect" => boolean(value, &at, diags).map(|v| out.unprotect = v).is_some(),
            "when" => upload_when(value, &at, diags).map(|v| out.when = v).is_some(),
            "policy" => policy(value, &at, diags).map(|v| out.policy = v).is_some(),
            "fallback_keys" => fallback_keys(value, &at, diags).map(|v| out.fallback_keys = v).is_some(),
            _ => true,
        };
    }
    ok.then_some(out)
}

/// `cache:policy`: a policy word, or a variable that expands to one at run time.
fn policy(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<String> {
    match node.as_str() {
        Some(text) if text.contains('$') => Some(text.to_string()),
        _ => one_of(node, path, CACHE_POLICIES, diags),
    }
}

fn fallback_keys(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let keys = strings(node, path, diags)?;
    if keys.len() > MAX_FALLBACK_KEYS {
        error(diags, &node.location, path, format!("has {} keys, at most {MAX_FALLBACK_KEYS} are allowed", keys.len()));
        return None;
    }
    Some(keys)
}

/// `cache:key`: a string without `/` that is not `.` or `..`, or `{files: [1-2 files], prefix}`.
fn cache_key(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<CacheKey> {
    match &node.value {
        Value::Str(text) => {
            let unescaped = text.replace("%2F", "/").replace("%2f", "/");
            if unescaped.contains('/') {
                error(diags, &node.location, path, "cannot contain the `/` character");
                None
            } else if unescaped == "." || unescaped == ".." {
                error(diags, &node.location, path, "cannot be `.` or `..`");
                None
            } else {
                Some(CacheKey::Literal(text.clone()))
            }
        }
        Value::Map(map) => {
            let mut ok = check_keys(map, CACHE_KEY_KEYWORDS, path, diags);
            let files = match map.get("files") {
                Some(files) => cache_files(files, &child(path, "files"), diags),
                None => {
                    error(diags, &node.location, path, "missing `files`");
                    None
                }
            };
            let prefix = map.get("prefix").map(|p| string(p, &child(path, "prefix"), diags));
            ok &= files.is_some() && !matches!(prefix, Some(None));
            ok.then(|| CacheKey::Files { files: files.unwrap_or_default(), prefix: prefix.flatten() })
        }
        _ => {
            expected(diags, node, path, "a string or a mapping with `files`");
            None
        }
    }
}

fn cache_files(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Vec<String>> {
    let files = strings(node, path, diags)?;
    if files.is_empty() || files.len() > 2 {
        error(diags, &node.location, path, format!("must list one or two files, found {}", files.len()));
        return None;
    }
    Some(files)
}
