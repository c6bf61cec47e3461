//! `sluice secrets edit FILE`: the clear document in a 0600 file on tmpfs (never on a
//! disk), `$EDITOR` on it, and the file re-encrypted with only the changed values getting
//! new ciphertext. The clear file is overwritten and removed on every exit path Sluice
//! controls: success, an editor failure, invalid input, a panic (drop), and SIGINT, SIGTERM
//! or SIGHUP while the editor runs (caught so that the cleanup still happens). Only a
//! `kill -9` of Sluice can leave it, on tmpfs, until the next reboot.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use super::{read_encrypted, replace_file, report};
use crate::cli::ExitStatus;
use crate::secrets::{self, Identities, Plaintext};

/// The clear copy being edited; dropping it overwrites and removes the file.
struct ClearFile {
    path: PathBuf,
}

impl ClearFile {
    /// Creates `name` in `dir` with mode 0600, failing if it exists, and writes `clear`.
    fn create(dir: &Path, name: &str, clear: &Plaintext) -> std::io::Result<ClearFile> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        let guard = ClearFile { path };
        file.write_all(clear.expose())?;
        file.sync_all()?;
        Ok(guard)
    }
}

impl Drop for ClearFile {
    fn drop(&mut self) {
        // The editor may have replaced the file (write to a new file, rename): wipe whatever
        // is there now, then remove it.
        if let Ok(len) = std::fs::metadata(&self.path).map(|m| m.len())
            && let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(&self.path)
        {
            let _ = file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)]);
            let _ = file.sync_all();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A directory on tmpfs for the clear copy: `$XDG_RUNTIME_DIR`, else `/dev/shm`.
///
/// # Errors
///
/// When neither exists on a tmpfs (or ramfs) mount.
fn tmpfs_dir() -> anyhow::Result<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let candidates = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()).map(PathBuf::from).into_iter();
    for dir in candidates.chain([PathBuf::from("/dev/shm")]) {
        if let Ok(dir) = dir.canonicalize()
            && dir.is_dir()
            && on_tmpfs(&mountinfo, &dir)
        {
            return Ok(dir);
        }
    }
    anyhow::bail!(
        "refusing to write the clear file: neither `$XDG_RUNTIME_DIR` nor `/dev/shm` is a tmpfs mount\n\n\
         hint: set `XDG_RUNTIME_DIR` to a directory on tmpfs, or use `sluice secrets set` to change one value"
    )
}

/// Whether the mount holding `dir` (the longest mount point that is a prefix) is tmpfs.
fn on_tmpfs(mountinfo: &str, dir: &Path) -> bool {
    let mut best: Option<(usize, bool)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(separator) = fields.iter().position(|f| *f == "-") else { continue };
        let (Some(mount_point), Some(fs_type)) = (fields.get(4), fields.get(separator + 1)) else { continue };
        let mount_point = Path::new(mount_point);
        if dir.starts_with(mount_point) {
            let depth = mount_point.components().count();
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, matches!(*fs_type, "tmpfs" | "ramfs")));
            }
        }
    }
    best.is_some_and(|(_, tmpfs)| tmpfs)
}

/// Runs `sluice secrets edit`.
pub(super) fn run(file: &Path, identities: &Identities) -> anyhow::Result<ExitStatus> {
    let name = file.display().to_string();
    let encrypted = read_encrypted(file)?;
    let clear = match secrets::decrypt(&name, &encrypted, identities) {
        Ok(clear) => clear,
        Err(error) => return Ok(report(&error)),
    };
    let dir = tmpfs_dir()?;
    let base = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no random bytes: {e}"))?;
    let temp_name = format!("sluice-edit-{}-{base}", random.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let temp = ClearFile::create(&dir, &temp_name, &clear).with_context(|| format!("cannot create `{}`", dir.join(&temp_name).display()))?;

    let status = run_editor(&temp.path)?;
    let edited = match status {
        EditorEnd::Exited(true) => Plaintext::new(std::fs::read(&temp.path).context("cannot read the edited file back")?),
        EditorEnd::Exited(false) => {
            eprintln!("error: the editor failed; `{name}` is unchanged");
            return Ok(ExitStatus::Failure);
        }
        EditorEnd::Signalled(signal) => {
            eprintln!("error: interrupted by {signal}; `{name}` is unchanged and the clear copy is removed");
            return Ok(ExitStatus::Failure);
        }
    };
    drop(temp);
    if edited.expose() == clear.expose() {
        eprintln!("`{name}`: no changes");
        return Ok(ExitStatus::Success);
    }
    match secrets::update(&name, &encrypted, &edited, identities, SystemTime::now()) {
        Ok(updated) => {
            replace_file(file, updated.as_bytes()).with_context(|| format!("cannot write `{name}`"))?;
            Ok(ExitStatus::Success)
        }
        Err(error) => {
            eprintln!("error: the edited document is invalid; `{name}` is unchanged");
            Ok(report(&error))
        }
    }
}

enum EditorEnd {
    Exited(bool),
    Signalled(&'static str),
}

/// Runs `$VISUAL` or `$EDITOR` (default `vi`; split on whitespace, so `code --wait`
/// works) on `path`, with SIGINT, SIGTERM and SIGHUP caught meanwhile: the terminal's Ctrl-C
/// goes to the editor, and a termination request ends the edit with the cleanup done.
fn run_editor(path: &Path) -> anyhow::Result<EditorEnd> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("no signal handling")?;
    let _entered = runtime.enter();
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    // Caught (and ignored) so that Ctrl-C in the editor does not end Sluice before cleanup.
    let _interrupt = signal(SignalKind::interrupt())?;
    let status = std::process::Command::new(program)
        .args(words)
        .arg(path)
        .status()
        .with_context(|| format!("cannot run the editor `{editor}`"))?;
    // A short turn of the runtime lets its signal driver deliver what arrived meanwhile.
    let signalled = runtime.block_on(async {
        tokio::select! {
            biased;
            _ = terminate.recv() => Some("SIGTERM"),
            _ = hangup.recv() => Some("SIGHUP"),
            () = tokio::time::sleep(std::time::Duration::from_millis(20)) => None,
        }
    });
    if let Some(name) = signalled {
        return Ok(EditorEnd::Signalled(name));
    }
    Ok(EditorEnd::Exited(status.success()))
}
