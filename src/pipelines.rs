//! Sluice's built-in pipeline templates (the `pipelines/` folder), embedded in the binary so
//! that `include: template: Sluice/….gitlab-ci.yml` works wherever Sluice runs.

/// Every bundled template: (`include:template` name, contents).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("Sluice/Verify.gitlab-ci.yml", include_str!("../pipelines/verify.gitlab-ci.yml")),
    ("Sluice/Build.gitlab-ci.yml", include_str!("../pipelines/build.gitlab-ci.yml")),
    ("Sluice/Nightly.gitlab-ci.yml", include_str!("../pipelines/nightly.gitlab-ci.yml")),
    ("Sluice/Publish.gitlab-ci.yml", include_str!("../pipelines/publish.gitlab-ci.yml")),
];

/// The contents of the bundled template `name`, if Sluice has it.
pub fn template(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
