//! Jobs: from one job's mapping (after `extends` and `!reference`) to a validated, typed
//! [`JobSpec`], with `default:` applied as `inherit:default` allows.
//!
//! This module owns the job keywords' validation (types, allowed values, unknown keys with
//! did-you-mean, keyword conflicts) with GitLab 18.5's rules. It does not evaluate anything:
//! `rules`, `only`/`except`, `needs` and `parallel` are kept parsed for [`crate::ci::build`],
//! which decides which jobs run, expands `parallel` and checks `needs` against other jobs.

mod artifacts;
mod duration;
mod environment;
mod image;
mod needs;
mod passthrough;
mod retry;
mod script;
mod validate;
mod value;
mod variables;

pub use duration::parse_duration;
pub use needs::{MAX_PARALLEL, parse_matrix, parse_needs, parse_parallel};
pub use validate::validate_default;
pub use variables::{VariableScope, parse_variables};

use crate::ci::keywords::{DEFAULT_KEYWORDS, GLOBAL_KEYWORDS, suggest};
use crate::ci::node::Node;
use crate::ci::pipeline::{
    AllowFailure, Artifacts, Cache, Environment, Image, InheritList, Job, JobVariable, Need, Parallel, Release, Retry,
    Service, Trigger, When,
};
use crate::diagnostic::{Diagnostics, Location};
use value::{child, error, error_hint};

/// A job definition after extends/!reference, with `default:` applied per `inherit:`, every
/// keyword validated and typed. Rules/only/except/needs/parallel are kept parsed but not
/// evaluated.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The job name (the top-level key).
    pub name: String,
    /// Where the job's mapping starts.
    pub location: Location,
    /// `stage:`, `test` when not given.
    pub stage: String,
    /// Job-level `when:` (`on_success` when not given; never `never`).
    pub when: When,
    /// `start_in:` of a `when: delayed` job, in seconds.
    pub start_in: Option<u64>,
    /// `allow_failure:` as written; `None` when not given (see [`JobSpec::allow_failure_default`]).
    pub allow_failure: Option<AllowFailure>,
    /// `before_script` (own or from `default:`), flattened.
    pub before_script: Vec<String>,
    /// `script`, flattened; empty for `run` and `trigger` jobs.
    pub script: Vec<String>,
    /// `after_script` (own or from `default:`), flattened.
    pub after_script: Vec<String>,
    /// `run:` steps as written.
    pub run: Option<serde_json::Value>,
    /// `rules:` (raw until the rules parser is merged).
    pub rules: Option<Node>,
    /// `only:` (raw until the only/except parser is merged).
    pub only: Option<Node>,
    /// `except:` (raw until the only/except parser is merged).
    pub except: Option<Node>,
    /// `needs:`; `Some(vec![])` for `needs: []`.
    pub needs: Option<Vec<Need>>,
    /// `dependencies:`.
    pub dependencies: Option<Vec<String>>,
    /// `parallel:`.
    pub parallel: Option<Parallel>,
    /// `retry:` (own or from `default:`).
    pub retry: Option<Retry>,
    /// `timeout:` in seconds (own or from `default:`).
    pub timeout: Option<u64>,
    /// `interruptible:` (own or from `default:`).
    pub interruptible: Option<bool>,
    /// `resource_group:`.
    pub resource_group: Option<String>,
    /// `environment:`.
    pub environment: Option<Environment>,
    /// `artifacts:` (own or from `default:`).
    pub artifacts: Option<Artifacts>,
    /// `cache:` (own or from `default:`), at most 4.
    pub cache: Vec<Cache>,
    /// `image:` (own or from `default:`).
    pub image: Option<Image>,
    /// `services:` (own or from `default:`).
    pub services: Vec<Service>,
    /// `tags:` (own or from `default:`).
    pub tags: Vec<String>,
    /// `trigger:`.
    pub trigger: Option<Trigger>,
    /// `coverage:` regular expression, without the slashes.
    pub coverage: Option<String>,
    /// `release:`.
    pub release: Option<Release>,
    /// Job `variables:`, in order.
    pub variables: Vec<(String, JobVariable)>,
    /// `inherit:variables`: which global variables the job sees.
    pub inherit_variables: InheritList,
    /// Kept-as-written keywords Sluice does not act on (`hooks`, `id_tokens`, `secrets`,
    /// `identity`, `pages`, `publish`, `manual_confirmation`, `dast_configuration`, `extends`).
    pub passthrough: Vec<(String, serde_json::Value)>,
}

/// Longest job name GitLab accepts.
const MAX_NAME: usize = 255;

/// Parses job `name` (its mapping node), applying `default` (the top-level `default:` mapping,
/// if any) as `inherit:default` allows; global `variables` inheritance is decided by
/// `inherit:variables` (returned as [`JobSpec::inherit_variables`]).
///
/// # Errors
///
/// Every problem of the job goes to `diags` (all of them, each located, key paths such as
/// `build.script[2]`); the result is then `None`. Problems inside inherited `default:` values
/// are not reported here (they would repeat for every job): report them once with
/// [`validate_default`].
///
/// Hidden jobs (names starting with `.`) are templates: the caller does not pass them here.
pub fn parse_job(name: &str, node: &Node, default: Option<&Node>, diags: &mut Diagnostics) -> Option<JobSpec> {
    let errors_before = diags.errors().count();
    let Some(map) = node.as_map() else {
        let message = format!("job `{name}` must be a mapping of job keywords, found {}", node.type_name());
        match suggest(name, GLOBAL_KEYWORDS) {
            Some(close) => error_hint(diags, &node.location, name, message, format!("did you mean the global keyword `{close}`?")),
            None => error(diags, &node.location, name, message),
        }
        return None;
    };
    if name.chars().count() > MAX_NAME {
        error(diags, &node.location, name, format!("job name is too long (at most {MAX_NAME} characters)"));
    }
    let is_trigger = map.get("trigger").is_some_and(|t| !t.is_null());
    validate::job_keys(map, name, is_trigger, diags);
    let inherit = map
        .get("inherit")
        .and_then(|n| variables::inherit(n, &child(name, "inherit"), diags))
        .unwrap_or_default();
    let mut spec = JobSpec::new(name, node.location.clone());
    for (key, value) in map.iter() {
        if !value.is_null() {
            apply(&mut spec, &key.name, value, &child(name, &key.name), diags);
        }
    }
    if let Some(default_map) = default.and_then(Node::as_map) {
        // Reported once by `validate_default`, not once per job.
        let mut muted = Diagnostics::new();
        for key in DEFAULT_KEYWORDS {
            let own = map.get(key).is_some_and(|v| !v.is_null());
            let allowed = !is_trigger || *key == "interruptible";
            if let (false, true, true, Some(value)) = (own, allowed, inherit.default.includes(key), default_map.get(key)) {
                apply(&mut spec, key, value, &child("default", key), &mut muted);
            }
        }
    }
    spec.inherit_variables = inherit.variables;
    validate::job_rules(&spec, map, node, diags);
    (diags.errors().count() == errors_before).then_some(spec)
}

/// Parses one keyword's value into `spec`; unknown keys were reported by `job_keys`.
fn apply(spec: &mut JobSpec, key: &str, value: &Node, path: &str, diags: &mut Diagnostics) {
    match key {
        "script" => spec.script = script::commands(value, path, diags).unwrap_or_default(),
        "before_script" => spec.before_script = script::commands(value, path, diags).unwrap_or_default(),
        "after_script" => spec.after_script = script::commands(value, path, diags).unwrap_or_default(),
        "stage" => spec.stage = value::string(value, path, diags).unwrap_or_else(|| spec.stage.clone()),
        "when" => spec.when = job_when(value, path, diags),
        "start_in" => spec.start_in = start_in(value, path, diags),
        "allow_failure" => spec.allow_failure = retry::allow_failure(value, path, diags),
        "retry" => spec.retry = retry::retry(value, path, diags),
        "timeout" => spec.timeout = timeout(value, path, diags),
        "interruptible" => spec.interruptible = value::boolean(value, path, diags),
        "resource_group" => spec.resource_group = value::string(value, path, diags),
        "needs" => spec.needs = parse_needs(value, path, diags),
        "dependencies" => spec.dependencies = value::strings(value, path, diags),
        "parallel" => spec.parallel = parse_parallel(value, path, diags),
        "rules" => spec.rules = Some(value.clone()),
        "only" => spec.only = Some(value.clone()),
        "except" => spec.except = Some(value.clone()),
        "variables" => spec.variables = parse_variables(value, path, VariableScope::Job, diags).unwrap_or_default(),
        "environment" => spec.environment = environment::environment(value, path, diags),
        "trigger" => spec.trigger = environment::trigger(value, path, diags),
        "release" => spec.release = environment::release(value, path, diags),
        "artifacts" => spec.artifacts = artifacts::artifacts(value, path, diags),
        "cache" => spec.cache = artifacts::caches(value, path, diags).unwrap_or_default(),
        "image" => spec.image = image::image(value, path, diags),
        "services" => spec.services = image::services(value, path, diags).unwrap_or_default(),
        "tags" => spec.tags = passthrough::tags(value, path, diags).unwrap_or_default(),
        "coverage" => spec.coverage = passthrough::coverage(value, path, diags),
        "run"
            if passthrough::check(key, value, path, diags) => {
                spec.run = Some(value.to_json());
            }
        "hooks" | "id_tokens" | "secrets" | "identity" | "pages" | "publish" | "manual_confirmation"
        | "dast_configuration" | "extends"
            if passthrough::check(key, value, path, diags) => {
                spec.passthrough.retain(|(k, _)| k != key);
                spec.passthrough.push((key.to_string(), value.to_json()));
            }
        _ => {}
    }
}

/// Job-level `when:`; `never` is only allowed in `rules`.
fn job_when(node: &Node, path: &str, diags: &mut Diagnostics) -> When {
    if node.as_str() == Some("never") {
        error_hint(
            diags,
            &node.location,
            path,
            "`never` is not allowed here: `when` must be one of `on_success`, `on_failure`, `always`, `manual`, `delayed`",
            "to leave a job out, use `rules:` with `when: never`",
        );
        return When::OnSuccess;
    }
    value::one_of(node, path, crate::ci::keywords::JOB_WHEN, diags)
        .and_then(|w| When::parse(&w))
        .unwrap_or(When::OnSuccess)
}

/// Longest `start_in`: one week.
const MAX_START_IN: u64 = 7 * 24 * 3600;
/// Longest `timeout`: one month (GitLab's `Project::MAX_BUILD_TIMEOUT`).
const MAX_TIMEOUT: u64 = 30 * 24 * 3600;

fn start_in(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<u64> {
    limited_duration(node, path, MAX_START_IN, "1 week", diags)
}

fn timeout(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<u64> {
    limited_duration(node, path, MAX_TIMEOUT, "1 month", diags)
}

/// A duration string of at most `limit` seconds.
fn limited_duration(node: &Node, path: &str, limit: u64, limit_text: &str, diags: &mut Diagnostics) -> Option<u64> {
    let text = match &node.value {
        crate::ci::node::Value::Str(text) => text.clone(),
        _ => {
            let found = node.scalar_to_string().map_or_else(|| node.type_name().to_string(), |s| format!("`{s}`"));
            error_hint(diags, &node.location, path, format!("expected a duration string, found {found}"), "write a duration such as `30 minutes`, `1h 30m` or `2 hours`");
            return None;
        }
    };
    let Some(seconds) = parse_duration(&text) else {
        error_hint(diags, &node.location, path, format!("`{text}` is not a duration"), "write a duration such as `30 minutes`, `1h 30m` or `2 hours`");
        return None;
    };
    if seconds > limit {
        error(diags, &node.location, path, format!("`{text}` is longer than the limit of {limit_text}"));
        return None;
    }
    Some(seconds)
}

impl JobSpec {
    /// A job with GitLab's defaults (`stage: test`, `when: on_success`) and nothing else.
    pub fn new(name: &str, location: Location) -> Self {
        Self {
            name: name.to_string(),
            location,
            stage: "test".into(),
            when: When::OnSuccess,
            start_in: None,
            allow_failure: None,
            before_script: Vec::new(),
            script: Vec::new(),
            after_script: Vec::new(),
            run: None,
            rules: None,
            only: None,
            except: None,
            needs: None,
            dependencies: None,
            parallel: None,
            retry: None,
            timeout: None,
            interruptible: None,
            resource_group: None,
            environment: None,
            artifacts: None,
            cache: Vec::new(),
            image: None,
            services: Vec::new(),
            tags: Vec::new(),
            trigger: None,
            coverage: None,
            release: None,
            variables: Vec::new(),
            inherit_variables: InheritList::default(),
            passthrough: Vec::new(),
        }
    }

    /// Whether this is a trigger job (a bridge to a downstream pipeline).
    pub fn is_trigger(&self) -> bool {
        self.trigger.is_some()
    }

    /// GitLab's `allow_failure` before rules: the job's own value, else `true` for a job-level
    /// `when: manual` and `false` otherwise (`Job#ignored?`). When a rule matches, the caller
    /// applies the rule's `allow_failure`, and a rule's `when: manual` without one gives false.
    pub fn default_allow_failure(&self) -> bool {
        match &self.allow_failure {
            Some(allow) => allow.allowed,
            None => self.when == When::Manual,
        }
    }

    /// The runner's view of this job before rules, `parallel` and `needs` resolution: the
    /// caller then adjusts `when`, `allow_failure`, `variables`, `needs`, `start_in`,
    /// `interruptible` from the matching rule and names `parallel` instances.
    pub fn to_job(&self) -> Job {
        Job {
            name: self.name.clone(),
            stage: self.stage.clone(),
            when: self.when,
            allow_failure: self.default_allow_failure(),
            allow_failure_exit_codes: self.allow_failure.as_ref().map(|a| a.exit_codes.clone()).unwrap_or_default(),
            needs: self.needs.clone(),
            dependencies: self.dependencies.clone(),
            start_in: self.start_in,
            before_script: self.before_script.clone(),
            script: self.script.clone(),
            after_script: self.after_script.clone(),
            run: self.run.clone(),
            variables: self.variables.clone(),
            inherit_variables: self.inherit_variables.clone(),
            image: self.image.clone(),
            services: self.services.clone(),
            tags: self.tags.clone(),
            retry: self.retry.clone(),
            timeout: self.timeout,
            interruptible: self.interruptible,
            resource_group: self.resource_group.clone(),
            environment: self.environment.clone(),
            artifacts: self.artifacts.clone(),
            cache: self.cache.clone(),
            parallel: None,
            matrix: None,
            trigger: self.trigger.clone(),
            coverage: self.coverage.clone(),
            release: self.release.clone(),
            passthrough: self.passthrough.clone(),
            location: self.location.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
