//! `sluice run`: runs a repository's pipeline on this machine, the way GitLab would run it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use super::plan::{plan_prepared, print_warnings};
use super::run_output::{TerminalObserver, summary_json, summary_table, use_colour};
use super::source::{PipelineArgs, SourceArgs, prepare};
use super::variables_file;
use crate::ci::pipeline::{Pipeline, When};
use crate::executor::process_group::become_subreaper;
use crate::executor::container::Engine;
use crate::executor::{ContainerExecutor, Executor, ShellExecutor};
use crate::git::RemoteAuth;
use crate::publish::publication::{DEFAULT_LEASE, PublishConfig, Publisher};
use crate::publish::registry::RegistryOptions;
use crate::run::git_dir::GitSource;
use crate::run::workspace::SourceTree;
use crate::run::{LockedReader, PipelineRun, RunError, RunOptions, RunVariable, run_pipeline};
use crate::store::{PipelineStatus, Store};

/// Where job scripts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// On this machine, with bash (jobs' `image:` and `services:` are ignored)
    Shell,
    /// Jobs with `image:` in containers run by `docker`; the others with the shell
    Docker,
    /// Jobs with `image:` in containers run by `podman`; the others with the shell
    Podman,
}

/// Arguments of `sluice run`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice run                                 run the pipeline of the working tree
  sluice run test lint                       run only these jobs
  sluice run deploy --needs                  run `deploy` and everything it needs
  sluice run --stage test --concurrency 2
  sluice run --manual deploy --var TARGET=staging
  sluice run --variables-file ci-vars.yml    variables (masked or file) from YAML
  sluice run --executor shell                run jobs with `image:` on this machine
  sluice run --json > result.json

Logs of the last run: `sluice logs JOB`. Runs, logs, artifacts and caches are kept in
`.sluice/` (git-ignored by Sluice itself).
Exit codes: 0 the pipeline succeeded (allowed failures included), 1 it failed or was
canceled, 2 invalid configuration or arguments (nothing ran).")]
pub struct RunArgs {
    /// Run only these jobs (a `parallel` job's name runs all its instances)
    #[arg(value_name = "JOB")]
    jobs: Vec<String>,
    /// With JOB...: also run the jobs they need, transitively
    #[arg(long, requires = "jobs")]
    needs: bool,
    /// Run only the jobs of this stage
    #[arg(long)]
    stage: Option<String>,
    /// Play this manual job (repeatable)
    #[arg(long, value_name = "JOB")]
    manual: Vec<String>,
    /// Variables from a YAML file: `KEY: value` or `KEY: {value: .., masked: true, type: file|env_var}`
    #[arg(long, value_name = "PATH")]
    variables_file: Option<PathBuf>,
    /// Most jobs running at once (default: the number of cores)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: Option<u16>,
    /// Where jobs run (default: jobs with `image:` in a container of `podman` or `docker`, whichever works, the others with the shell)
    #[arg(long, value_enum)]
    executor: Option<ExecutorKind>,
    /// Copy untracked (not ignored) files into job workspaces too
    #[arg(long)]
    include_untracked: bool,
    /// Keep each job's workspace under `.sluice/runs/` after it finished
    #[arg(long)]
    keep_workspaces: bool,
    /// State directory (default: `.sluice` in the repository)
    #[arg(long, value_name = "DIR", env = "SLUICE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Publish images to REGISTRY[/PATH]/APP:VERSION (default: an OCI layout under the state directory)
    #[arg(long, value_name = "REGISTRY", env = "SLUICE_REGISTRY")]
    registry: Option<String>,
    /// Release tags are PREFIX followed by the version
    #[arg(long, value_name = "PREFIX", default_value = crate::publish::DEFAULT_TAG_PREFIX, env = "SLUICE_TAG_PREFIX")]
    tag_prefix: String,
    /// Print the result as JSON on stdout (job output then goes to stderr)
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

/// Runs `sluice run`.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitStatus> {
    if args.pipeline.sha.is_some() {
        bail!("`sluice run` runs the working tree as it is; `--sha` is for `sluice plan`\n\nhint: check out the commit first (`git checkout SHA`), then run");
    }
    let file_variables = match &args.variables_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
            match variables_file::parse(&path.display().to_string(), &text) {
                Ok(variables) => variables,
                Err(diagnostics) => {
                    eprintln!("{diagnostics}");
                    return Ok(ExitStatus::Error);
                }
            }
        }
        None => Vec::new(),
    };
    let mut prepared = prepare(&args.source, &args.pipeline)?;
    // Caller variables: the VERSION gate's first, the file's over them, `--var` over both;
    // rules see all of them.
    let from_file = file_variables.iter().map(|v| (v.name.clone(), v.value.clone()));
    let at = prepared.gate_variables;
    prepared.context.variables.splice(at..at, from_file);
    let pipeline = match plan_prepared(&args.source.file, &prepared) {
        Ok(pipeline) => pipeline,
        Err(diagnostics) => {
            eprintln!("{diagnostics}\n\nerror: `{}` is invalid; nothing ran", args.source.file);
            return Ok(ExitStatus::Error);
        }
    };
    print_warnings(&pipeline.warnings);
    let executor = choose_executor(&pipeline, args.executor)?;

    let repo = prepared.reader.repo();
    let root = repo.root().to_owned();
    let source = SourceTree {
        root: root.clone(),
        files: repo.tracked_files()?,
        // A status scan of the whole working tree; only worth it when the files are copied.
        untracked: if args.include_untracked { repo.untracked_files()? } else { Vec::new() },
        include_untracked: args.include_untracked,
        git: git_source(repo, &prepared.context)?,
    };
    let state_dir = args.state_dir.clone().unwrap_or_else(|| root.join(".sluice"));
    // Jobs run in their own workspaces, so a relative state directory would not be found.
    let state_dir = std::path::absolute(&state_dir).with_context(|| format!("cannot resolve `{}`", state_dir.display()))?;
    prepare_state_dir(&state_dir)?;
    let store = Store::open(state_dir.join("sluice.db"))?;

    let mut variables = file_variables;
    variables.extend(args.pipeline.vars.iter().map(|(name, value)| RunVariable::new(name, value)));
    let mut options = RunOptions::new(&state_dir);
    options.concurrency = args.concurrency.map_or(options.concurrency, usize::from);
    options.manual = args.manual.clone();
    options.only_jobs = (!args.jobs.is_empty()).then(|| args.jobs.clone());
    options.with_needs = args.needs;
    options.stage = args.stage.clone();
    options.variables = variables;
    options.keep_workspaces = args.keep_workspaces;
    options.pool_workspaces = true;
    options.after_success = Some(Arc::new(Publisher::new(PublishConfig {
        registry: args.registry.clone(),
        layout_root: state_dir.join("images"),
        tag_prefix: args.tag_prefix.clone(),
        repo: root.clone(),
        remote: repo.remote_url("origin"),
        remote_auth: RemoteAuth::default(),
        repo_lock: None,
        registry_options: RegistryOptions::from_env(),
        lease: DEFAULT_LEASE,
        chart: None,
    })));

    let names = pipeline.jobs.iter().filter(|j| j.when != When::Never).map(|j| j.name.clone()).collect();
    let live_to_stderr = args.json;
    let terminal = if live_to_stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
    let observer = TerminalObserver::new(names, use_colour(terminal), live_to_stderr);
    let context = prepared.context.clone();
    let reader = LockedReader::new(prepared.reader);

    become_subreaper().context("cannot become the reaper of job processes")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let summary = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(cancel_on_ctrl_c(cancel.clone()));
        let run = PipelineRun {
            pipeline: &pipeline,
            context: &context,
            source: &source,
            reader: &reader,
            executor,
            store: &store,
            observer: &observer,
        };
        run_pipeline(&run, &options, &cancel).await
    });
    let summary = match summary {
        Ok(summary) => summary,
        Err(error @ (RunError::Mask(_) | RunError::UnknownJob { .. } | RunError::UnknownStage { .. })) => {
            eprintln!("error: {error}; nothing ran");
            return Ok(ExitStatus::Error);
        }
        Err(RunError::NotCreated { reason }) => {
            eprintln!("No pipeline is created: {reason}");
            return Ok(ExitStatus::Success);
        }
        Err(error) => return Err(error.into()),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary_json(&summary))?);
    } else {
        out!("\n{}", summary_table(&summary));
    }
    Ok(match summary.status {
        PipelineStatus::Failed | PipelineStatus::Canceled => ExitStatus::Failure,
        _ => ExitStatus::Success,
    })
}

/// The first Ctrl-C cancels the run (jobs get SIGTERM, then SIGKILL after a grace period, and
/// their `after_script`); a second one exits at once.
async fn cancel_on_ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\nCanceling: running jobs get SIGTERM, then SIGKILL; press Ctrl-C again to quit at once");
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    }
}

/// Where the jobs run: `--executor`, or without it the shell for jobs without `image:` and a
/// container engine that works here for jobs with one (child pipelines' included). A job with
/// `image:` that cannot run in a container stops the run before it starts, with the way out.
fn choose_executor(pipeline: &Pipeline, executor: Option<ExecutorKind>) -> anyhow::Result<Arc<dyn Executor>> {
    let shell = ShellExecutor::from_process_env();
    let jobs = || pipeline.jobs.iter().filter(|j| j.when != When::Never);
    let engine = match executor {
        Some(ExecutorKind::Shell) => return Ok(Arc::new(shell)),
        Some(kind @ (ExecutorKind::Docker | ExecutorKind::Podman)) => {
            let engine = if kind == ExecutorKind::Docker { Engine::docker() } else { Engine::podman() };
            engine.probe().map_err(|reason| anyhow::anyhow!("`--executor {}` cannot be used: {reason}\n\nhint: run the jobs' scripts on this machine with `--executor shell`", engine.name()))?;
            engine
        }
        None => {
            let with_image: Vec<String> =
                jobs().filter_map(|j| j.image.as_ref().map(|image| format!("`{}` (image `{}`)", j.name, image.name))).collect();
            if with_image.is_empty() {
                return Ok(Arc::new(ContainerExecutor::detecting(shell)));
            }
            Engine::detect().map_err(|reason| {
                let one = with_image.len() == 1;
                anyhow::anyhow!(
                    "{} job{} need{} a container: {}; but no container engine works here: {reason}\n\nhint: run their scripts on this machine instead with `--executor shell`",
                    with_image.len(),
                    if one { "" } else { "s" },
                    if one { "s" } else { "" },
                    with_image.join(", ")
                )
            })?
        }
    };
    Ok(Arc::new(ContainerExecutor::new(engine, shell)))
}

/// Creates the state directory with a `.gitignore` that hides it from git.
fn prepare_state_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the state directory `{}`", dir.display()))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "# Sluice's local runs, logs, artifacts and caches.\n*\n")
            .with_context(|| format!("cannot write `{}`", ignore.display()))?;
    }
    Ok(())
}

/// What job workspaces' `.git` is made from: the repository at its `HEAD` commit, on the
/// pipeline's branch; none before the first commit.
fn git_source(repo: &crate::git::Repo, context: &crate::ci::context::PipelineContext) -> anyhow::Result<Option<GitSource>> {
    if context.sha == crate::ci::context::ZERO_SHA {
        return Ok(None);
    }
    let branch = match &context.git_ref {
        crate::ci::context::GitRef::Branch(name) => Some(name.as_str()),
        crate::ci::context::GitRef::Tag(_) => None,
    };
    Ok(Some(GitSource::new(repo, &context.sha, branch, true)?))
}
