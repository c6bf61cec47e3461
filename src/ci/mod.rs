//! The GitLab CI language: from `.gitlab-ci.yml` (and what it includes) plus a pipeline
//! context to a [`pipeline::Pipeline`] of jobs, or located [`Diagnostics`].
//!
//! This module is pure: it reads files only through [`source::FileReader`], never the file
//! system, git, the network or a clock, and its output is ordered by source position, so the
//! same input always gives the same plan. The steps follow GitLab's own order: load YAML
//! ([`yaml`]), resolve `include` ([`include`], with `spec:inputs` from [`inputs`]), `extends`
//! ([`extends`]), `!reference` ([`reference`]), then build jobs ([`build`]): `default`,
//! `workflow`, `rules`/`only`/`except` ([`rules`], [`only_except`], [`expr`]), `parallel`
//! ([`matrix`]) and the `needs` graph ([`needs`]).

pub mod build;
pub mod context;
pub mod expr;
pub mod extends;
pub mod include;
pub mod inputs;
pub mod job;
pub mod keywords;
pub mod matrix;
pub mod merge;
pub mod needs;
pub mod node;
pub mod only_except;
pub mod pipeline;
pub mod reference;
pub mod rules;
pub mod source;
pub mod variables;
pub mod yaml;

pub use crate::diagnostic::{Diagnostic, Diagnostics};
