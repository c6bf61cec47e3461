//! One poller per project with `poll:` set: fetch the mirror at start and then every
//! interval (or at once when a webhook for the project arrives), and record an event for
//! every watched ref whose tip moved, in the same transaction as the ref's new last seen tip.
//! A failing poll is logged when polling starts failing and when the error changes, and its
//! recovery once, not at every interval (an unreachable remote would fill the log).

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::mirrors::Mirrors;
use crate::config::ProjectConfig;
use crate::git::GitError;
use crate::store::{Inserted, ProjectId, Store, StoreError, Timestamp};
use crate::trigger::poll::{changed_refs, event_for};

/// Why one poll failed; the loop logs it and tries again at the next interval.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Fetching or reading the mirror failed.
    #[error("cannot poll the repository")]
    Git(#[from] GitError),
    /// The store could not be read or written.
    #[error("cannot record what polling found")]
    Store(#[from] StoreError),
}

/// A project's poller.
pub struct Poller {
    /// The project (with `poll` set).
    pub project: Arc<ProjectConfig>,
    /// Its row in the store.
    pub project_id: ProjectId,
    /// Where its mirror is.
    pub mirrors: Mirrors,
    /// The store of record.
    pub store: Arc<Store>,
    /// Woken when an event was recorded.
    pub wake_worker: Arc<Notify>,
    /// Notified by webhooks: fetch now.
    pub fetch_now: Arc<Notify>,
}

impl Poller {
    /// Polls until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let Some(interval) = self.project.poll else { return };
        let name = self.project.name.as_str().to_owned();
        let mut failing = Failing::default();
        loop {
            let (project, id, mirrors, store) = (
                self.project.clone(),
                self.project_id,
                self.mirrors.clone(),
                self.store.clone(),
            );
            let polled = tokio::select! {
                () = shutdown.cancelled() => break,
                polled = tokio::task::spawn_blocking(move || poll_once(&project, id, &mirrors, &store)) => polled,
            };
            let failure = match polled {
                Ok(Ok(recorded)) => {
                    if recorded > 0 {
                        tracing::info!(project = %name, recorded, "polling recorded new ref tips");
                        self.wake_worker.notify_one();
                    }
                    None
                }
                Ok(Err(failed)) => Some(format!("{:#}", anyhow::Error::new(failed))),
                Err(panicked) => Some(format!("polling panicked: {panicked}")),
            };
            match failure {
                Some(error) => {
                    if failing.failed(&error) {
                        tracing::warn!(project = %name, "{error} (logged again when the error changes or polling works again)");
                    }
                }
                None => {
                    if let Some(polls) = failing.recovered() {
                        tracing::info!(project = %name, failed_polls = polls, "polling works again");
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
                () = self.fetch_now.notified() => {}
            }
        }
    }
}

/// A poller's run of failed polls, which decides what is worth logging.
#[derive(Debug, Default)]
struct Failing {
    /// The last error, while polls fail.
    error: Option<String>,
    /// How many polls failed in a row.
    polls: u32,
}

impl Failing {
    /// Counts a failed poll; `true` when `error` is worth logging: the first failure, or an
    /// error other than the last one.
    fn failed(&mut self, error: &str) -> bool {
        self.polls += 1;
        let new = self.error.as_deref() != Some(error);
        if new {
            self.error = Some(error.to_owned());
        }
        new
    }

    /// Counts a poll that worked; the number of failed polls before it when they end.
    fn recovered(&mut self) -> Option<u32> {
        self.error.take()?;
        Some(std::mem::take(&mut self.polls))
    }
}

/// Fetches `project`'s mirror and records an event for each watched ref whose tip moved;
/// returns how many new events were recorded. Blocks.
///
/// # Errors
/// [`PollError`] when the fetch or the store fails; events recorded before are kept.
pub fn poll_once(project: &ProjectConfig, id: ProjectId, mirrors: &Mirrors, store: &Store) -> Result<usize, PollError> {
    let (refs, repo) = mirrors.with(project, |mirror| {
        mirror.fetch(&[])?;
        Ok((mirror.refs()?, mirror.reader()?))
    })?;
    let mut store_error = None;
    let changes = changed_refs(project, &refs, &mut |name| match store.ref_head(id, name) {
        Ok(head) => head,
        Err(error) => {
            store_error.get_or_insert(error);
            None
        }
    });
    if let Some(error) = store_error {
        return Err(error.into());
    }
    let mut recorded = 0;
    for change in changes {
        // Only the moved tips' messages are read: a mirror may hold thousands of tags.
        // Objects are immutable, so reading them needs no mirror lock.
        let message = repo.commit_message(&change.sha).ok();
        let Some((event, key)) = event_for(project, &change, message.as_deref(), None) else {
            continue;
        };
        let new = event.to_new_event_moving_head(&key, Timestamp::now());
        if let Inserted::New(event_id) = store.insert_event(id, &new)? {
            tracing::info!(project = %project.name, event = event_id.get(), git_ref = %change.full_ref, sha = %change.sha, "new ref tip");
            recorded += 1;
        }
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, parse};
    use crate::git::test_cli::git;

    #[test]
    fn a_failing_poll_is_logged_when_it_starts_or_changes_and_its_end_once() {
        let mut failing = Failing::default();
        assert_eq!(failing.recovered(), None, "nothing to say while polls work");
        let logged: Vec<bool> = ["unreachable", "unreachable", "unreachable", "refused", "refused"]
            .iter()
            .map(|error| failing.failed(error))
            .collect();
        assert_eq!(logged, [true, false, false, true, false]);
        assert_eq!(failing.recovered(), Some(5));
        assert_eq!(failing.recovered(), None);
        assert!(failing.failed("unreachable"), "a new run of failures is logged again");
    }

    #[test]
    fn one_event_per_new_watched_tip_and_none_when_nothing_changed() {
        let dir = tempfile::tempdir().expect("temp");
        let (bare, work) = (dir.path().join("demo.git"), dir.path().join("work"));
        std::fs::create_dir_all(&work).expect("mkdir");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", bare.to_str().expect("utf-8")],
        );
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().expect("utf-8")]);
        let commit = |message: &str| {
            git(&work, &["commit", "-q", "--allow-empty", "-m", message]);
            git(&work, &["rev-parse", "HEAD"])
        };
        let first = commit("first");
        git(&work, &["push", "-q", "origin", "main"]);
        git(&work, &["push", "-q", "origin", "main:unwatched"]);

        let text = format!(
            "data_dir: data\nprojects:\n  - name: demo\n    repo: \"{}\"\n    branches: [main]\n    tags: [\"/^v/\"]\n",
            bare.display()
        );
        let loaded = parse("sluice.yaml", &text, &Environment::for_tests(dir.path(), &[])).expect("config");
        let project = &loaded.config.projects[0];
        let store = Store::open_in_memory().expect("store");
        let id = store
            .ensure_project("demo", Timestamp::from_unix_millis(1))
            .expect("project");
        let mirrors = Mirrors::new(dir.path().join("mirrors"));

        assert_eq!(poll_once(project, id, &mirrors, &store).expect("poll"), 1);
        assert_eq!(
            poll_once(project, id, &mirrors, &store).expect("poll"),
            0,
            "nothing changed"
        );
        let second = commit("second");
        git(&work, &["tag", "v1"]);
        git(&work, &["push", "-q", "origin", "main", "v1"]);
        assert_eq!(poll_once(project, id, &mirrors, &store).expect("poll"), 2);
        assert_eq!(poll_once(project, id, &mirrors, &store).expect("poll"), 0);

        let events = store.list_events(Some("demo"), 10).expect("events");
        let seen: Vec<(&str, &str, Option<&str>, Option<&str>)> = events
            .iter()
            .rev()
            .map(|e| {
                (
                    e.kind.as_str(),
                    e.git_ref.as_str(),
                    e.before_sha.as_deref(),
                    e.sha.as_deref(),
                )
            })
            .collect();
        let zero = crate::ci::context::ZERO_SHA;
        assert_eq!(
            seen,
            [
                ("push", "refs/heads/main", Some(zero), Some(first.as_str())),
                ("push", "refs/heads/main", Some(first.as_str()), Some(second.as_str())),
                ("tag_push", "refs/tags/v1", Some(zero), Some(second.as_str())),
            ]
        );
        let titles: Vec<Option<String>> = events
            .iter()
            .rev()
            .map(|e| crate::trigger::event::Event::from_json(&e.payload).expect("event").commit_title)
            .collect();
        assert_eq!(titles, [Some("first".to_owned()), Some("second".to_owned()), Some("second".to_owned())]);
        assert_eq!(store.ref_head(id, "refs/heads/main").expect("head"), Some(second));
        assert_eq!(store.ref_head(id, "refs/heads/unwatched").expect("head"), None);
    }
}
