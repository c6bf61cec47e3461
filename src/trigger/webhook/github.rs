//! GitHub repository webhooks: `X-Hub-Signature-256` over the raw body (JSON or
//! form-encoded `payload=`), then `push`, `pull_request` (opened, synchronize, reopened) and
//! recheck `issue_comment`s become events; `ping` and everything else is ignored.

use serde::Deserialize;

use super::signature::verify_github;
use super::{Delivery, Endpoint, Outcome, WebhookError, is_zero_sha, person, shown};
use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
use crate::trigger::comment::is_recheck;
use crate::trigger::event::{DedupKey, Event, EventKind, Forge};

/// Verifies and parses one GitHub delivery.
///
/// # Errors
/// [`WebhookError::TooLarge`], then [`WebhookError::Disabled`] or
/// [`WebhookError::Unauthorized`], then [`WebhookError::BadRequest`] for a malformed body of
/// a supported event.
pub fn receive(endpoint: &Endpoint, delivery: &Delivery<'_>) -> Result<Outcome, WebhookError> {
    let secret = endpoint.admit(delivery)?;
    let headers = delivery.headers;
    verify_github(secret, headers.header("X-Hub-Signature-256"), delivery.body)?;

    let key = headers
        .header("X-GitHub-Delivery")
        .and_then(|v| DedupKey::from_header("github", v))
        .unwrap_or_else(|| DedupKey::body_hash(delivery.body));
    let kind = headers
        .header("X-GitHub-Event")
        .ok_or_else(|| WebhookError::BadRequest {
            reason: "missing X-GitHub-Event header".to_owned(),
        })?;
    if !matches!(kind, "push" | "pull_request" | "issue_comment") {
        let reason = match kind {
            "ping" => "ping".to_owned(),
            other => format!("GitHub event `{}` is not acted on", shown(other)),
        };
        return Ok(Outcome::ignored(reason));
    }
    let json = payload_json(delivery)?;
    let project = endpoint.project.as_str();
    let handled = match kind {
        "push" => push(project, parse(&json, "push")?),
        "pull_request" => pull_request(project, parse(&json, "pull_request")?),
        _ => issue_comment(endpoint, parse(&json, "issue_comment")?),
    }?;
    Ok(match handled {
        Ok(event) => Outcome::Event(*event, key),
        Err(reason) => Outcome::Ignored { reason },
    })
}

/// An event, or the reason it is ignored.
type Handled = Result<Box<Event>, String>;

/// The JSON document: the body itself, or the `payload` field of a form-encoded body (the
/// signature was checked over the raw bytes before this).
fn payload_json(delivery: &Delivery<'_>) -> Result<Vec<u8>, WebhookError> {
    let form = delivery.headers.header("Content-Type").is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !form {
        return Ok(delivery.body.to_vec());
    }
    form_urlencoded::parse(delivery.body)
        .find(|(name, _)| name == "payload")
        .map(|(_, value)| value.into_owned().into_bytes())
        .ok_or_else(|| WebhookError::BadRequest {
            reason: "form-encoded delivery without a `payload` field".to_owned(),
        })
}

fn parse<'de, T: Deserialize<'de>>(json: &'de [u8], what: &str) -> Result<T, WebhookError> {
    super::parse_json(json, what)
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    before: Option<String>,
    after: String,
    #[serde(default)]
    deleted: bool,
    head_commit: Option<HeadCommit>,
    pusher: Option<Pusher>,
}

#[derive(Deserialize)]
struct HeadCommit {
    id: String,
    message: Option<String>,
    author: Option<CommitAuthor>,
}

#[derive(Deserialize)]
struct CommitAuthor {
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct Pusher {
    name: Option<String>,
    email: Option<String>,
}

fn push(project: &str, push: Push) -> Result<Handled, WebhookError> {
    let (git_ref, kind) = if let Some(branch) = push.git_ref.strip_prefix("refs/heads/") {
        (GitRef::Branch(branch.to_owned()), EventKind::Push)
    } else if let Some(tag) = push.git_ref.strip_prefix("refs/tags/") {
        (GitRef::Tag(tag.to_owned()), EventKind::TagPush)
    } else {
        return Ok(Err(format!(
            "push to `{}`, neither a branch nor a tag",
            shown(&push.git_ref)
        )));
    };
    if push.deleted || is_zero_sha(&push.after) {
        return Ok(Err(format!("`{}` was deleted", shown(&push.git_ref))));
    }
    let mut event = Event::new(Forge::GitHub, project, kind, git_ref, PipelineSource::Push);
    event.before_sha = push.before;
    match push.head_commit.filter(|c| c.id == push.after) {
        Some(commit) => {
            if let Some(message) = &commit.message {
                event.set_commit_message(message);
            }
            event.author = commit
                .author
                .and_then(|a| person(a.name.as_deref(), a.email.as_deref()));
        }
        None => {
            event.author = push
                .pusher
                .and_then(|p| person(p.name.as_deref(), p.email.as_deref()))
        }
    }
    event.sha = Some(push.after);
    Ok(Ok(Box::new(event)))
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    number: u64,
    pull_request: PullRequest,
}

#[derive(Deserialize)]
struct PullRequest {
    title: String,
    head: Branch,
    base: Branch,
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
    repo: Option<Repo>,
}

#[derive(Deserialize)]
struct Repo {
    full_name: String,
}

#[derive(Deserialize)]
struct Label {
    name: String,
}

fn pull_request(project: &str, event: PullRequestEvent) -> Result<Handled, WebhookError> {
    if !matches!(event.action.as_str(), "opened" | "synchronize" | "reopened") {
        return Ok(Err(format!(
            "pull request action `{}` is not acted on",
            shown(&event.action)
        )));
    }
    let pr = event.pull_request;
    let n = event.number;
    let mut out = Event::new(
        Forge::GitHub,
        project,
        EventKind::MergeRequest,
        GitRef::Branch(pr.head.name.clone()),
        PipelineSource::MergeRequestEvent,
    );
    out.fetch_ref = Some(format!("refs/pull/{n}/head"));
    // What GitLab defines for external (GitHub) pull request pipelines.
    let repo = |b: &Branch| {
        b.repo
            .as_ref()
            .map(|r| r.full_name.clone())
            .unwrap_or_default()
    };
    out.variables = vec![
        ("CI_EXTERNAL_PULL_REQUEST_IID".to_owned(), n.to_string()),
        (
            "CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY".to_owned(),
            repo(&pr.head),
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_TARGET_REPOSITORY".to_owned(),
            repo(&pr.base),
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME".to_owned(),
            pr.head.name.clone(),
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA".to_owned(),
            pr.head.sha.clone(),
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME".to_owned(),
            pr.base.name.clone(),
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_SHA".to_owned(),
            pr.base.sha.clone(),
        ),
    ];
    out.sha = Some(pr.head.sha);
    out.merge_request = Some(MergeRequest {
        iid: n,
        title: pr.title,
        source_branch: pr.head.name,
        target_branch: pr.base.name,
        diff_base_sha: None,
        labels: pr.labels.into_iter().map(|l| l.name).collect(),
    });
    Ok(Ok(Box::new(out)))
}

#[derive(Deserialize)]
struct IssueCommentEvent {
    action: String,
    issue: Issue,
    comment: Comment,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    title: String,
    state: Option<String>,
    /// Present (an object of URLs) only when the issue is a pull request.
    pull_request: Option<serde_json::Value>,
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Deserialize)]
struct Comment {
    body: String,
}

fn issue_comment(endpoint: &Endpoint, event: IssueCommentEvent) -> Result<Handled, WebhookError> {
    if event.action != "created" {
        return Ok(Err(format!(
            "comment action `{}` is not acted on",
            shown(&event.action)
        )));
    }
    let issue = event.issue;
    if issue.pull_request.is_none() {
        return Ok(Err("comment on an issue, not a pull request".to_owned()));
    }
    if !is_recheck(&endpoint.recheck, &event.comment.body) {
        return Ok(Err("comment does not match the recheck pattern".to_owned()));
    }
    if let Some(state) = issue.state.as_deref().filter(|s| *s != "open") {
        return Ok(Err(format!("recheck on a {} pull request", shown(state))));
    }
    let n = issue.number;
    // The payload names neither the head branch nor its sha: the daemon fetches `fetch_ref`
    // and takes branch names from the pull request's last recorded event (or the API).
    let head = format!("pull/{n}/head");
    let mut out = Event::new(
        Forge::GitHub,
        &endpoint.project,
        EventKind::Recheck,
        GitRef::Branch(head),
        PipelineSource::MergeRequestEvent,
    );
    out.fetch_ref = Some(format!("refs/pull/{n}/head"));
    out.merge_request = Some(MergeRequest {
        iid: n,
        title: issue.title,
        source_branch: String::new(),
        target_branch: String::new(),
        diff_base_sha: None,
        labels: issue.labels.into_iter().map(|l| l.name).collect(),
    });
    Ok(Ok(Box::new(out)))
}
