//! Idle workspaces waiting for a job: finished jobs' workspaces for later jobs of the same
//! run and, when the run keeps them ([`Pool::keeping`]), for the next run, under
//! `<state>/workspaces/`. A workspace taken from the pool is reset by [`super::reuse`] before
//! a job gets it, so keeping one never lets a job see another's files: it only saves
//! creating them again, which is what a run of short jobs costs on most file systems (figures
//! in README's Development section).
//!
//! # Layout and guarantees
//!
//! Slot `N` is the directory `workspaces/N` and the file `workspaces/N.lock`. A run holds an
//! exclusive lock (`flock`) on the lock file of every slot it uses, from taking its workspace
//! until putting one back, so two runs sharing a state directory never share a workspace; the
//! lock goes with the process, so a killed run frees its slots. The lock file holds the
//! [`Snapshot`] of the workspace in the slot, written after the workspace was moved back
//! (its job and all the job's processes had ended), and emptied when it is taken. A slot
//! whose record is missing (a run killed between the two) is reset like any other, with every
//! file compared by contents. A workspace a killed run was using is not in its slot at all
//! (it was moved under the run's `builds/` directory) and stays there with the run's other
//! files.
//!
//! Nothing here is fsynced: after a power loss a slot's record may be lost or torn, and its
//! files are then compared by contents. Taking and putting back block (a few file operations); call them
//! off the runtime's threads when that matters.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::reuse::Snapshot;

/// Workspaces of finished jobs waiting for the next job (see the [module documentation](self)).
#[derive(Debug, Default)]
pub struct Pool {
    /// Where workspaces are kept between runs; `None`: they are removed when the run ends.
    dir: Option<PathBuf>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Workspaces handed back by this run's jobs.
    idle: Vec<(PathBuf, Snapshot)>,
    /// Slots this run holds the lock of whose workspace was taken (or that had none).
    held: Vec<Slot>,
    /// Slot numbers found under `dir` and not looked at yet; `None` until the first look.
    unvisited: Option<Vec<u32>>,
}

/// A locked slot.
#[derive(Debug)]
struct Slot {
    number: u32,
    lock: File,
}

impl Pool {
    /// A pool that keeps its workspaces between runs in `dir` (`<state>/workspaces`).
    pub fn keeping(dir: PathBuf) -> Self {
        Self { dir: Some(dir), state: Mutex::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an idle workspace: one a job of this run handed back, else one an earlier run
    /// kept (its slot stays locked by this run until [`Pool::finish`]). `None`: make a new one.
    pub fn take(&self) -> Option<(PathBuf, Snapshot)> {
        let mut state = self.state();
        if let Some(idle) = state.idle.pop() {
            return Some(idle);
        }
        let dir = self.dir.as_ref()?;
        let State { unvisited, held, .. } = &mut *state;
        let unvisited = unvisited.get_or_insert_with(|| slot_numbers(dir));
        while let Some(number) = unvisited.pop() {
            let Some(mut slot) = Slot::lock(dir, number, false) else { continue };
            let workspace = slot.workspace(dir);
            // No record: the reset compares every file by contents.
            let snapshot = slot.read_snapshot().unwrap_or_default();
            held.push(slot);
            match std::fs::symlink_metadata(&workspace) {
                Ok(meta) if meta.is_dir() => return Some((workspace, snapshot)),
                Ok(_) => {
                    let _ = std::fs::remove_file(&workspace);
                }
                Err(_) => {}
            }
        }
        None
    }

    /// Offers the workspace at `path` (its job and every process of it finished), recorded
    /// by `snapshot` when it was handed to the job, for reuse.
    pub fn put(&self, path: PathBuf, snapshot: Snapshot) {
        self.state().idle.push((path, snapshot));
    }

    /// Ends the run's use of the pool: moves the idle workspaces into slots for the next run
    /// (when the pool keeps them) and unlocks the slots. Returns the workspaces to remove:
    /// all of them when the pool does not keep them, else those that could not be kept.
    pub fn finish(&self) -> Vec<PathBuf> {
        let mut state = self.state();
        let idle = std::mem::take(&mut state.idle);
        let mut held = std::mem::take(&mut state.held);
        let Some(dir) = &self.dir else {
            return idle.into_iter().map(|(path, _)| path).collect();
        };
        let mut remove = Vec::new();
        for (path, snapshot) in idle {
            let slot = held.pop().or_else(|| Slot::create(dir));
            match slot {
                Some(mut slot) if std::fs::rename(&path, slot.workspace(dir)).is_ok() => {
                    // Without its record the next run compares the files by contents.
                    let _ = slot.write_snapshot(&snapshot);
                }
                _ => remove.push(path),
            }
        }
        remove
    }
}

impl Slot {
    /// Locks slot `number` of `dir`, creating its lock file when `create`; `None` when the
    /// file is missing (or, with `create`, already there), or another run holds the lock.
    fn lock(dir: &Path, number: u32, create: bool) -> Option<Slot> {
        let path = dir.join(format!("{number}.lock"));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(create);
        let lock = options.open(path).ok()?;
        match lock.try_lock() {
            Ok(()) => Some(Slot { number, lock }),
            Err(TryLockError::WouldBlock | TryLockError::Error(_)) => None,
        }
    }

    /// A new slot: the first number without a lock file.
    fn create(dir: &Path) -> Option<Slot> {
        std::fs::create_dir_all(dir).ok()?;
        let taken = slot_numbers(dir);
        (0..).filter(|n| !taken.contains(n)).take(64).find_map(|number| Slot::lock(dir, number, true))
    }

    fn workspace(&self, dir: &Path) -> PathBuf {
        dir.join(self.number.to_string())
    }

    /// Reads the slot's record and empties it (the workspace is about to change).
    fn read_snapshot(&mut self) -> Option<Snapshot> {
        let mut text = String::new();
        self.lock.read_to_string(&mut text).ok()?;
        self.lock.set_len(0).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_snapshot(&mut self, snapshot: &Snapshot) -> std::io::Result<()> {
        let text = serde_json::to_vec(snapshot).map_err(std::io::Error::other)?;
        self.lock.set_len(0)?;
        self.lock.rewind()?;
        self.lock.write_all(&text)
    }
}

/// The slot numbers under `dir` (from their lock files), highest first.
fn slot_numbers(dir: &Path) -> Vec<u32> {
    let mut numbers: Vec<u32> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".lock")?.parse().ok())
        .collect();
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::reuse::{prepare_recorded, reset};
    use crate::run::workspace::SourceTree;
    use crate::run::workspace::tests::write;

    /// A source, and the state directory's slots where a finished run kept one workspace.
    fn kept_one(dir: &Path) -> (SourceTree, PathBuf) {
        let root = dir.join("repo");
        write(&root, "a.txt", "alpha");
        let source = SourceTree { root, files: vec!["a.txt".to_owned()], ..SourceTree::default() };
        let slots = dir.join("workspaces");
        let used = dir.join("used");
        let (_, recorded) = prepare_recorded(&source, &used).expect("prepare");
        let run = Pool::keeping(slots.clone());
        assert!(run.take().is_none(), "an empty pool has nothing");
        run.put(used.clone(), recorded);
        assert!(run.finish().is_empty(), "kept, not removed");
        assert!(!used.exists() && slots.join("0/a.txt").is_file());
        (source, slots)
    }

    /// A workspace put back by one run is taken by the next, and only by one run at a time.
    #[test]
    fn a_kept_workspace_goes_to_one_later_run_at_a_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_, slots) = kept_one(dir.path());
        let second = Pool::keeping(slots.clone());
        let third = Pool::keeping(slots.clone());
        let (taken, _) = second.take().expect("kept workspace");
        assert_eq!(taken, slots.join("0"));
        assert!(third.take().is_none(), "the second run holds slot 0");
        // The second run ends without putting it back (its job was canceled): nothing is
        // left for a record-less slot but to be emptied.
        std::fs::rename(&taken, dir.path().join("gone")).expect("move away");
        assert!(second.finish().is_empty());
        assert!(Pool::keeping(slots.clone()).take().is_none(), "slot 0 is empty now");
    }

    /// A slot whose record is missing (a run killed after moving the workspace back) is
    /// reset by contents.
    #[test]
    fn a_workspace_without_its_record_is_reset_by_contents() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (source, slots) = kept_one(dir.path());
        std::fs::write(slots.join("0.lock"), "").expect("lose the record");
        std::fs::write(slots.join("0/a.txt"), "ALPHA").expect("a same-size edit");
        std::fs::write(slots.join("0/left.txt"), "behind").expect("a file left behind");
        let (taken, snapshot) = Pool::keeping(slots.clone()).take().expect("kept workspace");
        reset(&source, &taken, &snapshot).expect("reset");
        assert_eq!(std::fs::read_to_string(taken.join("a.txt")).expect("read"), "alpha");
        assert!(!taken.join("left.txt").exists());
    }
}
