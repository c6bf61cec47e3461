//! Targets: where a rendered release goes. Each kind has its own file; [`apply`] dispatches.
//!
//! A target receives the spec, the render and the decrypted secrets, and either makes the
//! release run (and healthy, where it can tell) or fails leaving what ran before in place as
//! far as the kind allows: the process target keeps the previous release running until the
//! new one is healthy; the command target's script decides; the gitops target commits all
//! or nothing; the Kubernetes target applies every object before pruning anything, and
//! prunes only once the workloads rolled out (see [`kubernetes`]).

pub mod command;
pub mod gitops;
pub mod kubernetes;
pub mod process;

use std::path::PathBuf;
use std::sync::Arc;

use super::image::{self, ImageError};
use super::render::Rendered;
use super::spec::{DeploySpec, ImageSource, SecretValues, TargetKind, TargetSpec};
use crate::publish::registry::RegistryOptions;

/// Where targets keep their state.
#[derive(Debug, Clone)]
pub struct TargetContext {
    /// The daemon's data directory; targets use `<data_dir>/deploy/<app>/<env>/<target>/`,
    /// and registry images are cached in the layout `<data_dir>/deploy/images`.
    pub data_dir: PathBuf,
    /// How registries are reached (insecure hosts, credentials), as for publishing.
    pub registry: RegistryOptions,
    /// How the processes that process targets started ended (the health watch reads it).
    pub exits: Arc<process::Exits>,
}

impl TargetContext {
    /// A context under `data_dir` whose registry options come from the environment
    /// ([`RegistryOptions::from_env`]).
    pub fn new(data_dir: PathBuf) -> TargetContext {
        TargetContext {
            data_dir,
            registry: RegistryOptions::from_env(),
            exits: Arc::default(),
        }
    }

    /// The layout holding the image `source`: the `oci:` layout itself, or the image cache,
    /// into which the pinned `digest` is pulled first (blobs already there are not fetched).
    ///
    /// # Errors
    ///
    /// [`ImageError`] when the pull fails.
    pub async fn image_layout(&self, source: &ImageSource, digest: &str) -> Result<PathBuf, ImageError> {
        match source {
            ImageSource::Layout(dir) => Ok(dir.clone()),
            ImageSource::Registry(reference) => {
                let cache = self.data_dir.join("deploy/images");
                image::pull::pull(reference, digest, &cache, &self.registry).await?;
                Ok(cache)
            }
        }
    }

    /// The state directory of one target of one app in one environment.
    pub fn target_dir(&self, spec: &DeploySpec, target: &TargetSpec) -> PathBuf {
        self.data_dir
            .join("deploy")
            .join(&spec.app)
            .join(&spec.env)
            .join(&target.name)
    }
}

/// What a target reports after applying a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Where the release answers, when the target knows (`http://127.0.0.1:18081`).
    pub url: Option<String>,
    /// One line on what was done.
    pub message: String,
}

/// Why a target did not apply a release. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The image could not be read or unpacked.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A file or directory of the target could not be written.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The release started but did not become healthy; what ran before still runs.
    #[error("{version} did not become healthy: {reason}")]
    Unhealthy {
        /// The version.
        version: String,
        /// The last health check failure, or how the process exited.
        reason: String,
    },
    /// Git failed (gitops target).
    #[error("git: {0}")]
    Git(String),
    /// The configuration cannot work (an empty command, an HTTP check without address, …).
    #[error("{0}")]
    Config(String),
    /// A Kubernetes cluster refused or failed the apply, or a workload did not roll out.
    #[error(transparent)]
    Kubernetes(#[from] kubernetes::KubeError),
}

/// Applies the release to one target.
///
/// # Errors
///
/// [`TargetError`]; see each kind for what is left in place.
pub async fn apply(
    context: &TargetContext,
    target: &TargetSpec,
    spec: &DeploySpec,
    rendered: &Rendered,
    secrets: &SecretValues,
) -> Result<Applied, TargetError> {
    match &target.kind {
        TargetKind::Process { image, base_port } => {
            let process = process::ProcessTarget {
                dir: context.target_dir(spec, target),
                layout: context.image_layout(image, &spec.digest).await?,
                base_port: *base_port,
            };
            process.deploy(spec, secrets, &context.exits).await
        }
        TargetKind::Command { run } => command::run(run, spec, rendered, secrets).await,
        TargetKind::Gitops {
            repo,
            branch,
            path,
            recipients,
        } => {
            let gitops = gitops::GitopsTarget {
                dir: context.target_dir(spec, target),
                repo: repo.clone(),
                branch: branch.clone(),
                path: path.clone(),
                recipients: recipients.clone(),
            };
            gitops.apply(spec, rendered, secrets).await
        }
        TargetKind::Kubernetes {
            kubeconfig,
            context,
            namespace,
            rollout_timeout,
        } => {
            let settings = kubernetes::Settings {
                kubeconfig: kubeconfig.as_deref(),
                context: context.as_deref(),
                namespace,
                rollout_timeout: *rollout_timeout,
            };
            Ok(kubernetes::apply(&settings, spec, rendered, secrets).await?)
        }
    }
}
