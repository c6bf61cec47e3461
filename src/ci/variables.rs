//! CI/CD variables: an ordered collection, `$VAR`/`${VAR}` expansion as GitLab does it, and
//! the predefined `CI_*` variables of a pipeline.
//!
//! Precedence (lowest first), as in GitLab: predefined pipeline variables, global
//! `variables:`, job `variables:`, `rules:variables`, then the caller's variables (`--var`,
//! API, schedule). Later layers replace earlier ones with [`Variables::insert`].

use indexmap::IndexMap;

use super::context::{GitRef, PipelineContext};

/// One variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The raw value as configured.
    pub value: String,
    /// Whether `$OTHER` references inside the value are expanded (`expand: false` turns it off).
    pub expand: bool,
}

/// An ordered collection of variables; later inserts replace earlier ones in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Variables {
    // foldhash, as in `node::Map`: cheaper than SipHash and without effect on order.
    vars: IndexMap<String, Variable, foldhash::fast::RandomState>,
}

/// Nested references are followed at most this deep, so `A: $B`, `B: $A` terminates.
const MAX_EXPANSION_DEPTH: usize = 10;

impl Variables {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, expandable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.insert(name, Variable { value: value.into(), expand: true });
    }

    /// Sets `name`, keeping its position if it existed.
    pub fn insert(&mut self, name: impl Into<String>, variable: Variable) {
        self.vars.insert(name.into(), variable);
    }

    /// Adds every variable of `other`, replacing existing ones.
    pub fn extend(&mut self, other: &Variables) {
        for (name, var) in &other.vars {
            self.vars.insert(name.clone(), var.clone());
        }
    }

    /// The raw (unexpanded) value of `name`.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.value.as_str())
    }

    /// The variable `name`.
    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.vars.get(name)
    }

    /// The value of `name` with references to other variables expanded (unless the
    /// variable has `expand: false`). Unknown references expand to the empty string.
    pub fn value(&self, name: &str) -> Option<String> {
        Lookup::value(self, name)
    }

    /// Expands `$VAR`, `${VAR}` and `$$` (a literal `$`) in `text`. Unknown variables become
    /// empty, as on a GitLab runner.
    pub fn expand(&self, text: &str) -> String {
        expand_depth(self, text, MAX_EXPANSION_DEPTH)
    }

    /// Expands like [`Variables::expand`], but leaves unknown references as written, as GitLab
    /// does for keywords expanded on the server (`environment:name`, `resource_group`, ...).
    pub fn expand_known(&self, text: &str) -> String {
        Lookup::expand_known(self, text)
    }

    /// Names and expanded values, in order.
    pub fn expanded(&self) -> Vec<(String, String)> {
        self.vars.keys().map(|k| (k.clone(), self.value(k).unwrap_or_default())).collect()
    }

    /// Names and variables, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Variable)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

/// Read access to a set of variables, for evaluating rules: a [`Variables`], or a
/// [`Layered`] set over a shared base.
pub trait Lookup {
    /// The variable `name`.
    fn get(&self, name: &str) -> Option<&Variable>;

    /// The value of `name` with references to other variables expanded (unless the
    /// variable has `expand: false`). Unknown references expand to the empty string.
    fn value(&self, name: &str) -> Option<String> {
        let var = self.get(name)?;
        if !var.expand {
            return Some(var.value.clone());
        }
        Some(expand_depth(self, &var.value, MAX_EXPANSION_DEPTH))
    }

    /// Expands `$VAR`, `${VAR}` and `$$`, leaving unknown references as written.
    fn expand_known(&self, text: &str) -> String {
        expand_with(text, |name| self.value(name))
    }
}

impl Lookup for Variables {
    fn get(&self, name: &str) -> Option<&Variable> {
        self.vars.get(name)
    }
}

/// Variables added over a base set that is shared, not copied: lookups see `own` first.
///
/// Why: every job instance of a pipeline evaluates its rules with the same predefined and
/// global variables plus a few of its own; copying the shared ones for each of thousands of
/// instances was a large share of planning time. Only lookups are offered, so the order of
/// the two layers never shows.
pub struct Layered<'a> {
    /// The shared variables, lowest precedence.
    pub base: &'a Variables,
    /// The variables set over `base`.
    pub own: Variables,
}

impl Lookup for Layered<'_> {
    fn get(&self, name: &str) -> Option<&Variable> {
        self.own.get(name).or_else(|| self.base.get(name))
    }
}

fn expand_depth<L: Lookup + ?Sized>(vars: &L, text: &str, depth: usize) -> String {
    expand_with(text, |name| {
        Some(match vars.get(name) {
            Some(v) if v.expand && depth > 0 => expand_depth(vars, &v.value, depth - 1),
            Some(v) => v.value.clone(),
            None => String::new(),
        })
    })
}

/// Expands `$NAME`, `${NAME}` and `$$` in `text`, asking `lookup` for each name; a `None`
/// answer leaves the reference as written.
pub fn expand_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = text[i..].find('$').map_or(text.len(), |p| i + p);
            out.push_str(&text[i..next]);
            i = next;
            continue;
        }
        // bytes[i] == '$'
        if bytes.get(i + 1) == Some(&b'$') {
            out.push('$');
            i += 2;
            continue;
        }
        let (name, end) = if bytes.get(i + 1) == Some(&b'{') {
            match text[i + 2..].find('}') {
                Some(close) if is_name(&text[i + 2..i + 2 + close]) => (&text[i + 2..i + 2 + close], i + 3 + close),
                _ => ("", i + 1),
            }
        } else {
            let len = text[i + 1..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            (&text[i + 1..i + 1 + len], i + 1 + len)
        };
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        match lookup(name) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&text[i..end]),
        }
        i = end;
    }
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `CI_COMMIT_REF_SLUG` rules, as `Gitlab::Utils.slugify`: lowercased, every character other
/// than `0-9a-z` replaced by `-` (runs are kept, not collapsed), cut at 63 bytes, then leading
/// and trailing `-` removed.
pub fn slugify(s: &str) -> String {
    let slug: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' })
        .take(63)
        .collect();
    slug.trim_matches('-').to_owned()
}

/// The predefined variables GitLab sets for a pipeline (not job-specific ones such as
/// `CI_JOB_NAME`, which the runner adds).
pub fn predefined(ctx: &PipelineContext) -> Variables {
    let mut v = Variables::new();
    let (namespace, project_name) = ctx.project_path.rsplit_once('/').unwrap_or(("", ctx.project_path.as_str()));
    v.set("CI", "true");
    v.set("GITLAB_CI", "true");
    v.set("CI_SERVER", "yes");
    v.set("CI_SERVER_NAME", "Sluice");
    v.set("CI_PROJECT_PATH", ctx.project_path.clone());
    v.set("CI_PROJECT_PATH_SLUG", slugify(&ctx.project_path));
    v.set("CI_PROJECT_NAME", project_name);
    v.set("CI_PROJECT_NAMESPACE", namespace);
    v.set("CI_PROJECT_ROOT_NAMESPACE", namespace.split('/').next().unwrap_or(""));
    v.set("CI_DEFAULT_BRANCH", ctx.default_branch.clone());
    v.set("CI_PIPELINE_SOURCE", ctx.source.as_str());
    v.set("CI_CONFIG_PATH", ".gitlab-ci.yml");
    v.set("CI_COMMIT_SHA", ctx.sha.clone());
    v.set("CI_COMMIT_SHORT_SHA", ctx.sha.chars().take(8).collect::<String>());
    v.set("CI_COMMIT_BEFORE_SHA", ctx.before_sha.clone().unwrap_or_else(|| super::context::ZERO_SHA.to_owned()));
    v.set("CI_COMMIT_REF_NAME", ctx.git_ref.name());
    v.set("CI_COMMIT_REF_SLUG", slugify(ctx.git_ref.name()));
    v.set("CI_COMMIT_REF_PROTECTED", "false");
    match &ctx.git_ref {
        GitRef::Branch(branch) => {
            if ctx.merge_request.is_none() {
                v.set("CI_COMMIT_BRANCH", branch.clone());
            }
        }
        GitRef::Tag(tag) => {
            v.set("CI_COMMIT_TAG", tag.clone());
        }
    }
    v.set("CI_COMMIT_MESSAGE", ctx.commit_message.clone());
    let title = ctx.commit_message.lines().next().unwrap_or("").to_owned();
    v.set("CI_COMMIT_TITLE", title);
    if let Some(mr) = &ctx.merge_request {
        v.set("CI_MERGE_REQUEST_IID", mr.iid.to_string());
        v.set("CI_MERGE_REQUEST_ID", mr.iid.to_string());
        v.set("CI_MERGE_REQUEST_TITLE", mr.title.clone());
        v.set("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", mr.source_branch.clone());
        v.set("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ctx.sha.clone());
        v.set("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", mr.target_branch.clone());
        v.set("CI_MERGE_REQUEST_PROJECT_PATH", ctx.project_path.clone());
        v.set("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", ctx.project_path.clone());
        v.set("CI_MERGE_REQUEST_EVENT_TYPE", "detached");
        if let Some(base) = &mr.diff_base_sha {
            v.set("CI_MERGE_REQUEST_DIFF_BASE_SHA", base.clone());
        }
        if !mr.labels.is_empty() {
            v.set("CI_MERGE_REQUEST_LABELS", mr.labels.join(","));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        let mut v = Variables::new();
        for (k, val) in pairs {
            v.set(*k, *val);
        }
        v
    }

    #[test]
    fn expands_both_forms_and_escapes() {
        let v = vars(&[("A", "x"), ("B_1", "y")]);
        assert_eq!(v.expand("$A-${B_1}-$$A-$MISSING-${A}z"), "x-y-$A--xz");
    }

    #[test]
    fn lone_dollars_stay() {
        let v = vars(&[]);
        assert_eq!(v.expand("cost: 5$ and ${not valid}"), "cost: 5$ and ${not valid}");
    }

    #[test]
    fn nested_values_expand_and_cycles_terminate() {
        let v = vars(&[("A", "$B"), ("B", "b$A")]);
        let a = v.value("A").unwrap();
        assert!(a.starts_with("bbbb"), "{a}");
        let mut w = vars(&[("X", "1")]);
        w.insert("Y", Variable { value: "$X".into(), expand: false });
        assert_eq!(w.value("Y").unwrap(), "$X");
    }

    #[test]
    fn expand_known_keeps_unknown_references() {
        let v = vars(&[("A", "x")]);
        assert_eq!(v.expand_known("$A/$B/${C}"), "x/$B/${C}");
    }

    #[test]
    fn slug_matches_gitlab() {
        assert_eq!(slugify("Feature/ABC_1.2"), "feature-abc-1-2");
        assert_eq!(slugify("--x--"), "x");
        assert_eq!(slugify(&"a".repeat(70)).len(), 63);
        // As `Gitlab::Utils.slugify`: every character is replaced, runs are not collapsed,
        // and the hyphens are trimmed after cutting at 63.
        assert_eq!(slugify("feature//a__b"), "feature--a--b");
        assert_eq!(slugify(&format!("{}a", "-".repeat(70))), "");
        assert_eq!(slugify(&format!("{}--b", "a".repeat(62))), "a".repeat(62));
    }

    #[test]
    fn tag_pipeline_has_tag_not_branch() {
        let mut ctx = PipelineContext::push("g/p", "main", "abc");
        ctx.git_ref = GitRef::Tag("v1.0.0".into());
        let v = predefined(&ctx);
        assert_eq!(v.raw("CI_COMMIT_TAG"), Some("v1.0.0"));
        assert_eq!(v.raw("CI_COMMIT_BRANCH"), None);
        assert_eq!(v.raw("CI_COMMIT_REF_NAME"), Some("v1.0.0"));
    }
}
