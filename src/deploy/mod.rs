//! Deployment: makes an environment run the release its config-repo pin names.
//!
//! The flow for one (app, environment): [`render`] the app's manifests (handlebars templates
//! or a Helm chart) over its per-environment values, refusing anything that leaves the config
//! repo; hand the render and the environment's secrets, decrypted in memory by the caller, to
//! each [`target`] in [`rollout`] steps; after each step run the app's [`health`] check; stop
//! (and optionally roll back) when a step fails. What was deployed, and whether it became
//! healthy, is recorded by the caller from the returned [`rollout::RolloutReport`].
//!
//! This module never writes a decrypted secret anywhere but to the target that needs it (a
//! process's environment, a private tmpfs directory removed afterwards, a SOPS-encrypted file
//! in a GitOps repository, a Kubernetes `Secret`); it does not read the config repo's YAML
//! itself: [`spec::DeploySpec`] is its input.

pub mod from_config;
pub mod health;
pub mod image;
mod private_dir;
pub mod recipients;
pub mod reconcile;
pub mod render;
pub mod rollout;
pub mod spec;
pub mod target;
#[cfg(test)]
mod test_image;
pub mod watch;

pub use spec::{DeploySpec, SecretValues};
