//! The VERSION gate's decision as pipeline variables, so that a publish job can be gated with
//! `rules: - if: $SLUICE_PUBLISH == "true"`.

use super::version::{Decision, Verdict};

/// `SLUICE_VERSION`: the version at the commit (normalised: no `v`, no whitespace); empty when
/// `VERSION` is not a version.
pub const VERSION: &str = "SLUICE_VERSION";
/// `SLUICE_PUBLISH`: `true` when the verdict is to publish, else `false`.
pub const PUBLISH: &str = "SLUICE_PUBLISH";
/// `SLUICE_PUBLISHED_VERSION`: the highest published version; empty when none is.
pub const PUBLISHED_VERSION: &str = "SLUICE_PUBLISHED_VERSION";

/// The verdict's name: `publish`, `skip-prerelease`, `unchanged` or `refused` (a refused
/// version fails the publish template's `publish:refused` job).
pub const VERDICT: &str = "SLUICE_VERSION_VERDICT";

/// The verdict in words, naming both versions when refused.
pub const MESSAGE: &str = "SLUICE_VERSION_MESSAGE";

/// The variables a pipeline gets from `decision`, in this order: `SLUICE_VERSION`,
/// `SLUICE_PUBLISH`, `SLUICE_PUBLISHED_VERSION`.
pub fn publish_variables(decision: &Decision) -> Vec<(String, String)> {
    let text = |version: &Option<super::Version>| version.as_ref().map(ToString::to_string).unwrap_or_default();
    let publish = matches!(decision.verdict, Verdict::Publish { .. });
    vec![
        (VERSION.to_owned(), text(&decision.version)),
        (PUBLISH.to_owned(), publish.to_string()),
        (PUBLISHED_VERSION.to_owned(), text(&decision.published)),
        (VERDICT.to_owned(), decision.verdict.name().to_owned()),
        (MESSAGE.to_owned(), decision.message()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::version::{Version, decide};

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    /// The expected variables, named literally as the README documents them.
    fn expected(values: [&str; 3]) -> Vec<(String, String)> {
        let names = ["SLUICE_VERSION", "SLUICE_PUBLISH", "SLUICE_PUBLISHED_VERSION"];
        names
            .iter()
            .zip(values)
            .map(|(name, value)| (name.to_string(), value.to_owned()))
            .collect()
    }

    #[test]
    fn publish_sets_true_and_both_versions() {
        let decision = decide(Ok(v("1.3.0")), Some(v("1.2.0")), &[v("1.2.0"), v("1.1.0")]);
        assert_eq!(publish_variables(&decision)[..3], expected(["1.3.0", "true", "1.2.0"]));
    }

    #[test]
    fn first_publication_has_an_empty_published_version() {
        let decision = decide(Ok(v("v0.1.0\n")), None, &[]);
        assert_eq!(publish_variables(&decision)[..3], expected(["0.1.0", "true", ""]));
    }

    #[test]
    fn everything_but_publish_sets_false() {
        let cases = [
            decide(Ok(v("1.3.0-dev")), Some(v("1.2.0")), &[v("1.2.0")]),
            decide(Ok(v("1.2.0")), Some(v("1.2.0")), &[v("1.2.0")]),
            decide(Ok(v("1.1.0")), Some(v("1.2.0")), &[v("1.2.0")]),
        ];
        for decision in &cases {
            let version = decision.version.as_ref().unwrap().to_string();
            assert_eq!(
                publish_variables(decision)[..3],
                expected([&version, "false", "1.2.0"]),
                "{decision:?}"
            );
        }
    }

    #[test]
    fn the_verdict_and_its_message_are_variables_too() {
        let decision = decide(Ok(v("1.1.0")), Some(v("1.2.0")), &[v("1.2.0")]);
        let variables = publish_variables(&decision);
        assert_eq!(variables[3], ("SLUICE_VERSION_VERDICT".to_owned(), "refused".to_owned()));
        assert_eq!(variables[4].0, "SLUICE_VERSION_MESSAGE");
        assert!(variables[4].1.contains("1.1.0") && variables[4].1.contains("1.2.0"), "{variables:?}");
    }

    #[test]
    fn a_version_that_is_not_semver_leaves_the_version_empty() {
        let decision = decide(Version::parse("latest"), None, &[v("1.2.0")]);
        assert_eq!(publish_variables(&decision)[..3], expected(["", "false", "1.2.0"]));
    }
}
