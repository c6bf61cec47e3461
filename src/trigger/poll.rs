//! Polling, the pure part: which watched refs of a freshly fetched mirror have a tip not seen
//! before, and the [`Event`] each one becomes. The loop that fetches and records lives in
//! [`crate::daemon::poll`].
//!
//! A ref is watched when its branch matches the project's `branches` or its tag matches
//! `tags`. A tip differing from the last one recorded (or a ref never seen) is a change;
//! deleted refs are not (they start no pipeline). The dedup key `poll:<ref>:<sha>` makes
//! recording the same tip twice harmless.

use super::event::{DedupKey, Event, EventKind, Forge};
use crate::ci::context::{GitRef, PipelineSource, ZERO_SHA};
use crate::config::ProjectConfig;

/// A watched ref whose tip moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    /// The full ref name.
    pub full_ref: String,
    /// The last tip recorded, `None` for a ref never seen.
    pub before: Option<String>,
    /// The new tip.
    pub sha: String,
}

/// The watched refs among `refs` (full name, tip) whose tip differs from `known(ref)`.
pub fn changed_refs(
    project: &ProjectConfig,
    refs: &[(String, String)],
    known: &mut dyn FnMut(&str) -> Option<String>,
) -> Vec<RefChange> {
    refs.iter()
        .filter(|(name, _)| watched(project, name).is_some())
        .filter_map(|(name, sha)| {
            let before = known(name);
            (before.as_deref() != Some(sha.as_str())).then(|| RefChange {
                full_ref: name.clone(),
                before,
                sha: sha.clone(),
            })
        })
        .collect()
}

/// The branch or tag a full ref name is, if the project watches it.
pub fn watched(project: &ProjectConfig, full_ref: &str) -> Option<GitRef> {
    if let Some(branch) = full_ref.strip_prefix("refs/heads/") {
        return project
            .branches
            .matches(branch)
            .then(|| GitRef::Branch(branch.to_owned()));
    }
    let tag = full_ref.strip_prefix("refs/tags/")?;
    project.tags.matches(tag).then(|| GitRef::Tag(tag.to_owned()))
}

/// The event a change becomes, with its commit's message and author when known.
pub fn event_for(
    project: &ProjectConfig,
    change: &RefChange,
    message: Option<&str>,
    author: Option<String>,
) -> Option<(Event, DedupKey)> {
    let git_ref = watched(project, &change.full_ref)?;
    let kind = match git_ref {
        GitRef::Branch(_) => EventKind::Push,
        GitRef::Tag(_) => EventKind::TagPush,
    };
    let mut event = Event::new(Forge::Poll, project.name.as_str(), kind, git_ref, PipelineSource::Push);
    event.sha = Some(change.sha.clone());
    event.before_sha = Some(change.before.clone().unwrap_or_else(|| ZERO_SHA.to_owned()));
    if let Some(message) = message {
        event.set_commit_message(message);
    }
    event.author = author;
    Some((event, DedupKey::poll(&change.full_ref, &change.sha)))
}
