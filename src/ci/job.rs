//! Jobs: from one job's mapping (after `extends` and `!reference`) to a validated, typed
//! [`JobSpec`], with `default:` applied as `inherit:default` allows.
//!
//! This module owns the job keywords' validation (types, allowed values, unknown keys with
//! did-you-mean, keyword conflicts) with GitLab 18.5's rules. It does not evaluate anything:
//! `rules`, `only`/`except`, `needs` and `parallel` are kept parsed for [`crate::ci::build`],
//! which decides which jobs run, expands `parallel` and checks `needs` against other jobs.

use crate::ci::node::Node;
use crate::ci::pipeline::{
    AllowFailure, Artifacts, Cache, Environment, Image, InheritList, JobVariable, Need, Parallel, Release, Retry,
    Service, Trigger, When,
};
use crate::diagnostic::{Diagnostics, Location};

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

/// Parses job `name` (its mapping node), applying `default` (the top-level `default:` mapping,
/// if any) as `inherit:default` allows; global `variables` inheritance is decided by
/// `inherit:variables` (returned as [`JobSpec::inherit_variables`]). Errors go to `diags`;
/// `None` when the job has errors.
pub fn parse_job(name: &str, node: &Node, default: Option<&Node>, diags: &mut Diagnostics) -> Option<JobSpec> {
    let _ = (name, node, default, diags);
    None
}

/// Parses a `needs:` value (also used for `rules:needs`). `key_path` is the path of the
/// `needs` key, such as `build.needs` or `build.rules[0].needs`.
pub fn parse_needs(node: &Node, key_path: &str, diags: &mut Diagnostics) -> Option<Vec<Need>> {
    let _ = (node, key_path, diags);
    None
}
