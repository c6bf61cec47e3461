//! Starting jobs: resource groups, concurrency slots, and what each job receives.

use super::super::slots::SlotPermit;

use super::{Completion, Phase, Run, Scope, TaskSet};
use crate::ci::pipeline::Job;
use crate::run::job::{self, ArtifactSource, Ticket};
use crate::run::scheduler::RunError;
use crate::store::JobStatus;

impl<'p> Run<'p> {
    /// Queues node `i` for a slot, through its resource group.
    pub(super) fn ready(
        &mut self,
        scope: &Scope<'_>,
        i: usize,
        reason: Option<&str>,
    ) -> Result<(), RunError> {
        if let Some(group) = self.nodes[i].resource.clone() {
            let entry = self.groups.entry(group).or_default();
            match entry.0 {
                Some(holder) if holder != i => {
                    entry.1.push_back(i);
                    self.transition(scope, i, JobStatus::WaitingForResource, reason)?;
                    self.nodes[i].phase = Phase::WaitingForResource;
                    return Ok(());
                }
                _ => entry.0 = Some(i),
            }
        }
        self.transition(scope, i, JobStatus::Pending, reason)?;
        self.nodes[i].phase = Phase::Pending;
        self.pending.push_back(i);
        Ok(())
    }

    /// Frees node `i`'s resource group and hands it to the next waiting job.
    pub(super) fn release(&mut self, scope: &Scope<'_>, i: usize) -> Result<(), RunError> {
        let Some(group) = self.nodes[i].resource.clone() else {
            return Ok(());
        };
        if self.groups.get(&group).is_some_and(|entry| entry.0 == Some(i)) {
            self.hand_over(scope, &group)?;
        }
        Ok(())
    }

    /// Gives `group` to the first job waiting for it (none holds it after).
    pub(super) fn hand_over(&mut self, scope: &Scope<'_>, group: &str) -> Result<(), RunError> {
        let Some(entry) = self.groups.get_mut(group) else {
            return Ok(());
        };
        entry.0 = entry.1.pop_front();
        if let Some(next) = entry.0 {
            self.transition(scope, next, JobStatus::Pending, Some("resource group free"))?;
            self.nodes[next].phase = Phase::Pending;
            self.pending.push_back(next);
        }
        Ok(())
    }

    fn is_trigger(&self, i: usize) -> bool {
        self.nodes[i].job.trigger.is_some()
    }

    pub(super) fn wants_slot(&self) -> bool {
        self.pending.iter().any(|&i| !self.is_trigger(i))
    }

    /// Starts pending trigger jobs, and other pending jobs while slots are free.
    pub(super) fn start_ready<'s>(
        &mut self,
        scope: &'s Scope<'s>,
        tasks: &mut TaskSet<'s>,
    ) -> Result<(), RunError>
    where
        'p: 's,
    {
        let mut k = 0;
        while k < self.pending.len() {
            let i = self.pending[k];
            if self.is_trigger(i) {
                self.pending.remove(k);
                self.start(scope, tasks, i, None)?;
                continue;
            }
            match scope.shared.slots.try_acquire() {
                Some(permit) => {
                    self.pending.remove(k);
                    self.start(scope, tasks, i, Some(permit))?;
                }
                None => k += 1,
            }
        }
        Ok(())
    }

    pub(super) fn start_first<'s>(
        &mut self,
        scope: &'s Scope<'s>,
        tasks: &mut TaskSet<'s>,
        permit: SlotPermit,
    ) -> Result<(), RunError>
    where
        'p: 's,
    {
        if let Some(k) = self.pending.iter().position(|&i| !self.is_trigger(i))
            && let Some(i) = self.pending.remove(k)
        {
            self.start(scope, tasks, i, Some(permit))?;
        }
        Ok(())
    }

    /// Records node `i` as running and starts its future.
    fn start<'s>(
        &mut self,
        scope: &'s Scope<'s>,
        tasks: &mut TaskSet<'s>,
        i: usize,
        permit: Option<SlotPermit>,
    ) -> Result<(), RunError>
    where
        'p: 's,
    {
        self.transition(scope, i, JobStatus::Running, None)?;
        self.nodes[i].phase = Phase::Running;
        self.nodes[i].started += 1;
        let info = self.info(scope, i);
        scope.shared.observer.job_started(&info);
        let cancel = scope.cancel.child_token();
        self.nodes[i].cancel = Some(cancel.clone());
        let node = &self.nodes[i];
        let ticket = Ticket {
            cancel,
            info,
            row: node.row,
            attempt: node.attempt,
            log_path: node.log_path.clone(),
            played: node.played,
            sources: self.artifact_sources(i),
            _permit: permit,
        };
        let job: &'s Job = node.job;
        tasks.push(Box::pin(async move {
            let outcome = job::execute(scope, job, ticket).await;
            Completion::Job { node: i, outcome }
        }));
        Ok(())
    }

    /// The jobs whose artifacts (and dotenv variables) node `i` receives, in plan order:
    /// `dependencies` if given; else the `needs` with `artifacts: true`; else every job of the
    /// earlier stages.
    fn artifact_sources(&self, i: usize) -> Vec<ArtifactSource> {
        let job = self.nodes[i].job;
        let receives = |other: &Job| match (&job.dependencies, &job.needs) {
            (Some(dependencies), _) => dependencies.contains(&other.name),
            (None, Some(needs)) => needs
                .iter()
                .any(|n| n.is_local() && n.artifacts && n.job == other.name),
            (None, None) => {
                other.stage != job.stage
                    && self.nodes[i]
                        .prereqs
                        .iter()
                        .any(|&p| self.nodes[p].job.name == other.name)
            }
        };
        self.nodes
            .iter()
            .filter(|node| receives(node.job))
            .filter_map(|node| {
                let done = node.finished.as_ref()?;
                Some(ArtifactSource {
                    name: node.job.name.clone(),
                    dir: done.artifacts.clone(),
                    dotenv: done.dotenv.clone(),
                })
            })
            .collect()
    }
}
