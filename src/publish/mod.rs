//! Versioned publication: a push that raises a repository's `VERSION` file above every
//! published version publishes it.
//!
//! The gate: [`version`](mod@version) is the pure decision (VERSION at the commit, VERSION at
//! the before sha, published versions → [`Decision`]); [`check`](mod@check) gathers those
//! inputs from git (the file at a revision or in the working tree, and the repository's
//! version tags); [`variables`](mod@variables) turns a decision into the `SLUICE_*` variables
//! pipelines gate their publish jobs on.
//!
//! The publication itself, once a publish job's script succeeded:
//! [`publication`](mod@publication) claims the (app, version), builds the image
//! ([`image`](mod@image) from layers, or [`dockerfile`](mod@dockerfile) with podman), pushes it
//! ([`push`](mod@push), over [`registry`](mod@registry)) without ever overwriting a tag,
//! tags the commit, records the release and bumps the config repo's chart
//! ([`chart_bump`](mod@chart_bump)).

pub mod chart_bump;
pub mod check;
pub mod dockerfile;
pub mod image;
pub mod publication;
pub mod push;
pub mod registry;
pub mod variables;
pub mod version;

pub use check::{CheckError, DEFAULT_TAG_PREFIX, VERSION_FILE, check, check_with};
pub use variables::publish_variables;
pub use version::{Decision, NotSemver, NotSemverReason, Refusal, Verdict, Version, decide, published_versions};
