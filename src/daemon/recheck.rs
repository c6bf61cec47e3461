//! A GitHub `issue_comment` recheck names only the pull request's number: GitHub's payload
//! carries neither its head branch nor its base. The worker fills them in from the pull
//! request's last recorded `pull_request` event, so `CI_COMMIT_REF_NAME`,
//! `CI_MERGE_REQUEST_SOURCE_BRANCH_NAME` and `CI_MERGE_REQUEST_TARGET_BRANCH_NAME` name real
//! branches and `rules:changes` compares with the real target. Without such an event (the
//! pull request was opened before Sluice watched it) the recheck keeps `pull/N/head`, with a
//! warning in the log.

use crate::store::{Store, StoreError};
use crate::trigger::{Event, EventKind, Forge};

/// How many of the project's latest events are searched for the pull request.
const SEARCHED: u32 = 1000;

/// Fills a GitHub recheck's branches from the pull request's last recorded event; any other
/// event is left as it is. Returns whether the branches are known now. Blocks.
///
/// # Errors
/// [`StoreError`] when the events cannot be read.
pub fn fill_github_recheck(store: &Store, event: &mut Event) -> Result<bool, StoreError> {
    let Some(mr) = event.merge_request.as_mut() else { return Ok(true) };
    if event.source != Forge::GitHub || event.kind != EventKind::Recheck || !mr.source_branch.is_empty() {
        return Ok(true);
    }
    for row in store.list_events(Some(&event.project), SEARCHED)? {
        if row.kind != EventKind::MergeRequest.as_str() {
            continue;
        }
        let Ok(earlier) = Event::from_json(&row.payload) else { continue };
        let Some(known) = earlier.merge_request.filter(|known| known.iid == mr.iid) else { continue };
        mr.source_branch = known.source_branch;
        mr.target_branch = known.target_branch;
        event.git_ref = earlier.git_ref;
        event.pipeline_source = earlier.pipeline_source;
        // The shas of the earlier event are stale: the recheck runs the head fetched now.
        event.variables = earlier.variables.into_iter().filter(|(name, _)| !name.ends_with("_SHA")).collect();
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::context::{GitRef, MergeRequest, PipelineSource};
    use crate::store::Timestamp;
    use crate::trigger::DedupKey;

    fn pull_request(n: u64, head: &str) -> Event {
        let mut event = Event::new(Forge::GitHub, "demo", EventKind::MergeRequest, GitRef::Branch(head.into()), PipelineSource::MergeRequestEvent);
        event.sha = Some(format!("{n:040x}"));
        event.merge_request = Some(MergeRequest {
            iid: n,
            title: "old title".into(),
            source_branch: head.into(),
            target_branch: "main".into(),
            diff_base_sha: None,
            labels: Vec::new(),
        });
        event.variables = vec![
            ("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME".into(), head.into()),
            ("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA".into(), "stale".into()),
        ];
        event
    }

    fn recheck(n: u64) -> Event {
        let mut event = Event::new(Forge::GitHub, "demo", EventKind::Recheck, GitRef::Branch(format!("pull/{n}/head")), PipelineSource::MergeRequestEvent);
        event.fetch_ref = Some(format!("refs/pull/{n}/head"));
        event.merge_request = Some(MergeRequest {
            iid: n,
            title: "new title".into(),
            source_branch: String::new(),
            target_branch: String::new(),
            diff_base_sha: None,
            labels: Vec::new(),
        });
        event
    }

    #[test]
    fn a_recheck_takes_the_branches_of_its_pull_request() {
        let store = Store::open_in_memory().expect("store");
        let project = store.ensure_project("demo", Timestamp::from_unix_millis(1)).expect("project");
        for (key, event) in [("a", pull_request(7, "feature")), ("b", pull_request(8, "other")), ("c", pull_request(7, "feature"))] {
            let key = DedupKey::from_header("github", key).expect("key");
            store.insert_event(project, &event.to_new_event(&key, Timestamp::from_unix_millis(2))).expect("insert");
        }
        let mut event = recheck(7);
        assert!(fill_github_recheck(&store, &mut event).expect("fill"));
        assert_eq!(event.full_ref(), "refs/heads/feature");
        let mr = event.merge_request.as_ref().expect("mr");
        assert_eq!((mr.source_branch.as_str(), mr.target_branch.as_str(), mr.title.as_str()), ("feature", "main", "new title"));
        assert_eq!(event.variables, [("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME".to_owned(), "feature".to_owned())]);
        assert_eq!(event.fetch_ref.as_deref(), Some("refs/pull/7/head"), "the head is still fetched from the pull request");

        let mut unknown = recheck(9);
        assert!(!fill_github_recheck(&store, &mut unknown).expect("fill"));
        assert_eq!(unknown.full_ref(), "refs/heads/pull/9/head");
    }
}
