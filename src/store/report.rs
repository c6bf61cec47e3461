//! The status report outbox: what the daemon owes each project's forge.
//!
//! A pipeline's status change writes its report in the same transaction (see
//! [`Store::set_pipeline_status`]), for the projects named by
//! [`Store::set_report_contexts`]; one row per (project, commit, status name) keeps only the
//! newest state. The forge reporter reads [`Store::due_reports`], sends, and records the
//! outcome with [`Store::report_done`] or [`Store::report_failed`]; a version number makes a
//! change that lands while a send is in flight pending again instead of lost.

use crate::store::sqlite::reports;
use crate::store::{PipelineId, PipelineStatus, ProjectId, Store, StoreError, Timestamp};

/// A report that is due (or pending), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// Its id.
    pub id: i64,
    /// The project.
    pub project_id: ProjectId,
    /// The commit the status is for.
    pub sha: String,
    /// The status name: `<context>/<pipeline source>`.
    pub context: String,
    /// The newest pipeline of this (project, sha, context).
    pub pipeline_id: PipelineId,
    /// Its status when the report was written.
    pub status: PipelineStatus,
    /// The version to pass back to [`Store::report_done`] / [`Store::report_failed`].
    pub version: i64,
    /// Failed attempts at this version.
    pub attempts: i64,
    /// When the first of those failed.
    pub failing_since: Option<Timestamp>,
    /// What the forge gave back to update later (a GitHub check run's id).
    pub remote_id: Option<String>,
    /// The pipeline `remote_id` was made for.
    pub remote_pipeline_id: Option<PipelineId>,
}

impl Store {
    /// Replaces the set of projects that report statuses, with the prefix of their status
    /// names. Projects not listed write no reports from now on.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] (a project id that does not exist included).
    pub fn set_report_contexts(&self, contexts: &[(ProjectId, String)]) -> Result<(), StoreError> {
        reports::set_contexts(&mut self.conn(), contexts)
    }

    /// Pending reports whose next attempt is due at `now`, oldest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn due_reports(&self, now: Timestamp, limit: u32) -> Result<Vec<ReportRow>, StoreError> {
        reports::due(&self.conn(), now, limit)
    }

    /// When the earliest pending report is due (`None`: nothing is pending).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn next_report_due(&self) -> Result<Option<Timestamp>, StoreError> {
        reports::next_due(&self.conn())
    }

    /// Marks `version` of report `id` as done: sent, or given up on. `remote` is what the forge
    /// gave back to update later, with the pipeline it belongs to. A newer version written
    /// meanwhile stays pending.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn report_done(&self, id: i64, version: i64, remote: Option<(&str, PipelineId)>) -> Result<(), StoreError> {
        reports::done(&mut self.conn(), id, version, remote)
    }

    /// Records a failed attempt at `version` of report `id`, to be tried again at
    /// `next_attempt_at`. A no-op when a newer version replaced it meanwhile.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn report_failed(
        &self,
        id: i64,
        version: i64,
        next_attempt_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        reports::failed(&mut self.conn(), id, version, next_attempt_at, now)
    }
}

#[cfg(test)]
mod tests;
