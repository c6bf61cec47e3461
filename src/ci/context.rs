//! The pipeline a configuration is planned for: project, ref, commit, source, changed paths
//! and the caller's variables. From it come GitLab's predefined `CI_*` variables.

use std::fmt;
use std::str::FromStr;

/// What started a pipeline (`CI_PIPELINE_SOURCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PipelineSource {
    /// A push to a branch or tag.
    Push,
    /// A merge request was opened or updated.
    MergeRequestEvent,
    /// An external pull request (GitHub) was opened or updated.
    ExternalPullRequestEvent,
    /// A scheduled pipeline.
    Schedule,
    /// Run from the web UI.
    Web,
    /// Started through the API.
    Api,
    /// Started with a trigger token.
    Trigger,
    /// A multi-project downstream pipeline.
    Pipeline,
    /// A child pipeline.
    ParentPipeline,
    /// Started from chat.
    Chat,
}

impl PipelineSource {
    /// Every source with its `CI_PIPELINE_SOURCE` value.
    pub const ALL: [(PipelineSource, &'static str); 10] = [
        (PipelineSource::Push, "push"),
        (PipelineSource::MergeRequestEvent, "merge_request_event"),
        (PipelineSource::ExternalPullRequestEvent, "external_pull_request_event"),
        (PipelineSource::Schedule, "schedule"),
        (PipelineSource::Web, "web"),
        (PipelineSource::Api, "api"),
        (PipelineSource::Trigger, "trigger"),
        (PipelineSource::Pipeline, "pipeline"),
        (PipelineSource::ParentPipeline, "parent_pipeline"),
        (PipelineSource::Chat, "chat"),
    ];

    /// The `CI_PIPELINE_SOURCE` value.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(s, _)| *s == self).map(|(_, n)| *n).unwrap_or("push")
    }
}

impl fmt::Display for PipelineSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PipelineSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(v, _)| *v).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
            format!("unknown pipeline source `{s}`; expected one of: {}", names.join(", "))
        })
    }
}

/// The ref a pipeline runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// A branch (`CI_COMMIT_BRANCH`).
    Branch(String),
    /// A tag (`CI_COMMIT_TAG`).
    Tag(String),
}

impl GitRef {
    /// The short ref name (`CI_COMMIT_REF_NAME`).
    pub fn name(&self) -> &str {
        match self {
            GitRef::Branch(n) | GitRef::Tag(n) => n,
        }
    }
}

/// The merge request a `merge_request_event` pipeline runs for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeRequest {
    /// Project-level id (`CI_MERGE_REQUEST_IID`).
    pub iid: u64,
    /// Title (`CI_MERGE_REQUEST_TITLE`).
    pub title: String,
    /// Source branch (`CI_MERGE_REQUEST_SOURCE_BRANCH_NAME`).
    pub source_branch: String,
    /// Target branch (`CI_MERGE_REQUEST_TARGET_BRANCH_NAME`).
    pub target_branch: String,
    /// Merge base of source and target (`CI_MERGE_REQUEST_DIFF_BASE_SHA`), if known.
    pub diff_base_sha: Option<String>,
    /// Labels (`CI_MERGE_REQUEST_LABELS`).
    pub labels: Vec<String>,
}

/// Everything about the pipeline being planned except the configuration itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineContext {
    /// Full project path (`CI_PROJECT_PATH`), such as `group/app`.
    pub project_path: String,
    /// Default branch (`CI_DEFAULT_BRANCH`).
    pub default_branch: String,
    /// Branch or tag.
    pub git_ref: GitRef,
    /// Commit (`CI_COMMIT_SHA`).
    pub sha: String,
    /// Previous tip of the ref (`CI_COMMIT_BEFORE_SHA`); `None` or all zeros for a new ref.
    pub before_sha: Option<String>,
    /// What started the pipeline.
    pub source: PipelineSource,
    /// The merge request, for merge request pipelines.
    pub merge_request: Option<MergeRequest>,
    /// Paths changed by the push (or the merge request); `None` when unknown, which makes
    /// `rules:changes` true as in GitLab.
    pub changed_paths: Option<Vec<String>>,
    /// Commit message (`CI_COMMIT_MESSAGE`).
    pub commit_message: String,
    /// Variables given by the caller (`--var`, API, schedule), highest precedence, in order.
    pub variables: Vec<(String, String)>,
}

/// The all-zero sha GitLab uses for "no previous commit".
pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

impl PipelineContext {
    /// A push pipeline on `branch` at `sha` of `project_path`, nothing else known.
    pub fn push(project_path: &str, branch: &str, sha: &str) -> Self {
        Self {
            project_path: project_path.to_owned(),
            default_branch: "main".to_owned(),
            git_ref: GitRef::Branch(branch.to_owned()),
            sha: sha.to_owned(),
            before_sha: None,
            source: PipelineSource::Push,
            merge_request: None,
            changed_paths: None,
            commit_message: String::new(),
            variables: Vec::new(),
        }
    }

    /// The before sha, unless absent or all zeros.
    pub fn real_before_sha(&self) -> Option<&str> {
        self.before_sha.as_deref().filter(|s| !s.is_empty() && s.bytes().any(|b| b != b'0'))
    }
}
