//! The command target: runs a script (terraform, a vendor CLI, `kubectl apply -f`) with the
//! render and the secrets in a private directory on tmpfs (mode 0700, removed afterwards,
//! whatever happens), so decrypted secrets never reach a disk.
//!
//! The script runs with that directory as its working directory, which holds `manifests/`
//! (the render) and `secrets/` (one 0600 file per secret, named after it). Its environment is
//! the daemon's `PATH`, `SLUICE_APP`, `SLUICE_ENV`, `SLUICE_VERSION`, `SLUICE_IMAGE`,
//! `SLUICE_DIGEST`, `SLUICE_RENDER_DIR`, `SLUICE_SECRETS_DIR` and each secret as a variable.
//! Its output is kept (the last 4 KiB, every secret value replaced by `[MASKED]`) for the
//! deployment record; exit 0 means applied.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Stdio;

use super::{Applied, TargetError};
use crate::deploy::private_dir::PrivateDir;
use crate::deploy::render::Rendered;
use crate::deploy::spec::{DeploySpec, SecretValues};
use crate::run::mask::Masker;

/// Where the private directory is made: tmpfs, so secrets stay in memory.
pub const TMPFS: &str = "/dev/shm";

/// How much of the script's output is kept.
const OUTPUT_TAIL: usize = 4096;

/// Runs `argv` with the render and secrets; see the module documentation.
///
/// # Errors
///
/// [`TargetError::Io`] when the private directory cannot be made (no `/dev/shm`),
/// [`TargetError::Spawn`], or [`TargetError::Unhealthy`] with the masked output tail when the
/// script exits non-zero.
pub async fn run(
    argv: &[String],
    spec: &DeploySpec,
    rendered: &Rendered,
    secrets: &SecretValues,
) -> Result<Applied, TargetError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(TargetError::Config(format!(
            "the command target of `{}` has an empty `run:`",
            spec.env
        )));
    };
    let private = PrivateDir::create(Path::new(TMPFS), "sluice-deploy").map_err(|source| TargetError::Io {
        path: TMPFS.into(),
        source,
    })?;
    write_inputs(private.path(), rendered, secrets)?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(private.path())
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("SLUICE_APP", &spec.app)
        .env("SLUICE_ENV", &spec.env)
        .env("SLUICE_VERSION", &spec.version)
        .env("SLUICE_IMAGE", &spec.image)
        .env("SLUICE_DIGEST", &spec.digest)
        .env("SLUICE_RENDER_DIR", private.path().join("manifests"))
        .env("SLUICE_SECRETS_DIR", private.path().join("secrets"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (name, value) in &secrets.0 {
        command.env(name, OsStr::from_bytes(value.expose()));
    }
    let output = command.output().await.map_err(|source| TargetError::Spawn {
        program: program.clone(),
        source,
    })?;
    drop(private);
    let mut text = output.stdout;
    text.extend_from_slice(&output.stderr);
    let tail = masked_tail(&text, secrets);
    if output.status.success() {
        Ok(Applied {
            url: None,
            message: format!("`{program}` succeeded; output:\n{tail}"),
        })
    } else {
        Err(TargetError::Unhealthy {
            version: spec.version.clone(),
            reason: format!("`{program}` exited with {}; output:\n{tail}", output.status),
        })
    }
}

/// `manifests/<path>` and `secrets/<name>` (0600) inside the private directory.
fn write_inputs(dir: &Path, rendered: &Rendered, secrets: &SecretValues) -> Result<(), TargetError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TargetError::Io { path, source }
    };
    let manifests = dir.join("manifests");
    std::fs::create_dir(&manifests).map_err(io(&manifests))?;
    for file in &rendered.files {
        let path = manifests.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, &file.text).map_err(io(&path))?;
    }
    let secrets_dir = dir.join("secrets");
    std::fs::create_dir(&secrets_dir).map_err(io(&secrets_dir))?;
    for (name, value) in &secrets.0 {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(TargetError::Config(format!(
                "secret name `{name}` cannot be a file name"
            )));
        }
        let path = secrets_dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(value.expose()).map_err(io(&path))?;
    }
    Ok(())
}

/// The last [`OUTPUT_TAIL`] bytes of `output` with every secret value masked (masking runs
/// over the whole output first, so a value cut by the tail is still masked).
fn masked_tail(output: &[u8], secrets: &SecretValues) -> String {
    let values = secrets
        .0
        .iter()
        .map(|(_, v)| String::from_utf8_lossy(v.expose()).into_owned());
    let masked = match Masker::new(values) {
        Ok(masker) => masker.mask(output),
        Err(_) => b"[output withheld: the secrets could not be masked]".to_vec(),
    };
    let start = masked.len().saturating_sub(OUTPUT_TAIL);
    String::from_utf8_lossy(&masked[start..]).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::run;
    use crate::deploy::render::{Rendered, RenderedFile};
    use crate::deploy::spec::{DeploySpec, SecretValues};
    use crate::deploy::target::TargetError;
    use crate::secrets::Plaintext;

    fn spec() -> DeploySpec {
        DeploySpec::example("1.0.0")
    }

    fn argv(script: &str) -> Vec<String> {
        vec!["bash".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn the_script_gets_render_and_secrets_privately_and_its_output_is_masked() {
        let report = tempfile::tempdir().unwrap();
        let rendered = Rendered {
            files: vec![RenderedFile {
                path: "sub/cm.yaml".into(),
                text: "kind: ConfigMap\n".into(),
                objects: Vec::new(),
            }],
        };
        let secrets = SecretValues(vec![(
            "DB_PASSWORD".into(),
            Plaintext::from("hunter2-very-secret".to_string()),
        )]);
        let script = format!(
            "set -e; test \"$(stat -c %a .)\" = 700; test \"$(stat -c %a secrets/DB_PASSWORD)\" = 600
             test \"$(cat secrets/DB_PASSWORD)\" = \"$DB_PASSWORD\"; cat manifests/sub/cm.yaml
             echo \"$PWD\" > {0}/dir; df --output=fstype . | tail -1 > {0}/fstype; echo \"leak: $DB_PASSWORD\"",
            report.path().display()
        );
        let applied = run(&argv(&script), &spec(), &rendered, &secrets).await.unwrap();
        assert!(applied.message.contains("kind: ConfigMap"), "{}", applied.message);
        assert!(applied.message.contains("leak: [MASKED]"), "{}", applied.message);
        assert!(!applied.message.contains("hunter2"), "{}", applied.message);
        let dir = std::fs::read_to_string(report.path().join("dir")).unwrap();
        assert!(dir.starts_with("/dev/shm/sluice-deploy-"), "{dir}");
        assert!(
            !std::path::Path::new(dir.trim()).exists(),
            "the private directory is removed"
        );
        assert_eq!(
            std::fs::read_to_string(report.path().join("fstype")).unwrap().trim(),
            "tmpfs"
        );
    }

    #[tokio::test]
    async fn a_failing_script_fails_the_target_and_still_cleans_up() {
        let report = tempfile::tempdir().unwrap();
        let script = format!(
            "echo \"$PWD\" > {}/dir; echo broke >&2; exit 4",
            report.path().display()
        );
        let err = run(&argv(&script), &spec(), &Rendered::default(), &SecretValues::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, TargetError::Unhealthy { ref reason, .. } if reason.contains("exit status: 4") && reason.contains("broke")),
            "{err}"
        );
        let dir = std::fs::read_to_string(report.path().join("dir")).unwrap();
        assert!(!std::path::Path::new(dir.trim()).exists());
    }
}
