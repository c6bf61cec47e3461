//! The decision table of the VERSION gate, and the parsing and ordering it relies on.

use std::cmp::Ordering;

use super::*;

fn v(text: &str) -> Version {
    Version::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn vs(texts: &[&str]) -> Vec<Version> {
    texts.iter().map(|t| v(t)).collect()
}

/// Decides for VERSION text `current`, previous VERSION text `previous`, published `published`.
fn gate(current: &str, previous: Option<&str>, published: &[&str]) -> Decision {
    decide(Version::parse(current), previous.map(v), &vs(published))
}

// --- the decision table -------------------------------------------------------------------

#[test]
fn first_publication_publishes_with_nothing_published() {
    let decision = gate("1.0.0", None, &[]);
    assert_eq!(decision.verdict, Verdict::Publish { version: v("1.0.0") });
    assert!(decision.changed);
    assert_eq!(decision.published, None);
    assert_eq!(
        decision.message(),
        "publish `1.0.0`: the first publication, nothing is published yet"
    );
}

#[test]
fn a_new_version_file_publishes_when_the_before_sha_had_none() {
    // `previous` is None both for "no before sha" and "no VERSION at the before sha".
    let decision = gate("0.1.0", None, &[]);
    assert_eq!(decision.verdict.name(), "publish");
    assert!(decision.changed);
}

#[test]
fn a_bump_above_the_published_version_publishes() {
    let decision = gate("1.3.0", Some("1.2.0"), &["1.2.0", "1.1.0", "0.9.0"]);
    assert_eq!(decision.verdict, Verdict::Publish { version: v("1.3.0") });
    assert_eq!(decision.previous, Some(v("1.2.0")));
    assert_eq!(decision.published, Some(v("1.2.0")));
    assert!(decision.changed);
    assert_eq!(
        decision.message(),
        "publish `1.3.0`: greater than the published `1.2.0`"
    );
    assert_eq!(decision.hint(), None);
}

#[test]
fn a_bump_is_compared_with_the_highest_published_not_the_previous_version() {
    // VERSION went 1.1.0 → 1.2.0 but 1.5.0 was published from another branch.
    let decision = gate("1.2.0", Some("1.1.0"), &["1.1.0", "1.5.0"]);
    assert_eq!(
        decision.verdict,
        Verdict::Refused {
            reason: Refusal::NotGreater {
                proposed: v("1.2.0"),
                latest: v("1.5.0")
            }
        }
    );
}

#[test]
fn a_pre_release_above_the_published_version_is_skipped() {
    let decision = gate("3.2.4-dev", Some("3.2.3"), &["3.2.3"]);
    assert_eq!(
        decision.verdict,
        Verdict::SkipPrerelease {
            version: v("3.2.4-dev")
        }
    );
    assert_eq!(decision.verdict.name(), "skip-prerelease");
    assert_eq!(
        decision.message(),
        "nothing to publish: `3.2.4-dev` is a pre-release (latest published: `3.2.3`)"
    );
}

#[test]
fn a_first_pre_release_is_skipped() {
    let decision = gate("0.1.0-dev", None, &[]);
    assert_eq!(decision.verdict.name(), "skip-prerelease");
    assert_eq!(
        decision.message(),
        "nothing to publish: `0.1.0-dev` is a pre-release (nothing is published yet)"
    );
}

#[test]
fn a_pre_release_of_a_published_version_is_refused() {
    // 3.2.4-dev < 3.2.4: it could only ever become 3.2.4, which is taken.
    let decision = gate("3.2.4-dev", Some("3.2.4"), &["3.2.4"]);
    assert_eq!(
        decision.verdict,
        Verdict::Refused {
            reason: Refusal::NotGreater {
                proposed: v("3.2.4-dev"),
                latest: v("3.2.4")
            }
        }
    );
    assert_eq!(
        decision.hint().as_deref(),
        Some("raise VERSION above `3.2.4`, for example to `3.2.5`")
    );
}

#[test]
fn an_unchanged_version_does_not_publish_even_when_published_long_ago() {
    let decision = gate("1.2.0", Some("1.2.0"), &["1.2.0"]);
    assert_eq!(decision.verdict, Verdict::Unchanged { version: v("1.2.0") });
    assert!(!decision.changed);
    assert_eq!(
        decision.message(),
        "nothing to publish: VERSION is still `1.2.0` (latest published: `1.2.0`)"
    );
    // Unchanged wins over "not greater": pushes after a release must not fail.
    assert_eq!(gate("1.0.0", Some("1.0.0"), &["2.0.0"]).verdict.name(), "unchanged");
    assert_eq!(
        gate("1.3.0-dev", Some("1.3.0-dev"), &["1.2.0"]).verdict.name(),
        "unchanged"
    );
}

#[test]
fn an_unchanged_version_written_differently_is_unchanged() {
    let decision = decide(Version::parse("v1.2.0\n"), Some(v("  1.2.0 ")), &[]);
    assert_eq!(decision.verdict, Verdict::Unchanged { version: v("1.2.0") });
}

#[test]
fn a_regression_is_refused_naming_both_versions() {
    let decision = gate("1.1.0", Some("1.2.0"), &["1.2.0"]);
    assert_eq!(
        decision.verdict,
        Verdict::Refused {
            reason: Refusal::NotGreater {
                proposed: v("1.1.0"),
                latest: v("1.2.0")
            }
        }
    );
    assert_eq!(decision.verdict.name(), "refused");
    assert_eq!(
        decision.message(),
        "refused: VERSION `1.1.0` is not greater than the published `1.2.0`"
    );
    assert_eq!(
        decision.hint().as_deref(),
        Some("raise VERSION above `1.2.0`, for example to `1.2.1`")
    );
}

#[test]
fn a_version_equal_to_the_published_one_is_refused() {
    // VERSION changed (1.1.0 → 1.2.0) but 1.2.0 is already out.
    let decision = gate("1.2.0", Some("1.1.0"), &["1.2.0"]);
    assert_eq!(
        decision.verdict,
        Verdict::Refused {
            reason: Refusal::NotGreater {
                proposed: v("1.2.0"),
                latest: v("1.2.0")
            }
        }
    );
    assert_eq!(
        decision.message(),
        "refused: VERSION `1.2.0` is not greater than the published `1.2.0`: it is already published"
    );
}

#[test]
fn the_hint_above_a_published_pre_release_is_its_release() {
    let decision = gate("1.0.0-alpha", Some("0.9.0"), &["1.0.0-beta"]);
    assert_eq!(
        decision.hint().as_deref(),
        Some("raise VERSION above `1.0.0-beta`, for example to `1.0.0`")
    );
}

#[test]
fn a_version_that_is_not_semver_is_refused_with_the_text_and_what_is_expected() {
    let decision = gate("latest", Some("1.0.0"), &["1.0.0"]);
    let Verdict::Refused {
        reason: Refusal::NotSemver(not_semver),
    } = &decision.verdict
    else {
        panic!("{decision:?}");
    };
    assert_eq!(not_semver.text, "latest");
    assert!(
        matches!(not_semver.why, NotSemverReason::Syntax { .. }),
        "{not_semver:?}"
    );
    assert_eq!(decision.version, None);
    assert_eq!(decision.published, Some(v("1.0.0")));
    let message = decision.message();
    assert!(
        message.starts_with("refused: VERSION `latest` is not a semantic version: "),
        "{message}"
    );
    assert!(
        message.ends_with("expected MAJOR.MINOR.PATCH with an optional pre-release, such as `1.4.0` or `1.4.0-dev`"),
        "{message}"
    );
    // Not semver is refused even when nothing else would matter.
    assert_eq!(gate("1.2", None, &[]).verdict.name(), "refused");
}

#[test]
fn versions_that_are_not_semver() {
    for text in [
        "",
        "  \n",
        "1.2",
        "1",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "latest",
        "V1.2.3",
        "vv1.2.3",
        "v 1.2.3",
        "1.2.3-",
        "1.2.3 1.2.4",
        "1.2.3\n1.2.4",
        "=1.2.3",
        "^1.2.3",
    ] {
        let error = Version::parse(text).expect_err(text);
        assert_eq!(error.text, text);
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(Version::parse("").unwrap_err().why, NotSemverReason::Empty);
    assert_eq!(
        Version::parse_bytes(b"1.2.3\xff").unwrap_err().why,
        NotSemverReason::NotText
    );
}

#[test]
fn a_leading_v_is_allowed() {
    assert_eq!(v("v1.2.3"), v("1.2.3"));
    assert_eq!(v("v1.2.3").to_string(), "1.2.3");
    assert_eq!(
        gate("v2.0.0", Some("v1.0.0"), &["1.0.0"]).verdict,
        Verdict::Publish { version: v("2.0.0") }
    );
}

#[test]
fn surrounding_whitespace_is_allowed() {
    for text in ["1.2.3\n", "  1.2.3  ", "\t1.2.3\r\n", "\nv1.2.3\n\n"] {
        assert_eq!(v(text), v("1.2.3"), "{text:?}");
    }
}

#[test]
fn build_metadata_is_refused_saying_why() {
    let error = Version::parse("1.2.3+build.5\n").unwrap_err();
    assert_eq!(
        error.why,
        NotSemverReason::BuildMetadata {
            metadata: "build.5".to_owned(),
            without: "1.2.3".to_owned()
        }
    );
    let message = error.to_string();
    assert!(message.contains("`1.2.3+build.5`"), "{message}");
    assert!(message.contains("not legal in an OCI image tag"), "{message}");
    assert!(message.contains("does not count in version precedence"), "{message}");
    assert!(message.ends_with("write `1.2.3`"), "{message}");
    assert_eq!(
        gate("1.3.0+sha.abc", Some("1.2.0"), &["1.2.0"]).verdict.name(),
        "refused"
    );
}

#[test]
fn a_huge_or_binary_version_file_gives_a_one_line_message() {
    let text = format!("{}\u{7}\n{}", "9".repeat(30), "x".repeat(1000));
    let message = Version::parse(&text).unwrap_err().to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(message.contains("\\u{7}") && message.contains('…'), "{message}");
    assert!(message.len() < 400, "{message}");
}

// --- precedence, not Ord ------------------------------------------------------------------

#[test]
fn pre_releases_order_below_their_release() {
    let ordered = vs(&[
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]);
    for pair in ordered.windows(2) {
        assert_eq!(
            pair[0].cmp_precedence(&pair[1]),
            Ordering::Less,
            "{} < {}",
            pair[0],
            pair[1]
        );
        assert_eq!(pair[1].cmp_precedence(&pair[0]), Ordering::Greater);
    }
    assert_eq!(
        v("1.10.0").cmp_precedence(&v("1.9.0")),
        Ordering::Greater,
        "numeric, not text"
    );
}

#[test]
fn the_highest_published_is_chosen_by_precedence() {
    let decision = gate("1.0.0", None, &["1.0.0-beta", "1.0.0-alpha", "0.9.9"]);
    assert_eq!(decision.published, Some(v("1.0.0-beta")));
    assert_eq!(decision.verdict, Verdict::Publish { version: v("1.0.0") });
    assert_eq!(
        gate("1.0.0-beta", Some("0.9.9"), &["1.0.0-alpha"]).verdict.name(),
        "skip-prerelease"
    );
}

#[test]
fn build_metadata_on_tags_does_not_count() {
    // semver's Ord orders `1.0.0+b` above `1.0.0+a` and both above `1.0.0`; precedence makes
    // them equal, so a published `v1.0.0+a` tag means 1.0.0 is published.
    let (a, b) = (
        semver::Version::parse("1.0.0+a").unwrap(),
        semver::Version::parse("1.0.0+b").unwrap(),
    );
    assert_eq!(a.cmp(&b), Ordering::Less);
    assert_eq!(a.cmp_precedence(&b), Ordering::Equal);
    let published = published_versions(["v1.0.0+a", "v1.0.0+b"], "v");
    assert_eq!(published, vs(&["1.0.0", "1.0.0"]));
    let decision = decide(Ok(v("1.0.0")), Some(v("0.9.0")), &published);
    assert_eq!(
        decision.verdict,
        Verdict::Refused {
            reason: Refusal::NotGreater {
                proposed: v("1.0.0"),
                latest: v("1.0.0")
            }
        }
    );
    assert_eq!(
        decide(Ok(v("1.0.1")), Some(v("0.9.0")), &published).verdict.name(),
        "publish"
    );
}

// --- published versions from tags ---------------------------------------------------------

#[test]
fn tags_with_the_prefix_are_published_versions_and_other_tags_are_ignored() {
    let tags = [
        "v1.0.0",
        "v1.1.0-rc.1",
        "v2",
        "release-3.0.0",
        "latest",
        "v1.2.3 ",
        "1.5.0",
        "vv1.0.0",
        "v01.0.0",
    ];
    assert_eq!(published_versions(tags, "v"), vs(&["1.0.0", "1.1.0-rc.1"]));
    assert_eq!(published_versions(tags, "release-"), vs(&["3.0.0"]));
    assert_eq!(published_versions(tags, ""), vs(&["1.5.0"]));
    assert_eq!(
        published_versions(["app/v2.0.0", "other/v3.0.0"], "app/v"),
        vs(&["2.0.0"])
    );
}
