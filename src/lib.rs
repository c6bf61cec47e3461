//! Sluice: a self-hosted GitOps CI/CD controller.
//!
//! The flow: a push becomes an event; the repository's `.gitlab-ci.yml` is planned with
//! GitLab's semantics ([`ci`]) and run as staged jobs ([`run`] on an [`executor`], recorded in
//! [`store`]); a raised `VERSION` publishes an image; releases are promoted through
//! environments by commits to a config repo and deployed with their secrets decrypted in
//! memory. Modules appear below in the order of that flow; [`cli`] sits on top.

pub mod diagnostic;
pub mod ci;
pub mod pipelines;
pub mod git;
pub mod store;
pub mod executor;
pub mod run;
pub mod cli;
