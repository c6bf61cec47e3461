//! One planned [`Job`] from a [`JobSpec`], one `parallel` instance of it and what its rules
//! selected.

use super::select::Selection;
use crate::ci::job::JobSpec;
use crate::ci::matrix::Instance;
use crate::ci::pipeline::{Job, JobVariable, Need, ParallelIndex};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// Assembles the planned job.
pub fn plan(spec: &JobSpec, instance: Option<&Instance>, selection: Selection, diags: &mut Diagnostics) -> Job {
    let (allow_failure, allow_failure_exit_codes) = allow_failure(spec, &selection);
    let mut variables = spec.variables.clone();
    if let Some(instance) = instance {
        overlay(&mut variables, &instance.variables);
    }
    overlay(&mut variables, &selection.variables);
    let start_in = match &selection.start_in {
        Some(text) => start_in(spec, text, diags),
        None => spec.start_in,
    };
    let mut job = spec.to_job();
    if let Some(instance) = instance {
        job.name = instance.name.clone();
        job.parallel = Some(parallel_index(instance));
        job.matrix = (!instance.variables.is_empty()).then(|| instance.variables.clone());
    }
    job.when = selection.when;
    job.allow_failure = allow_failure;
    job.allow_failure_exit_codes = allow_failure_exit_codes;
    if let Some(needs) = selection.needs {
        job.needs = Some(needs);
    }
    if let (Some(instance), Some(needs)) = (instance.filter(|i| !i.variables.is_empty()), job.needs.as_mut()) {
        interpolate_needs(needs, instance, &spec.name, diags);
    }
    job.start_in = start_in;
    job.variables = variables;
    job.interruptible = selection.interruptible.or(spec.interruptible);
    job
}

/// GitLab: `rules:allow_failure` wins (and drops `allow_failure:exit_codes`); then the job's
/// own `allow_failure`; otherwise a job whose own `when` is `manual` may fail.
fn allow_failure(spec: &JobSpec, selection: &Selection) -> (bool, Vec<i32>) {
    if let Some(allowed) = selection.allow_failure {
        return (allowed, Vec::new());
    }
    let exit_codes = spec.allow_failure.as_ref().map(|a| a.exit_codes.clone()).unwrap_or_default();
    (spec.default_allow_failure(), exit_codes)
}

fn parallel_index(instance: &Instance) -> ParallelIndex {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    ParallelIndex { index: clamp(instance.index), total: clamp(instance.total) }
}

fn start_in(spec: &JobSpec, text: &str, diags: &mut Diagnostics) -> Option<u64> {
    let parsed = crate::ci::job::parse_duration(text);
    if parsed.is_none() {
        diags.push(
            Diagnostic::error(Some(spec.location.clone()), format!("{}.rules", spec.name), format!("`start_in` `{text}` is not a duration"))
                .with_hint("write a duration such as `30 minutes` or `1 hour`, at most one week"),
        );
    }
    parsed
}

/// GitLab 18's matrix expressions in `needs`: `$[[ matrix.NAME ]]` in a need's job name or
/// `parallel:matrix` values becomes this instance's value of `NAME`.
fn interpolate_needs(needs: &mut [Need], instance: &Instance, job: &str, diags: &mut Diagnostics) {
    for need in needs {
        let path = format!("{job}.needs");
        need.job = interpolate(&need.job, instance, &need.location, &path, diags);
        for entry in need.matrix.iter_mut().flatten() {
            for (_, values) in &mut entry.variables {
                for value in values.iter_mut() {
                    *value = interpolate(value, instance, &need.location, &path, diags);
                }
            }
        }
    }
}

fn interpolate(text: &str, instance: &Instance, at: &Location, path: &str, diags: &mut Diagnostics) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("$[[") {
        let Some(len) = rest[start..].find("]]") else { break };
        out.push_str(&rest[..start]);
        let expression = rest[start + 3..start + len].trim();
        let value = expression.strip_prefix("matrix.").and_then(|name| instance.variables.iter().find(|(n, _)| n == name));
        match value {
            Some((_, value)) => out.push_str(value),
            None => {
                out.push_str(&rest[start..start + len + 2]);
                let names: Vec<String> = instance.variables.iter().map(|(n, _)| format!("`matrix.{n}`")).collect();
                diags.push(
                    Diagnostic::error(Some(at.clone()), path, format!("`$[[ {expression} ]]` is not a matrix variable of this job"))
                        .with_hint(format!("this job's matrix has {}", names.join(", "))),
                );
            }
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Sets each `(name, value)`, replacing in place or appending.
pub(super) fn overlay(vars: &mut Vec<(String, JobVariable)>, values: &[(String, String)]) {
    for (name, value) in values {
        let variable = JobVariable { value: value.clone(), expand: true, description: None, options: Vec::new() };
        match vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => *existing = variable,
            None => vars.push((name.clone(), variable)),
        }
    }
}
