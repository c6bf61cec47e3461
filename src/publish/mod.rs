//! Versioned publication: a push that raises a repository's `VERSION` file above every
//! published version publishes it.
//!
//! Built so far: the gate. [`version`](mod@version) is the pure decision (VERSION at the
//! commit, VERSION at the before sha, published versions → [`Decision`]);
//! [`check`](mod@check) gathers those inputs from git (the file at a revision or in the working
//! tree, and the repository's version tags); [`variables`](mod@variables) turns a decision into
//! the `SLUICE_*` variables pipelines gate their publish jobs on. This module decides; it never
//! pushes an image or a tag (the image, registry and tag steps are not built yet).

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
