//! Whether a job instance is in the pipeline, and what its matching rule changes: `rules`
//! (first matching rule; none matching means `never`) or `only`/`except`.

use super::plan::Planner;
use crate::ci::expr::ExpressionCache;
use crate::ci::job::{self, JobSpec};
use crate::ci::matrix::Instance;
use crate::ci::only_except::{self, OnlyExcept};
use crate::ci::pipeline::{Need, When};
use crate::ci::rules::{self, Rule, RulesKind};
use crate::ci::variables::{self, Layered, Variable, Variables};
use crate::diagnostic::Diagnostics;

/// A job's `rules` or `only`/`except`, parsed once (errors reported once per job, not per
/// `parallel` instance).
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// `rules:`, if given.
    pub rules: Option<Vec<Rule>>,
    /// `only:`, if given.
    pub only: Option<OnlyExcept>,
    /// `except:`, if given.
    pub except: Option<OnlyExcept>,
}

/// Parses the conditions of `spec`; `exprs` holds the `rules:if` expressions of the jobs
/// parsed before.
pub fn conditions(spec: &JobSpec, exprs: &mut ExpressionCache, diags: &mut Diagnostics) -> Conditions {
    let name = &spec.name;
    Conditions {
        rules: spec.rules.as_ref().map(|n| rules::parse_cached(n, &format!("{name}.rules"), RulesKind::Job, exprs, diags)),
        only: spec.only.as_ref().map(|n| only_except::parse(n, &format!("{name}.only"), diags)),
        except: spec.except.as_ref().map(|n| only_except::parse(n, &format!("{name}.except"), diags)),
    }
}

/// The outcome of `rules`/`only`/`except` for one job instance.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The job's `when`, or the matching rule's; `never` when the job is removed.
    pub when: When,
    /// `rules:allow_failure` of the matching rule.
    pub allow_failure: Option<bool>,
    /// `rules:start_in` of the matching rule.
    pub start_in: Option<String>,
    /// `rules:interruptible` of the matching rule.
    pub interruptible: Option<bool>,
    /// `rules:variables` of the matching rule, in order.
    pub variables: Vec<(String, String)>,
    /// `rules:needs` of the matching rule (replaces the job's `needs`).
    pub needs: Option<Vec<Need>>,
}

/// Evaluates `spec`'s `rules` (or `only`/`except`) for `instance` (or the job itself).
pub fn select(
    spec: &JobSpec,
    conditions: &Conditions,
    instance: Option<&Instance>,
    planner: &Planner<'_>,
    diags: &mut Diagnostics,
) -> Selection {
    let mut selection = Selection {
        when: spec.when,
        allow_failure: None,
        start_in: None,
        interruptible: None,
        variables: Vec::new(),
        needs: None,
    };
    let vars = rule_variables(spec, instance, planner);
    let env = planner.env(&vars);
    if let Some(rules) = &conditions.rules {
        let Some(rule) = rules::first_match(rules, &env) else {
            selection.when = When::Never;
            return selection;
        };
        if let Some(when) = rule.when.as_deref().and_then(When::parse) {
            selection.when = when;
        }
        selection.allow_failure = rule.allow_failure;
        selection.start_in = rule.start_in.clone();
        selection.interruptible = rule.interruptible;
        selection.variables = rule.variables.clone();
        if let Some(node) = &rule.needs {
            let index = rules.iter().position(|r| std::ptr::eq(r, rule)).unwrap_or(0);
            selection.needs = job::parse_needs(node, &format!("{}.rules[{index}].needs", spec.name), diags);
        }
    } else if !only_except::included(conditions.only.as_ref(), conditions.except.as_ref(), &env, planner.ctx) {
        selection.when = When::Never;
    }
    selection
}

/// What `rules:if` of a job sees, lowest precedence first: predefined pipeline and job
/// variables, global YAML variables the job inherits, the job's own variables (with its
/// matrix values), then the caller's variables. The predefined pipeline variables are shared
/// by every instance, not copied.
fn rule_variables<'p>(spec: &JobSpec, instance: Option<&Instance>, planner: &Planner<'p>) -> Layered<'p> {
    let mut vars = Variables::new();
    let name = instance.map_or(spec.name.as_str(), |i| i.name.as_str());
    vars.set("CI_JOB_NAME", name);
    vars.set("CI_JOB_NAME_SLUG", variables::slugify(name));
    vars.set("CI_JOB_STAGE", spec.stage.clone());
    if let Some(instance) = instance {
        vars.set("CI_NODE_TOTAL", instance.total.to_string());
    }
    for (name, var) in &planner.globals.variables {
        if spec.inherit_variables.includes(name) {
            vars.insert(name.clone(), Variable { value: var.value.clone(), expand: var.expand });
        }
    }
    for (name, var) in &spec.variables {
        vars.insert(name.clone(), Variable { value: var.value.clone(), expand: var.expand });
    }
    for (name, value) in instance.map(|i| i.variables.as_slice()).unwrap_or(&[]) {
        vars.set(name.clone(), value.clone());
    }
    for (name, value) in &planner.ctx.variables {
        vars.set(name.clone(), value.clone());
    }
    Layered { base: planner.predefined, own: vars }
}
