//! Gerrit webhooks-plugin deliveries: the plugin can neither sign nor add headers, so the
//! endpoint is authenticated by a secret `?token=` in its URL (constant time; the query
//! string is never logged). The body is a stream-events JSON object; `patchset-created`,
//! `change-merged`, recheck `comment-added` and `ref-updated` become events with the
//! `GERRIT_*` variables Jenkins' Gerrit Trigger sets. Redeliveries repeat the same body, so
//! the dedup key is the body's SHA-256.

use serde::Deserialize;

use super::signature::token_matches;
use super::{Delivery, Endpoint, Outcome, WebhookError, is_zero_sha, parse_json, person, shown};
use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
use crate::trigger::comment::{is_recheck, strip_gerrit_header};
use crate::trigger::event::{DedupKey, Event, EventKind, Forge};

/// Verifies and parses one Gerrit delivery.
///
/// # Errors
/// [`WebhookError::TooLarge`], then [`WebhookError::Disabled`] or
/// [`WebhookError::Unauthorized`] (missing or wrong `token`), then
/// [`WebhookError::BadRequest`] for a body that is not a Gerrit event or a malformed
/// supported event.
pub fn receive(endpoint: &Endpoint, delivery: &Delivery<'_>) -> Result<Outcome, WebhookError> {
    let secret = endpoint.admit(delivery)?;
    let token = form_urlencoded::parse(delivery.query.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value)
        .ok_or_else(|| WebhookError::Unauthorized {
            reason: "missing `token` in the URL".to_owned(),
        })?;
    if !token_matches(secret, token.as_bytes()) {
        return Err(WebhookError::Unauthorized {
            reason: "`token` in the URL does not match".to_owned(),
        });
    }

    let key = DedupKey::body_hash(delivery.body);
    let head: EventType = parse_json(delivery.body, "Gerrit event")?;
    let project = endpoint.project.as_str();
    let handled = match head.kind.as_str() {
        "patchset-created" => {
            patchset_created(project, parse_json(delivery.body, "patchset-created")?)?
        }
        "change-merged" => change_merged(project, parse_json(delivery.body, "change-merged")?)?,
        "comment-added" => comment_added(endpoint, parse_json(delivery.body, "comment-added")?)?,
        "ref-updated" => ref_updated(project, parse_json(delivery.body, "ref-updated")?),
        other => Err(format!("Gerrit event `{}` is not acted on", shown(other))),
    };
    Ok(match handled {
        Ok(event) => Outcome::Event(*event, key),
        Err(reason) => Outcome::Ignored { reason },
    })
}

/// An event, or the reason it is ignored.
type Handled = Result<Box<Event>, String>;

#[derive(Deserialize)]
struct EventType {
    #[serde(rename = "type")]
    kind: String,
}

/// Gerrit sends change and patch set numbers as JSON numbers (as strings before 2.14).
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(u64),
    Text(String),
}

impl Number {
    fn text(&self) -> String {
        match self {
            Number::Int(n) => n.to_string(),
            Number::Text(s) => s.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Account {
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Change {
    project: String,
    branch: String,
    id: Option<String>,
    number: Number,
    subject: String,
    topic: Option<String>,
    url: Option<String>,
    owner: Option<Account>,
    commit_message: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct PatchSet {
    number: Number,
    revision: String,
    #[serde(rename = "ref")]
    git_ref: String,
    uploader: Option<Account>,
    author: Option<Account>,
}

#[derive(Deserialize)]
struct PatchSetEvent {
    change: Change,
    #[serde(rename = "patchSet")]
    patch_set: PatchSet,
}

#[derive(Deserialize)]
struct ChangeMerged {
    change: Change,
    #[serde(rename = "patchSet")]
    patch_set: Option<PatchSet>,
    #[serde(rename = "newRev")]
    new_rev: Option<String>,
    submitter: Option<Account>,
}

#[derive(Deserialize)]
struct CommentAdded {
    change: Change,
    #[serde(rename = "patchSet")]
    patch_set: PatchSet,
    #[serde(default)]
    comment: String,
    author: Option<Account>,
}

#[derive(Deserialize)]
struct RefUpdated {
    #[serde(rename = "refUpdate")]
    ref_update: RefUpdate,
    submitter: Option<Account>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefUpdate {
    old_rev: Option<String>,
    new_rev: String,
    ref_name: String,
    project: String,
}

fn push_var(vars: &mut Vec<(String, String)>, name: &str, value: impl Into<String>) {
    vars.push((name.to_owned(), value.into()));
}

fn account_vars(vars: &mut Vec<(String, String)>, prefix: &str, account: Option<&Account>) {
    if let Some(account) = account {
        if let Some(name) = &account.name {
            push_var(vars, &format!("{prefix}_NAME"), name);
        }
        if let Some(email) = &account.email {
            push_var(vars, &format!("{prefix}_EMAIL"), email);
        }
    }
}

/// Gerrit Trigger's variables for a change (and patch set, when there is one).
fn change_vars(kind: &str, change: &Change, patch_set: Option<&PatchSet>) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    push_var(&mut vars, "GERRIT_EVENT_TYPE", kind);
    push_var(&mut vars, "GERRIT_PROJECT", &change.project);
    push_var(&mut vars, "GERRIT_BRANCH", &change.branch);
    if let Some(topic) = &change.topic {
        push_var(&mut vars, "GERRIT_TOPIC", topic);
    }
    push_var(&mut vars, "GERRIT_CHANGE_NUMBER", change.number.text());
    if let Some(id) = &change.id {
        push_var(&mut vars, "GERRIT_CHANGE_ID", id);
    }
    push_var(&mut vars, "GERRIT_CHANGE_SUBJECT", &change.subject);
    if let Some(url) = &change.url {
        push_var(&mut vars, "GERRIT_CHANGE_URL", url);
    }
    account_vars(&mut vars, "GERRIT_CHANGE_OWNER", change.owner.as_ref());
    if let Some(ps) = patch_set {
        push_var(&mut vars, "GERRIT_PATCHSET_NUMBER", ps.number.text());
        push_var(&mut vars, "GERRIT_PATCHSET_REVISION", &ps.revision);
        push_var(&mut vars, "GERRIT_REFSPEC", &ps.git_ref);
        account_vars(&mut vars, "GERRIT_PATCHSET_UPLOADER", ps.uploader.as_ref());
    }
    vars
}

/// A merge-request-like event for a change's patch set (new patch set or recheck).
fn patch_set_event(
    project: &str,
    kind: EventKind,
    event_type: &str,
    change: Change,
    ps: PatchSet,
) -> Result<Event, WebhookError> {
    let iid: u64 = change
        .number
        .text()
        .parse()
        .map_err(|_| WebhookError::BadRequest {
            reason: format!(
                "{event_type}: change number `{}` is not a number",
                shown(&change.number.text())
            ),
        })?;
    let mut event = Event::new(
        Forge::Gerrit,
        project,
        kind,
        GitRef::Branch(change.branch.clone()),
        PipelineSource::MergeRequestEvent,
    );
    event.variables = change_vars(event_type, &change, Some(&ps));
    event.fetch_ref = Some(ps.git_ref.clone());
    if let Some(message) = &change.commit_message {
        event.set_commit_message(message);
    }
    event.author = ps
        .author
        .as_ref()
        .and_then(|a| person(a.name.as_deref(), a.email.as_deref()));
    event.sha = Some(ps.revision);
    event.merge_request = Some(MergeRequest {
        iid,
        title: change.subject,
        // A change has no source branch; its patch set ref is what there is to fetch.
        source_branch: ps.git_ref,
        target_branch: change.branch,
        diff_base_sha: None,
        labels: Vec::new(),
    });
    Ok(event)
}

fn patchset_created(project: &str, e: PatchSetEvent) -> Result<Handled, WebhookError> {
    let event = patch_set_event(
        project,
        EventKind::MergeRequest,
        "patchset-created",
        e.change,
        e.patch_set,
    )?;
    Ok(Ok(Box::new(event)))
}

fn change_merged(project: &str, e: ChangeMerged) -> Result<Handled, WebhookError> {
    let sha = e
        .new_rev
        .filter(|s| !s.is_empty())
        .or_else(|| e.patch_set.as_ref().map(|ps| ps.revision.clone()))
        .ok_or_else(|| WebhookError::BadRequest {
            reason: "change-merged without `newRev` or `patchSet.revision`".to_owned(),
        })?;
    let change = e.change;
    let mut event = Event::new(
        Forge::Gerrit,
        project,
        EventKind::Push,
        GitRef::Branch(change.branch.clone()),
        PipelineSource::Push,
    );
    event.variables = change_vars("change-merged", &change, e.patch_set.as_ref());
    push_var(&mut event.variables, "GERRIT_NEWREV", &sha);
    account_vars(
        &mut event.variables,
        "GERRIT_SUBMITTER",
        e.submitter.as_ref(),
    );
    if let Some(message) = &change.commit_message {
        event.set_commit_message(message);
    }
    event.author = e
        .patch_set
        .as_ref()
        .and_then(|ps| ps.author.as_ref())
        .and_then(|a| person(a.name.as_deref(), a.email.as_deref()));
    event.sha = Some(sha);
    Ok(Ok(Box::new(event)))
}

fn comment_added(endpoint: &Endpoint, e: CommentAdded) -> Result<Handled, WebhookError> {
    if !is_recheck(&endpoint.recheck, strip_gerrit_header(&e.comment)) {
        return Ok(Err("comment does not match the recheck pattern".to_owned()));
    }
    if let Some(status) = e.change.status.as_deref().filter(|s| *s != "NEW") {
        return Ok(Err(format!("recheck on a {} change", shown(status))));
    }
    let mut event = patch_set_event(
        &endpoint.project,
        EventKind::Recheck,
        "comment-added",
        e.change,
        e.patch_set,
    )?;
    account_vars(
        &mut event.variables,
        "GERRIT_EVENT_ACCOUNT",
        e.author.as_ref(),
    );
    Ok(Ok(Box::new(event)))
}

fn ref_updated(project: &str, e: RefUpdated) -> Handled {
    let update = e.ref_update;
    let name = update.ref_name.as_str();
    let (git_ref, kind) = if let Some(branch) = name.strip_prefix("refs/heads/") {
        (GitRef::Branch(branch.to_owned()), EventKind::Push)
    } else if let Some(tag) = name.strip_prefix("refs/tags/") {
        (GitRef::Tag(tag.to_owned()), EventKind::TagPush)
    } else if !name.starts_with("refs/") && !name.is_empty() {
        // Gerrit before 2.8 sent short branch names.
        (GitRef::Branch(name.to_owned()), EventKind::Push)
    } else {
        return Err(format!(
            "update of `{}`, neither a branch nor a tag",
            shown(name)
        ));
    };
    if is_zero_sha(&update.new_rev) {
        return Err(format!("`{}` was deleted", shown(name)));
    }
    let mut event = Event::new(Forge::Gerrit, project, kind, git_ref, PipelineSource::Push);
    let vars = &mut event.variables;
    push_var(vars, "GERRIT_EVENT_TYPE", "ref-updated");
    push_var(vars, "GERRIT_PROJECT", &update.project);
    push_var(vars, "GERRIT_REFNAME", name);
    if let Some(old) = &update.old_rev {
        push_var(vars, "GERRIT_OLDREV", old);
    }
    push_var(vars, "GERRIT_NEWREV", &update.new_rev);
    account_vars(vars, "GERRIT_SUBMITTER", e.submitter.as_ref());
    event.before_sha = update.old_rev;
    event.sha = Some(update.new_rev);
    Ok(Box::new(event))
}
