//! Our own description of "something that should start a pipeline", independent of which
//! forge sent it, and the key that recognises a redelivery of the same signal.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::ci::context::{GitRef, MergeRequest, PipelineSource};

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forge {
    /// A GitLab webhook.
    GitLab,
    /// A GitHub webhook.
    GitHub,
    /// A Gerrit webhooks-plugin delivery.
    Gerrit,
    /// Sluice's own polling of a mirror.
    Poll,
    /// A cron schedule.
    Schedule,
    /// Sluice's HTTP API.
    Api,
}

impl Forge {
    /// Lower-case name, as used in URLs and logs (`gitlab`, `github`, `gerrit`, `poll`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitLab => "gitlab",
            Forge::GitHub => "github",
            Forge::Gerrit => "gerrit",
            Forge::Poll => "poll",
            Forge::Schedule => "schedule",
            Forge::Api => "api",
        }
    }
}

impl fmt::Display for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, as far as pipelines care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// New commits on a branch (also a merged Gerrit change).
    Push,
    /// A tag was created or moved.
    TagPush,
    /// A merge request / pull request / Gerrit change was opened or got new commits.
    MergeRequest,
    /// Someone asked, in a comment, to run the merge request's pipeline again.
    Recheck,
    /// A cron schedule fired.
    Schedule,
    /// Someone asked through the API.
    Api,
}

/// Something that should start a pipeline, with everything the forge told us about it.
///
/// Branch and tag names, titles and commit messages are data from outside: they may reach a
/// job only as environment variables, never as shell text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Who sent it.
    pub source: Forge,
    /// The Sluice project it is for (the project of the endpoint that received it).
    pub project: String,
    /// What happened.
    pub kind: EventKind,
    /// The ref the pipeline runs for: the pushed branch or tag, the merge request's source
    /// branch, or for Gerrit changes the target branch. A GitHub recheck names no branch:
    /// it carries `pull/N/head` and empty merge request branches, for the daemon to fill in
    /// from the pull request's last recorded event. See [`Event::fetch_ref`] for what to fetch.
    pub git_ref: GitRef,
    /// The commit to run. `None` when the forge does not send it (a GitHub `issue_comment`):
    /// the daemon resolves [`Event::fetch_ref`] after fetching it.
    pub sha: Option<String>,
    /// Previous tip of the ref for pushes, as sent (all zeros for a new ref).
    pub before_sha: Option<String>,
    /// A ref to fetch from the forge before `sha` exists locally (`refs/pull/7/head`,
    /// `refs/merge-requests/1/head`, `refs/changes/34/1234/2`).
    pub fetch_ref: Option<String>,
    /// The merge request, for merge request events and rechecks.
    pub merge_request: Option<MergeRequest>,
    /// Extra variables the event defines, in order (Gerrit Trigger's `GERRIT_*`, GitLab's
    /// `CI_EXTERNAL_PULL_REQUEST_*` for GitHub pull requests).
    pub variables: Vec<(String, String)>,
    /// `CI_PIPELINE_SOURCE` of the pipeline this event starts.
    pub pipeline_source: PipelineSource,
    /// The full commit message, when the forge sent it.
    pub commit_message: Option<String>,
    /// The commit title (first line of the message), when the forge sent the message.
    pub commit_title: Option<String>,
    /// The commit author as `Name <email>` (or whichever part was sent); for a push whose
    /// commit the payload does not describe, the pusher.
    pub author: Option<String>,
}

impl Event {
    /// An event with only the required parts; the optional ones are empty.
    pub fn new(
        source: Forge,
        project: &str,
        kind: EventKind,
        git_ref: GitRef,
        pipeline_source: PipelineSource,
    ) -> Self {
        Event {
            source,
            project: project.to_owned(),
            kind,
            git_ref,
            sha: None,
            before_sha: None,
            fetch_ref: None,
            merge_request: None,
            variables: Vec::new(),
            pipeline_source,
            commit_message: None,
            commit_title: None,
            author: None,
        }
    }

    /// Sets the commit message and derives the title from its first line.
    pub(crate) fn set_commit_message(&mut self, message: &str) {
        self.commit_title = Some(message.lines().next().unwrap_or("").to_owned());
        self.commit_message = Some(message.to_owned());
    }
}

/// The longest delivery id taken from a header; longer ones fall back to the body hash so a
/// sender cannot make us store arbitrarily long keys.
const MAX_HEADER_KEY_LEN: usize = 128;

/// What makes two deliveries "the same delivery": the forge's delivery id when it sends one
/// that stays the same across retries, otherwise a SHA-256 of the body.
///
/// The string is prefixed with its origin (`gitlab:`, `github:`, `sha256:`) so keys from
/// different schemes never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupKey(String);

impl DedupKey {
    /// A key from a delivery-id header value, if it is usable (non-empty, at most 128
    /// printable ASCII characters).
    pub fn from_header(prefix: &str, value: &str) -> Option<DedupKey> {
        let value = value.trim();
        let usable = !value.is_empty()
            && value.len() <= MAX_HEADER_KEY_LEN
            && value.bytes().all(|b| b.is_ascii_graphic());
        usable.then(|| DedupKey(format!("{prefix}:{value}")))
    }

    /// A key from the SHA-256 of the raw body.
    pub fn body_hash(body: &[u8]) -> DedupKey {
        let digest = Sha256::digest(body);
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        DedupKey(format!("sha256:{hex}"))
    }

    /// The key of a ref tip seen by polling: `poll:<full ref>:<sha>`, so the same tip is
    /// recorded once however often it is seen.
    pub fn poll(full_ref: &str, sha: &str) -> DedupKey {
        DedupKey(format!("poll:{full_ref}:{sha}"))
    }

    /// The key of a schedule's fire: `schedule:<schedule key>:<fire time in unix ms>`, so a
    /// fire is recorded once however often the daemon restarts around it.
    pub fn schedule(schedule_key: &str, at_unix_millis: i64) -> DedupKey {
        DedupKey(format!("schedule:{schedule_key}:{at_unix_millis}"))
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_keys_are_prefixed_and_bounded() {
        assert_eq!(
            DedupKey::from_header("github", " abc-1 ").unwrap().as_str(),
            "github:abc-1"
        );
        assert_eq!(DedupKey::from_header("github", ""), None);
        assert_eq!(DedupKey::from_header("github", "a b"), None);
        assert_eq!(DedupKey::from_header("github", &"x".repeat(129)), None);
    }

    #[test]
    fn body_hash_is_sha256_hex() {
        assert_eq!(
            DedupKey::body_hash(b"abc").as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn commit_title_is_first_line() {
        let mut event = Event::new(
            Forge::Poll,
            "p",
            EventKind::Push,
            GitRef::Branch("main".into()),
            PipelineSource::Push,
        );
        event.set_commit_message("Fix it\n\nLonger text\n");
        assert_eq!(event.commit_title.as_deref(), Some("Fix it"));
    }
}
