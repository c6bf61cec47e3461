//! `include:` — placeholder while the resolver is written.

mod entry;
mod location;

/// Most included files per pipeline, counting a file each time it is included (GitLab's
/// default `ci_max_includes`).
pub const MAX_INCLUDES: usize = 150;
