//! One entry of `projects:`: a repository Sluice watches and runs pipelines for.

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use super::Environment;
use super::credentials::{RepoCredentials, read_credentials};
use super::fields::{Fields, error_at, positive_integer};
use super::publish::{PublishSettings, read_publish};
use super::refs::{RefPatterns, read_patterns, read_tags, ref_name_problem};
use super::repo_url::{RepoUrl, read_repo};
use super::schedule::{Schedule, read_schedules};
use super::units::parse_duration;
use super::forge::{Forge, default_project, read_forge};
use super::webhooks::{Webhooks, read_webhooks};
use crate::ci::node::{Node, Value};
use crate::diagnostic::Diagnostics;

/// A project's name: letters, digits, `.`, `_`, `-`, and `/` between groups
/// (`group/subgroup/app`). It appears in webhook URLs (`/hooks/gitlab/{name}`) and the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectName(String);

/// Why a string is not a [`ProjectName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProjectName {
    /// The name is empty.
    #[error("is empty")]
    Empty,
    /// The name has a character outside `[A-Za-z0-9._-]` and `/`.
    #[error("`{0}` may only contain letters, digits, `.`, `_`, `-` and `/` between groups")]
    Character(String),
    /// A `/`-separated part is empty, `.` or `..`.
    #[error("`{0}` has an empty, `.` or `..` group")]
    Group(String),
}

impl ProjectName {
    /// Checks `name`.
    ///
    /// # Errors
    /// When `name` is empty, has other characters than `[A-Za-z0-9._-]` and `/`, or an empty,
    /// `.` or `..` part between slashes.
    pub fn new(name: &str) -> Result<Self, InvalidProjectName> {
        if name.is_empty() {
            return Err(InvalidProjectName::Empty);
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) {
            return Err(InvalidProjectName::Character(name.to_owned()));
        }
        if name.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(InvalidProjectName::Group(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One project, validated.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// `name` (required): unique among the projects.
    pub name: ProjectName,
    /// `repo` (required): where the repository is.
    pub repo: RepoUrl,
    /// `credentials`: how to authenticate to `repo` (default: nothing).
    pub credentials: RepoCredentials,
    /// `branches`: the branches whose pushes start pipelines (default: the default branch).
    pub branches: RefPatterns,
    /// `tags`: the tags whose creation starts pipelines (default: none).
    pub tags: RefPatterns,
    /// `poll`: how often the repository is fetched even without webhooks (default `1m`);
    /// `None` when polling is off (`0` or `off`).
    pub poll: Option<Duration>,
    /// `concurrency`: at most this many jobs of the project run at once (default: only the
    /// global limit applies).
    pub concurrency: Option<NonZeroUsize>,
    /// `default_branch`: `CI_DEFAULT_BRANCH` (default `main`).
    pub default_branch: String,
    /// `ci_file`: the pipeline file, relative to the repository root (default `.gitlab-ci.yml`).
    pub ci_file: String,
    /// `forge`: where statuses are reported (default: nowhere).
    pub forge: Option<Forge>,
    /// `webhooks`: the project's webhook endpoints.
    pub webhooks: Webhooks,
    /// `schedules`: cron schedules (default: none).
    pub schedules: Vec<Schedule>,
    /// `publish`: where the project's images go and how release tags are named.
    pub publish: PublishSettings,
}

/// The default `poll` interval.
pub const DEFAULT_POLL: Duration = Duration::from_secs(60);

const KEYS: &[&str] = &[
    "name",
    "repo",
    "credentials",
    "branches",
    "tags",
    "poll",
    "concurrency",
    "default_branch",
    "ci_file",
    "forge",
    "webhooks",
    "schedules",
    "publish",
];

/// Reads one project; `None` when it has errors (all reported).
pub(super) fn read_project(
    node: &Node,
    path: &str,
    env: &Environment,
    diags: &mut Diagnostics,
) -> Option<ProjectConfig> {
    let errors_before = diags.errors().count();
    let fields = Fields::open(node, path, KEYS, diags)?;
    let name = fields.required("name", diags).and_then(|node| {
        let text = super::fields::string(node, &fields.path_of("name"), diags)?;
        ProjectName::new(text).map_err(|e| diags.push(error_at(node, &fields.path_of("name"), e.to_string()))).ok()
    });
    // Later fields mention the project by name; an invalid name still reads them.
    let shown_name = name.as_ref().map_or("?", ProjectName::as_str).to_owned();
    let repo = fields.required("repo", diags).and_then(|node| {
        let url = super::fields::string(node, &fields.path_of("repo"), diags)?;
        read_repo(node, &fields.path_of("repo"), url, &env.base_dir, diags)
    });
    let credentials = read_credentials(&fields, &shown_name, repo.as_ref(), env, diags);
    let default_branch = match fields.string("default_branch", diags) {
        Some((node, branch)) => match ref_name_problem(branch) {
            None => branch.to_owned(),
            Some(problem) => {
                let message = format!("`{branch}` is not a valid branch name: {problem}");
                diags.push(error_at(node, &fields.path_of("default_branch"), message));
                "main".to_owned()
            }
        },
        None => "main".to_owned(),
    };
    let branches = match fields.get("branches") {
        Some(node) => read_patterns(node, &fields.path_of("branches"), diags).unwrap_or_default(),
        None => RefPatterns::exact(&default_branch),
    };
    let tags = match fields.get("tags") {
        Some(node) => read_tags(node, &fields.path_of("tags"), diags).unwrap_or_default(),
        None => RefPatterns::none(),
    };
    let poll = fields.get("poll").map_or(Some(DEFAULT_POLL), |node| read_poll(node, &fields.path_of("poll"), diags));
    let concurrency =
        fields.get("concurrency").and_then(|node| positive_integer(node, &fields.path_of("concurrency"), diags));
    let ci_file = match fields.string("ci_file", diags) {
        Some((node, file)) => read_ci_file(node, &fields.path_of("ci_file"), file, diags),
        None => ".gitlab-ci.yml".to_owned(),
    };
    let mut forge =
        fields.get("forge").and_then(|node| read_forge(node, &fields.path_of("forge"), &shown_name, env, diags));
    if let (Some(forge), Some(repo), Some(node)) = (forge.as_mut(), repo.as_ref(), fields.get("forge")) {
        default_project(forge, repo, node, &fields.path_of("forge"), diags);
    }
    let webhooks = match fields.get("webhooks") {
        Some(node) => read_webhooks(node, &fields.path_of("webhooks"), &shown_name, env, diags),
        None => Webhooks::default(),
    };
    let schedules = match fields.get("schedules") {
        Some(node) => read_schedules(node, &fields.path_of("schedules"), &shown_name, &default_branch, diags),
        None => Vec::new(),
    };
    let publish = match fields.get("publish") {
        Some(node) => read_publish(node, &fields.path_of("publish"), &shown_name, env, diags).unwrap_or_default(),
        None => PublishSettings::default(),
    };
    if diags.errors().count() > errors_before {
        return None;
    }
    Some(ProjectConfig {
        name: name?,
        repo: repo?,
        credentials,
        branches,
        tags,
        poll,
        concurrency,
        default_branch,
        ci_file,
        forge,
        webhooks,
        schedules,
        publish,
    })
}

/// `poll`: a duration, or `0`/`off` for no polling (`Some(None)`).
fn read_poll(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Duration> {
    let hint = "write a duration such as `30s`, `1m` or `1h`, or `off`";
    match &node.value {
        // YAML 1.1 reads an unquoted `off` as `false`.
        Value::Bool(false) | Value::Int(0) => None,
        Value::Str(text) if text == "off" || text == "0" => None,
        Value::Str(text) => match parse_duration(text) {
            Ok(duration) if duration.is_zero() => None,
            Ok(duration) => Some(duration),
            Err(reason) => {
                diags.push(error_at(node, path, format!("`{text}` {reason}")).with_hint(hint));
                Some(DEFAULT_POLL)
            }
        },
        _ => {
            let shown = node.scalar_to_string().map_or_else(|| node.type_name().to_owned(), |s| format!("`{s}`"));
            diags.push(error_at(node, path, format!("must be a duration or `off`, not {shown}")).with_hint(hint));
            Some(DEFAULT_POLL)
        }
    }
}

fn read_ci_file(node: &Node, path: &str, file: &str, diags: &mut Diagnostics) -> String {
    let escapes = file.split('/').any(|part| part == "..");
    if file.is_empty() || file.starts_with('/') || escapes {
        let message = format!("`{file}` must be a path inside the repository");
        diags.push(
            error_at(node, path, message).with_hint("write it relative to the repository root, as in `ci/main.yml`"),
        );
    }
    file.to_owned()
}

#[cfg(test)]
mod tests;
