//! Differential test against gitlab-ci-local (4.64.1), installed by `scripts/setup --test`.
//!
//! Every corpus case with an `expected.json` whose arguments gitlab-ci-local can reproduce
//! (none, or only `--var`) is listed by both tools; name, stage, when, allow_failure and needs
//! must agree, except for the cases in `gitlab-ci-local-deviations.txt`, where gitlab-ci-local
//! departs from GitLab's documented behaviour: those must still differ, so the list stays true.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::corpus::case_args;
use crate::support::{Repo, cases, fixtures, sluice};

fn deviations() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(fixtures().join("gitlab-ci-local-deviations.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (case, why) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (case.to_owned(), why.trim().to_owned())
        })
        .collect()
}

/// The comparable part of a job list: name, stage, when, allow_failure and needs.
fn summary(jobs: &serde_json::Value) -> Vec<String> {
    let empty = Vec::new();
    jobs.as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|job| {
            let needs = job.get("needs").filter(|n| !n.is_null()).map(|needs| {
                needs
                    .as_array()
                    .unwrap_or(&empty)
                    .iter()
                    .map(|n| format!("{}(artifacts={},optional={})", n["job"], n["artifacts"], n["optional"]))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            format!(
                "{} stage={} when={} allow_failure={} needs={}",
                job["name"],
                job["stage"],
                job["when"],
                job["allow_failure"],
                needs.unwrap_or_else(|| "-".into())
            )
        })
        .collect()
}

fn gitlab_ci_local() -> String {
    std::env::var("SLUICE_GITLAB_CI_LOCAL").expect(
        "SLUICE_GITLAB_CI_LOCAL is not set: the oracle needs gitlab-ci-local; run the tests with `scripts/test`, which installs it",
    )
}

fn oracle_list(gcl: &str, repo: &Path, vars: &[String]) -> Result<serde_json::Value, String> {
    let mut command = Command::new(gcl);
    command.current_dir(repo).arg("--list-json");
    for var in vars {
        command.arg("--variable").arg(var);
    }
    let output = command.output().map_err(|e| format!("cannot run {gcl}: {e}"))?;
    if !output.status.success() {
        return Err(format!("gitlab-ci-local failed:\n{}", String::from_utf8_lossy(&output.stderr)));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let start = stdout.find('[').ok_or_else(|| format!("no JSON in gitlab-ci-local output:\n{stdout}"))?;
    serde_json::from_str(&stdout[start..]).map_err(|e| format!("bad JSON from gitlab-ci-local ({e}):\n{stdout}"))
}

#[test]
fn plans_agree_with_gitlab_ci_local_except_listed_deviations() {
    let gcl = gitlab_ci_local();
    let deviations = deviations();
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let args = case_args(&case);
        if !case.join("expected.json").exists() || args.iter().any(|a| !a.starts_with("--var")) {
            continue;
        }
        let vars: Vec<String> = args.iter().filter_map(|a| a.strip_prefix("--var=").map(str::to_owned)).collect();
        let repo = Repo::from_dir(&case.join("repo"));
        let mut ours_args = vec!["plan".to_owned(), "--json".to_owned()];
        ours_args.extend(args.iter().cloned());
        let ours_args: Vec<&str> = ours_args.iter().map(String::as_str).collect();
        let ours: serde_json::Value = serde_json::from_slice(&sluice(&repo.path, &ours_args).stdout).unwrap_or_default();
        let theirs = match oracle_list(&gcl, &repo.path, &vars) {
            Ok(jobs) => jobs,
            Err(e) if deviations.contains_key(&name) => {
                let _ = e;
                continue;
            }
            Err(e) => {
                failures.push(format!("=== {name} ===\n{e}"));
                continue;
            }
        };
        compared += 1;
        let (ours, theirs) = (summary(&ours["jobs"]), summary(&theirs));
        match (ours == theirs, deviations.get(&name)) {
            (true, Some(why)) => failures.push(format!("=== {name} ===\nlisted as a deviation ({why}) but both agree now: remove it from the list")),
            (false, None) => failures.push(format!("=== {name} ===\nsluice:\n  {}\ngitlab-ci-local:\n  {}", ours.join("\n  "), theirs.join("\n  "))),
            _ => {}
        }
    }
    assert!(compared > 0, "no case was compared with gitlab-ci-local");
    assert!(failures.is_empty(), "{} disagreements:\n\n{}", failures.len(), failures.join("\n\n"));
}
