//! `sluice version check`: the VERSION gate's verdict for a repository's working tree, with exit
//! codes a publish job can act on; and the same verdict as `SLUICE_*` variables for `plan` and
//! `run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::ExitStatus;
use crate::git::Repo;
use crate::publish::image::ImageRef;
use crate::publish::registry::RegistryOptions;
use crate::publish::{
    DEFAULT_TAG_PREFIX, Decision, Refusal, VERSION_FILE, Verdict, check, check_with, publish_variables, published_versions,
};

/// Arguments of `sluice version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    #[command(subcommand)]
    command: VersionCommand,
}

#[derive(Debug, Subcommand)]
enum VersionCommand {
    /// Decide whether `VERSION` publishes: changed, a release, and greater than every published version
    #[command(after_help = "Examples:
  sluice version check                          VERSION in the working tree against the `v*` tags
  sluice version check --before HEAD~1          did this push change VERSION?
  sluice version check --before \"$CI_COMMIT_BEFORE_SHA\" --json
  sluice version check --registry 127.0.0.1:5000/hello   also the registry's tags

`VERSION` holds a semantic version (`1.4.0`, `1.4.0-dev`; a leading `v` and surrounding
whitespace are allowed, build metadata `+…` is not). It publishes when this push changed it
(always true without `--before`), it is not a pre-release, and it is greater by SemVer
precedence than every published version: the repository's tags PREFIX + X.Y.Z, and with
--registry the tags X.Y.Z of that registry repository.

JSON output: {\"verdict\": \"publish\"|\"skip-prerelease\"|\"unchanged\"|\"refused\", \"version\",
\"previous\", \"published\", \"changed\", \"message\"}.
Exit codes: 0 publish, 3 nothing to publish (a pre-release, or VERSION unchanged), 4 refused:
not greater than the published version, 2 VERSION missing, not a semantic version or
unreadable, or invalid arguments.")]
    Check(CheckArgs),
}

/// Arguments of `sluice version check`.
#[derive(Debug, Args)]
struct CheckArgs {
    /// The repository (any directory inside it); VERSION is read from its working tree
    #[arg(long, default_value = ".", env = "SLUICE_DIR")]
    dir: PathBuf,
    /// Previous commit of the ref, to tell whether VERSION changed (default: it did)
    #[arg(long, value_name = "SHA")]
    before: Option<String>,
    /// Published versions are the tags PREFIX followed by a version
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_TAG_PREFIX, env = "SLUICE_TAG_PREFIX")]
    tag_prefix: String,
    /// Also count the version tags of this registry repository (`REGISTRY/REPOSITORY`) as published
    #[arg(long, value_name = "REF")]
    registry: Option<String>,
    /// Print the verdict as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// Runs `sluice version …`.
pub fn run(args: &VersionArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        VersionCommand::Check(check) => run_check(check),
    }
}

fn run_check(args: &CheckArgs) -> anyhow::Result<ExitStatus> {
    let repo =
        Repo::discover(&args.dir).with_context(|| format!("cannot check the version in `{}`", args.dir.display()))?;
    let before = match args.before.as_deref() {
        Some(rev) if rev.bytes().all(|b| b == b'0') => None,
        Some(rev) => Some(repo.resolve(rev)?),
        None => None,
    };
    let from_registry = match &args.registry {
        Some(reference) => registry_versions(reference)?,
        None => Vec::new(),
    };
    let Some(decision) = check_with(&repo, None, before.as_deref(), &args.tag_prefix, &from_registry)? else {
        eprintln!(
            "error: there is no `{VERSION_FILE}` file in `{}`, so nothing is published\n\n\
             hint: write the version to publish into `{VERSION_FILE}`, for example `0.1.0`",
            repo.root().display()
        );
        return Ok(ExitStatus::Error);
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&to_json(&decision))?);
    } else {
        outln!("{}", decision.message());
    }
    if let Some(hint) = decision.hint() {
        eprintln!("hint: {hint}");
    }
    Ok(exit_status(&decision.verdict))
}

/// The versions among the tags of registry repository `reference` (tags `X.Y.Z`, no prefix).
fn registry_versions(reference: &str) -> anyhow::Result<Vec<crate::publish::Version>> {
    let image: ImageRef = reference.parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let tags = runtime
        .block_on(crate::publish::push::tags(&image, &RegistryOptions::from_env()))
        .with_context(|| format!("cannot list the published versions of `{reference}`"))?;
    Ok(published_versions(tags.iter().map(String::as_str), ""))
}

/// The exit status of `sluice version check` for a verdict.
fn exit_status(verdict: &Verdict) -> ExitStatus {
    match verdict {
        Verdict::Publish { .. } => ExitStatus::Success,
        Verdict::SkipPrerelease { .. } | Verdict::Unchanged { .. } => ExitStatus::NothingToPublish,
        Verdict::Refused {
            reason: Refusal::NotGreater { .. },
        } => ExitStatus::Refused,
        Verdict::Refused {
            reason: Refusal::NotSemver(_),
        } => ExitStatus::Error,
    }
}

/// The JSON contract of `sluice version check --json` (documented in the README).
fn to_json(decision: &Decision) -> serde_json::Value {
    let text = |version: &Option<crate::publish::Version>| version.as_ref().map(ToString::to_string);
    serde_json::json!({
        "verdict": decision.verdict.name(),
        "version": text(&decision.version),
        "previous": text(&decision.previous),
        "published": text(&decision.published),
        "changed": decision.changed,
        "message": decision.message(),
    })
}

/// The VERSION gate's variables for a pipeline at `at` (`None`: the working tree) whose ref was
/// at `before`: none when the repository has no `VERSION`, or when git cannot be read (with a
/// warning). A refused version does not stop planning: it gives `SLUICE_PUBLISH=false` and a
/// warning naming both versions.
pub(super) fn gate_variables(repo: &Repo, at: Option<&str>, before: Option<&str>) -> Vec<(String, String)> {
    match check(repo, at, before, DEFAULT_TAG_PREFIX) {
        Ok(None) => Vec::new(),
        Ok(Some(decision)) => {
            if let Verdict::Refused { reason } = &decision.verdict {
                eprintln!("warning: {reason}; `SLUICE_PUBLISH` is `false`\n");
            }
            publish_variables(&decision)
        }
        Err(error) => {
            eprintln!(
                "warning: {:#}; the `SLUICE_*` version variables are not set\n",
                anyhow::Error::new(error)
            );
            Vec::new()
        }
    }
}
