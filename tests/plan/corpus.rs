//! The fixture corpus: `tests/fixtures/ci/<case>/` holds
//! - `repo/`: the files of the repository (its `.gitlab-ci.yml` and what it includes),
//! - `args` (optional): extra `sluice plan` arguments, one per line,
//! - `expected.json`: the plan (`sluice plan --json`), matched as a subset (objects may have
//!   more fields than listed; arrays must have exactly the listed elements in order), or
//! - `expected.stderr`: lines that must each appear in stderr of a run that exits 2.

use std::path::Path;

use crate::support::{Repo, cases, dump, json_subset, sluice};

/// The arguments in a case's `args` file.
pub fn case_args(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("args"))
        .map(|text| text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn check_case(case: &Path) -> Result<(), String> {
    let repo = Repo::from_dir(&case.join("repo"));
    let mut args = vec!["plan".to_owned(), "--json".to_owned()];
    args.extend(case_args(case));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = sluice(&repo.path, &args);
    if let Ok(expected) = std::fs::read_to_string(case.join("expected.json")) {
        let expected: serde_json::Value = serde_json::from_str(&expected).map_err(|e| format!("bad expected.json: {e}"))?;
        if !output.status.success() {
            return Err(format!("expected a plan\n{}", dump(&output)));
        }
        let actual: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| format!("stdout is not JSON ({e})\n{}", dump(&output)))?;
        return json_subset(&expected, &actual, "$").map_err(|diff| format!("{diff}\n{}", dump(&output)));
    }
    let expected = std::fs::read_to_string(case.join("expected.stderr")).map_err(|_| "no expected.json or expected.stderr".to_owned())?;
    if output.status.code() != Some(2) {
        return Err(format!("expected exit code 2\n{}", dump(&output)));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in expected.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !stderr.contains(line) {
            return Err(format!("stderr lacks `{line}`\n{}", dump(&output)));
        }
    }
    if !output.stdout.is_empty() {
        return Err(format!("a failed plan must print nothing on stdout\n{}", dump(&output)));
    }
    Ok(())
}

#[test]
fn every_fixture_case_plans_as_expected() {
    let mut failures = Vec::new();
    let all = cases();
    for case in &all {
        if let Err(message) = check_case(case) {
            failures.push(format!("=== {} ===\n{message}", case.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), all.len(), failures.join("\n\n"));
}
