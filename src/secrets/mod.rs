//! Encrypted secrets in the config repo, in the SOPS format: YAML and JSON files whose leaf
//! values are each AES-256-GCM encrypted (dotenv files line by line; any other file as one
//! value, SOPS's binary format) under one data key, the data key wrapped for age and OpenPGP
//! recipients in a `sops` metadata block, and a MAC over all values.
//!
//! Files written by the `sops` tool decrypt here, and files written here decrypt with `sops`
//! (3.11). Plaintext exists only in memory, in [`Plaintext`] and in trees zeroized on drop;
//! errors name files, key paths and recipients, never a value. This module reads no files
//! and no environment, except the functions of `lookup` that find key files and the
//! controller's identity, `.sops.yaml` loading, and [`load_app_secrets`], the rollout API
//! the deploy step calls: everything else takes text and keys.
//!
//! Re-encrypting an existing file ([`update`], [`rewrap`], [`rotate`], [`set`], [`merge`])
//! keeps the ciphertext of every unchanged value, so git diffs of secrets stay small.
//!
//! Not yet: INI files, YAML
//! comments (SOPS encrypts them; they are dropped here), multi-document YAML, merge keys,
//! Shamir key groups and `mac_only_encrypted`. YAML timestamps decrypt as their RFC 3339
//! text and encrypt as strings.

mod age;
mod cipher;
mod creation_rules;
mod dotenv;
mod file;
mod keys;
mod kubernetes_secret;
mod lookup;
mod merge;
mod pgp;
mod plaintext;
mod reseal;
mod rollout;
mod set;
mod tree;
mod yaml;

pub use age::{AgeIdentities, AgeRecipient, GeneratedKey, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, generate};
pub use file::{Format, decrypt, encrypt, recipient_names};
pub use creation_rules::{CreationRule, SOPS_CONFIG, SopsConfig};
pub use keys::{Identities, Recipients};
pub use kubernetes_secret::{KubernetesSecret, SecretMeta};
pub use lookup::{SLUICE_IDENTITY, SLUICE_IDENTITY_FILE, controller_identities, pgp_recipients, user_identities};
pub use pgp::{PgpKeys, PgpRecipient};
pub use merge::{MergeOutcome, merge};
pub use plaintext::Plaintext;
pub use reseal::{current_recipients, rewrap, rotate, update};
pub use rollout::{AppSecrets, SecretEntry, load_app_secrets};
pub use set::{PathStep, parse_path, set};

/// The `version` written into the `sops` metadata of files Sluice encrypts: the SOPS
/// release whose format this follows.
pub const SOPS_VERSION: &str = "3.11.0";

/// The `unencrypted_suffix` SOPS uses by default: keys ending in it keep their value in clear.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// Everything that can go wrong reading, decrypting or encrypting a secrets file. No variant
/// carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The file name says a format not supported yet (INI).
    #[error("`{file}`: INI files are not supported yet; YAML, JSON, dotenv and binary files are")]
    UnknownFormat {
        /// The file.
        file: String,
    },
    /// The text is not valid YAML or JSON; the position only, since the text may be secret.
    #[error("`{file}` is not valid {format}{position}")]
    Syntax {
        /// The file.
        file: String,
        /// `YAML` or `JSON`.
        format: &'static str,
        /// ` at line L, column C`, or empty.
        position: String,
    },
    /// The document is not a mapping at the top, or holds something SOPS cannot represent.
    #[error("`{file}`: {message}")]
    Shape {
        /// The file.
        file: String,
        /// What is wrong, naming keys but no values.
        message: String,
    },
    /// Decrypting a file with no `sops` metadata.
    #[error("`{file}` is not encrypted: it has no `sops` metadata")]
    NotEncrypted {
        /// The file.
        file: String,
    },
    /// Encrypting a file that already has `sops` metadata.
    #[error("`{file}` is already encrypted: it has `sops` metadata")]
    AlreadyEncrypted {
        /// The file.
        file: String,
    },
    /// The `sops` metadata is malformed or uses something not supported yet.
    #[error("`{file}`: sops metadata: {message}")]
    Metadata {
        /// The file.
        file: String,
        /// What is wrong or unsupported.
        message: String,
    },
    /// No identity given unwraps the data key.
    #[error("no identity given can decrypt `{file}`; it is encrypted for {}", recipients_list(.recipients))]
    NoMatchingIdentity {
        /// The file.
        file: String,
        /// Every recipient the data key is wrapped for (`age1…`, or `pgp:FINGERPRINT`).
        recipients: Vec<String>,
    },
    /// A value does not decrypt under the data key: the file was tampered with or damaged.
    #[error("`{file}`: the value at `{key_path}` does not decrypt: the file was modified or damaged")]
    Value {
        /// The file.
        file: String,
        /// Keys from the top, joined with `.`.
        key_path: String,
    },
    /// The MAC over all values does not match: a value was changed, added, removed or moved.
    #[error("`{file}`: MAC mismatch: the file was modified without its key, or is damaged; nothing was decrypted")]
    MacMismatch {
        /// The file.
        file: String,
    },
    /// An identity file line is not an X25519 age identity (its content is not repeated).
    #[error("`{source_name}` line {line}: not an age X25519 identity (`AGE-SECRET-KEY-1…`)")]
    Identity {
        /// The file path, or `SOPS_AGE_KEY`.
        source_name: String,
        /// 1-based line number.
        line: usize,
    },
    /// A key file is not usable OpenPGP: not OpenPGP at all, no secret key where one is
    /// needed, a passphrase-protected key, or a certificate without an encryption subkey.
    #[error("`{source_name}`: {reason}")]
    PgpKey {
        /// The file path, or what named the key.
        source_name: String,
        /// What is wrong and how to fix it; never key material.
        reason: String,
    },
    /// A key file cannot be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The controller has no identity configured.
    #[error("no identity to decrypt secrets with: set `SLUICE_IDENTITY_FILE` to an age identity file or a passphrase-less OpenPGP secret key (or `SLUICE_IDENTITY` to its content)")]
    NoIdentity,
    /// A secrets entry's key (or an app or environment name) cannot be used.
    #[error("`{file}`: key `{key}` {reason}")]
    EntryName {
        /// The file.
        file: String,
        /// The key or name.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `.sops.yaml` is invalid; the message holds every located problem.
    #[error("{message}")]
    Config {
        /// One located diagnostic per line.
        message: String,
    },
    /// No creation rule of `.sops.yaml` matches a file.
    #[error("no creation rule in `{config}` matches `{file}`")]
    NoCreationRule {
        /// The `.sops.yaml`.
        config: String,
        /// The file, relative to the config's directory.
        file: String,
    },
    /// A recipient is not an X25519 age recipient.
    #[error("`{recipient}` is not an age recipient: {reason}")]
    Recipient {
        /// The text given.
        recipient: String,
        /// age's reason.
        reason: String,
    },
    /// Encrypting needs at least one recipient.
    #[error("no recipients to encrypt `{file}` for")]
    NoRecipients {
        /// The file.
        file: String,
    },
    /// age failed to wrap the data key.
    #[error("cannot wrap the data key: {reason}")]
    Wrap {
        /// age's reason.
        reason: String,
    },
}

fn recipients_list(recipients: &[String]) -> String {
    if recipients.is_empty() {
        return "no age or OpenPGP recipient".to_string();
    }
    recipients.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
}
