//! What a job leaves behind: artifacts, dotenv variables, caches.

use super::{Dirs, Finished, Prepared, blocking};
use crate::diagnostic::error_chain;
use crate::ci::pipeline::{Job, When};
use crate::run::artifacts::{self, ArtifactSpec};
use crate::run::cache;
use crate::run::dag::Scope;
use crate::run::dotenv;
use crate::run::log::{JobLog, safe_name};
use crate::store::JobStatus;

/// Whether something kept per `when` is kept for a job that ended with `status`.
fn kept(when: When, status: JobStatus) -> bool {
    match when {
        When::OnFailure => status == JobStatus::Failed,
        When::Always => matches!(status, JobStatus::Success | JobStatus::Failed),
        _ => status == JobStatus::Success,
    }
}

/// Collects artifacts, reads dotenv reports and saves caches.
pub(super) async fn keep_outputs(
    scope: &Scope<'_>,
    job: &Job,
    dirs: &Dirs,
    prepared: &Prepared,
    finished: &mut Finished,
    log: &mut JobLog<'_>,
) {
    let shared = scope.shared;
    if let Some(spec) = &job.artifacts {
        let reports = dotenv::report_paths(&spec.reports);
        if !reports.is_empty() {
            let (workspace, run_dir, name) = (dirs.workspace.clone(), scope.run_dir.clone(), job.name.clone());
            match blocking(move || {
                let vars = dotenv::read_reports(&workspace, &reports).map_err(|e| error_chain(&e))?;
                dotenv::keep(&run_dir, &name, &vars).map_err(|e| format!("cannot keep the report: {e}"))?;
                Ok(vars)
            })
            .await
            {
                Ok(vars) => finished.dotenv = vars,
                Err(message) => log.line(&format!("WARNING: dotenv report ignored: {message}")),
            }
        }
        if kept(spec.when, finished.status) && (!spec.paths.is_empty() || spec.untracked) {
            let dest = scope.run_dir.join("artifacts").join(safe_name(&job.name));
            let selection = ArtifactSpec {
                paths: spec.paths.iter().map(|p| prepared.vars.expand(p)).collect(),
                exclude: spec
                    .exclude
                    .iter()
                    .map(|p| prepared.vars.expand(p))
                    .collect(),
                untracked: spec.untracked,
            };
            let (workspace, tracked, target) = (
                dirs.workspace.clone(),
                shared.source.files.clone(),
                dest.clone(),
            );
            let collected = blocking(move || {
                let _ = std::fs::remove_dir_all(&target);
                artifacts::collect(&workspace, &selection, &tracked, &target)
                    .map_err(|e| error_chain(&e))
            })
            .await;
            match collected {
                Ok(stats) => {
                    for pattern in &stats.unmatched {
                        log.line(&format!("WARNING: {pattern}: no matching files"));
                    }
                    for refused in &stats.refused {
                        log.line(&format!("WARNING: {}: {}", refused.path, refused.reason));
                    }
                    log.line(&format!(
                        "Uploaded {} artifact files",
                        stats.copied.files + stats.copied.symlinks
                    ));
                    finished.artifacts = Some(dest);
                }
                Err(message) => log.line(&format!("WARNING: cannot collect artifacts: {message}")),
            }
        }
    }
    let cache_root = shared.options.state_dir.join("cache");
    for plan in prepared
        .caches
        .iter()
        .filter(|p| p.push && kept(p.when, finished.status))
    {
        let (root, workspace, tracked, p) = (
            cache_root.clone(),
            dirs.workspace.clone(),
            shared.source.files.clone(),
            plan.clone(),
        );
        match blocking(move || {
            cache::save(&root, &p, &workspace, &tracked).map_err(|e| error_chain(&e))
        })
        .await
        {
            Ok(_) => log.line(&format!("Saved cache `{}`", plan.key)),
            Err(message) => log.line(&format!(
                "WARNING: cannot save cache `{}`: {message}",
                plan.key
            )),
        }
    }
}
