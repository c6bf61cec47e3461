//! `needs:` and `dependencies:` checked against the final job list, and the `needs` graph.
//!
//! GitLab checks needs in two places, and so does this module: statically for every job
//! (`YamlProcessor#validate_job_needs!`, `#validate_job_dependencies!`,
//! `#check_circular_dependencies`): a needed job must be defined (unless `optional: true`),
//! in the same or an earlier stage, named once, and the graph must have no cycle; and for the
//! jobs of this pipeline (`Pipeline::Seed::Build#needs_errors`): at most 50 needs, and a
//! needed job removed by `rules`/`only`/`except` is an error unless the need is optional, in
//! which case the need is dropped. A need on a `parallel` job means every instance of it; a
//! `needs:parallel:matrix` names some instances (GitLab names them from the need's matrix).
//! `dependencies` must name defined jobs of the same or earlier stages (that they are a
//! subset of `needs` is checked with the job, by [`crate::ci::job`]).

use indexmap::{IndexMap, IndexSet};

use crate::diagnostic::did_you_mean;
use super::matrix;
use super::pipeline::{Job, Need, When};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// GitLab's default `ci_needs_size_limit`: one job may need at most this many jobs.
pub const MAX_NEEDS: usize = 50;

/// The job list as the checks see it.
struct Index<'a> {
    /// Instance name → (stage index, in the pipeline).
    jobs: IndexMap<&'a str, (usize, bool)>,
    /// Job definition name → its instance names, for `parallel` jobs.
    instances: &'a IndexMap<String, Vec<String>>,
    /// Instance name → the definition it comes from (for key paths).
    definition: IndexMap<&'a str, &'a str>,
    stages: &'a [String],
}

/// Validates and resolves `needs` and `dependencies` of `jobs` (every visible job, in
/// order; a job with `when: never` is one that `rules`/`only`/`except` removed). `stages` are
/// the pipeline's stages in order, `instances` maps each `parallel` job's definition name to
/// its instance names.
///
/// # Guarantees
/// On return, each job's `needs` names concrete jobs of this pipeline: needs on `parallel`
/// jobs are expanded to instance names, optional needs on absent jobs are dropped; each
/// job's `dependencies` are expanded the same way, without jobs that are not in the pipeline.
///
/// # Errors
/// Pushed to `diags`, located at the need (or the job for `dependencies`): see the module
/// documentation; a cycle is reported once, with its path (`a -> b -> a`).
pub fn validate(jobs: &mut [Job], stages: &[String], instances: &IndexMap<String, Vec<String>>, diags: &mut Diagnostics) {
    let snapshot: Vec<(String, usize, bool)> =
        jobs.iter().map(|j| (j.name.clone(), stage_index(stages, &j.stage), j.when != When::Never)).collect();
    let mut definition = IndexMap::new();
    for (def, names) in instances {
        for name in names {
            definition.insert(name.as_str(), def.as_str());
        }
    }
    let index = Index {
        jobs: snapshot.iter().map(|(n, s, inc)| (n.as_str(), (*s, *inc))).collect(),
        instances,
        definition,
        stages,
    };
    let mut graph: Vec<(String, Vec<Need>)> = Vec::new();
    for job in jobs.iter_mut() {
        let (own_stage, included) = index.jobs.get(job.name.as_str()).copied().unwrap_or((0, false));
        let path = format!("{}.needs", index.definition_of(&job.name));
        if let Some(needs) = job.needs.take() {
            let (expanded, total) = index.expand_needs(&needs, &path, own_stage, diags);
            if included && total > MAX_NEEDS {
                let message = format!("one job can only need {MAX_NEEDS} others, but `{}` lists {total}", job.name);
                diags.push(Diagnostic::error(Some(job.location.clone()), &path, message).with_hint(
                    "split the job, or let it wait for whole stages by removing `needs`",
                ));
            }
            let kept = index.keep_present(expanded, included, &job.name, &path, diags);
            graph.push((job.name.clone(), kept.clone()));
            job.needs = Some(kept);
        }
        if let Some(dependencies) = job.dependencies.take() {
            job.dependencies = Some(index.check_dependencies(job, &dependencies, own_stage, diags));
        }
    }
    report_cycles(&graph, &index, diags);
}

fn stage_index(stages: &[String], stage: &str) -> usize {
    stages.iter().position(|s| s == stage).unwrap_or(usize::MAX)
}

impl Index<'_> {
    fn definition_of<'n>(&'n self, name: &'n str) -> &'n str {
        self.definition.get(name).copied().unwrap_or(name)
    }

    /// The concrete jobs a need names.
    fn need_targets(&self, need: &Need) -> Vec<String> {
        match (&need.matrix, self.instances.get(&need.job)) {
            (Some(entries), _) => matrix::need_names(&need.job, entries),
            (None, Some(names)) => names.clone(),
            (None, None) => vec![need.job.clone()],
        }
    }

    /// Expands needs to concrete jobs, checking existence, stage order and duplicates.
    /// Returns the surviving needs and the expanded count (for the limit).
    fn expand_needs(&self, needs: &[Need], path: &str, own_stage: usize, diags: &mut Diagnostics) -> (Vec<Need>, usize) {
        let mut out: Vec<Need> = Vec::new();
        let mut seen = IndexSet::new();
        let mut duplicated = IndexSet::new();
        let mut total = 0;
        for need in needs {
            if !need.is_local() {
                out.push(need.clone());
                continue;
            }
            for target in self.need_targets(need) {
                total += 1;
                if !seen.insert(target.clone()) {
                    duplicated.insert(target.clone());
                    continue;
                }
                let Some((stage, _)) = self.jobs.get(target.as_str()).copied() else {
                    if !need.optional {
                        diags.push(self.undefined(need, &target, path, "needs"));
                    }
                    continue;
                };
                if stage > own_stage {
                    diags.push(self.later_stage(&need.location, path, &target, stage, own_stage, "needs"));
                }
                out.push(Need { job: target, matrix: None, ..need.clone() });
            }
        }
        if !duplicated.is_empty() {
            let names: Vec<String> = duplicated.iter().map(|n| format!("`{n}`")).collect();
            let at = needs.first().map(|n| n.location.clone());
            diags.push(Diagnostic::error(at, path, format!("the job needs {} more than once", names.join(", "))));
        }
        (out, total)
    }

    /// Drops optional needs on jobs that are not in the pipeline; reports the others when
    /// the needing job itself is in the pipeline.
    fn keep_present(&self, needs: Vec<Need>, included: bool, job: &str, path: &str, diags: &mut Diagnostics) -> Vec<Need> {
        let mut kept = Vec::new();
        for need in needs {
            let present = !need.is_local() || self.jobs.get(need.job.as_str()).is_some_and(|(_, inc)| *inc);
            if present {
                kept.push(need);
            } else if need.optional {
                continue;
            } else {
                if included {
                    diags.push(
                        Diagnostic::error(
                            Some(need.location.clone()),
                            path,
                            format!("`{job}` needs `{}`, but `{}` is not in the pipeline: its `rules`, `only` or `except` removed it", need.job, need.job),
                        )
                        .with_hint("to need a job that is sometimes absent, add `optional: true` to the need"),
                    );
                }
                kept.push(need);
            }
        }
        kept
    }

    fn check_dependencies(&self, job: &Job, dependencies: &[String], own_stage: usize, diags: &mut Diagnostics) -> Vec<String> {
        let path = format!("{}.dependencies", self.definition_of(&job.name));
        let mut out = Vec::new();
        for dependency in dependencies {
            let targets = self.instances.get(dependency).cloned().unwrap_or_else(|| vec![dependency.clone()]);
            for target in targets {
                let Some((stage, included)) = self.jobs.get(target.as_str()).copied() else {
                    let need = Need::on(dependency.as_str(), job.location.clone());
                    diags.push(self.undefined(&need, &target, &path, "dependencies"));
                    continue;
                };
                if stage > own_stage {
                    diags.push(self.later_stage(&job.location, &path, &target, stage, own_stage, "dependencies"));
                }
                if included {
                    out.push(target);
                }
            }
        }
        out
    }

    fn undefined(&self, need: &Need, target: &str, path: &str, keyword: &str) -> Diagnostic {
        let d = Diagnostic::error(Some(need.location.clone()), path, format!("job `{target}` does not exist"));
        if let Some(names) = self.instances.get(&need.job) {
            let shown: Vec<String> = names.iter().take(5).map(|n| format!("`{n}`")).collect();
            return d.with_hint(format!(
                "`{}` has the instances {}; `parallel:matrix` values must be listed in the same order as in its matrix",
                need.job,
                shown.join(", ")
            ));
        }
        let candidates = self.jobs.keys().copied().chain(self.instances.keys().map(String::as_str));
        match did_you_mean(target, candidates) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None if keyword == "needs" => d.with_hint("to need a job that may not be defined, add `optional: true` to the need"),
            None => d,
        }
    }

    fn later_stage(&self, at: &Location, path: &str, target: &str, stage: usize, own: usize, keyword: &str) -> Diagnostic {
        let name = |i: usize| self.stages.get(i).map_or("?", String::as_str);
        Diagnostic::error(
            Some(at.clone()),
            path,
            format!("`{target}` runs in the later stage `{}`, after this job's stage `{}`", name(stage), name(own)),
        )
        .with_hint(format!("`{keyword}` may only name jobs of the same or an earlier stage"))
    }
}

/// Finds cycles in the needs graph (nodes in job order) and reports each once.
fn report_cycles(graph: &[(String, Vec<Need>)], index: &Index<'_>, diags: &mut Diagnostics) {
    let edges: IndexMap<&str, &[Need]> = graph.iter().map(|(n, needs)| (n.as_str(), needs.as_slice())).collect();
    let mut state: IndexMap<&str, bool> = IndexMap::new(); // false = on the stack, true = done
    let mut reported: IndexSet<Vec<String>> = IndexSet::new();
    for (start, _) in graph {
        let mut stack: Vec<(&str, Option<&Need>)> = Vec::new();
        visit(start, None, &edges, &mut state, &mut stack, &mut |cycle, closing: Option<&Need>| {
            let mut key: Vec<String> = cycle.iter().map(|s| (*s).to_owned()).collect();
            key.sort();
            if !reported.insert(key) {
                return;
            }
            let Some(need) = closing else { return };
            let from = cycle.get(cycle.len().saturating_sub(2)).copied().unwrap_or("");
            let chain: Vec<String> = cycle.iter().map(|n| format!("`{n}`")).collect();
            diags.push(
                Diagnostic::error(
                    Some(need.location.clone()),
                    format!("{}.needs", index.definition_of(from)),
                    format!("the pipeline has circular dependencies: {}", chain.join(" -> ")),
                )
                .with_hint("remove one of the `needs` of this chain"),
            );
        });
    }
}

fn visit<'g>(
    name: &'g str,
    via: Option<&'g Need>,
    edges: &IndexMap<&'g str, &'g [Need]>,
    state: &mut IndexMap<&'g str, bool>,
    stack: &mut Vec<(&'g str, Option<&'g Need>)>,
    report: &mut dyn FnMut(Vec<&'g str>, Option<&'g Need>),
) {
    match state.get(name) {
        Some(true) => return,
        Some(false) => {
            let start = stack.iter().position(|(n, _)| *n == name).unwrap_or(0);
            let mut cycle: Vec<&str> = stack[start..].iter().map(|(n, _)| *n).collect();
            cycle.push(name);
            report(cycle, via);
            return;
        }
        None => {}
    }
    state.insert(name, false);
    stack.push((name, via));
    for need in edges.get(name).copied().unwrap_or(&[]) {
        if need.is_local()
            && let Some((target, _)) = edges.get_key_value(need.job.as_str()) {
                visit(target, Some(need), edges, state, stack, report);
            }
    }
    stack.pop();
    state.insert(name, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::pipeline::{InheritList, MatrixEntry};

    fn at(line: u32) -> Location {
        Location::new("t.yml", line, 1)
    }

    fn need(job: &str) -> Need {
        Need::on(job, at(99))
    }

    fn job(name: &str, stage: &str, needs: Option<Vec<Need>>) -> Job {
        Job {
            name: name.to_owned(),
            stage: stage.to_owned(),
            when: When::OnSuccess,
            allow_failure: false,
            allow_failure_exit_codes: Vec::new(),
            needs,
            dependencies: None,
            start_in: None,
            before_script: Vec::new(),
            script: vec!["true".to_owned()],
            after_script: Vec::new(),
            run: None,
            variables: Vec::new(),
            inherit_variables: InheritList::default(),
            image: None,
            services: Vec::new(),
            tags: Vec::new(),
            retry: None,
            timeout: None,
            interruptible: None,
            resource_group: None,
            environment: None,
            artifacts: None,
            cache: Vec::new(),
            parallel: None,
            matrix: None,
            trigger: None,
            coverage: None,
            release: None,
            passthrough: Vec::new(),
            location: at(1),
        }
    }

    fn stages() -> Vec<String> {
        [".pre", "build", "test", "deploy", ".post"].iter().map(|s| (*s).to_owned()).collect()
    }

    fn check(jobs: &mut [Job], instances: &IndexMap<String, Vec<String>>) -> Vec<String> {
        let mut diags = Diagnostics::new();
        validate(jobs, &stages(), instances, &mut diags);
        diags.0.iter().map(|d| format!("{}: {}", d.key_path, d.message)).collect()
    }

    fn need_names(job: &Job) -> Vec<&str> {
        job.needs.as_deref().unwrap_or(&[]).iter().map(|n| n.job.as_str()).collect()
    }

    #[test]
    fn missing_job_is_an_error_with_a_suggestion() {
        let mut jobs = vec![job("build", "build", None), job("test", "test", Some(vec![need("biuld")]))];
        let mut diags = Diagnostics::new();
        validate(&mut jobs, &stages(), &IndexMap::new(), &mut diags);
        assert_eq!(diags.0.len(), 1);
        assert_eq!(diags.0[0].key_path, "test.needs");
        assert_eq!(diags.0[0].message, "job `biuld` does not exist");
        assert_eq!(diags.0[0].hint.as_deref(), Some("did you mean `build`?"));
    }

    #[test]
    fn later_stage_is_an_error_same_stage_is_fine() {
        let mut jobs = vec![
            job("a", "test", None),
            job("b", "test", Some(vec![need("a")])),
            job("c", "build", Some(vec![need("a")])),
        ];
        assert_eq!(
            check(&mut jobs, &IndexMap::new()),
            ["c.needs: `a` runs in the later stage `test`, after this job's stage `build`"]
        );
    }

    #[test]
    fn removed_job_is_an_error_unless_optional_which_is_dropped() {
        let mut gone = job("lint", "build", None);
        gone.when = When::Never;
        let mut optional = need("lint");
        optional.optional = true;
        let mut jobs = vec![gone.clone(), job("a", "test", Some(vec![optional, need("b")])), job("b", "build", None)];
        assert!(check(&mut jobs, &IndexMap::new()).is_empty());
        assert_eq!(need_names(&jobs[1]), ["b"]);

        let mut jobs = vec![gone, job("a", "test", Some(vec![need("lint")]))];
        assert_eq!(
            check(&mut jobs, &IndexMap::new()),
            ["a.needs: `a` needs `lint`, but `lint` is not in the pipeline: its `rules`, `only` or `except` removed it"]
        );
    }

    #[test]
    fn optional_need_on_undefined_job_is_dropped_silently() {
        let mut optional = need("nowhere");
        optional.optional = true;
        let mut jobs = vec![job("a", "test", Some(vec![optional]))];
        assert!(check(&mut jobs, &IndexMap::new()).is_empty());
        assert_eq!(jobs[0].needs, Some(vec![]));
    }

    #[test]
    fn more_than_fifty_needs_is_an_error() {
        let mut jobs: Vec<Job> = (0..51).map(|i| job(&format!("j{i}"), "build", None)).collect();
        jobs.push(job("all", "test", Some((0..51).map(|i| need(&format!("j{i}"))).collect())));
        assert_eq!(check(&mut jobs, &IndexMap::new()), ["all.needs: one job can only need 50 others, but `all` lists 51"]);
    }

    #[test]
    fn cycle_is_reported_once_with_its_path() {
        let mut jobs = vec![
            job("a", "test", Some(vec![need("b")])),
            job("b", "test", Some(vec![need("c")])),
            job("c", "test", Some(vec![need("a")])),
        ];
        assert_eq!(
            check(&mut jobs, &IndexMap::new()),
            ["c.needs: the pipeline has circular dependencies: `a` -> `b` -> `c` -> `a`"]
        );
    }

    #[test]
    fn duplicated_needs_are_errors() {
        let mut jobs = vec![job("a", "build", None), job("b", "test", Some(vec![need("a"), need("a")]))];
        assert_eq!(check(&mut jobs, &IndexMap::new()), ["b.needs: the job needs `a` more than once"]);
    }

    #[test]
    fn parallel_needs_expand_to_instances_and_matrix_selects() {
        let names = ["t: [a, x]", "t: [a, y]", "t: [b, x]"];
        let mut jobs: Vec<Job> = names.iter().map(|n| job(n, "build", None)).collect();
        let mut selective = need("t");
        selective.matrix = Some(vec![MatrixEntry {
            variables: vec![("P".into(), vec!["a".into()]), ("Q".into(), vec!["x".into(), "y".into()])],
            location: at(5),
        }]);
        jobs.push(job("all", "test", Some(vec![need("t")])));
        jobs.push(job("some", "test", Some(vec![selective])));
        let instances: IndexMap<String, Vec<String>> = [("t".to_owned(), names.iter().map(|n| (*n).to_owned()).collect())].into();
        assert!(check(&mut jobs, &instances).is_empty());
        assert_eq!(need_names(&jobs[3]), names);
        assert_eq!(need_names(&jobs[4]), ["t: [a, x]", "t: [a, y]"]);
    }

    #[test]
    fn dependencies_must_exist_and_be_earlier() {
        let mut a = job("a", "test", None);
        a.dependencies = Some(vec!["b".into(), "c".into(), "zzz".into(), "d".into()]);
        let mut jobs = vec![a, job("b", "build", None), job("c", "build", None), job("d", "deploy", None)];
        assert_eq!(
            check(&mut jobs, &IndexMap::new()),
            [
                "a.dependencies: job `zzz` does not exist",
                "a.dependencies: `d` runs in the later stage `deploy`, after this job's stage `test`",
            ]
        );
    }
}
