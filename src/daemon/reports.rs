//! Starting the forge reporter: which projects report (recorded in the store, so their status
//! changes write reports from now on) and the loop that sends them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::config::ProjectConfig;
use crate::forge::Reporter;
use crate::forge::outbox::Outbox;
use crate::store::{ProjectId, Store};

/// The outbox of the projects with a usable `forge:`, after recording them in the store
/// (projects without one stop reporting). `None` when no project reports.
///
/// # Errors
///
/// A GitHub App key that cannot be used, the store, or the HTTP client.
pub async fn outbox(
    projects: &[(ProjectConfig, ProjectId)],
    store: &Arc<Store>,
    bound: SocketAddr,
) -> anyhow::Result<Option<Outbox>> {
    let default_public_url = format!("http://{bound}");
    let mut reporters = HashMap::new();
    for (project, id) in projects {
        let reporter = Reporter::for_project(project, &default_public_url)
            .with_context(|| format!("`{}` cannot report to its forge", project.name))?;
        if let Some(reporter) = reporter {
            reporters.insert(*id, reporter);
        }
    }
    let contexts: Vec<(ProjectId, String)> = reporters.iter().map(|(id, r)| (*id, r.context.clone())).collect();
    let recorded = store.clone();
    tokio::task::spawn_blocking(move || recorded.set_report_contexts(&contexts))
        .await
        .context("recording the reporting projects panicked")?
        .context("cannot record which projects report to their forge")?;
    if reporters.is_empty() {
        return Ok(None);
    }
    let client = crate::forge::http::client().context("cannot start the HTTP client of forge reports")?;
    Ok(Some(Outbox { store: store.clone(), reporters, client }))
}
