//! How an [`Event`] is stored: the JSON payload of its row in the event queue, and the
//! row itself ([`NewEvent`]). The JSON field names are a contract with stored rows: add
//! fields with defaults, never rename one.

use serde::{Deserialize, Serialize};

use super::event::{DedupKey, Event, EventKind, Forge};
use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
use crate::store::{NewEvent, RefHead, Timestamp};

/// The stored form of an [`Event`].
#[derive(Serialize, Deserialize)]
struct Stored {
    source: String,
    project: String,
    kind: String,
    #[serde(rename = "ref")]
    git_ref: String,
    tag: bool,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    before_sha: Option<String>,
    #[serde(default)]
    fetch_ref: Option<String>,
    #[serde(default)]
    merge_request: Option<StoredMergeRequest>,
    #[serde(default)]
    variables: Vec<(String, String)>,
    pipeline_source: String,
    #[serde(default)]
    commit_message: Option<String>,
    #[serde(default)]
    commit_title: Option<String>,
    #[serde(default)]
    author: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredMergeRequest {
    iid: u64,
    title: String,
    source_branch: String,
    target_branch: String,
    #[serde(default)]
    diff_base_sha: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

impl Forge {
    const ALL: [Forge; 6] = [
        Forge::GitLab,
        Forge::GitHub,
        Forge::Gerrit,
        Forge::Poll,
        Forge::Schedule,
        Forge::Api,
    ];
}

impl EventKind {
    const ALL: [EventKind; 6] = [
        EventKind::Push,
        EventKind::TagPush,
        EventKind::MergeRequest,
        EventKind::Recheck,
        EventKind::Schedule,
        EventKind::Api,
    ];

    /// The word stored and logged: `push`, `tag_push`, `merge_request`, `recheck`,
    /// `schedule`, `api`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::TagPush => "tag_push",
            EventKind::MergeRequest => "merge_request",
            EventKind::Recheck => "recheck",
            EventKind::Schedule => "schedule",
            EventKind::Api => "api",
        }
    }
}

impl Event {
    /// The full name of the event's ref: `refs/heads/<branch>` or `refs/tags/<tag>`.
    pub fn full_ref(&self) -> String {
        match &self.git_ref {
            GitRef::Branch(name) => format!("refs/heads/{name}"),
            GitRef::Tag(name) => format!("refs/tags/{name}"),
        }
    }

    /// The event as stored in the queue's `payload` column.
    pub fn to_json(&self) -> serde_json::Value {
        let stored = Stored {
            source: self.source.as_str().to_owned(),
            project: self.project.clone(),
            kind: self.kind.as_str().to_owned(),
            git_ref: self.git_ref.name().to_owned(),
            tag: matches!(self.git_ref, GitRef::Tag(_)),
            sha: self.sha.clone(),
            before_sha: self.before_sha.clone(),
            fetch_ref: self.fetch_ref.clone(),
            merge_request: self.merge_request.as_ref().map(|mr| StoredMergeRequest {
                iid: mr.iid,
                title: mr.title.clone(),
                source_branch: mr.source_branch.clone(),
                target_branch: mr.target_branch.clone(),
                diff_base_sha: mr.diff_base_sha.clone(),
                labels: mr.labels.clone(),
            }),
            variables: self.variables.clone(),
            pipeline_source: self.pipeline_source.as_str().to_owned(),
            commit_message: self.commit_message.clone(),
            commit_title: self.commit_title.clone(),
            author: self.author.clone(),
        };
        serde_json::to_value(stored).unwrap_or(serde_json::Value::Null)
    }

    /// Reads an event back from its stored JSON.
    ///
    /// # Errors
    /// A description of what does not fit, when the JSON is not a stored event.
    pub fn from_json(value: &serde_json::Value) -> Result<Event, String> {
        let stored = Stored::deserialize(value).map_err(|e| format!("not a stored event: {e}"))?;
        let source = Forge::ALL
            .into_iter()
            .find(|f| f.as_str() == stored.source)
            .ok_or_else(|| format!("unknown event source `{}`", stored.source))?;
        let kind = EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == stored.kind)
            .ok_or_else(|| format!("unknown event kind `{}`", stored.kind))?;
        let pipeline_source: PipelineSource = stored.pipeline_source.parse()?;
        let git_ref = if stored.tag {
            GitRef::Tag(stored.git_ref)
        } else {
            GitRef::Branch(stored.git_ref)
        };
        Ok(Event {
            source,
            project: stored.project,
            kind,
            git_ref,
            sha: stored.sha,
            before_sha: stored.before_sha,
            fetch_ref: stored.fetch_ref,
            merge_request: stored.merge_request.map(|mr| MergeRequest {
                iid: mr.iid,
                title: mr.title,
                source_branch: mr.source_branch,
                target_branch: mr.target_branch,
                diff_base_sha: mr.diff_base_sha,
                labels: mr.labels,
            }),
            variables: stored.variables,
            pipeline_source,
            commit_message: stored.commit_message,
            commit_title: stored.commit_title,
            author: stored.author,
        })
    }

    /// The queue row recording this event under `key`, received at `now`.
    pub fn to_new_event(&self, key: &DedupKey, now: Timestamp) -> NewEvent {
        NewEvent {
            dedup_key: key.as_str().to_owned(),
            source: self.source.as_str().to_owned(),
            kind: self.kind.as_str().to_owned(),
            git_ref: self.full_ref(),
            sha: self.sha.clone(),
            before_sha: self.before_sha.clone(),
            fetch_ref: self.fetch_ref.clone(),
            payload: self.to_json(),
            received_at: now,
            ref_head: None,
        }
    }

    /// Like [`Event::to_new_event`], also moving the watched ref's last seen tip to the
    /// event's sha (polling records both in one transaction).
    pub fn to_new_event_moving_head(&self, key: &DedupKey, now: Timestamp) -> NewEvent {
        let mut new = self.to_new_event(key, now);
        new.ref_head = self.sha.clone().map(|sha| RefHead {
            git_ref: self.full_ref(),
            sha,
        });
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_survives_its_json_form() {
        let mut event = Event::new(
            Forge::GitHub,
            "demo",
            EventKind::MergeRequest,
            GitRef::Branch("feature".into()),
            PipelineSource::MergeRequestEvent,
        );
        event.sha = Some("abc".into());
        event.fetch_ref = Some("refs/pull/7/head".into());
        event.merge_request = Some(MergeRequest {
            iid: 7,
            title: "Add it".into(),
            source_branch: "feature".into(),
            target_branch: "main".into(),
            diff_base_sha: None,
            labels: vec!["x".into()],
        });
        event.variables = vec![("A".into(), "1".into())];
        event.set_commit_message("Title\n\nBody");
        let json = event.to_json();
        assert_eq!(json["ref"], "feature");
        assert_eq!(json["pipeline_source"], "merge_request_event");
        assert_eq!(Event::from_json(&json), Ok(event));
    }

    #[test]
    fn a_tag_event_keeps_its_tag_and_full_ref() {
        let event = Event::new(
            Forge::Poll,
            "demo",
            EventKind::TagPush,
            GitRef::Tag("v1".into()),
            PipelineSource::Push,
        );
        assert_eq!(event.full_ref(), "refs/tags/v1");
        assert_eq!(Event::from_json(&event.to_json()), Ok(event));
    }

    #[test]
    fn unknown_words_are_refused() {
        let mut json = Event::new(
            Forge::Poll,
            "demo",
            EventKind::Push,
            GitRef::Branch("main".into()),
            PipelineSource::Push,
        )
        .to_json();
        json["kind"] = "bogus".into();
        assert_eq!(Event::from_json(&json), Err("unknown event kind `bogus`".to_owned()));
    }
}
