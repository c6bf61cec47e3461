//! The git drivers: `sluice secrets diff FILE`, a textconv filter that shows a SOPS file
//! decrypted to whoever holds one of its keys (and as it is to anyone else), and
//! `sluice secrets merge BASE OURS THEIRS PATH`, a merge driver that merges the decrypted
//! documents key by key and re-encrypts the result into OURS.
//!
//! Setup (README, "git drivers"): `.gitattributes` maps `secrets/** diff=sluice merge=sluice`,
//! and `git config diff.sluice.textconv "sluice secrets diff"` plus
//! `git config merge.sluice.driver "sluice secrets merge %O %A %B %P"`. Never set
//! `diff.sluice.cachetextconv`: git would store the clear text in `refs/notes/textconv`.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;

use super::{replace_file, report, write_stdout};
use crate::cli::ExitStatus;
use crate::secrets::{self, Identities, MergeOutcome, Plaintext};

/// `diff`: the clear document if an identity fits, else the file unchanged; exit 0 either
/// way so that `git diff` always has something to show.
pub(super) fn diff(file: &Path, identities: &Identities) -> anyhow::Result<ExitStatus> {
    let bytes = Plaintext::new(std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?);
    let name = file.display().to_string();
    let clear = std::str::from_utf8(bytes.expose()).ok().and_then(|text| secrets::decrypt(&name, text, identities).ok());
    write_stdout(clear.as_ref().unwrap_or(&bytes));
    Ok(ExitStatus::Success)
}

/// `merge`: 0 merged (the result in `ours`), 1 conflict (`ours` untouched), 2 error.
pub(super) fn merge(base: &Path, ours: &Path, theirs: &Path, path: &str, identities: &Identities) -> anyhow::Result<ExitStatus> {
    let read = |file: &Path| std::fs::read_to_string(file).with_context(|| format!("cannot read `{}`", file.display()));
    let (base_text, our_text, their_text) = (read(base)?, read(ours)?, read(theirs)?);
    match secrets::merge(path, Some(&base_text), &our_text, &their_text, identities, SystemTime::now()) {
        Ok(MergeOutcome::Merged(merged)) => {
            replace_file(ours, merged.as_bytes()).with_context(|| format!("cannot write `{}`", ours.display()))?;
            Ok(ExitStatus::Success)
        }
        Ok(MergeOutcome::Conflict(paths)) => {
            let paths: Vec<String> = paths.iter().map(|p| if p.is_empty() { "the whole file".to_string() } else { format!("`{p}`") }).collect();
            eprintln!(
                "error: `{path}`: both sides changed {} differently; ours is kept encrypted\n\n\
                 hint: resolve with `sluice secrets edit {path}`, then `git add {path}`",
                paths.join(", ")
            );
            Ok(ExitStatus::Failure)
        }
        Err(error) => Ok(report(&error)),
    }
}
