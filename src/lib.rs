//! Sluice: a self-hosted GitOps CI/CD controller.
//!
//! The flow: a push becomes an event; the repository's `.gitlab-ci.yml` is planned with
//! GitLab's semantics ([`ci`]) and run as staged jobs; a raised `VERSION` publishes an image;
//! releases are promoted through environments by commits to a config repo and deployed with
//! their secrets decrypted in memory. Modules appear below in the order of that flow.

pub mod diagnostic;
pub mod ci;
pub mod run;
pub mod executor;
