//! What one report says, before any forge's words: the commit, the status name, the
//! pipeline's state and where to read more; and the HTTP call a forge module makes of it.

use super::gerrit::GerritChange;
use crate::store::{PipelineId, PipelineStatus};

/// A pipeline's state to report for one commit, forge-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The commit.
    pub sha: String,
    /// The branch or tag the pipeline ran for.
    pub git_ref: String,
    /// The status name: `<context>/<pipeline source>`.
    pub context: String,
    /// The pipeline.
    pub pipeline_id: PipelineId,
    /// Its status.
    pub status: PipelineStatus,
    /// Where a user reads the pipeline (`<public_url>/api/v1/pipelines/<id>`).
    pub target_url: String,
    /// The Gerrit change the pipeline was started for, if any.
    pub gerrit_change: Option<GerritChange>,
    /// The GitHub check run already made for this pipeline, to update.
    pub check_run_id: Option<String>,
}

impl StatusReport {
    /// One line saying how the pipeline stands, as every forge shows next to the status.
    pub fn description(&self) -> String {
        let id = self.pipeline_id;
        match self.status {
            PipelineStatus::Created | PipelineStatus::Pending => format!("Pipeline {id} is waiting to run"),
            PipelineStatus::WaitingForResource | PipelineStatus::Preparing => format!("Pipeline {id} is preparing"),
            PipelineStatus::Running => format!("Pipeline {id} is running"),
            PipelineStatus::Success => format!("Pipeline {id} passed"),
            PipelineStatus::Failed => format!("Pipeline {id} failed"),
            PipelineStatus::Canceled => format!("Pipeline {id} was canceled"),
            PipelineStatus::Skipped => format!("Pipeline {id} was skipped"),
            PipelineStatus::Manual => format!("Pipeline {id} waits for a manual job"),
            PipelineStatus::Scheduled => format!("Pipeline {id} is scheduled"),
        }
    }
}

/// The HTTP method of a [`Call`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PATCH`.
    Patch,
}

/// One request to a forge's API, without its credentials (added when it is sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The full URL.
    pub url: String,
    /// The JSON body (`None`: no body).
    pub body: Option<serde_json::Value>,
}

impl Call {
    /// A `POST` of `body` to `url`.
    pub fn post(url: String, body: serde_json::Value) -> Self {
        Self { method: Method::Post, url, body: Some(body) }
    }
}

/// `segment` with everything but unreserved characters percent-encoded, for one URL path
/// segment (`group/app` → `group%2Fapp`, as GitLab wants project paths).
pub fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
