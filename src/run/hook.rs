//! Steps the runner takes after a job's script succeeded and before the job is final, for
//! capabilities that sit after `run` in the flow (publication builds and pushes the image a
//! job prepared). The runner knows only this trait; the daemon and `sluice run` plug the
//! implementations in through [`RunOptions::after_success`](super::RunOptions).

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use crate::store::{PipelineId, Store};

/// What a hook sees of the job.
pub struct HookInput<'a> {
    /// The job's name.
    pub job: &'a str,
    /// The job's workspace (its script's working directory), still in place.
    pub workspace: &'a Path,
    /// The job's variables, as its script saw them.
    pub env: &'a [(String, String)],
    /// The pipeline.
    pub pipeline: PipelineId,
    /// The store of record.
    pub store: &'a Store,
}

impl HookInput<'_> {
    /// The value of variable `name`, if the job has it.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The result of a hook: lines for the job's log, and on failure the message that fails
/// the job (also logged).
pub type HookResult = Result<Vec<String>, (Vec<String>, String)>;

/// A step after a successful script.
pub trait AfterSuccess: Send + Sync + fmt::Debug {
    /// Whether the step applies to a job with these variables (jobs opt in).
    fn applies(&self, env: &[(String, String)]) -> bool;

    /// Runs the step.
    fn run<'a>(&'a self, input: HookInput<'a>) -> Pin<Box<dyn Future<Output = HookResult> + Send + 'a>>;
}
