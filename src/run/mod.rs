//! Scheduling and job lifecycle: from a planned pipeline to jobs run in clean workspaces,
//! with their artifacts passed along. State is written to the store before it takes effect.
//!
//! Each job gets its own [`workspace`] (a copy-on-write copy of the repository's files), runs
//! through an [`crate::executor::Executor`], and hands its [`artifacts`] to later jobs.
//! [`copy`] is the file-tree primitive both use; it never writes through a symbolic link.

pub mod artifacts;
pub mod copy;
pub mod workspace;
