//! `sluice secrets keygen|encrypt|decrypt`: SOPS-format secrets files with age and OpenPGP
//! keys, from the command line. Identities come from `--identity`, `SLUICE_IDENTITY_FILE`,
//! `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY` or SOPS's default key file, as `sops` finds them;
//! plaintext goes only to stdout (and, for `edit`, a 0600 file on tmpfs).

mod edit;
mod git_drivers;
mod updatekeys;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::ExitStatus;
use crate::secrets::{self, AgeRecipient, Identities, Plaintext, Recipients, SOPS_AGE_KEY_FILE, SecretsError};

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
    /// Edit a SOPS file in `$EDITOR` through a 0600 clear copy on tmpfs; only changed values get new ciphertext
    #[command(after_help = "Examples:
  sluice secrets edit --identity keys.txt secrets/dev/app.yaml
  EDITOR='code --wait' sluice secrets edit secrets/dev/app.env

The clear copy goes to `$XDG_RUNTIME_DIR`, else `/dev/shm`, and only if that is a tmpfs
mount (Sluice refuses otherwise); it is overwritten and removed when the editor ends, on
errors, and on SIGTERM/SIGHUP (the edit is then abandoned). `$VISUAL`, else `$EDITOR`, else
`vi`. The data key and recipients stay; unchanged values keep their ciphertext.
Exit codes: 0 saved or unchanged, 1 the editor failed or was interrupted (file unchanged),
2 no identity fits, or the edited document is invalid (file unchanged).")]
    Edit(FileArgs),
    /// Set one value of a SOPS file from stdin, re-encrypting in place
    #[command(after_help = "Examples:
  printf %s \"$PASSWORD\" | sluice secrets set secrets/dev/app.yaml '[\"db\"][\"password\"]'
  echo 5432 | sluice secrets set --json secrets/dev/app.yaml db.port
  printf %s tok | sluice secrets set secrets/dev/app.env API_TOKEN

PATH is SOPS's `[\"key\"][index]` syntax or a dotted `a.b`; missing mappings are created.
The value is stdin as a string (one trailing newline removed), or with `--json` a JSON value.")]
    Set(SetArgs),
    /// Encrypt a SOPS file again under a new data key for the same recipients
    #[command(after_help = "Examples:
  sluice secrets rotate --in-place secrets/production/app.yaml

Every value gets new ciphertext. Do this after removing someone's key (`updatekeys`), so the
old data key they may have kept opens nothing new.")]
    Rotate(RotateArgs),
    /// Re-wrap every SOPS file under PATHs for the recipients `.sops.yaml` names now, in one git commit
    #[command(after_help = "Examples:
  sluice secrets updatekeys secrets/
  sluice secrets updatekeys --no-commit secrets/production

Files whose recipients already match are left alone; values keep their ciphertext (the data
key is kept: `rotate` too when a key was removed). All files are prepared first; nothing is
written unless every one re-encrypts. Inside a git repository the change is one commit
(refused if other changes are staged).")]
    Updatekeys(UpdatekeysArgs),
    /// git textconv driver: print a SOPS file decrypted if a key fits, else as it is
    #[command(after_help = "Setup, in the config repo:
  echo 'secrets/** diff=sluice merge=sluice' >> .gitattributes
  git config diff.sluice.textconv 'sluice secrets diff'

Do not set `diff.sluice.cachetextconv`: git would store the clear text in its notes.")]
    Diff(FileArgs),
    /// git merge driver: merge two versions of a SOPS file key by key and re-encrypt
    #[command(after_help = "Setup, in the config repo:
  echo 'secrets/** diff=sluice merge=sluice' >> .gitattributes
  git config merge.sluice.driver 'sluice secrets merge %O %A %B %P'

Keys changed on one side only merge cleanly; different changes to the same key are a
conflict (exit 1, OURS left as it was, the key paths named). YAML and JSON merge per key;
dotenv and binary files as a whole.")]
    Merge(MergeArgs),
}

/// A file and the identities to open it with.
#[derive(Debug, Args)]
struct FileArgs {
    /// age identity file, or OpenPGP secret key file; repeat for several
    #[arg(long = "identity", short = 'i', value_name = "FILE")]
    identity: Vec<PathBuf>,
    /// The encrypted file
    file: PathBuf,
}

/// Arguments of `sluice secrets set`.
#[derive(Debug, Args)]
struct SetArgs {
    /// Read stdin as a JSON value (number, boolean, object…) instead of a string
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: FileArgs,
    /// `[\"a\"][\"b\"]` or `a.b`
    path: String,
}

/// Arguments of `sluice secrets rotate`.
#[derive(Debug, Args)]
struct RotateArgs {
    /// Replace FILE instead of printing the result
    #[arg(long)]
    in_place: bool,
    #[command(flatten)]
    target: FileArgs,
}

/// Arguments of `sluice secrets updatekeys`.
#[derive(Debug, Args)]
struct UpdatekeysArgs {
    /// Write the files but do not commit
    #[arg(long)]
    no_commit: bool,
    /// age identity file, or OpenPGP secret key file; repeat for several
    #[arg(long = "identity", short = 'i', value_name = "FILE")]
    identity: Vec<PathBuf>,
    /// Files or directories
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// Arguments of `sluice secrets merge` (as git passes them).
#[derive(Debug, Args)]
struct MergeArgs {
    /// age identity file, or OpenPGP secret key file; repeat for several
    #[arg(long = "identity", short = 'i', value_name = "FILE")]
    identity: Vec<PathBuf>,
    /// The common ancestor (`%O`)
    base: PathBuf,
    /// Ours (`%A`), which receives the result
    ours: PathBuf,
    /// Theirs (`%B`)
    theirs: PathBuf,
    /// The path in the repository (`%P`), which picks the format
    path: String,
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
        SecretsCommand::Edit(args) => with_identities(&args.identity, |ids| edit::run(&args.file, ids)),
        SecretsCommand::Set(args) => with_identities(&args.target.identity, |ids| run_set(args, ids)),
        SecretsCommand::Rotate(args) => with_identities(&args.target.identity, |ids| run_rotate(args, ids)),
        SecretsCommand::Updatekeys(args) => with_identities(&args.identity, |ids| updatekeys::run(&args.paths, ids, !args.no_commit)),
        SecretsCommand::Diff(args) => {
            // A textconv filter never fails for want of a key: it shows the file as it is.
            let identities = secrets::user_identities(&args.identity).unwrap_or_default();
            git_drivers::diff(&args.file, &identities)
        }
        SecretsCommand::Merge(args) => {
            with_identities(&args.identity, |ids| git_drivers::merge(&args.base, &args.ours, &args.theirs, &args.path, ids))
        }
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

/// Runs `command` with the user's identities, or reports why there are none.
fn with_identities(
    files: &[PathBuf],
    command: impl FnOnce(&Identities) -> anyhow::Result<ExitStatus>,
) -> anyhow::Result<ExitStatus> {
    match secrets::user_identities(files) {
        Ok(identities) if identities.is_empty() => {
            eprintln!(
                "error: no identity to decrypt with\n\n\
                 hint: pass `--identity FILE` (age or OpenPGP), or set `{SOPS_AGE_KEY_FILE}` to an age identity file"
            );
            Ok(ExitStatus::Error)
        }
        Ok(identities) => command(&identities),
        Err(error) => Ok(report(&error)),
    }
}

/// The text of an encrypted file.
fn read_encrypted(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read `{}`", file.display()))
}

fn run_set(args: &SetArgs, identities: &Identities) -> anyhow::Result<ExitStatus> {
    let path = match secrets::parse_path(&args.path) {
        Ok(path) => path,
        Err(error) => return Ok(report(&error)),
    };
    let mut value = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut value).context("cannot read the value from stdin")?;
    let mut value = Plaintext::new(value);
    if value.expose().ends_with(b"\n") {
        let mut bytes = value.expose().to_vec();
        bytes.pop();
        value = Plaintext::new(bytes);
    }
    let file = &args.target.file;
    let name = file.display().to_string();
    let encrypted = read_encrypted(file)?;
    match secrets::set(&name, &encrypted, &path, &value, args.json, identities, SystemTime::now()) {
        Ok(updated) => {
            replace_file(file, updated.as_bytes()).with_context(|| format!("cannot write `{name}`"))?;
            Ok(ExitStatus::Success)
        }
        Err(error) => Ok(report(&error)),
    }
}

fn run_rotate(args: &RotateArgs, identities: &Identities) -> anyhow::Result<ExitStatus> {
    let file = &args.target.file;
    let name = file.display().to_string();
    let encrypted = read_encrypted(file)?;
    match secrets::rotate(&name, &encrypted, None, identities, SystemTime::now()) {
        Ok(rotated) if args.in_place => {
            replace_file(file, rotated.as_bytes()).with_context(|| format!("cannot write `{name}`"))?;
            Ok(ExitStatus::Success)
        }
        Ok(rotated) => {
            out!("{rotated}");
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
