//! Arguments shared by `lint`, `plan` and `run`: where the configuration is, and the pipeline it
//! is planned for. Turns them into a [`PipelineContext`] (with the VERSION gate's `SLUICE_*`
//! variables when the repository has a `VERSION`) and a [`RepoReader`].

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::ci::context::{GitRef, MergeRequest, PipelineContext, PipelineSource};
use crate::git::{Repo, RepoReader};

/// Where the pipeline configuration is read from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The repository (any directory inside it)
    #[arg(long, default_value = ".", env = "SLUICE_DIR")]
    pub dir: PathBuf,
    /// The configuration file, relative to the repository root
    #[arg(long, default_value = ".gitlab-ci.yml")]
    pub file: String,
    /// Serve `include: project: NAME` from the git repository at PATH (repeatable)
    #[arg(long = "project-repo", value_name = "NAME=PATH", value_parser = parse_project_repo)]
    pub project_repos: Vec<(String, String)>,
    /// Serve `include: remote:` from cached copies in DIR (file names: the URL with characters
    /// other than letters, digits, `.` and `-` replaced by `_`)
    #[arg(long, value_name = "DIR")]
    pub remote_cache: Option<PathBuf>,
}

/// The pipeline a configuration is planned for.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Branch to plan for (default: the checked-out branch)
    #[arg(long = "ref", value_name = "REF", conflicts_with = "tag")]
    pub git_ref: Option<String>,
    /// Tag to plan for: sets `CI_COMMIT_TAG`, not `CI_COMMIT_BRANCH`
    #[arg(long)]
    pub tag: Option<String>,
    /// Commit to plan for (default: the working tree, uncommitted changes included)
    #[arg(long)]
    pub sha: Option<String>,
    /// Previous commit of the ref; changed paths for `rules:changes` come from BEFORE..SHA
    #[arg(long)]
    pub before: Option<String>,
    /// What started the pipeline (`CI_PIPELINE_SOURCE`)
    #[arg(long, default_value = "push", value_parser = parse_source)]
    pub source: PipelineSource,
    /// A CI/CD variable, highest precedence (repeatable)
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub vars: Vec<(String, String)>,
    /// A changed path for `rules:changes`, replacing the git diff (repeatable)
    #[arg(long = "changed", value_name = "PATH")]
    pub changed: Vec<String>,
    /// Project path (`CI_PROJECT_PATH`; default: `local/<directory name>`)
    #[arg(long)]
    pub project: Option<String>,
    /// Default branch (`CI_DEFAULT_BRANCH`)
    #[arg(long, default_value = "main")]
    pub default_branch: String,
    /// Target branch of the merge request, for `--source merge_request_event` (default: the default branch)
    #[arg(long)]
    pub target_branch: Option<String>,
}

/// Parses `KEY=VALUE`.
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (key, value) = s.split_once('=').ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("`{key}` is not a valid name; use letters, digits and `_`"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Parses `group/project=PATH`.
fn parse_project_repo(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok((name.to_owned(), path.to_owned())),
        _ => Err(format!("`{s}` is not NAME=PATH (for example `group/tools=../tools`)")),
    }
}

fn parse_source(s: &str) -> Result<PipelineSource, String> {
    s.parse()
}

/// The context and reader for one planning request.
pub struct Prepared {
    /// The pipeline to plan for.
    pub context: PipelineContext,
    /// Reads the configuration and what it includes.
    pub reader: RepoReader,
    /// How many of the context's variables, at its start, are the VERSION gate's `SLUICE_*`
    /// (lowest precedence among the caller's): other caller variables go after them.
    pub gate_variables: usize,
}

impl Prepared {
    /// Paths changed between `compare_to` and the pipeline's commit (for `rules:changes:compare_to`).
    pub fn changed_since(&self, compare_to: &str) -> Option<Vec<String>> {
        let repo = self.reader.repo();
        repo.changed_paths(compare_to, &self.context.sha).ok()
    }
}

/// Opens the repository and works out the pipeline context from the arguments and git.
pub fn prepare(source: &SourceArgs, pipeline: &PipelineArgs) -> anyhow::Result<Prepared> {
    let repo = Repo::discover(&source.dir).with_context(|| format!("cannot plan in `{}`", source.dir.display()))?;
    let head = repo.resolve("HEAD").ok();
    let sha = match &pipeline.sha {
        Some(rev) => repo.resolve(rev)?,
        None => head.clone().unwrap_or_else(|| crate::ci::context::ZERO_SHA.to_owned()),
    };
    let git_ref = match (&pipeline.tag, &pipeline.git_ref) {
        (Some(tag), _) => GitRef::Tag(tag.clone()),
        (None, Some(branch)) => GitRef::Branch(branch.clone()),
        (None, None) => GitRef::Branch(repo.current_branch().unwrap_or_else(|| pipeline.default_branch.clone())),
    };
    let before_sha = match &pipeline.before {
        Some(rev) if rev.bytes().all(|b| b == b'0') => Some(rev.clone()),
        Some(rev) => Some(repo.resolve(rev)?),
        None => None,
    };
    let project_path = pipeline.project.clone().unwrap_or_else(|| {
        let name = repo.root().file_name().and_then(|n| n.to_str()).unwrap_or("project");
        format!("local/{name}")
    });
    let mut context = PipelineContext {
        project_path,
        default_branch: pipeline.default_branch.clone(),
        git_ref,
        sha: sha.clone(),
        before_sha,
        source: pipeline.source,
        merge_request: None,
        changed_paths: None,
        commit_message: head.as_ref().and_then(|_| repo.commit_message(&sha).ok()).unwrap_or_default(),
        variables: Vec::new(),
    };
    // The VERSION gate's variables first, so that `--var` (and the caller's other variables)
    // override them; read where the configuration is read: the working tree or `--sha`.
    let revision = pipeline.sha.as_ref().map(|_| sha.clone());
    context.variables = super::version::gate_variables(&repo, revision.as_deref(), context.real_before_sha());
    let gate_variables = context.variables.len();
    context.variables.extend(pipeline.vars.iter().cloned());
    context.merge_request = merge_request(&repo, &context, pipeline)?;
    context.changed_paths = changed_paths(&repo, &context, pipeline)?;
    let mut reader = RepoReader::new(repo, revision);
    for (name, path) in &source.project_repos {
        reader = reader.with_project(name, PathBuf::from(path));
    }
    if let Some(dir) = &source.remote_cache {
        reader = reader.with_remote_cache(dir.clone());
    }
    Ok(Prepared { context, reader, gate_variables })
}

/// The merge request of a `merge_request_event` pipeline: its source branch is the pipeline's
/// branch, its target `--target-branch` or the default branch.
fn merge_request(repo: &Repo, context: &PipelineContext, pipeline: &PipelineArgs) -> anyhow::Result<Option<MergeRequest>> {
    if pipeline.source != PipelineSource::MergeRequestEvent {
        return Ok(None);
    }
    let GitRef::Branch(source_branch) = &context.git_ref else {
        bail!("a merge request pipeline runs for a branch, not a tag; drop `--tag`");
    };
    let target = pipeline.target_branch.clone().unwrap_or_else(|| pipeline.default_branch.clone());
    let diff_base_sha = repo.merge_base(&target, &context.sha).ok();
    Ok(Some(MergeRequest {
        iid: 1,
        title: context.commit_message.lines().next().unwrap_or("").to_owned(),
        source_branch: source_branch.clone(),
        target_branch: target,
        diff_base_sha,
        labels: Vec::new(),
    }))
}

/// GitLab's rule: push pipelines compare with the before sha; merge request pipelines with the
/// merge base; anything else (or a new ref) has no changes list, which makes `changes:` true.
fn changed_paths(repo: &Repo, context: &PipelineContext, pipeline: &PipelineArgs) -> anyhow::Result<Option<Vec<String>>> {
    if !pipeline.changed.is_empty() {
        return Ok(Some(pipeline.changed.clone()));
    }
    let base = match context.source {
        PipelineSource::Push => context.real_before_sha().map(str::to_owned),
        PipelineSource::MergeRequestEvent | PipelineSource::ExternalPullRequestEvent => {
            context.merge_request.as_ref().and_then(|mr| mr.diff_base_sha.clone())
        }
        _ => None,
    };
    match base {
        Some(base) => Ok(Some(repo.changed_paths(&base, &context.sha)?)),
        None => Ok(None),
    }
}
