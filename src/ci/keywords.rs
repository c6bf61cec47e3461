//! The keyword tables of GitLab 18.5's CI language (which keys are allowed where) and the
//! did-you-mean helper used for unknown-key hints.
//!
//! The tables follow GitLab's `lib/gitlab/ci/config/entry/*.rb` (`ALLOWED_KEYS` of `Job`,
//! `Processable`, `Default`, `Root`, …, including the EE keys) and the keyword reference at
//! <https://docs.gitlab.com/ci/yaml/>. Each table is in documentation order, which is also the
//! order hints list them in. This file holds data only; the checks are in
//! [`crate::ci::job`] and [`crate::ci::build`].

/// Keys a job may have (GitLab `Job::ALLOWED_KEYS` + `Processable::PROCESSABLE_ALLOWED_KEYS`
/// + EE keys), alphabetical as in the documentation.
pub const JOB_KEYWORDS: &[&str] = &[
    "after_script",
    "allow_failure",
    "artifacts",
    "before_script",
    "cache",
    "coverage",
    "dast_configuration",
    "dependencies",
    "environment",
    "except",
    "extends",
    "hooks",
    "id_tokens",
    "identity",
    "image",
    "inherit",
    "interruptible",
    "manual_confirmation",
    "needs",
    "only",
    "pages",
    "parallel",
    "publish",
    "release",
    "resource_group",
    "retry",
    "rules",
    "run",
    "script",
    "secrets",
    "services",
    "stage",
    "start_in",
    "tags",
    "timeout",
    "trigger",
    "variables",
    "when",
];

/// Keys a trigger job may have (GitLab `Bridge::ALLOWED_KEYS` + `PROCESSABLE_ALLOWED_KEYS`).
pub const TRIGGER_JOB_KEYWORDS: &[&str] = &[
    "allow_failure",
    "environment",
    "except",
    "extends",
    "inherit",
    "interruptible",
    "needs",
    "only",
    "parallel",
    "resource_group",
    "rules",
    "stage",
    "trigger",
    "variables",
    "when",
];

/// Top-level keys that are not jobs (GitLab `Root::ALLOWED_KEYS`).
pub const GLOBAL_KEYWORDS: &[&str] = &[
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    // Deprecated globals: they act as `default:` values.
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

/// Top-level keys that GitLab deprecated in favour of `default:`.
pub const DEPRECATED_GLOBAL_KEYWORDS: &[&str] = &["image", "services", "cache", "before_script", "after_script"];

/// Keys of the header document (before `---`).
pub const HEADER_KEYWORDS: &[&str] = &["spec"];

/// Keys allowed in `default:`; a job inherits each one it does not set itself.
pub const DEFAULT_KEYWORDS: &[&str] = &[
    "after_script",
    "artifacts",
    "before_script",
    "cache",
    "hooks",
    "id_tokens",
    "identity",
    "image",
    "interruptible",
    "retry",
    "services",
    "tags",
    "timeout",
];

/// Keys of `workflow:`.
pub const WORKFLOW_KEYWORDS: &[&str] = &["rules", "name", "auto_cancel"];

/// Keys of `inherit:`.
pub const INHERIT_KEYWORDS: &[&str] = &["default", "variables"];

/// The job-level `when:` values (`never` is only allowed in `rules`).
pub const JOB_WHEN: &[&str] = &["on_success", "on_failure", "always", "manual", "delayed"];

/// `retry:when` failure reasons, as documented.
pub const RETRY_WHEN: &[&str] = &[
    "always",
    "unknown_failure",
    "script_failure",
    "api_failure",
    "stuck_or_timeout_failure",
    "runner_system_failure",
    "runner_unsupported",
    "stale_schedule",
    "job_execution_timeout",
    "archived_failure",
    "unmet_prerequisites",
    "scheduler_failure",
    "data_integrity_failure",
];

/// Keys of `retry:` in its mapping form.
pub const RETRY_KEYWORDS: &[&str] = &["max", "when", "exit_codes"];

/// Keys of `allow_failure:` in its mapping form.
pub const ALLOW_FAILURE_KEYWORDS: &[&str] = &["exit_codes"];

/// Keys of a `needs:` entry (same pipeline, other pipeline, other project).
pub const NEED_KEYWORDS: &[&str] = &["job", "artifacts", "optional", "parallel", "pipeline", "project", "ref"];

/// Keys of `parallel:` in its mapping form.
pub const PARALLEL_KEYWORDS: &[&str] = &["matrix"];

/// Keys of `environment:` in its mapping form.
pub const ENVIRONMENT_KEYWORDS: &[&str] =
    &["name", "url", "action", "on_stop", "auto_stop_in", "kubernetes", "deployment_tier"];

/// `environment:action` values.
pub const ENVIRONMENT_ACTIONS: &[&str] = &["start", "prepare", "stop", "verify", "access"];

/// `environment:deployment_tier` values.
pub const DEPLOYMENT_TIERS: &[&str] = &["production", "staging", "testing", "development", "other"];

/// Keys of `artifacts:`.
pub const ARTIFACTS_KEYWORDS: &[&str] =
    &["paths", "exclude", "expire_in", "expose_as", "name", "public", "access", "reports", "untracked", "when"];

/// `artifacts:access` values.
pub const ARTIFACTS_ACCESS: &[&str] = &["all", "developer", "maintainer", "none"];

/// Keys of `artifacts:reports`.
pub const REPORT_KEYWORDS: &[&str] = &[
    "accessibility",
    "annotations",
    "api_fuzzing",
    "browser_performance",
    "coverage_report",
    "codequality",
    "container_scanning",
    "coverage_fuzzing",
    "cyclonedx",
    "dast",
    "dependency_scanning",
    "dotenv",
    "junit",
    "load_performance",
    "metrics",
    "requirements",
    "repository_xray",
    "sast",
    "secret_detection",
    "terraform",
    "cluster_image_scanning",
    "license_scanning",
    "performance",
];

/// Keys of one `cache:` entry.
pub const CACHE_KEYWORDS: &[&str] = &["key", "paths", "untracked", "unprotect", "when", "policy", "fallback_keys"];

/// `cache:policy` values.
pub const CACHE_POLICIES: &[&str] = &["pull-push", "pull", "push"];

/// Keys of `cache:key` in its mapping form.
pub const CACHE_KEY_KEYWORDS: &[&str] = &["files", "prefix"];

/// `artifacts:when` and `cache:when` values.
pub const UPLOAD_WHEN: &[&str] = &["on_success", "on_failure", "always"];

/// Keys of `image:` in its mapping form.
pub const IMAGE_KEYWORDS: &[&str] = &["name", "entrypoint", "ports", "pull_policy", "docker", "kubernetes"];

/// Keys of a `services:` entry in its mapping form.
pub const SERVICE_KEYWORDS: &[&str] =
    &["name", "entrypoint", "command", "alias", "ports", "variables", "pull_policy", "docker", "kubernetes"];

/// `image:pull_policy` values.
pub const PULL_POLICIES: &[&str] = &["always", "never", "if-not-present"];

/// Keys of `trigger:` in its mapping form.
pub const TRIGGER_KEYWORDS: &[&str] = &["project", "branch", "strategy", "forward", "include", "inputs"];

/// `trigger:strategy` values.
pub const TRIGGER_STRATEGIES: &[&str] = &["depend", "mirror"];

/// Keys of `trigger:forward`.
pub const FORWARD_KEYWORDS: &[&str] = &["yaml_variables", "pipeline_variables"];

/// Keys of one `trigger:include` entry.
pub const TRIGGER_INCLUDE_KEYWORDS: &[&str] = &["local", "project", "file", "ref", "template", "artifact", "job", "inputs"];

/// Keys of `release:`.
pub const RELEASE_KEYWORDS: &[&str] =
    &["tag_name", "tag_message", "name", "description", "ref", "released_at", "milestones", "assets"];

/// Keys of `hooks:`.
pub const HOOKS_KEYWORDS: &[&str] = &["pre_get_sources_script"];

/// Keys of a job variable in its mapping form.
pub const JOB_VARIABLE_KEYWORDS: &[&str] = &["value", "expand"];

/// Keys of a global variable in its mapping form.
pub const GLOBAL_VARIABLE_KEYWORDS: &[&str] = &["value", "expand", "description", "options"];

/// The closest candidate to `unknown` (case-insensitive optimal-string-alignment distance),
/// if it is close enough to be a likely typo: at most 1 edit for names up to 4 characters,
/// 2 up to 8, 3 beyond. Ties go to the earlier candidate.
pub fn suggest<'c>(unknown: &str, candidates: &[&'c str]) -> Option<&'c str> {
    crate::diagnostic::did_you_mean(unknown, candidates.iter().copied())
}

/// A `hint:` for an unknown key: did-you-mean if one is close, otherwise the allowed keys.
pub fn unknown_key_hint(unknown: &str, candidates: &[&str]) -> String {
    match suggest(unknown, candidates) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("allowed keys: {}", backticked(candidates)),
    }
}

/// `` `a`, `b`, `c` ``: values for messages and hints.
pub fn backticked(values: &[&str]) -> String {
    values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keywords() {
        assert_eq!(suggest("scrpit", JOB_KEYWORDS), Some("script"));
        assert_eq!(suggest("stages", JOB_KEYWORDS), Some("stage"));
        assert_eq!(suggest("Script", JOB_KEYWORDS), Some("script"));
        assert_eq!(suggest("artefacts", JOB_KEYWORDS), Some("artifacts"));
        assert_eq!(suggest("befor_script", JOB_KEYWORDS), Some("before_script"));
        assert_eq!(suggest("allow_failures", JOB_KEYWORDS), Some("allow_failure"));
        assert_eq!(suggest("stage", GLOBAL_KEYWORDS), Some("stages"));
    }

    #[test]
    fn does_not_suggest_far_names() {
        assert_eq!(suggest("deploy", JOB_KEYWORDS), None);
        assert_eq!(suggest("x", JOB_KEYWORDS), None);
        assert_eq!(suggest("", JOB_KEYWORDS), None);
    }

    #[test]
    fn hint_falls_back_to_the_allowed_keys() {
        assert_eq!(unknown_key_hint("polcy", CACHE_KEYWORDS), "did you mean `policy`?");
        assert_eq!(unknown_key_hint("zzz", PARALLEL_KEYWORDS), "allowed keys: `matrix`");
    }

    #[test]
    fn default_keywords_are_job_keywords() {
        for key in DEFAULT_KEYWORDS {
            assert!(JOB_KEYWORDS.contains(key), "{key}");
        }
        for key in DEPRECATED_GLOBAL_KEYWORDS {
            assert!(GLOBAL_KEYWORDS.contains(key) && DEFAULT_KEYWORDS.contains(key), "{key}");
        }
    }
}
