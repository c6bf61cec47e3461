//! Running one script through the executor while recording its process in the store.

use tokio::sync::{mpsc, oneshot};

use crate::diagnostic::error_chain;
use crate::executor::process_group::start_time;
use crate::executor::{Exit, OnSpawn, ScriptRun, SpawnedProcess};
use crate::run::dag::Scope;
use crate::run::log::JobLog;
use crate::store::{JobId, ProcessRecord};

/// Runs `spec`, recording its process in the store before the executor waits for it.
pub(super) async fn run_recorded(
    scope: &Scope<'_>,
    row: JobId,
    mut spec: ScriptRun,
    cancel: &tokio_util::sync::CancellationToken,
    log: &mut JobLog<'_>,
) -> Result<Exit, String> {
    type Spawned = (SpawnedProcess, oneshot::Sender<Result<(), String>>);
    let (tx, mut rx) = mpsc::unbounded_channel::<Spawned>();
    let on_spawn: OnSpawn = std::sync::Arc::new(move |process| {
        let tx = tx.clone();
        Box::pin(async move {
            let (ack, acked) = oneshot::channel();
            tx.send((process, ack))
                .map_err(|_| "the runner stopped listening".to_owned())?;
            acked
                .await
                .map_err(|_| "the runner stopped listening".to_owned())??;
            Ok(())
        })
    });
    spec.on_spawn = Some(on_spawn);
    let executor = scope.shared.executor.clone();
    let run = executor.run(&spec, log, cancel);
    tokio::pin!(run);
    loop {
        tokio::select! {
            outcome = &mut run => return outcome.map(|o| o.exit).map_err(|e| error_chain(&e)),
            Some((process, ack)) = rx.recv() => {
                let record = ProcessRecord { pid: process.pid, pgid: process.pgid, start_time: start_time(process.pid).unwrap_or(0) };
                let recorded = scope.shared.store.record_process(row, record).map_err(|e| error_chain(&e));
                let _ = ack.send(recorded);
            }
        }
    }
}
