//! The promotion loop: fetches the config repo, applies its tip when it is valid, and
//! promotes every release whose environment promotes automatically and whose gates are all
//! open. Level-triggered: each pass judges everything again, so soak timers, windows and
//! freezes need no timers of their own; it runs every `config_repo.poll` and at once when
//! an approval, a rejection or another change wakes it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::promote::Promoter;

/// Runs passes until `shutdown`.
pub async fn run(promoter: Promoter, wake: Arc<Notify>, every: Duration, shutdown: CancellationToken) {
    loop {
        let pass = promoter.clone();
        let result = tokio::task::spawn_blocking(move || {
            pass.config_repo.refresh();
            pass.promote_automatically()
        })
        .await;
        match result {
            Ok(promoted) => {
                for done in promoted {
                    tracing::info!(app = %done.app, env = %done.env, version = %done.version,
                        commit = done.commit.as_deref().unwrap_or(""), "promoted");
                }
            }
            Err(panicked) => tracing::error!("a promotion pass panicked: {panicked}"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(every) => {}
        }
    }
}
