//! `sluice init DIR`: writes a new config repo from the template compiled into Sluice.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::ExitStatus;
use crate::config::repo::TEMPLATE;

/// Arguments of `sluice init`.
#[derive(Debug, Args)]
#[command(after_help = "Writes environments dev, staging and production, the sample app `hello`, `access.yaml`
and `.sops.yaml` (placeholder recipients: replace them with your own public keys). Then:

  cd DIR && git init -b main && git add -A && git commit -m 'Config repo from sluice init'
  sluice config check --config-repo DIR

Exit codes: 0 written, 2 DIR exists and is not empty, or cannot be written.")]
pub struct InitArgs {
    /// The directory to create (it may exist if it is empty)
    dir: PathBuf,
}

/// Runs `sluice init`.
pub fn run(args: &InitArgs) -> anyhow::Result<ExitStatus> {
    let dir = &args.dir;
    if let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        eprintln!("error: `{}` is not empty; nothing was written\n\nhint: name a new directory", dir.display());
        return Ok(ExitStatus::Error);
    }
    for (path, contents) in TEMPLATE {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&target, contents).with_context(|| format!("cannot write `{}`", target.display()))?;
    }
    outln!("wrote a config repo to `{}` ({} files)", dir.display(), TEMPLATE.len());
    eprintln!("next: replace the placeholder recipients in `.sops.yaml` and `environments/production.yaml`");
    Ok(ExitStatus::Success)
}
