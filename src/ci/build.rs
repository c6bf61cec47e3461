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

mod plan;
mod plan_job;
mod select;

pub use plan::{NO_JOBS_REASON, WORKFLOW_REASON, build};

#[cfg(test)]
mod tests;
