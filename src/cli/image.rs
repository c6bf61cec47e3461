//! `sluice image build` and `sluice image push`: daemonless OCI images (see
//! [`crate::publish::image`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::ExitStatus;
use crate::git::Repo;
use crate::publish::image::{self, BuildSpec, ImageRef, LayerSpec, Layout, Platform, Source};
use crate::publish::push;
use crate::publish::registry::{PushReport, RegistryOptions};

/// Arguments of `sluice image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Build an OCI image from files, without a container engine; print its digest
    #[command(after_help = "Examples:
  sluice image build --from scratch --layer dist/app:/app --entrypoint /app/server \\
      --tag 127.0.0.1:5000/hello:1.2.3 --push
  sluice image build --from oci:base-layout:3.19 --layer app.py:/srv/app.py \\
      --entrypoint python3 --entrypoint /srv/app.py --tag hello:1.2.3 --oci-layout out/
  sluice image build --layer bin:/usr/local/bin --platform linux/amd64 --platform linux/arm64 \\
      --tag oci:out:1.2.3

Images are reproducible: every time in them (layer entries, `created`, the
`org.opencontainers.image.created` label) is SOURCE_DATE_EPOCH, else the commit time of
HEAD of the repository holding the current directory, else 1970-01-01; never the clock.
Layers are uncompressed tars with owner 0:0 and modes 0755 (directories, executables) or
0644. Labels `org.opencontainers.image.revision` (CI_COMMIT_SHA or HEAD), `.version`
(SLUICE_VERSION) and `.source` (CI_PROJECT_URL) are added when known; --label overrides.

--tag is a registry reference (REGISTRY/REPOSITORY:TAG), written with --push and/or into
--oci-layout DIR, or `oci:DIR:TAG` for an OCI layout directory. Registries are spoken to over
https, and http for loopback ones and those in SLUICE_INSECURE_REGISTRIES (comma-separated
host:port); credentials come from SLUICE_REGISTRY_USERNAME and SLUICE_REGISTRY_PASSWORD.
Exit codes: 0 built (and pushed), 2 invalid arguments or inputs, or a failed push.")]
    Build(Box<BuildArgs>),
    /// Push an image from an OCI layout to a registry (or another layout)
    #[command(after_help = "Examples:
  sluice image push --oci-layout out/ --tag 127.0.0.1:5000/hello:1.2.3
  sluice image push --oci-layout out/ --tag oci:/srv/images:1.2.3

The image pushed is the one of the layout tagged like --tag, else the layout's only image.
Blobs the registry already has are not sent again (one HEAD request each).
Exit codes: 0 pushed, 2 invalid arguments or a failed push.")]
    Push(PushArgs),
}

/// Arguments of `sluice image build`.
#[derive(Debug, Args)]
struct BuildArgs {
    /// Base image: `scratch`, `oci:DIR[:TAG]` or a registry reference
    #[arg(long, value_name = "REF", default_value = "scratch")]
    from: String,
    /// Add a layer with SRC (a file, or a directory's contents) at DEST in the image
    #[arg(long = "layer", value_name = "SRC:DEST")]
    layers: Vec<String>,
    /// The entrypoint, one argument per flag (replaces the base's, and clears its cmd)
    #[arg(long = "entrypoint", value_name = "ARG", allow_hyphen_values = true)]
    entrypoint: Vec<String>,
    /// The default arguments, one per flag
    #[arg(long = "cmd", value_name = "ARG", allow_hyphen_values = true)]
    cmd: Vec<String>,
    /// Set an environment variable
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Set a label
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// The working directory
    #[arg(long, value_name = "DIR")]
    workdir: Option<String>,
    /// The user (name or uid[:gid])
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Expose a port (`8080`, `53/udp`)
    #[arg(long = "expose", value_name = "PORT")]
    expose: Vec<String>,
    /// A platform to build for (default: this machine's); several give an index
    #[arg(long = "platform", value_name = "OS/ARCH")]
    platforms: Vec<String>,
    /// Where the image goes: REGISTRY/REPOSITORY:TAG or oci:DIR:TAG
    #[arg(long, value_name = "REF")]
    tag: String,
    /// Push to the registry of --tag
    #[arg(long)]
    push: bool,
    /// Also write the image into this OCI layout directory
    #[arg(long, value_name = "DIR")]
    oci_layout: Option<PathBuf>,
    /// Print {"digest", "tag", "pushed", "uploaded", "skipped"} as JSON
    #[arg(long)]
    json: bool,
}

/// Arguments of `sluice image push`.
#[derive(Debug, Args)]
struct PushArgs {
    /// The OCI layout holding the image
    #[arg(long, value_name = "DIR")]
    oci_layout: PathBuf,
    /// Where to push: REGISTRY/REPOSITORY:TAG or oci:DIR:TAG
    #[arg(long, value_name = "REF")]
    tag: String,
    /// Print {"digest", "tag", "pushed", "uploaded", "skipped"} as JSON
    #[arg(long)]
    json: bool,
}

/// Runs `sluice image …`.
pub fn run(args: &ImageArgs) -> anyhow::Result<ExitStatus> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match &args.command {
        ImageCommand::Build(build) => runtime.block_on(run_build(build)),
        ImageCommand::Push(push) => runtime.block_on(run_push(push)),
    }
}

async fn run_build(args: &BuildArgs) -> anyhow::Result<ExitStatus> {
    let target: ImageRef = args.tag.parse()?;
    let spec = build_spec(args)?;
    let options = RegistryOptions::from_env();
    let (layout_dir, temporary) = match (&target, &args.oci_layout) {
        (ImageRef::Layout { .. }, Some(_)) => bail!("--oci-layout cannot be combined with an `oci:` --tag: the tag already names the layout"),
        (ImageRef::Layout { dir, .. }, None) => (dir.clone(), false),
        (ImageRef::Registry(_), Some(dir)) => (dir.clone(), false),
        (ImageRef::Registry(_), None) if args.push => (scratch_dir()?, true),
        (ImageRef::Registry(_), None) => bail!(
            "the image would be written nowhere\n\nhint: add --push to send it to `{}`, or --oci-layout DIR to keep it in a directory",
            args.tag
        ),
    };
    let result = build_and_push(args, &spec, &target, &layout_dir, &options).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&layout_dir);
    }
    let (digest, report) = result?;
    print_result(args.json, &digest, &target, report.as_ref());
    Ok(ExitStatus::Success)
}

async fn build_and_push(
    args: &BuildArgs,
    spec: &BuildSpec,
    target: &ImageRef,
    layout_dir: &Path,
    options: &RegistryOptions,
) -> anyhow::Result<(String, Option<PushReport>)> {
    let layout = Layout::create(layout_dir)?;
    let built = image::build(spec, &layout, target.tag(), options).await?;
    let report = match target {
        ImageRef::Registry(_) if args.push => Some(push::push(&layout, &built.root, target, options).await?),
        _ => None,
    };
    Ok((built.digest, report))
}

async fn run_push(args: &PushArgs) -> anyhow::Result<ExitStatus> {
    let target: ImageRef = args.tag.parse()?;
    let layout = Layout::open(&args.oci_layout)?;
    // The image tagged like the target, else the layout's only one.
    let root = match layout.resolve(Some(target.tag())) {
        Ok(root) => root,
        Err(err) => layout.resolve(None).map_err(|_| err)?,
    };
    let report = push::push(&layout, &root, &target, &RegistryOptions::from_env()).await?;
    print_result(args.json, &report.digest.clone(), &target, Some(&report));
    Ok(ExitStatus::Success)
}

fn print_result(json: bool, digest: &str, target: &ImageRef, report: Option<&PushReport>) {
    if json {
        let value = serde_json::json!({
            "digest": digest,
            "tag": target.to_string(),
            "pushed": report.is_some(),
            "uploaded": report.map(|r| r.uploaded),
            "skipped": report.map(|r| r.skipped),
        });
        outln!("{value}");
    } else {
        if let Some(report) = report {
            eprintln!(
                "pushed `{target}`: {} blob(s) sent, {} already there",
                report.uploaded, report.skipped
            );
        }
        outln!("{digest}");
    }
}

/// A private directory for an image that is only pushed.
fn scratch_dir() -> anyhow::Result<PathBuf> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("cannot make a temporary directory name: {err}"))?;
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("sluice-image-{name}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    Ok(dir)
}

fn build_spec(args: &BuildArgs) -> anyhow::Result<BuildSpec> {
    let from: Source = args.from.parse()?;
    let layers = args.layers.iter().map(|l| l.parse::<LayerSpec>()).collect::<Result<Vec<_>, _>>()?;
    let platforms = args.platforms.iter().map(|p| p.parse::<Platform>()).collect::<Result<Vec<_>, _>>()?;
    let env = args.env.iter().map(|e| key_value("--env", e)).collect::<anyhow::Result<Vec<_>>>()?;
    let repo = Repo::discover(Path::new(".")).ok();
    let mut labels = automatic_labels(repo.as_ref());
    for label in &args.labels {
        labels.push(key_value("--label", label)?);
    }
    Ok(BuildSpec {
        from: Some(from),
        layers,
        entrypoint: (!args.entrypoint.is_empty()).then(|| args.entrypoint.clone()),
        cmd: (!args.cmd.is_empty()).then(|| args.cmd.clone()),
        env,
        labels,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        expose: args.expose.clone(),
        platforms,
        epoch: epoch(repo.as_ref())?,
    })
}

fn key_value(flag: &str, text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => bail!("invalid {flag} `{text}`: write it as KEY=VALUE"),
    }
}

/// The build's epoch: `SOURCE_DATE_EPOCH`, else the commit time of HEAD, else 0.
fn epoch(repo: Option<&Repo>) -> anyhow::Result<u64> {
    if let Ok(text) = std::env::var("SOURCE_DATE_EPOCH") {
        return text.trim().parse().with_context(|| {
            format!("invalid SOURCE_DATE_EPOCH `{text}`: it must be whole seconds since 1970, for example `1700000000`")
        });
    }
    if let Some(time) = repo.and_then(|r| r.commit_time("HEAD").ok()) {
        return Ok(u64::try_from(time).unwrap_or(0));
    }
    eprintln!("warning: neither SOURCE_DATE_EPOCH nor a git commit gives the build a time; using 1970-01-01");
    Ok(0)
}

/// `org.opencontainers.image.{revision,version,source}` from the CI variables and git.
fn automatic_labels(repo: Option<&Repo>) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let revision = std::env::var("CI_COMMIT_SHA")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| repo.and_then(|r| r.resolve("HEAD").ok()));
    for (key, value) in [
        ("revision", revision),
        ("version", std::env::var("SLUICE_VERSION").ok().filter(|s| !s.is_empty())),
        ("source", std::env::var("CI_PROJECT_URL").ok().filter(|s| !s.is_empty())),
    ] {
        if let Some(value) = value {
            labels.push((format!("org.opencontainers.image.{key}"), value));
        }
    }
    labels
}
