//! The planning flow of [`super`]: validate the whole configuration, then evaluate
//! `workflow:rules` and every job instance for the pipeline context.

use std::cell::OnceCell;

use indexmap::IndexMap;

use super::globals::{self, Globals, Workflow};
use super::select::{self, Conditions};
use super::plan_job;
use crate::ci::context::PipelineContext;
use crate::ci::expr::ExpressionCache;
use crate::ci::extends;
use crate::diagnostic::did_you_mean;
use crate::ci::job::{self, JobSpec};
use crate::ci::keywords::GLOBAL_KEYWORDS;
use crate::ci::matrix;
use crate::ci::needs;
use crate::ci::node::Node;
use crate::ci::pipeline::{AutoCancel, Job, Pipeline, When};
use crate::ci::reference;
use crate::ci::rules::{self, RuleEnv, RulesKind};
use crate::ci::source::{FileReader, FileSource};
use crate::ci::variables::{self, Lookup, Variables};
use crate::diagnostic::{Diagnostic, Diagnostics};

/// GitLab's reason when `workflow:rules` exclude the pipeline.
pub const WORKFLOW_REASON: &str = "Pipeline filtered out by workflow rules.";
/// GitLab's reason when no job is left after `rules`/`only`/`except`.
pub const NO_JOBS_REASON: &str = "No stages / jobs for this pipeline.";

/// Plans the pipeline of `config` (the merged top-level mapping, after `include`) for `ctx`.
/// `reader` lists the repository's files for `rules:exists` (at most once, when needed);
/// `changed_since(ref)` gives the paths changed between `ref` and the pipeline's commit for
/// `rules:changes:compare_to`.
///
/// # Errors
/// Every configuration error found, located: `extends` and `!reference` problems first (they
/// stop the build), then global keywords, job keywords, stages, `needs`/`dependencies`.
/// A pipeline that `workflow:rules` exclude, or that has no job left after `rules`, is not an
/// error: it comes back with `created: false` and GitLab's reason.
pub fn build(
    config: Node,
    ctx: &PipelineContext,
    reader: &dyn FileReader,
    changed_since: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Result<Pipeline, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut config = config;
    if config.as_map().is_none() {
        let message = format!("the configuration must be a mapping of jobs and global keywords, not {}", config.type_name());
        diags.push(Diagnostic::error(Some(config.location.clone()), "", message));
        return Err(diags);
    }
    extends::resolve(&mut config, &mut diags);
    reference::resolve(&mut config, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    let Some(map) = config.as_map() else { return Err(diags) };
    let globals = globals::read(map, &mut diags);
    let workflow_rules = globals.workflow.rules.as_ref().map(|r| rules::parse(r, "workflow.rules", RulesKind::Workflow, &mut diags));
    let specs = parse_jobs(&config, &globals, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    drop(config);
    evaluate(&specs, &globals, workflow_rules.as_deref(), ctx, reader, changed_since, diags)
}

/// Evaluates `workflow:rules`, then every job.
fn evaluate(
    specs: &[(JobSpec, Conditions)],
    globals: &Globals,
    workflow_rules: Option<&[rules::Rule]>,
    ctx: &PipelineContext,
    reader: &dyn FileReader,
    changed_since: &dyn Fn(&str) -> Option<Vec<String>>,
    mut diags: Diagnostics,
) -> Result<Pipeline, Diagnostics> {
    let files_cache = OnceCell::new();
    let files = || files_cache.get_or_init(|| reader.list(&FileSource::Local).unwrap_or_default()).clone();
    let predefined = variables::predefined(ctx);
    let planner = Planner { ctx, predefined: &predefined, globals, files: &files, changed_since };
    let mut global_variables = globals.variables.clone();
    let mut auto_cancel = globals.workflow.auto_cancel;
    if let Some(rules) = workflow_rules {
        let env_vars = planner.workflow_variables();
        let env = planner.env(&env_vars);
        match rules::first_match(rules, &env) {
            Some(rule) if rule.when.as_deref() != Some("never") => {
                plan_job::overlay(&mut global_variables, &rule.variables);
                if let Some(node) = &rule.auto_cancel {
                    auto_cancel = globals::auto_cancel(node, "workflow.rules.auto_cancel", &mut diags).or(auto_cancel);
                }
            }
            _ => return Ok(not_created(WORKFLOW_REASON, diags)),
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let workflow = Workflow { auto_cancel, ..globals.workflow.clone() };
    let planner = Planner { globals: &Globals { variables: global_variables, workflow, ..globals.clone() }, ..planner };
    planner.finish(specs, diags)
}

/// What evaluation needs besides the job specs.
pub(super) struct Planner<'a> {
    pub(super) ctx: &'a PipelineContext,
    /// The predefined variables of `ctx`, computed once: every job instance starts from a
    /// copy of them, which is much cheaper than deriving them again (slugs, short sha, ...).
    pub(super) predefined: &'a Variables,
    pub(super) globals: &'a Globals,
    files: &'a dyn Fn() -> Vec<String>,
    changed_since: &'a dyn Fn(&str) -> Option<Vec<String>>,
}

impl Planner<'_> {
    /// The variables `workflow:rules` see: predefined, global YAML, caller.
    fn workflow_variables(&self) -> Variables {
        let mut vars = self.predefined.clone();
        for (name, var) in &self.globals.variables {
            vars.insert(name.clone(), variables::Variable { value: var.value.clone(), expand: var.expand });
        }
        for (name, value) in &self.ctx.variables {
            vars.set(name.clone(), value.clone());
        }
        vars
    }

    /// What rules evaluation sees, with `vars` as the variables.
    pub(super) fn env<'v>(&'v self, vars: &'v dyn Lookup) -> RuleEnv<'v> {
        RuleEnv { variables: vars, changed_paths: self.ctx.changed_paths.as_deref(), changed_since: self.changed_since, files: self.files }
    }

    /// Evaluates every job, checks `needs`, and assembles the pipeline.
    fn finish(&self, specs: &[(JobSpec, Conditions)], mut diags: Diagnostics) -> Result<Pipeline, Diagnostics> {
        let mut jobs: Vec<Job> = Vec::new();
        let mut instances: IndexMap<String, Vec<String>> = IndexMap::new();
        for (spec, conditions) in specs {
            let expanded = spec.parallel.as_ref().map(|p| matrix::expand(&spec.name, p));
            if let Some(list) = &expanded {
                instances.insert(spec.name.clone(), list.iter().map(|i| i.name.clone()).collect());
            }
            let list = expanded.unwrap_or_default();
            let all: Vec<Option<&matrix::Instance>> = if list.is_empty() { vec![None] } else { list.iter().map(Some).collect() };
            for instance in all {
                let selection = select::select(spec, conditions, instance, self, &mut diags);
                jobs.push(plan_job::plan(spec, instance, selection, &mut diags));
            }
        }
        check_unique_names(&jobs, &mut diags);
        needs::validate(&mut jobs, &self.globals.stages, &instances, &mut diags);
        if diags.has_errors() {
            return Err(diags);
        }
        let runs = |j: &&Job| j.when != When::Never;
        if !jobs.iter().filter(runs).any(|j| j.stage != ".pre" && j.stage != ".post") {
            // Every visible job is still listed (with `when: never`), with the stages they name.
            let mut pipeline = not_created(NO_JOBS_REASON, diags);
            pipeline.stages = self.globals.stages.clone();
            pipeline.jobs = jobs;
            return Ok(pipeline);
        }
        let name = self.globals.workflow.name.as_ref().map(|n| self.workflow_variables().expand_known(n));
        Ok(Pipeline {
            created: true,
            reason: None,
            name,
            stages: self.globals.stages.clone(),
            variables: self.globals.variables.clone(),
            jobs,
            auto_cancel_on_new_commit: self.globals.workflow.auto_cancel.on_new_commit.unwrap_or_default(),
            auto_cancel_on_job_failure: self.globals.workflow.auto_cancel.on_job_failure.unwrap_or(false),
            warnings: diags,
        })
    }
}

/// A pipeline that is not created: no stages, no jobs, only the warnings.
fn not_created(reason: &str, warnings: Diagnostics) -> Pipeline {
    Pipeline {
        created: false,
        reason: Some(reason.to_owned()),
        name: None,
        stages: Vec::new(),
        variables: Vec::new(),
        jobs: Vec::new(),
        auto_cancel_on_new_commit: AutoCancel::default(),
        auto_cancel_on_job_failure: false,
        warnings: Diagnostics(warnings.0.into_iter().filter(|d| !d.is_error()).collect()),
    }
}

/// Parses every job definition (top-level keys that are neither global keywords nor hidden
/// `.templates`) and checks its stage.
fn parse_jobs(config: &Node, globals: &Globals, diags: &mut Diagnostics) -> Vec<(JobSpec, Conditions)> {
    let Some(map) = config.as_map() else { return Vec::new() };
    let mut specs = Vec::new();
    let mut visible = 0;
    let mut exprs = ExpressionCache::new();
    for (key, node) in map.iter() {
        let name = key.name.as_str();
        if GLOBAL_KEYWORDS.contains(&name) || name.starts_with('.') {
            continue;
        }
        visible += 1;
        if name.trim().is_empty() {
            diags.push(Diagnostic::error(Some(key.location.clone()), "", "a job name cannot be blank"));
            continue;
        }
        if let Some(spec) = job::parse_job(name, node, globals.default.as_ref(), diags) {
            check_stage(&spec, node, &globals.stages, diags);
            if let Some(parallel) = &spec.parallel {
                matrix::check(parallel, &format!("{name}.parallel"), diags);
            }
            let conditions = select::conditions(&spec, &mut exprs, diags);
            specs.push((spec, conditions));
        }
    }
    if visible == 0 {
        diags.push(
            Diagnostic::error(Some(config.location.clone()), "", "the configuration must contain at least one visible job")
                .with_hint("a job is a top-level key that is not a global keyword and does not start with `.`"),
        );
    }
    specs
}

fn check_stage(spec: &JobSpec, node: &Node, stages: &[String], diags: &mut Diagnostics) {
    if stages.contains(&spec.stage) {
        return;
    }
    let at = node.as_map().and_then(|m| m.get("stage")).map_or_else(|| node.location.clone(), |s| s.location.clone());
    let listed: Vec<String> = stages.iter().map(|s| format!("`{s}`")).collect();
    let hint = match did_you_mean(&spec.stage, stages.iter().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`?"),
        None if node.as_map().is_some_and(|m| m.contains_key("stage")) => format!("add `{}` to `stages`", spec.stage),
        None => format!("a job without `stage` runs in `test`; add `test` to `stages` or give the job a stage ({})", listed.join(", ")),
    };
    diags.push(
        Diagnostic::error(
            Some(at),
            format!("{}.stage", spec.name),
            format!("stage `{}` does not exist; the stages are {}", spec.stage, listed.join(", ")),
        )
        .with_hint(hint),
    );
}

/// Two jobs (or instances) with one name would be one job in GitLab, the later replacing
/// the earlier; here it is an error.
fn check_unique_names(jobs: &[Job], diags: &mut Diagnostics) {
    let mut seen: IndexMap<&str, &Job> = IndexMap::new();
    for job in jobs {
        if let Some(first) = seen.insert(job.name.as_str(), job) {
            diags.push(
                Diagnostic::error(Some(job.location.clone()), job.name.clone(), format!("job name `{}` is used twice", job.name))
                    .with_hint(format!("the other `{}` is at {}; `parallel` instance names count", first.name, first.location)),
            );
        }
    }
}

