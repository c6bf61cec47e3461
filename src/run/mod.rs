//! Scheduling and job lifecycle; state written to store before it takes effect.
//!
//! This module will own the scheduler (the `needs` DAG, concurrency, `when`, `retry`,
//! `timeout`, `allow_failure`, manual jobs), artifacts, cache and log capture. A job's state
//! change is persisted through [`crate::store`] *before* the runner acts on it, so a crash
//! never leaves work the store does not know about. Today it holds only [`mask`], the
//! masking of secret values in job logs.

pub mod mask;
