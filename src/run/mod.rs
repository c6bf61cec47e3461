//! Scheduling and job lifecycle: from a planned pipeline to jobs run in clean workspaces,
//! with their artifacts passed along and their logs masked. A job's state change is persisted
//! through [`crate::store`] *before* the runner acts on it, so a crash never leaves work the
//! store does not know about.
//!
//! Each job gets its own [`workspace`] (a copy-on-write copy of the repository's files), runs
//! through an [`crate::executor::Executor`], and hands its [`artifacts`] to later jobs.
//! [`copy`] is the file-tree primitive both use; it never writes through a symbolic link.
//! [`mask`] replaces secret values in job output with `[MASKED]`.

pub mod artifacts;
pub mod copy;
pub mod mask;
pub mod workspace;
