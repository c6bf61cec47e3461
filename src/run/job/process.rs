//! Running one script through the executor while recording its process in the store.

use tokio::sync::{mpsc, oneshot};

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
                let record = ProcessRecord { pid: process.pid, pgid: process.pgid, start_time: proc_start_time(process.pid) };
                let recorded = scope.shared.store.record_process(row, record).map_err(|e| error_chain(&e));
                let _ = ack.send(recorded);
            }
        }
    }
}

pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), or 0
/// when it cannot be read (the record then cannot be verified after a crash).
fn proc_start_time(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name (field 2) is parenthesised and may contain spaces: count after it.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|field| field.parse().ok())
        .unwrap_or(0)
}
