//! The plan: what [`crate::ci::build`] produces and the runner consumes.
//!
//! This file owns the output types only (no parsing, no evaluation). Every type derives
//! `Serialize`; the JSON field names are a contract with the CLI (`sluice plan --json`) and
//! the runner: `{"created", "reason"?, "name"?, "stages", "variables", "jobs": [{"name",
//! "stage", "when", "allow_failure", "needs", …}]}`. [`When`] serializes as GitLab's words
//! (`on_success` … `never`), durations are whole seconds, ordered pairs (`variables`,
//! matrix values) serialize as JSON objects in source order, and a [`Location`] as
//! `"file:line:column"`. The keyword value types ([`Image`], [`Cache`], [`Artifacts`], …) are
//! shared with [`crate::ci::job::JobSpec`], which is parsed from YAML before rules run.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::diagnostic::{Diagnostics, Location};

/// A planned pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    /// Whether a pipeline is created (`false` when `workflow:rules` exclude it).
    pub created: bool,
    /// Why no pipeline is created (set when `created` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `workflow:name`, expanded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The stages in order, including `.pre` and `.post`.
    pub stages: Vec<String>,
    /// Global `variables:` (after `workflow:rules:variables`), in order; in JSON a plain
    /// value unless `expand: false`, `description` or `options` are set.
    #[serde(serialize_with = "variable_map")]
    pub variables: Vec<(String, JobVariable)>,
    /// The jobs, in stage order then source order.
    pub jobs: Vec<Job>,
    /// `workflow:auto_cancel:on_new_commit` (or the matching `workflow:rules` entry's); in
    /// the JSON only when not the default.
    #[serde(skip_serializing_if = "AutoCancel::is_default")]
    pub auto_cancel_on_new_commit: AutoCancel,
    /// `workflow:auto_cancel:on_job_failure: all` (or the matching `workflow:rules`
    /// entry's): a job failure that is neither allowed nor retried cancels the rest of the
    /// pipeline. In the JSON only when set.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auto_cancel_on_job_failure: bool,
    /// Warnings found while planning (not part of the JSON).
    #[serde(skip)]
    pub warnings: Diagnostics,
}

/// One job as the runner sees it: rules evaluated, defaults applied, one instance of a
/// `parallel` job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// The job name (for `parallel`, the instance name such as `test 1/3` or `test: [a, b]`).
    pub name: String,
    /// The stage it runs in.
    pub stage: String,
    /// When it runs.
    pub when: When,
    /// Whether a failure leaves the pipeline green (manual jobs without rules default to true).
    pub allow_failure: bool,
    /// Exit codes that count as allowed failures (`allow_failure:exit_codes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_failure_exit_codes: Vec<i32>,
    /// `needs:`; `None` means stage ordering, `Some(vec![])` means start at once.
    pub needs: Option<Vec<Need>>,
    /// `dependencies:`; `None` means all earlier jobs' artifacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<String>>,
    /// Delay for `when: delayed`, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_in: Option<u64>,
    /// `before_script` lines (after `default:`), flattened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub before_script: Vec<String>,
    /// `script` lines, flattened; empty for trigger and `run` jobs.
    pub script: Vec<String>,
    /// `after_script` lines, flattened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after_script: Vec<String>,
    /// `run:` steps, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<serde_json::Value>,
    /// Job-level variables (job `variables:`, then `rules:variables`, then matrix values), in order.
    #[serde(serialize_with = "variable_map")]
    pub variables: Vec<(String, JobVariable)>,
    /// Whether global variables are passed to this job (`inherit:variables`).
    pub inherit_variables: InheritList,
    /// The container image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Service containers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    /// Runner tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Automatic retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Job timeout, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Whether a newer pipeline may cancel this job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interruptible: Option<bool>,
    /// Jobs with the same resource group never run at the same time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// The environment this job deploys to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Files kept after the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Artifacts>,
    /// Caches (at most 4).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache: Vec<Cache>,
    /// For one instance of a `parallel` job: its 1-based index and the total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel: Option<ParallelIndex>,
    /// For one instance of a `parallel:matrix` job: its variable values, in order.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "optional_ordered_map")]
    pub matrix: Option<Vec<(String, String)>>,
    /// The downstream pipeline of a trigger job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// The regular expression that finds the coverage in the job log (without slashes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<String>,
    /// The release this job creates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    /// Keywords Sluice keeps but does not act on (`hooks`, `id_tokens`, `secrets`,
    /// `identity`, `pages`, `publish`, `manual_confirmation`, `dast_configuration`), as written.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ordered_map")]
    pub passthrough: Vec<(String, serde_json::Value)>,
    /// Where the job is defined.
    #[serde(serialize_with = "location_string")]
    pub location: Location,
}

/// What a newer pipeline on the same ref does to this one while it runs
/// (`workflow:auto_cancel:on_new_commit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoCancel {
    /// Cancel it, unless a job with `interruptible: false` (the default) has started. The
    /// default.
    #[default]
    Conservative,
    /// Cancel only its `interruptible: true` jobs.
    Interruptible,
    /// Never cancel it.
    None,
}

impl AutoCancel {
    /// The words GitLab accepts, with their meaning.
    pub const WORDS: [(&'static str, AutoCancel); 3] = [
        ("conservative", AutoCancel::Conservative),
        ("interruptible", AutoCancel::Interruptible),
        ("none", AutoCancel::None),
    ];

    /// The setting a word names.
    pub fn from_word(word: &str) -> Option<AutoCancel> {
        Self::WORDS.iter().find(|(w, _)| *w == word).map(|(_, setting)| *setting)
    }

    /// The word of this setting.
    pub fn as_str(self) -> &'static str {
        Self::WORDS.iter().find(|(_, s)| *s == self).map_or("conservative", |(w, _)| w)
    }

    /// Whether this is GitLab's default, `conservative`.
    pub fn is_default(&self) -> bool {
        *self == AutoCancel::Conservative
    }
}

/// When a job runs, in GitLab's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// When all jobs of earlier stages (or all `needs`) succeeded. The default.
    OnSuccess,
    /// When at least one earlier job failed.
    OnFailure,
    /// Whatever happened before.
    Always,
    /// When a user starts it.
    Manual,
    /// After `start_in`.
    Delayed,
    /// Not at all (only from `rules`).
    Never,
}

impl When {
    /// Every value with its GitLab word.
    pub const ALL: [(When, &'static str); 6] = [
        (When::OnSuccess, "on_success"),
        (When::OnFailure, "on_failure"),
        (When::Always, "always"),
        (When::Manual, "manual"),
        (When::Delayed, "delayed"),
        (When::Never, "never"),
    ];

    /// The value of a GitLab word (`on_success` …), if it is one.
    pub fn parse(word: &str) -> Option<When> {
        Self::ALL.iter().find(|(_, w)| *w == word).map(|(v, _)| *v)
    }

    /// The GitLab word.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(v, _)| *v == self).map_or("on_success", |(_, w)| *w)
    }
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `needs:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Need {
    /// The job needed.
    pub job: String,
    /// Whether its artifacts are downloaded (default true).
    pub artifacts: bool,
    /// Whether the need is ignored when the job is not in the pipeline.
    pub optional: bool,
    /// Another project (`needs:project`), for cross-project artifacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The ref of `project`.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Another pipeline (`needs:pipeline`, usually `$PARENT_PIPELINE_ID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// `needs:parallel:matrix`: only the instances of `job` with these values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Vec<MatrixEntry>>,
    /// Where the need is written.
    #[serde(skip)]
    pub location: Location,
}

impl Need {
    /// A plain need on `job` of this pipeline, with its artifacts, written at `location`.
    pub fn on(job: impl Into<String>, location: Location) -> Self {
        Self { job: job.into(), artifacts: true, optional: false, project: None, git_ref: None, pipeline: None, matrix: None, location }
    }

    /// Whether the need is on a job of this pipeline (not another project or pipeline).
    pub fn is_local(&self) -> bool {
        self.project.is_none() && self.pipeline.is_none()
    }
}

/// `parallel:` as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Parallel {
    /// `parallel: N`, 1 ≤ N ≤ 200.
    Count(u32),
    /// `parallel: matrix:`: each entry gives the values of its variables; the instances are
    /// the product of the values within an entry, entries one after another.
    Matrix(Vec<MatrixEntry>),
}

/// One mapping of `parallel:matrix` (or `needs:parallel:matrix`).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixEntry {
    /// Variable name to its values (a scalar gives one value), in order.
    pub variables: Vec<(String, Vec<String>)>,
    /// Where the entry is written.
    pub location: Location,
}

impl Serialize for MatrixEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ordered_map(&self.variables, serializer)
    }
}

/// Which instance of a `parallel` job this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParallelIndex {
    /// 1-based (`CI_NODE_INDEX`).
    pub index: u32,
    /// Number of instances (`CI_NODE_TOTAL`).
    pub total: u32,
}

/// `retry:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retry {
    /// Retries after the first attempt, 0..=2.
    pub max: u32,
    /// Failure reasons that are retried (empty: any reason, as `always`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<String>,
    /// Exit codes that are retried (empty: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<i32>,
}

/// `allow_failure:` as written on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowFailure {
    /// `allow_failure: true`; false for the `exit_codes` form.
    pub allowed: bool,
    /// `allow_failure:exit_codes`.
    pub exit_codes: Vec<i32>,
}

/// A variable as a job (or the global `variables:`) defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobVariable {
    /// The value, as Ruby's `to_s` prints the YAML scalar.
    pub value: String,
    /// Whether `$OTHER` in the value is expanded (`expand: false` turns it off).
    pub expand: bool,
    /// `description:` (global variables only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `options:` (global variables only): the values offered when running manually.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// `inherit:default` / `inherit:variables`: all, none, or the listed names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum InheritList {
    /// `true` (the default) or `false`.
    All(bool),
    /// A list of names.
    Only(Vec<String>),
}

impl InheritList {
    /// Whether `name` is inherited.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            InheritList::All(all) => *all,
            InheritList::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

impl Default for InheritList {
    fn default() -> Self {
        InheritList::All(true)
    }
}

/// `image:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    /// The image reference, such as `ruby:3.3`.
    pub name: String,
    /// Overrides the image's entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `always`, `if-not-present`, `never`, in order of preference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pull_policy: Vec<String>,
    /// Executor options (`docker: {platform, user}`, `kubernetes: {user}`), as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_opts: Option<serde_json::Value>,
}

/// One entry of `services:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// The image reference.
    pub name: String,
    /// Host name(s) the service is reachable at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Overrides the image's entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Variables passed to the service only.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ordered_map")]
    pub variables: Vec<(String, String)>,
    /// Pull policies, as for [`Image`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pull_policy: Vec<String>,
}

/// `environment:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    /// The environment name (may contain variables, expanded later).
    pub name: String,
    /// The environment's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `start` (default), `prepare`, `stop`, `verify` or `access`.
    pub action: String,
    /// `production`, `staging`, `testing`, `development` or `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_tier: Option<String>,
    /// Lifetime of the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_stop_in: Option<Expiry>,
    /// The job that stops the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_stop: Option<String>,
    /// `kubernetes:` options, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<serde_json::Value>,
}

/// A lifetime: a number of seconds, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Kept forever.
    Never,
    /// Kept this many seconds.
    Seconds(u64),
}

impl Serialize for Expiry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Expiry::Never => serializer.serialize_str("never"),
            Expiry::Seconds(s) => serializer.serialize_u64(*s),
        }
    }
}

/// `artifacts:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifacts {
    /// Archive name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Paths (globs) to keep.
    pub paths: Vec<String>,
    /// Paths (globs) to leave out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Whether untracked git files are kept too.
    pub untracked: bool,
    /// `on_success` (default), `on_failure` or `always`.
    pub when: When,
    /// How long they are kept (`None`: the instance default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_in: Option<Expiry>,
    /// Link text in merge requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expose_as: Option<String>,
    /// Whether anonymous users may download them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// `all`, `developer`, `maintainer` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    /// Report files by kind (`junit`, `dotenv`, …), values as written.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ordered_map")]
    pub reports: Vec<(String, serde_json::Value)>,
}

/// One cache of `cache:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cache {
    /// The cache key.
    pub key: CacheKey,
    /// Paths (globs) cached.
    pub paths: Vec<String>,
    /// Whether untracked git files are cached too.
    pub untracked: bool,
    /// Whether protected and unprotected branches share the cache.
    pub unprotect: bool,
    /// `on_success` (default), `on_failure` or `always`.
    pub when: When,
    /// `pull-push` (default), `pull`, `push`, or a `$VARIABLE` naming one of them.
    pub policy: String,
    /// Keys tried when `key` has no cache.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallback_keys: Vec<String>,
}

/// `cache:key`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CacheKey {
    /// A literal key (may contain variables); `default` when not given.
    Literal(String),
    /// A key computed from the last commits that changed `files`.
    Files {
        /// One or two files.
        files: Vec<String>,
        /// Prefix of the computed key.
        #[serde(skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
    },
}

/// `trigger:`: a downstream pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trigger {
    /// Multi-project: the downstream project path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Multi-project: the downstream branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Child pipeline: the configuration files, as written (`local`, `project`+`file`,
    /// `template`, `artifact`+`job`; a string is a `local` file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<serde_json::Value>,
    /// `depend` or `mirror`: the trigger job reflects the downstream status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Whether job/global YAML variables are passed down (default true).
    pub forward_yaml_variables: bool,
    /// Whether the pipeline's own variables are passed down (default false).
    pub forward_pipeline_variables: bool,
    /// `trigger:inputs`, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
}

/// `release:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    /// The tag to create or use.
    pub tag_name: String,
    /// The annotation of a created tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_message: Option<String>,
    /// The release name (default: the tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The release notes (text or a file path).
    pub description: String,
    /// The commit or branch a new tag is created from.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Milestone titles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<String>,
    /// Release date (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    /// `assets:`, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assets: Option<serde_json::Value>,
}

/// Serializes ordered pairs as a JSON object, keeping their order.
fn ordered_map<S: Serializer, V: Serialize>(pairs: &[(String, V)], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (name, value) in pairs {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

fn optional_ordered_map<S: Serializer>(pairs: &Option<Vec<(String, String)>>, serializer: S) -> Result<S::Ok, S::Error> {
    match pairs {
        Some(pairs) => ordered_map(pairs, serializer),
        None => serializer.serialize_none(),
    }
}

/// Job variables: `NAME: "value"` when expandable, `NAME: {"value", "expand": false}` otherwise.
fn variable_map<S: Serializer>(pairs: &[(String, JobVariable)], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (name, variable) in pairs {
        if variable.expand && variable.description.is_none() && variable.options.is_empty() {
            map.serialize_entry(name, &variable.value)?;
        } else {
            map.serialize_entry(name, variable)?;
        }
    }
    map.end()
}

fn location_string<S: Serializer>(location: &Location, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_round_trips_gitlab_words() {
        for (value, word) in When::ALL {
            assert_eq!(When::parse(word), Some(value));
            assert_eq!(serde_json::to_value(value).unwrap(), serde_json::json!(word));
        }
        assert_eq!(When::parse("sometimes"), None);
    }

    #[test]
    fn need_serializes_contract_fields() {
        let need = Need::on("build", Location::new("f.yml", 1, 1));
        assert_eq!(
            serde_json::to_string(&need).unwrap(),
            r#"{"job":"build","artifacts":true,"optional":false}"#
        );
    }

    fn variable(value: &str, expand: bool) -> JobVariable {
        JobVariable { value: value.into(), expand, description: None, options: Vec::new() }
    }

    #[test]
    fn pipeline_serializes_ordered_variables_and_skips_warnings() {
        let pipeline = Pipeline {
            created: false,
            reason: Some("workflow:rules excluded the pipeline".into()),
            name: None,
            stages: vec!["build".into()],
            variables: vec![("Z".into(), variable("1", true)), ("A".into(), variable("$Z", false))],
            jobs: vec![],
            auto_cancel_on_new_commit: AutoCancel::Conservative,
            auto_cancel_on_job_failure: false,
            warnings: Diagnostics::new(),
        };
        assert_eq!(
            serde_json::to_string(&pipeline).unwrap(),
            r#"{"created":false,"reason":"workflow:rules excluded the pipeline","stages":["build"],"variables":{"Z":"1","A":{"value":"$Z","expand":false}},"jobs":[]}"#
        );
    }

    #[test]
    fn expiry_and_inherit_serialize_plainly() {
        assert_eq!(serde_json::to_string(&Expiry::Never).unwrap(), r#""never""#);
        assert_eq!(serde_json::to_string(&Expiry::Seconds(60)).unwrap(), "60");
        assert_eq!(serde_json::to_string(&InheritList::All(false)).unwrap(), "false");
        assert!(InheritList::Only(vec!["A".into()]).includes("A"));
        assert!(!InheritList::Only(vec!["A".into()]).includes("B"));
    }
}
