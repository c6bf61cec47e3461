//! `sluice secrets keygen|encrypt|decrypt`: SOPS-format secrets files with age and OpenPGP
//! keys, from the command line. Identities come from `--identity`, `SLUICE_IDENTITY_FILE`,
//! `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY` or SOPS's default key file, as `sops` finds them;
//! plaintext goes only to stdout.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::ExitStatus;
use crate::secrets::{self, AgeRecipient, Plaintext, Recipients, SOPS_AGE_KEY_FILE, SecretsError};

/// Arguments of `sluice secrets`.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Generate an age key pair: the identity file on stdout, the recipient on stderr
    #[command(after_help = "Examples:
  sluice secrets keygen > keys.txt              as `age-keygen`; keep keys.txt private

The recipient (`age1…`, the public key) is printed on stderr as `# public key: age1…` and is
also in the file's second line.")]
    Keygen,
    /// Encrypt a YAML, JSON, dotenv or binary file in the SOPS format for age and OpenPGP recipients
    #[command(after_help = "Examples:
  sluice secrets encrypt --age age1… secrets.yaml > secrets.enc.yaml
  sluice secrets encrypt --age age1…,age1… --in-place secrets.json
  sluice secrets encrypt --pgp ops.asc --pgp 0123…CDEF app.env

`--pgp` takes a public key file (armored or binary; every key in it is a recipient) or a
fingerprint, looked up in the GnuPG keyring with `gpg --export`. Without `--age` and `--pgp`,
the first creation rule of `.sops.yaml` (found from the working directory upwards) whose
`path_regex` matches FILE names the recipients, as in `sops`.

Every value is encrypted except those under a key ending in `_unencrypted`. The format
follows the file name, as in `sops`: `.yaml`/`.yml`, `.json`, `.env` (dotenv); any other file
is encrypted whole (binary). The result decrypts with `sops` 3.11.
Exit codes: 0 encrypted, 2 unreadable or invalid file, bad recipient, or already encrypted.")]
    Encrypt(EncryptArgs),
    /// Decrypt a SOPS file (from `sops` or Sluice) to stdout, verifying its MAC
    #[command(after_help = "Examples:
  sluice secrets decrypt --identity keys.txt secrets.enc.yaml
  SOPS_AGE_KEY_FILE=keys.txt sluice secrets decrypt secrets.enc.json
  sluice secrets decrypt --identity service-key.asc secrets.enc.yaml

Identities: every `--identity` file (an age identity file, or a passphrase-less OpenPGP secret
key or keyring from `gpg --export-secret-keys`), `SLUICE_IDENTITY_FILE`, `SOPS_AGE_KEY_FILE`,
`$XDG_CONFIG_HOME/sops/age/keys.txt` (default `~/.config/sops/age/keys.txt`) if it exists,
and the inline `SLUICE_IDENTITY` and `SOPS_AGE_KEY`. Sluice does not use `gpg-agent`.
Exit codes: 0 decrypted, 2 no identity fits (the recipients are listed), the file was
tampered with (MAC mismatch), or it is unreadable or invalid.")]
    Decrypt(DecryptArgs),
}

/// Arguments of `sluice secrets encrypt`.
#[derive(Debug, Args)]
struct EncryptArgs {
    /// age recipient (`age1…`) to encrypt for; repeat or separate with commas
    #[arg(long = "age", value_name = "RECIPIENT", value_delimiter = ',', env = "SOPS_AGE_RECIPIENTS")]
    age: Vec<String>,
    /// OpenPGP public key file or fingerprint to encrypt for; repeat or separate with commas
    #[arg(long = "pgp", value_name = "KEYFILE|FINGERPRINT", value_delimiter = ',', env = "SOPS_PGP_FP")]
    pgp: Vec<String>,
    /// Replace FILE with its encrypted form instead of printing it
    #[arg(long, short = 'i')]
    in_place: bool,
    /// The clear file
    file: PathBuf,
}

/// Arguments of `sluice secrets decrypt`.
#[derive(Debug, Args)]
struct DecryptArgs {
    /// age identity file, or OpenPGP secret key file; repeat for several
    #[arg(long = "identity", short = 'i', value_name = "FILE")]
    identity: Vec<PathBuf>,
    /// The encrypted file
    file: PathBuf,
}

/// Runs `sluice secrets …`.
pub fn run(args: &SecretsArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        SecretsCommand::Keygen => keygen(),
        SecretsCommand::Encrypt(encrypt) => run_encrypt(encrypt),
        SecretsCommand::Decrypt(decrypt) => run_decrypt(decrypt),
    }
}

fn keygen() -> anyhow::Result<ExitStatus> {
    let created = chrono::DateTime::<chrono::Utc>::from(SystemTime::now()).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let key = secrets::generate(&created);
    write_stdout(&key.identity_file);
    eprintln!("# public key: {}", key.recipient);
    Ok(ExitStatus::Success)
}

fn run_encrypt(args: &EncryptArgs) -> anyhow::Result<ExitStatus> {
    let recipients = match recipients(&args.age, &args.pgp).and_then(|given| rule_recipients(given, &args.file)) {
        Ok(recipients) => recipients,
        Err(error) => return Ok(report(&error)),
    };
    let name = args.file.display().to_string();
    let clear = Plaintext::new(std::fs::read(&args.file).with_context(|| format!("cannot read `{name}`"))?);
    let encrypted = match secrets::encrypt(&name, &clear, &recipients, SystemTime::now()) {
        Ok(encrypted) => encrypted,
        Err(error) => return Ok(report(&error)),
    };
    if args.in_place {
        replace_file(&args.file, encrypted.as_bytes()).with_context(|| format!("cannot write `{name}`"))?;
    } else {
        out!("{encrypted}");
    }
    Ok(ExitStatus::Success)
}

fn run_decrypt(args: &DecryptArgs) -> anyhow::Result<ExitStatus> {
    let identities = match secrets::user_identities(&args.identity) {
        Ok(identities) => identities,
        Err(error) => return Ok(report(&error)),
    };
    if identities.is_empty() {
        eprintln!(
            "error: no identity to decrypt `{}` with\n\n\
             hint: pass `--identity FILE` (age or OpenPGP), or set `{SOPS_AGE_KEY_FILE}` to an age identity file",
            args.file.display()
        );
        return Ok(ExitStatus::Error);
    }
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read `{name}`"))?;
    match secrets::decrypt(&name, &text, &identities) {
        Ok(clear) => {
            write_stdout(&clear);
            Ok(ExitStatus::Success)
        }
        Err(error) => Ok(report(&error)),
    }
}

/// `given` if any, else the recipients of the `.sops.yaml` creation rule for `file` (the
/// config found from the working directory upwards, as `sops` finds it).
fn rule_recipients(given: Recipients, file: &Path) -> Result<Recipients, SecretsError> {
    if !given.is_empty() {
        return Ok(given);
    }
    let cwd = std::env::current_dir().map_err(|source| SecretsError::Read { path: ".".to_string(), source })?;
    let Some(config) = secrets::SopsConfig::find(&cwd) else {
        return Err(SecretsError::NoRecipients { file: file.display().to_string() });
    };
    secrets::SopsConfig::load(&config)?.recipients_for(file)
}

/// The recipients of `--age` and `--pgp` arguments, blanks skipped.
fn recipients(age: &[String], pgp: &[String]) -> Result<Recipients, SecretsError> {
    let mut recipients = Recipients::default();
    for text in age.iter().filter(|text| !text.trim().is_empty()) {
        recipients.age.push(AgeRecipient::parse(text)?);
    }
    for text in pgp.iter().map(|text| text.trim()).filter(|text| !text.is_empty()) {
        recipients.pgp.extend(secrets::pgp_recipients(text)?);
    }
    Ok(recipients)
}

/// Prints a secrets error with a hint where one helps; the exit status is 2.
fn report(error: &SecretsError) -> ExitStatus {
    let hint = match error {
        SecretsError::NoMatchingIdentity { .. } => {
            Some("pass the identity of one of those recipients with `--identity FILE` or `SOPS_AGE_KEY_FILE`")
        }
        SecretsError::Read { .. } => Some("check the path and its permissions"),
        SecretsError::NoRecipients { .. } => {
            Some("pass `--age RECIPIENT` or `--pgp KEY`, or add a matching creation rule to `.sops.yaml`")
        }
        SecretsError::NoCreationRule { .. } => Some("add a rule whose `path_regex` matches, or one without `path_regex`"),
        SecretsError::MacMismatch { .. } | SecretsError::Value { .. } => {
            Some("restore the file from git history, or re-encrypt it from a trusted clear copy")
        }
        SecretsError::AlreadyEncrypted { .. } => Some("decrypt it first, or edit it with `sops`"),
        SecretsError::Recipient { .. } => Some("an age recipient starts with `age1`; `sluice secrets keygen` makes one"),
        _ => None,
    };
    match hint {
        Some(hint) => eprintln!("error: {error}\n\nhint: {hint}"),
        None => eprintln!("error: {error}"),
    }
    ExitStatus::Error
}

/// Writes plaintext to stdout, the one place `decrypt` and `keygen` expose it; a closed
/// pipe ends the program quietly.
fn write_stdout(data: &Plaintext) {
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(data.expose()).and_then(|()| stdout.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Replaces `path` by writing a sibling temporary file with the same permissions and
/// renaming it over, so a crash never leaves half a file.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path)?.permissions();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.sluice-{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::set_permissions(&temporary, permissions)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}
