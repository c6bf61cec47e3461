//! Scheduling and job lifecycle: from a planned pipeline to jobs run in clean workspaces,
//! with their artifacts passed along and their logs masked. A job's state change is persisted
//! through [`crate::store`] *before* the runner acts on it, so a crash never leaves work the
//! store does not know about.
//!
//! [`run_pipeline`] ([`scheduler`]) is the entry point: it records the pipeline, and [`dag`]
//! starts each job when its prerequisites are done. Each job attempt ([`job`]) gets its own
//! [`workspace`] (a copy-on-write copy of the repository's files, or a finished job's reset
//! by [`reuse`], taken from the run's [`pool`], which can keep them for the next run), its
//! [`variables`], its
//! restored [`artifacts`] and [`cache`], runs through an [`crate::executor::Executor`] with
//! its output going to a masked [`log`], and hands its artifacts and [`dotenv`] variables to
//! later jobs; [`retry`] decides whether a failure is tried again, [`trigger`] runs child
//! pipelines. [`copy`] is the file-tree primitive; [`mask`] replaces secret values with
//! `[MASKED]`; [`observer`] is how callers watch a run.

pub mod artifacts;
pub mod cache;
pub mod copy;
mod dag;
pub mod hook;
pub mod dotenv;
pub mod git_dir;
mod job;
pub mod log;
pub mod mask;
pub mod observer;
pub mod rerun;
pub mod retry;
pub mod pool;
pub mod reuse;
pub mod running;
pub mod scheduler;
pub mod slots;
mod tasks;
pub mod trigger;
pub mod variables;
pub mod workspace;

pub use log::last_run_log;
pub use observer::{JobInfo, JobSummary, NoObserver, RunObserver};
pub use scheduler::{PipelineRun, RunError, RunOptions, RunSummary, run_pipeline};
pub use rerun::{pipeline_status_of, rerun_jobs};
pub use running::RunningPipelines;
pub use slots::Slots;
pub use trigger::LockedReader;
pub use variables::RunVariable;

#[cfg(test)]
mod tests;
