//! The GitLab CI language: from `.gitlab-ci.yml` (and what it includes) plus a pipeline
//! context to a [`pipeline::Pipeline`] of jobs, or located [`Diagnostics`].
//!
//! This module is pure: it reads files only through [`source::FileReader`], never the file
//! system, git, the network or a clock, and its output is ordered by source position, so the
//! same input always gives the same plan. The steps follow GitLab's own order: load YAML
//! ([`yaml`]), resolve `include` ([`include`], with `spec:inputs` from [`inputs`]), `extends`
//! ([`extends`]), `!reference` ([`reference`]), then build jobs ([`build`]): `default`,
//! `workflow`, `rules`/`only`/`except` ([`rules`], [`only_except`], [`expr`]), `parallel`
//! ([`matrix`]) and the `needs` graph ([`needs`]).

pub mod build;
pub mod context;
pub mod expr;
pub mod extends;
pub mod include;
pub mod inputs;
pub mod job;
pub mod key_path;
pub mod keywords;
pub mod matrix;
pub mod merge;
pub mod needs;
pub mod node;
pub mod only_except;
pub mod pipeline;
pub mod reference;
pub mod rules;
pub mod source;
pub mod variables;
pub mod yaml;

pub use crate::diagnostic::{Diagnostic, Diagnostics};

use context::PipelineContext;
use source::FileReader;

/// One planning request: which file, for which pipeline, read how.
pub struct PlanRequest<'a> {
    /// The configuration file in the project's repository (normally `.gitlab-ci.yml`).
    pub path: &'a str,
    /// The pipeline to plan for.
    pub context: &'a PipelineContext,
    /// Reads the configuration and everything it includes.
    pub reader: &'a dyn FileReader,
    /// Paths changed between a ref or sha and the pipeline's commit, for
    /// `rules:changes:compare_to`; `None` when that ref is unknown.
    pub changed_since: &'a dyn Fn(&str) -> Option<Vec<String>>,
}

/// Plans a pipeline: loads the configuration with its includes and builds the jobs.
///
/// # Errors
/// Every error of the configuration that GitLab would reject, located; warnings travel in
/// [`pipeline::Pipeline::warnings`] on success and with the errors on failure.
pub fn plan(request: &PlanRequest<'_>) -> Result<pipeline::Pipeline, Diagnostics> {
    let mut variables = variables::predefined(request.context);
    for (name, value) in &request.context.variables {
        variables.set(name.clone(), value.clone());
    }
    let (config, warnings) = include::load_config(request.path, request.reader, request.context, &variables, request.changed_since)?;
    match build::build(config, request.context, request.reader, request.changed_since) {
        Ok(mut pipeline) => {
            let mut all = warnings;
            all.extend(std::mem::take(&mut pipeline.warnings));
            pipeline.warnings = all;
            Ok(pipeline)
        }
        Err(errors) => {
            let mut all = warnings;
            all.extend(errors);
            Err(all)
        }
    }
}
