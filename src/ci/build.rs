//! From the merged configuration (after `include`) to the [`Pipeline`]: `extends`,
//! `!reference`, the global keywords, `workflow:rules`, every job with its `rules` or
//! `only`/`except`, `parallel` expansion and the `needs` graph. This is the one entry point
//! the CLI and the daemon call after [`crate::ci::include::load_config`].
//!
//! The order is GitLab's: the configuration is validated as a whole first (every error of
//! every job is collected), then the pipeline is evaluated for the context: workflow rules,
//! then each job instance's rules. A job that its rules remove is still listed, with
//! `when: never`, so a plan shows every visible job; it takes no part in the `needs` graph.

pub mod globals;

// The planning flow needs `crate::ci::rules` and `crate::ci::only_except` from the `expr`
// branch; it is compiled once that branch is merged (remove the four `cfg(any())` lines).
#[cfg(any())]
mod plan;
#[cfg(any())]
mod plan_job;
#[cfg(any())]
mod select;
#[cfg(any())]
pub use plan::{NO_JOBS_REASON, WORKFLOW_REASON, build};
#[cfg(all(test, any()))]
mod tests;
