//! What the deploy step calls at rollout: the decrypted secrets of one app in one environment
//! of a config repo checkout, as named entries the deploy step turns into a Kubernetes
//! `Secret` ([`AppSecrets::kubernetes_secret`]), environment variables
//! ([`AppSecrets::env_vars`]) or files ([`AppSecrets::files`]).
//!
//! Where secrets live (CONFIG-REPO.md): `secrets/<env>/<app>.yaml` (also `.yml`, `.json`,
//! `.env`), and optionally a directory `secrets/<env>/<app>/` whose every file (any format,
//! binary included) is one entry named by the file name, holding its whole decrypted content
//! (a certificate, a config file to mount).
//!
//! Entries of a YAML or JSON file are its top-level keys: a string is its text, a number or
//! boolean its YAML spelling (`5432`, `true`), null the empty string, and a mapping or list
//! its JSON text. Entries of a dotenv file are its `KEY=VALUE` lines. Keys must be valid
//! Kubernetes `Secret` keys (`[-._a-zA-Z0-9]+`), and one key may come from one file only.
//!
//! Guarantees: every value is a [`Plaintext`] (zeroized on drop, `[REDACTED]` in `Debug` and
//! `Display`); nothing is written anywhere; an error names the file (and, for a key that does
//! not fit, the recipients it was encrypted for) and never a value; on any error the caller
//! gets no entries at all, so nothing half-decrypted is deployed. Reads files: call it from
//! `tokio::task::spawn_blocking`.

use std::path::{Component, Path, PathBuf};

use super::dotenv::{self, Line};
use super::tree::{self, Value};
use super::{Format, Identities, Plaintext, SecretsError, decrypt};

/// One decrypted entry: a key of a secrets file, or a file of the app's secrets directory.
pub struct SecretEntry {
    /// The entry's name: a valid Kubernetes `Secret` key.
    pub key: String,
    /// The decrypted value.
    pub value: Plaintext,
    /// The file it came from, relative to the config repo root (for messages).
    pub source: String,
}

impl std::fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretEntry({} from {}: [REDACTED])", self.key, self.source)
    }
}

/// The decrypted secrets of one app in one environment, sorted by key.
#[derive(Debug)]
pub struct AppSecrets {
    /// The app (`apps/<app>/`).
    pub app: String,
    /// The environment (`environments/<env>.yaml`).
    pub env: String,
    /// The files decrypted, relative to the config repo root, in the order read.
    pub sources: Vec<String>,
    /// The entries, sorted by key.
    pub entries: Vec<SecretEntry>,
}

impl AppSecrets {
    /// Whether the app has no secrets in this environment.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Plaintext> {
        self.entries.iter().find(|entry| entry.key == key).map(|entry| &entry.value)
    }

    /// The entries as environment variables, for `process` and `command` targets.
    ///
    /// # Errors
    ///
    /// [`SecretsError::EntryName`] when a key is not a valid variable name
    /// (`[A-Za-z_][A-Za-z0-9_]*`), naming the key and its file.
    pub fn env_vars(&self) -> Result<Vec<(&str, &Plaintext)>, SecretsError> {
        self.entries
            .iter()
            .map(|entry| {
                let mut chars = entry.key.chars();
                let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid {
                    Ok((entry.key.as_str(), &entry.value))
                } else {
                    Err(SecretsError::EntryName {
                        file: entry.source.clone(),
                        key: entry.key.clone(),
                        reason: "is not an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`)".to_string(),
                    })
                }
            })
            .collect()
    }

    /// The entries as files: each key is a plain file name (no `/`, not `.` or `..`, which
    /// the key rules already exclude) to write into the target's private directory.
    pub fn files(&self) -> impl Iterator<Item = (&str, &Plaintext)> {
        self.entries.iter().map(|entry| (entry.key.as_str(), &entry.value))
    }

    /// The entries as `(key, value)` pairs sorted by key, the shape of
    /// `deploy::SecretValues`: `SecretValues(secrets.into_pairs())`.
    pub fn into_pairs(self) -> Vec<(String, Plaintext)> {
        self.entries.into_iter().map(|entry| (entry.key, entry.value)).collect()
    }

    /// Every value, for masking job and command logs with the same values that are deployed.
    pub fn values(&self) -> impl Iterator<Item = &Plaintext> {
        self.entries.iter().map(|entry| &entry.value)
    }
}

/// Decrypts the secrets of `app` in `env` from the config repo checkout at `config_repo`
/// with `identities` (the controller's: see [`super::controller_identities`]). An app without
/// secrets in `env` gets an empty [`AppSecrets`].
///
/// # Errors
///
/// [`SecretsError::EntryName`] for a bad `app`/`env` name, a key that is not a valid
/// `Secret` key, or a key defined twice; [`SecretsError::Read`] for an unreadable file or
/// one that leaves the repository through a symlink; every error of [`decrypt`], among them
/// [`SecretsError::NoMatchingIdentity`] (listing the recipients) and
/// [`SecretsError::MacMismatch`]. No entry is returned when any file fails.
pub fn load_app_secrets(config_repo: &Path, env: &str, app: &str, identities: &Identities) -> Result<AppSecrets, SecretsError> {
    check_name("environment", env)?;
    check_name("app", app)?;
    let root = config_repo
        .canonicalize()
        .map_err(|source| SecretsError::Read { path: config_repo.display().to_string(), source })?;
    let mut secrets = AppSecrets { app: app.to_string(), env: env.to_string(), sources: Vec::new(), entries: Vec::new() };
    for extension in ["yaml", "yml", "json", "env"] {
        let relative = format!("secrets/{env}/{app}.{extension}");
        let Some(text) = read_inside(&root, &relative)? else { continue };
        let text = String::from_utf8(text.expose().to_vec()).map_err(|_| SecretsError::Shape {
            file: relative.clone(),
            message: "the file is not UTF-8 text".to_string(),
        })?;
        let clear = decrypt(&relative, &text, identities)?;
        for (key, value) in structured_entries(&relative, &clear)? {
            add_entry(&mut secrets, &relative, key, value)?;
        }
        secrets.sources.push(relative);
    }
    let directory = format!("secrets/{env}/{app}");
    if root.join(&directory).is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(root.join(&directory))
            .map_err(|source| SecretsError::Read { path: directory.clone(), source })?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.'))
            .collect();
        names.sort();
        for name in names {
            let relative = format!("{directory}/{name}");
            let Some(bytes) = read_inside(&root, &relative)? else { continue };
            let text = String::from_utf8(bytes.expose().to_vec())
                .map_err(|_| SecretsError::NotEncrypted { file: relative.clone() })?;
            let clear = decrypt(&relative, &text, identities)?;
            add_entry(&mut secrets, &relative, name, clear)?;
            secrets.sources.push(relative);
        }
    }
    secrets.entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(secrets)
}

/// Reads `relative` under `root` if it exists, refusing a path that resolves outside it.
fn read_inside(root: &Path, relative: &str) -> Result<Option<Plaintext>, SecretsError> {
    let path = root.join(relative);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let error = |source| SecretsError::Read { path: relative.to_string(), source };
    let resolved: PathBuf = path.canonicalize().map_err(error)?;
    if !resolved.starts_with(root) {
        return Err(error(std::io::Error::other("it is a symlink that leaves the config repo")));
    }
    std::fs::read(&resolved).map(|bytes| Some(Plaintext::new(bytes))).map_err(error)
}

/// The `(key, value)` pairs of a decrypted YAML, JSON or dotenv document.
fn structured_entries(file: &str, clear: &Plaintext) -> Result<Vec<(String, Plaintext)>, SecretsError> {
    let text = std::str::from_utf8(clear.expose())
        .map_err(|_| SecretsError::Shape { file: file.to_string(), message: "the file is not UTF-8 text".to_string() })?;
    if Format::from_path(file)? == Format::Dotenv {
        let lines = dotenv::parse(file, text)?;
        return Ok(lines
            .iter()
            .filter_map(|line| match line {
                Line::Pair(key, value) => Some((key.clone(), Plaintext::from(value.clone()))),
                Line::Comment(_) => None,
            })
            .collect());
    }
    let document = if Format::from_path(file)? == Format::Json { tree::parse_json(file, text)? } else { tree::parse_yaml(file, text)? };
    let Value::Map(entries) = &document else {
        return Err(SecretsError::Shape { file: file.to_string(), message: "the top level must be a mapping".to_string() });
    };
    Ok(entries.iter().map(|(key, value)| (key.clone(), entry_value(value))).collect())
}

/// A top-level value as an entry's bytes.
fn entry_value(value: &Value) -> Plaintext {
    match value {
        Value::Null => Plaintext::new(Vec::new()),
        Value::Bool(b) => Plaintext::from(b.to_string()),
        Value::Int(i) => Plaintext::from(i.to_string()),
        Value::Float(f) => Plaintext::from(f.to_string()),
        Value::Str(s) => Plaintext::from(s.clone()),
        Value::Seq(_) | Value::Map(_) => {
            let mut json = tree::emit_json(value);
            json.truncate(json.trim_end().len());
            Plaintext::from(json)
        }
    }
}

fn add_entry(secrets: &mut AppSecrets, file: &str, key: String, value: Plaintext) -> Result<(), SecretsError> {
    let bad = |reason: &str| SecretsError::EntryName { file: file.to_string(), key: key.clone(), reason: reason.to_string() };
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(bad("is not a valid Kubernetes `Secret` key (`[-._a-zA-Z0-9]+`, at most 253 characters)"));
    }
    if let Some(first) = secrets.entries.iter().find(|entry| entry.key == key) {
        return Err(bad(&format!("is already defined in `{}`", first.source)));
    }
    secrets.entries.push(SecretEntry { key, value, source: file.to_string() });
    Ok(())
}

/// An app or environment name must be one plain path component.
fn check_name(what: &str, name: &str) -> Result<(), SecretsError> {
    let mut components = Path::new(name).components();
    let plain = matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none();
    if plain && !name.starts_with('.') {
        return Ok(());
    }
    Err(SecretsError::EntryName {
        file: "secrets/".to_string(),
        key: name.to_string(),
        reason: format!("is not a valid {what} name (one path component)"),
    })
}

#[cfg(test)]
mod tests;
