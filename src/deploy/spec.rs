//! What one deployment needs to know, independent of where it was read from: the app, the
//! environment, the pinned release, how to render it, where it goes and how to check it.

use std::path::PathBuf;
use std::time::Duration;

use crate::secrets::Plaintext;

/// One deployment of a release of an app to an environment.
#[derive(Debug, Clone)]
pub struct DeploySpec {
    /// The app (`apps/<app>/` in the config repo).
    pub app: String,
    /// The environment (`environments/<env>.yaml`).
    pub env: String,
    /// The pinned version.
    pub version: String,
    /// The pinned image reference (`127.0.0.1:5000/hello:1.2.3`).
    pub image: String,
    /// The pinned manifest digest (`sha256:…`).
    pub digest: String,
    /// How to render the manifests.
    pub render: RenderSource,
    /// The values the templates see: the app's, with the pin's merged over them.
    pub values: serde_json::Value,
    /// For the process target: overrides of the image's entrypoint, cmd and environment.
    pub run: RunOverride,
    /// How to tell that the release is healthy; `None` means "started is healthy".
    pub health: Option<HealthCheck>,
    /// The environment's targets, in the order rollout steps take them.
    pub targets: Vec<TargetSpec>,
    /// Steps and pause of the rollout over `targets`.
    pub rollout: RolloutPlan,
    /// A hash of everything this deployment is made of (release, render, targets, run,
    /// health, encrypted secrets), set by the reconcile: a target that runs the same release
    /// with another revision applies it again (the process target restarts it). Empty when
    /// not known.
    pub revision: String,
}

/// Where the templates are, relative to the config repo's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderSource {
    /// A directory of handlebars templates (`*.yaml`, `*.yml`, optionally with `.hbs`).
    Manifests(PathBuf),
    /// A Helm chart directory, rendered with the `helm` binary.
    Chart(PathBuf),
    /// Nothing to render (a process target needs only the image).
    None,
}

/// The `run:` block of `app.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOverride {
    /// Replaces the image's entrypoint and cmd when set.
    pub command: Option<Vec<String>>,
    /// Added to (and overriding) the image's environment.
    pub env: Vec<(String, String)>,
}

/// The app's health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// `GET path` must answer `expect_status`; tried every `interval` until `within` ends.
    Http {
        /// The request path, such as `/healthz`.
        path: String,
        /// The expected status code.
        expect_status: u16,
        /// How long one request may take.
        timeout: Duration,
        /// The pause between attempts.
        interval: Duration,
        /// How long a release has to become healthy.
        within: Duration,
    },
    /// A command that must exit 0; tried every `interval` until `within` ends.
    Command {
        /// The argv.
        argv: Vec<String>,
        /// How long one run may take.
        timeout: Duration,
        /// The pause between attempts.
        interval: Duration,
        /// How long a release has to become healthy.
        within: Duration,
    },
    /// The Kubernetes target's own rollout condition decides.
    Kubernetes,
}

/// One target of an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The target's name, unique in its environment.
    pub name: String,
    /// Its kind and settings.
    pub kind: TargetKind,
}

/// The kinds of target and their settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// Local processes unpacked from the image (the all-in-one development environment).
    Process {
        /// Where the image is read from.
        image: ImageSource,
        /// The first of the two ports the app alternates between (`PORT`).
        base_port: u16,
    },
    /// A script run with the render and the secrets in a private directory.
    Command {
        /// The argv; a relative program is looked up in the `PATH`, then in the render.
        run: Vec<String>,
    },
    /// Commit the render to a branch and path of a git repository.
    Gitops {
        /// The repository (a path or `file://` URL for now).
        repo: String,
        /// The branch, created when missing.
        branch: String,
        /// The directory in the repository under which `<app>/` is written.
        path: String,
        /// Recipients (`age1…`) the secrets are encrypted to.
        recipients: Vec<String>,
    },
    /// One cluster (a context of a kubeconfig), applied to with server-side apply.
    Kubernetes {
        /// The kubeconfig file; `None` reads `KUBECONFIG` or `~/.kube/config`, then the
        /// in-cluster service account.
        kubeconfig: Option<PathBuf>,
        /// The kubeconfig's context; `None` takes its `current-context`.
        context: Option<String>,
        /// The namespace of the environment.
        namespace: String,
        /// How long Deployments and StatefulSets have to roll out.
        rollout_timeout: Duration,
    },
}

/// Where the process target reads the pinned image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// An OCI image layout directory (`oci:DIR[:TAG]`).
    Layout(PathBuf),
    /// A registry (`registry/repository[:tag]`): the pinned digest is pulled into the image
    /// cache under the data directory.
    Registry(String),
}

/// Steps of a rollout over an environment's targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutPlan {
    /// Cumulative percentages of the targets, ending with 100 (`[10, 25, 100]`).
    pub steps: Vec<u8>,
    /// The pause between two steps.
    pub pause: Duration,
    /// Whether a failed step puts the previous release back on the targets already changed.
    pub auto_rollback: bool,
}

impl Default for RolloutPlan {
    fn default() -> Self {
        RolloutPlan {
            steps: vec![100],
            pause: Duration::ZERO,
            auto_rollback: false,
        }
    }
}

/// An environment's secrets for one app, decrypted in memory: names and values, in order.
/// The values are [`Plaintext`] (zeroized on drop, printed as `[REDACTED]`).
#[derive(Debug, Default)]
pub struct SecretValues(pub Vec<(String, Plaintext)>);

impl From<crate::secrets::AppSecrets> for SecretValues {
    fn from(secrets: crate::secrets::AppSecrets) -> Self {
        SecretValues(
            secrets
                .entries
                .into_iter()
                .map(|entry| (entry.key, entry.value))
                .collect(),
        )
    }
}

impl SecretValues {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
impl DeploySpec {
    /// A spec of app `hello` in `dev` at `version`, rendering nothing, with no targets.
    pub(crate) fn example(version: &str) -> DeploySpec {
        DeploySpec {
            app: "hello".into(),
            env: "dev".into(),
            version: version.into(),
            image: format!("127.0.0.1:5000/hello:{version}"),
            digest: "sha256:abc".into(),
            render: RenderSource::None,
            values: serde_json::json!({}),
            run: RunOverride::default(),
            health: None,
            targets: Vec::new(),
            rollout: RolloutPlan::default(),
            revision: String::new(),
        }
    }
}
