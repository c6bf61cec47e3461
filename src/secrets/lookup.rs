//! Finding keys outside the secrets files: key files on disk, OpenPGP fingerprints in the
//! user's GnuPG keyring (through `gpg --export`, as `sops` finds them), and identity files
//! named by arguments or environment variables. This is the part of [`super`] that reads
//! files and the environment; everything else takes bytes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::age::{SOPS_AGE_KEY, SOPS_AGE_KEY_FILE};
use super::pgp::{self, PgpRecipient};
use super::{Identities, Plaintext, SecretsError};

/// The environment variable naming the controller's identity file (age or OpenPGP).
pub const SLUICE_IDENTITY_FILE: &str = "SLUICE_IDENTITY_FILE";
/// The environment variable holding the controller's identity inline (age identity lines or
/// an armored OpenPGP secret key).
pub const SLUICE_IDENTITY: &str = "SLUICE_IDENTITY";

/// The OpenPGP recipients a `--pgp` argument or a `.sops.yaml` `pgp` entry names: a key file
/// (armored or binary, one key or a keyring) if `arg` is an existing path, else a fingerprint
/// looked up in the GnuPG keyring with `gpg --export` (`GNUPGHOME` is honoured).
///
/// # Errors
///
/// [`SecretsError::PgpKey`] when `arg` is neither a readable key file nor a fingerprint
/// `gpg` knows, or the key cannot encrypt.
pub fn pgp_recipients(arg: &str) -> Result<Vec<PgpRecipient>, SecretsError> {
    let path = Path::new(arg);
    if path.is_file() {
        let bytes = read(path)?;
        return PgpRecipient::parse_all(arg, bytes.expose());
    }
    let invalid = |reason: String| SecretsError::PgpKey { source_name: arg.to_string(), reason };
    let Some(fingerprint) = pgp::parse_fingerprint(arg) else {
        return Err(invalid("neither a key file nor an OpenPGP fingerprint (40 hex digits)".to_string()));
    };
    let output = Command::new("gpg")
        .args(["--batch", "--no-tty", "--export", &fingerprint.to_hex()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| invalid(format!("cannot run `gpg` to look the fingerprint up ({e}); pass the key file instead")))?;
    if !output.status.success() || output.stdout.is_empty() {
        return Err(invalid(
            "not in the GnuPG keyring (`gpg --export` found nothing); import it with `gpg --import KEYFILE` or pass the key file"
                .to_string(),
        ));
    }
    PgpRecipient::parse_all(arg, &output.stdout)
}

/// Identities as the `sops` command line finds them, for `sluice secrets`: every file in
/// `files`, then `SLUICE_IDENTITY_FILE`, `SOPS_AGE_KEY_FILE`, SOPS's default age key file
/// (`$XDG_CONFIG_HOME/sops/age/keys.txt`) if it exists, and the inline `SLUICE_IDENTITY`
/// and `SOPS_AGE_KEY`. Each file may hold age identities or OpenPGP secret keys.
///
/// # Errors
///
/// [`SecretsError::Read`] for an unreadable file, and the errors of [`Identities::add_file`].
pub fn user_identities(files: &[PathBuf]) -> Result<Identities, SecretsError> {
    let mut paths: Vec<PathBuf> = files.to_vec();
    for variable in [SLUICE_IDENTITY_FILE, SOPS_AGE_KEY_FILE] {
        if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(path));
        }
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")));
    if let Some(default) = config.map(|dir| dir.join("sops/age/keys.txt")).filter(|p| p.is_file()) {
        paths.push(default);
    }
    let mut identities = Identities::new();
    for path in &paths {
        identities.add_file(&path.display().to_string(), read(path)?.expose())?;
    }
    for variable in [SLUICE_IDENTITY, SOPS_AGE_KEY] {
        if let Some(inline) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
            let inline = Plaintext::new(inline.into_encoded_bytes());
            identities.add_file(variable, inline.expose())?;
        }
    }
    Ok(identities)
}

/// The controller's identity: the file `file` if given, else `SLUICE_IDENTITY_FILE`, else the
/// inline `SLUICE_IDENTITY`. Never anything from a repository, and never the user's GnuPG or
/// SOPS defaults, so a controller decrypts only with the key it was given.
///
/// # Errors
///
/// [`SecretsError::NoIdentity`] when none is configured, [`SecretsError::Read`] and the
/// errors of [`Identities::add_file`].
pub fn controller_identities(file: Option<&Path>) -> Result<Identities, SecretsError> {
    let mut identities = Identities::new();
    let from_env = std::env::var_os(SLUICE_IDENTITY_FILE).filter(|p| !p.is_empty()).map(PathBuf::from);
    if let Some(path) = file.map(Path::to_path_buf).or(from_env) {
        identities.add_file(&path.display().to_string(), read(&path)?.expose())?;
    } else if let Some(inline) = std::env::var_os(SLUICE_IDENTITY).filter(|v| !v.is_empty()) {
        let inline = Plaintext::new(inline.into_encoded_bytes());
        identities.add_file(SLUICE_IDENTITY, inline.expose())?;
    }
    if identities.is_empty() {
        return Err(SecretsError::NoIdentity);
    }
    Ok(identities)
}

/// Reads a key file into zeroized memory.
fn read(path: &Path) -> Result<Plaintext, SecretsError> {
    std::fs::read(path)
        .map(Plaintext::new)
        .map_err(|source| SecretsError::Read { path: path.display().to_string(), source })
}
