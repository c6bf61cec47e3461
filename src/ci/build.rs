//! From the merged configuration (after `include`) to the [`Pipeline`]: `extends`,
//! `!reference`, the global keywords, `workflow:rules`, every job with its `rules` or
//! `only`/`except`, `parallel` expansion and the `needs` graph. This is the one entry point
//! the CLI and the daemon call after [`crate::ci::include::load_config`].

pub mod globals;
