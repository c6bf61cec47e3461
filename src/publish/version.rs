//! The VERSION gate as a pure decision: from the `VERSION` file at the pipeline's commit, the
//! `VERSION` at the before sha and the versions already published, decide whether this push
//! publishes.
//!
//! The rules (ARCHITECTURE.md, "Versioning rules"): a push that changes `VERSION` to a release
//! version greater than every published version publishes it; a pre-release (`3.2.4-dev`)
//! never publishes; a version that is not greater than the latest published one is refused
//! with a message naming both. "Greater" is SemVer 2.0.0 precedence
//! ([`Version::cmp_precedence`]), never the total order `semver` implements with `Ord`, which
//! also orders build metadata. This module reads no file and runs no git:
//! [`check`](super::check()) gathers its inputs.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A version as a `VERSION` file states it: SemVer 2.0.0 without build metadata.
///
/// There is deliberately no `Ord`: the only order that matters here is precedence
/// ([`Version::cmp_precedence`]). Equality is exact, which for versions without build
/// metadata is the same as equal precedence.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(semver::Version);

impl Version {
    /// Parses the text of a `VERSION` file: surrounding whitespace (a final newline) is
    /// allowed, and so is one leading `v` (`v1.2.3` is `1.2.3`).
    ///
    /// # Errors
    /// [`NotSemver`] with the text and the reason when the text is empty, is not SemVer 2.0.0,
    /// or carries build metadata (`1.2.3+build`): `+` is not legal in an OCI image tag, and
    /// build metadata does not count in precedence, so `1.2.3+a` could never be told apart from
    /// a published `1.2.3`.
    pub fn parse(text: &str) -> Result<Version, NotSemver> {
        let refuse = |why| NotSemver {
            text: text.to_owned(),
            why,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(refuse(NotSemverReason::Empty));
        }
        let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut version =
            semver::Version::parse(bare).map_err(|e| refuse(NotSemverReason::Syntax { problem: e.to_string() }))?;
        if !version.build.is_empty() {
            let metadata = version.build.as_str().to_owned();
            version.build = semver::BuildMetadata::EMPTY;
            return Err(refuse(NotSemverReason::BuildMetadata {
                metadata,
                without: version.to_string(),
            }));
        }
        Ok(Version(version))
    }

    /// Parses the bytes of a `VERSION` file as [`Version::parse`] does.
    ///
    /// # Errors
    /// As [`Version::parse`], and [`NotSemverReason::NotText`] for bytes that are not UTF-8.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Version, NotSemver> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Version::parse(text),
            Err(_) => Err(NotSemver {
                text: String::from_utf8_lossy(bytes).into_owned(),
                why: NotSemverReason::NotText,
            }),
        }
    }

    /// The published version a tag names: `tag` is `prefix` followed by a SemVer 2.0.0 version
    /// (exactly, no whitespace). `None` for any other tag, which is therefore ignored. Build
    /// metadata on a tag is dropped, since it does not count in precedence.
    pub fn from_tag(tag: &str, prefix: &str) -> Option<Version> {
        let mut version = semver::Version::parse(tag.strip_prefix(prefix)?).ok()?;
        version.build = semver::BuildMetadata::EMPTY;
        Some(Version(version))
    }

    /// SemVer 2.0.0 precedence: numeric major, minor, patch, then a pre-release below its
    /// release (`1.0.0-alpha < 1.0.0-beta < 1.0.0`), identifiers compared one by one.
    pub fn cmp_precedence(&self, other: &Version) -> Ordering {
        self.0.cmp_precedence(&other.0)
    }

    /// Whether this is a pre-release (`3.2.4-dev`, `1.0.0-rc.1`), which never publishes.
    pub fn is_prerelease(&self) -> bool {
        !self.0.pre.is_empty()
    }

    /// The underlying `semver` version.
    pub fn as_semver(&self) -> &semver::Version {
        &self.0
    }

    /// The smallest release above this version that a person would write: the release of a
    /// pre-release (`1.3.0-rc.1` → `1.3.0`), else the next patch. `None` past `u64::MAX`.
    fn next_release(&self) -> Option<Version> {
        let mut next = self.0.clone();
        if next.pre.is_empty() {
            next.patch = next.patch.checked_add(1)?;
        } else {
            next.pre = semver::Prerelease::EMPTY;
        }
        Some(Version(next))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Version {
    type Err = NotSemver;

    fn from_str(text: &str) -> Result<Version, NotSemver> {
        Version::parse(text)
    }
}

/// The versions named by `tags` that start with `prefix` (see [`Version::from_tag`]); other
/// tags are ignored. In the order of `tags`.
pub fn published_versions<'a>(tags: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<Version> {
    tags.into_iter()
        .filter_map(|tag| Version::from_tag(tag, prefix))
        .collect()
}

/// A `VERSION` whose text is not a version this gate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NotSemver {
    /// The file's text as read (lossily decoded when it is not UTF-8).
    pub text: String,
    /// What is wrong with it.
    pub why: NotSemverReason,
}

impl fmt::Display for NotSemver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = shown(self.text.trim());
        match &self.why {
            NotSemverReason::BuildMetadata { metadata, without } => write!(
                f,
                "VERSION `{shown}` has build metadata `+{metadata}`, which is not allowed: `+` is not legal in an \
                 OCI image tag, and build metadata does not count in version precedence; write `{without}`"
            ),
            why => write!(
                f,
                "VERSION `{shown}` is not a semantic version: {why}; expected MAJOR.MINOR.PATCH with an optional \
                 pre-release, such as `1.4.0` or `1.4.0-dev`"
            ),
        }
    }
}

/// Why a `VERSION` text is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSemverReason {
    /// Nothing but whitespace.
    Empty,
    /// Bytes that are not UTF-8 text.
    NotText,
    /// Not SemVer 2.0.0 syntax (`1.2`, `1.02.0`, `latest`).
    Syntax {
        /// What the SemVer parser found wrong.
        problem: String,
    },
    /// A valid version with build metadata (`1.2.3+build.5`).
    BuildMetadata {
        /// The metadata, without the `+`.
        metadata: String,
        /// The same version without it, to suggest.
        without: String,
    },
}

impl fmt::Display for NotSemverReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotSemverReason::Empty => f.write_str("the file is empty"),
            NotSemverReason::NotText => f.write_str("the file is not UTF-8 text"),
            NotSemverReason::Syntax { problem } => f.write_str(problem),
            NotSemverReason::BuildMetadata { metadata, .. } => write!(f, "build metadata `+{metadata}` is not allowed"),
        }
    }
}

/// The text of a refused VERSION as shown in a message: control characters escaped and at
/// most 40 characters, so that a binary or huge file still gives a one-line message.
fn shown(text: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            }
        })
        .collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// Why a VERSION does not publish although it changed or is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The version is not greater (by precedence) than the highest published one.
    NotGreater {
        /// The version at the commit.
        proposed: Version,
        /// The highest published version.
        latest: Version,
    },
    /// The `VERSION` text is not an accepted version.
    NotSemver(NotSemver),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotGreater { proposed, latest } => {
                write!(f, "VERSION `{proposed}` is not greater than the published `{latest}`")?;
                if proposed.cmp_precedence(latest) == Ordering::Equal {
                    f.write_str(": it is already published")?;
                }
                Ok(())
            }
            Refusal::NotSemver(not_semver) => not_semver.fmt(f),
        }
    }
}

/// What the gate decided for one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The version changed, is a release and is greater than every published version.
    Publish {
        /// The version to publish.
        version: Version,
    },
    /// The version changed to a pre-release (`3.2.4-dev`), which never publishes.
    SkipPrerelease {
        /// The pre-release.
        version: Version,
    },
    /// This push did not change `VERSION`.
    Unchanged {
        /// The version, as it was before the push.
        version: Version,
    },
    /// The version cannot be published.
    Refused {
        /// Why.
        reason: Refusal,
    },
}

impl Verdict {
    /// The verdict's name in `--json` output: `publish`, `skip-prerelease`, `unchanged` or
    /// `refused`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Publish { .. } => "publish",
            Verdict::SkipPrerelease { .. } => "skip-prerelease",
            Verdict::Unchanged { .. } => "unchanged",
            Verdict::Refused { .. } => "refused",
        }
    }
}

/// The verdict with the facts it was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The version at the commit; `None` when its `VERSION` is not an accepted version.
    pub version: Option<Version>,
    /// The version at the before sha, when there was one and it was a version.
    pub previous: Option<Version>,
    /// Whether this push changed `VERSION`. True when there is no previous version to compare
    /// with (no before sha, no `VERSION` there, or not a version there), and when the current
    /// `VERSION` is not a version.
    pub changed: bool,
    /// The highest published version by precedence, if any.
    pub published: Option<Version>,
    /// What to do.
    pub verdict: Verdict,
}

impl Decision {
    /// One line for people, naming the versions involved (no trailing period).
    pub fn message(&self) -> String {
        let latest = match &self.published {
            Some(latest) => format!("latest published: `{latest}`"),
            None => "nothing is published yet".to_owned(),
        };
        match &self.verdict {
            Verdict::Publish { version } => match &self.published {
                Some(latest) => format!("publish `{version}`: greater than the published `{latest}`"),
                None => format!("publish `{version}`: the first publication, nothing is published yet"),
            },
            Verdict::SkipPrerelease { version } => {
                format!("nothing to publish: `{version}` is a pre-release ({latest})")
            }
            Verdict::Unchanged { version } => format!("nothing to publish: VERSION is still `{version}` ({latest})"),
            Verdict::Refused { reason } => format!("refused: {reason}"),
        }
    }

    /// How to get past a refusal over a published version, if that is the verdict.
    pub fn hint(&self) -> Option<String> {
        let Verdict::Refused {
            reason: Refusal::NotGreater { latest, .. },
        } = &self.verdict
        else {
            return None;
        };
        Some(match latest.next_release() {
            Some(next) => format!("raise VERSION above `{latest}`, for example to `{next}`"),
            None => format!("raise VERSION above `{latest}`"),
        })
    }
}

/// Decides whether a push publishes.
///
/// `current` is the parsed `VERSION` at the pipeline's commit, `previous` the version at the
/// before sha (`None` when there is no before sha, or no valid `VERSION` there: the push then
/// counts as changing `VERSION`), `published` every published version (in any order).
///
/// # Guarantees
/// In this order: a `VERSION` that is not a version is refused; an unchanged one is
/// [`Verdict::Unchanged`] (even if published long ago, so later pushes do not fail); a changed
/// one that is not greater than the highest published version by precedence is refused, a
/// pre-release included (it could never become a publishable release); a changed pre-release
/// above it is skipped; a changed release above it (or with nothing published) publishes.
/// A `VERSION` absent at the commit is not decided here: there is no publication, and the
/// caller reports it ([`check`](super::check()) returns `None`).
pub fn decide(current: Result<Version, NotSemver>, previous: Option<Version>, published: &[Version]) -> Decision {
    let latest = published.iter().max_by(|a, b| a.cmp_precedence(b)).cloned();
    let version = match current {
        Ok(version) => version,
        Err(not_semver) => {
            let reason = Refusal::NotSemver(not_semver);
            return Decision {
                version: None,
                previous,
                changed: true,
                published: latest,
                verdict: Verdict::Refused { reason },
            };
        }
    };
    // With no before sha nothing says whether this push changed VERSION; a version equal to
    // the newest published one is then the release itself (a tag pipeline, a local plan), not
    // a regression.
    let already_published =
        previous.is_none() && latest.as_ref().is_some_and(|latest| version.cmp_precedence(latest) == Ordering::Equal);
    let changed = previous.as_ref() != Some(&version) && !already_published;
    let verdict = match &latest {
        _ if !changed => Verdict::Unchanged {
            version: version.clone(),
        },
        Some(latest) if version.cmp_precedence(latest) != Ordering::Greater => Verdict::Refused {
            reason: Refusal::NotGreater {
                proposed: version.clone(),
                latest: latest.clone(),
            },
        },
        _ if version.is_prerelease() => Verdict::SkipPrerelease {
            version: version.clone(),
        },
        _ => Verdict::Publish {
            version: version.clone(),
        },
    };
    Decision {
        version: Some(version),
        previous,
        changed,
        published: latest,
        verdict,
    }
}

#[cfg(test)]
mod tests;
