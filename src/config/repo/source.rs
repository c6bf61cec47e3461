//! `config_repo:` of the daemon's `sluice.yaml`: where the config repo is, the branch Sluice
//! reads and pushes, and the identity of the commits Sluice makes.

use std::time::Duration;

use crate::ci::node::Node;
use crate::config::Environment as ConfigEnvironment;
use crate::config::credentials::{RepoCredentials, read_credentials};
use crate::config::fields::{Fields, error_at};
use crate::config::refs::ref_name_problem;
use crate::config::repo_url::{RepoUrl, read_repo};
use crate::config::units::parse_duration;
use crate::diagnostic::Diagnostics;

/// `config_repo:`, validated.
#[derive(Debug, Clone)]
pub struct ConfigRepoSource {
    /// `repo`: where the config repo is (pushed to, so the daemon needs write access).
    pub repo: RepoUrl,
    /// `credentials`: how to authenticate to `repo` (default: nothing).
    pub credentials: RepoCredentials,
    /// `branch` (default `main`).
    pub branch: String,
    /// `author`: name and email of Sluice's commits (default `Sluice <sluice@localhost>`).
    pub author: CommitAuthor,
    /// `poll`: how often the mirror is fetched (default `10s`).
    pub poll: Duration,
}

/// The identity of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitAuthor {
    /// `name`.
    pub name: String,
    /// `email`.
    pub email: String,
}

/// The default `config_repo.poll`.
pub const DEFAULT_CONFIG_POLL: Duration = Duration::from_secs(10);

/// Reads `config_repo:` at `node`.
pub(crate) fn read_source(node: &Node, env: &ConfigEnvironment, diags: &mut Diagnostics) -> Option<ConfigRepoSource> {
    let fields = Fields::open(node, "config_repo", &["repo", "credentials", "branch", "author", "poll"], diags)?;
    let repo = fields.required("repo", diags).and_then(|_| fields.string("repo", diags));
    let repo = repo.and_then(|(node, url)| read_repo(node, "config_repo.repo", url, &env.base_dir, diags));
    let credentials = read_credentials(&fields, "the config repo", repo.as_ref(), env, diags);
    let branch = match fields.string("branch", diags) {
        Some((node, name)) => match ref_name_problem(name) {
            None => Some(name.to_owned()),
            Some(problem) => {
                diags.push(error_at(node, "config_repo.branch", format!("`{name}` is not a valid branch name: {problem}")));
                None
            }
        },
        None => Some("main".to_owned()),
    };
    let author = match fields.get("author") {
        Some(node) => {
            let author = Fields::open(node, "config_repo.author", &["name", "email"], diags)?;
            let name = author.required("name", diags).and_then(|_| author.string("name", diags));
            let email = author.required("email", diags).and_then(|_| author.string("email", diags));
            name.zip(email).map(|((_, name), (_, email))| CommitAuthor { name: name.to_owned(), email: email.to_owned() })
        }
        None => Some(CommitAuthor { name: "Sluice".into(), email: "sluice@localhost".into() }),
    };
    let poll = match fields.string("poll", diags) {
        Some((node, text)) => parse_duration(text)
            .ok()
            .filter(|d| !d.is_zero())
            .or_else(|| {
                diags.push(error_at(node, "config_repo.poll", format!("`{text}` is not a duration above zero, such as `10s`")));
                None
            }),
        None => Some(DEFAULT_CONFIG_POLL),
    };
    Some(ConfigRepoSource { repo: repo?, credentials, branch: branch?, author: author?, poll: poll? })
}
