//! Where a job's scripts run and the paths they see: on this machine, or, for a job with
//! `image:` when the executor [runs images](crate::executor::Executor::runs_images), in a
//! container whose `CI_PROJECT_DIR` is `/builds/<project path>` and `CI_BUILDS_DIR`
//! `/builds`, as on GitLab Runner's Docker executor, with its `services:`.

use std::path::PathBuf;

use super::Ticket;
use crate::ci::pipeline::Job;
use crate::ci::variables::Variables;
use crate::executor::ContainerSpec;
use crate::executor::ServiceSpec;
use crate::executor::container::{BUILDS_DIR, container_name, project_dir};
use crate::run::dag::Scope;

/// The paths a job's scripts see, and its container if it has one.
pub(super) struct Placement {
    /// `CI_PROJECT_DIR`.
    pub project_dir: PathBuf,
    /// `CI_BUILDS_DIR`.
    pub builds_dir: PathBuf,
    /// The scratch directory, where `file` variables are.
    pub scratch_dir: PathBuf,
    /// Whether the job runs in a container (of `job.image`).
    in_container: bool,
}

impl Placement {
    /// Where `job` runs, its host directories being `workspace`, `builds` and `scratch`.
    pub(super) fn of(scope: &Scope<'_>, job: &Job, workspace: PathBuf, builds: PathBuf, scratch: PathBuf) -> Self {
        let in_container = job.image.is_some() && scope.shared.executor.runs_images();
        if !in_container {
            return Self {
                project_dir: workspace,
                builds_dir: builds,
                scratch_dir: scratch,
                in_container,
            };
        }
        let project_dir = project_dir(&scope.ctx.project_path);
        Self {
            scratch_dir: PathBuf::from(format!("{project_dir}.tmp")),
            project_dir: PathBuf::from(project_dir),
            builds_dir: PathBuf::from(BUILDS_DIR),
            in_container,
        }
    }

    /// The container of a job that runs in one, with its services; image names and service
    /// variables expanded with `vars`.
    pub(super) fn container(
        &self,
        scope: &Scope<'_>,
        job: &Job,
        ticket: &Ticket,
        vars: &Variables,
    ) -> Option<ContainerSpec> {
        let image = job.image.as_ref().filter(|_| self.in_container)?;
        let store = scope.shared.store.location();
        let name = container_name(store, scope.pipeline_id.get(), ticket.row.get(), ticket.attempt);
        let mut spec = ContainerSpec::new(image, vars.expand(&image.name), &scope.ctx.project_path, name);
        // The workspace's `.git` borrows the source repository's objects by their path.
        if let Some(git) = &scope.shared.source.git {
            spec.read_only.push(git.common_dir.join("objects"));
        }
        spec.services = job
            .services
            .iter()
            .map(|service| {
                let variables = service
                    .variables
                    .iter()
                    .map(|(name, value)| (name.clone(), vars.expand(value)))
                    .collect();
                ServiceSpec::new(service, vars.expand(&service.name), variables)
            })
            .collect();
        Some(spec)
    }
}
