//! GitLab project webhooks: `X-Gitlab-Token` (constant time) and, when a signing token is
//! configured, the Standard Webhooks `webhook-signature`; then `Push Hook`, `Tag Push Hook`,
//! `Merge Request Hook` and recheck `Note Hook`s become events. Other event types are ignored.

use std::time::SystemTime;

use serde::Deserialize;

use super::signature::{token_matches, verify_standard_webhook};
use super::{Delivery, Endpoint, Outcome, WebhookError, is_zero_sha, parse_json, person, shown};
use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
use crate::trigger::comment::is_recheck;
use crate::trigger::event::{DedupKey, Event, EventKind, Forge};

/// Verifies and parses one GitLab delivery.
///
/// # Errors
/// [`WebhookError::TooLarge`], then [`WebhookError::Disabled`] or
/// [`WebhookError::Unauthorized`] (token, then signature), then
/// [`WebhookError::BadRequest`] for a malformed body of a supported event.
pub fn receive(
    endpoint: &Endpoint,
    delivery: &Delivery<'_>,
    now: SystemTime,
) -> Result<Outcome, WebhookError> {
    let secret = endpoint.admit(delivery)?;
    let headers = delivery.headers;
    let token = headers
        .header("X-Gitlab-Token")
        .ok_or_else(|| WebhookError::Unauthorized {
            reason: "missing X-Gitlab-Token header".to_owned(),
        })?;
    if !token_matches(secret, token.as_bytes()) {
        return Err(WebhookError::Unauthorized {
            reason: "X-Gitlab-Token does not match".to_owned(),
        });
    }
    if let Some(signing_token) = &endpoint.signing_token {
        verify_standard_webhook(signing_token, headers, delivery.body, now)?;
    }

    let key = ["Idempotency-Key", "X-Gitlab-Event-UUID"]
        .iter()
        .find_map(|name| {
            headers
                .header(name)
                .and_then(|v| DedupKey::from_header("gitlab", v))
        })
        .unwrap_or_else(|| DedupKey::body_hash(delivery.body));
    let kind = headers
        .header("X-Gitlab-Event")
        .ok_or_else(|| WebhookError::BadRequest {
            reason: "missing X-Gitlab-Event header".to_owned(),
        })?;
    let project = endpoint.project.as_str();
    let outcome = match kind {
        "Push Hook" => push(project, parse_json(delivery.body, "Push Hook")?, false),
        "Tag Push Hook" => push(project, parse_json(delivery.body, "Tag Push Hook")?, true),
        "Merge Request Hook" => {
            merge_request(project, parse_json(delivery.body, "Merge Request Hook")?)
        }
        "Note Hook" => note(endpoint, parse_json(delivery.body, "Note Hook")?),
        other => {
            return Ok(Outcome::ignored(format!(
                "GitLab event `{}` is not acted on",
                shown(other)
            )));
        }
    }?;
    Ok(match outcome {
        Handled::Event(event) => Outcome::Event(*event, key),
        Handled::Ignored(reason) => Outcome::Ignored { reason },
    })
}

/// A parsed delivery before its dedup key is attached.
enum Handled {
    Event(Box<Event>),
    Ignored(String),
}

#[derive(Deserialize)]
struct PushHook {
    #[serde(rename = "ref")]
    git_ref: String,
    before: Option<String>,
    after: String,
    checkout_sha: Option<String>,
    user_name: Option<String>,
    user_email: Option<String>,
    #[serde(default)]
    commits: Vec<Commit>,
}

#[derive(Deserialize)]
struct Commit {
    id: String,
    message: Option<String>,
    author: Option<Author>,
}

#[derive(Deserialize)]
struct Author {
    name: Option<String>,
    email: Option<String>,
}

fn push(project: &str, hook: PushHook, tag: bool) -> Result<Handled, WebhookError> {
    let (prefix, what) = if tag {
        ("refs/tags/", "tag")
    } else {
        ("refs/heads/", "branch")
    };
    let name = hook
        .git_ref
        .strip_prefix(prefix)
        .ok_or_else(|| WebhookError::BadRequest {
            reason: format!("ref `{}` is not a {what}", shown(&hook.git_ref)),
        })?;
    if is_zero_sha(&hook.after) {
        return Ok(Handled::Ignored(format!(
            "{what} `{}` was deleted",
            shown(name)
        )));
    }
    let (git_ref, kind) = if tag {
        (GitRef::Tag(name.to_owned()), EventKind::TagPush)
    } else {
        (GitRef::Branch(name.to_owned()), EventKind::Push)
    };
    let mut event = Event::new(Forge::GitLab, project, kind, git_ref, PipelineSource::Push);
    // For an annotated tag `after` is the tag object; `checkout_sha` is the commit.
    let sha = hook
        .checkout_sha
        .filter(|s| !s.is_empty())
        .unwrap_or(hook.after);
    event.before_sha = hook.before;
    match hook.commits.iter().find(|c| c.id == sha) {
        Some(commit) => {
            if let Some(message) = &commit.message {
                event.set_commit_message(message);
            }
            event.author = commit
                .author
                .as_ref()
                .and_then(|a| person(a.name.as_deref(), a.email.as_deref()));
        }
        None => event.author = person(hook.user_name.as_deref(), hook.user_email.as_deref()),
    }
    event.sha = Some(sha);
    Ok(Handled::Event(Box::new(event)))
}

#[derive(Deserialize)]
struct MergeRequestHook {
    object_attributes: MergeRequestAttributes,
    #[serde(default)]
    labels: Option<Vec<Label>>,
}

#[derive(Deserialize)]
struct MergeRequestAttributes {
    iid: u64,
    title: String,
    source_branch: String,
    target_branch: String,
    action: Option<String>,
    oldrev: Option<String>,
    last_commit: Option<LastCommit>,
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Deserialize)]
struct LastCommit {
    id: String,
    message: Option<String>,
    author: Option<Author>,
}

#[derive(Deserialize)]
struct Label {
    title: String,
}

fn merge_request(project: &str, hook: MergeRequestHook) -> Result<Handled, WebhookError> {
    let attrs = hook.object_attributes;
    let action = attrs.action.as_deref().unwrap_or("");
    let new_commits = attrs.oldrev.as_deref().is_some_and(|r| !r.is_empty());
    match action {
        "open" | "reopen" => {}
        "update" if new_commits => {}
        "update" => {
            return Ok(Handled::Ignored(
                "merge request updated without new commits".to_owned(),
            ));
        }
        other => {
            return Ok(Handled::Ignored(format!(
                "merge request action `{}` is not acted on",
                shown(other)
            )));
        }
    }
    let labels = hook.labels.unwrap_or(attrs.labels);
    let mr = MergeRequest {
        iid: attrs.iid,
        title: attrs.title,
        source_branch: attrs.source_branch,
        target_branch: attrs.target_branch,
        diff_base_sha: None,
        labels: labels.into_iter().map(|l| l.title).collect(),
    };
    let last_commit = attrs.last_commit.ok_or_else(|| WebhookError::BadRequest {
        reason: "Merge Request Hook: missing `object_attributes.last_commit`".to_owned(),
    })?;
    Ok(Handled::Event(Box::new(mr_event(
        project,
        EventKind::MergeRequest,
        mr,
        last_commit,
    ))))
}

/// An event for merge request `mr` at `commit` (open/update or recheck).
fn mr_event(project: &str, kind: EventKind, mr: MergeRequest, commit: LastCommit) -> Event {
    let git_ref = GitRef::Branch(mr.source_branch.clone());
    let mut event = Event::new(
        Forge::GitLab,
        project,
        kind,
        git_ref,
        PipelineSource::MergeRequestEvent,
    );
    // The head ref exists in the target project even when the source branch is in a fork.
    event.fetch_ref = Some(format!("refs/merge-requests/{}/head", mr.iid));
    if let Some(message) = &commit.message {
        event.set_commit_message(message);
    }
    event.author = commit
        .author
        .as_ref()
        .and_then(|a| person(a.name.as_deref(), a.email.as_deref()));
    event.sha = Some(commit.id);
    event.merge_request = Some(mr);
    event
}

#[derive(Deserialize)]
struct NoteHook {
    object_attributes: NoteAttributes,
    merge_request: Option<NoteMergeRequest>,
}

#[derive(Deserialize)]
struct NoteAttributes {
    note: String,
    noteable_type: String,
    action: Option<String>,
    #[serde(default)]
    system: bool,
}

#[derive(Deserialize)]
struct NoteMergeRequest {
    iid: u64,
    title: String,
    source_branch: String,
    target_branch: String,
    state: Option<String>,
    last_commit: Option<LastCommit>,
    #[serde(default)]
    labels: Vec<Label>,
}

fn note(endpoint: &Endpoint, hook: NoteHook) -> Result<Handled, WebhookError> {
    let attrs = hook.object_attributes;
    if attrs.noteable_type != "MergeRequest" {
        return Ok(Handled::Ignored(format!(
            "comment on a {}, not a merge request",
            shown(&attrs.noteable_type)
        )));
    }
    if attrs.system || attrs.action.as_deref().is_some_and(|a| a != "create") {
        return Ok(Handled::Ignored("not a new comment by a person".to_owned()));
    }
    if !is_recheck(&endpoint.recheck, &attrs.note) {
        return Ok(Handled::Ignored(
            "comment does not match the recheck pattern".to_owned(),
        ));
    }
    let mr = hook.merge_request.ok_or_else(|| WebhookError::BadRequest {
        reason: "Note Hook on a merge request without `merge_request`".to_owned(),
    })?;
    if let Some(state) = mr.state.as_deref().filter(|s| *s != "opened") {
        return Ok(Handled::Ignored(format!(
            "recheck on a {} merge request",
            shown(state)
        )));
    }
    let last_commit = mr.last_commit.ok_or_else(|| WebhookError::BadRequest {
        reason: "Note Hook: missing `merge_request.last_commit`".to_owned(),
    })?;
    let request = MergeRequest {
        iid: mr.iid,
        title: mr.title,
        source_branch: mr.source_branch,
        target_branch: mr.target_branch,
        diff_base_sha: None,
        labels: mr.labels.into_iter().map(|l| l.title).collect(),
    };
    Ok(Handled::Event(Box::new(mr_event(
        &endpoint.project,
        EventKind::Recheck,
        request,
        last_commit,
    ))))
}
