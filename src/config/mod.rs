//! The controller configuration, `sluice.yaml`: where `sluice serve` listens, where it keeps
//! its state, which repositories it watches, how their webhooks are authenticated and when
//! their scheduled pipelines run.
//!
//! Two phases, as in ripgrep's low/high arguments: the file is loaded with the located YAML
//! loader of [`crate::ci::yaml`] (every key and value keeps its file, line and column), then
//! read field by field into the validated [`ControllerConfig`]. The second phase collects
//! *every* problem of the file as a located [`Diagnostic`]
//! with its key path; nothing of the daemon starts from a file that has errors.
//!
//! Secrets are never written in the file: a secret field holds `env:NAME` or `file:PATH` and
//! is resolved here into a [`Secret`]. An unset variable is a warning and disables what the
//! secret protects; it is not an error, so a configuration can be checked without them.
//!
//! This module reads the configuration file, the secret files it names and the environment
//! (through [`Environment`], so tests need not touch the process's); it starts nothing and
//! keeps no global state.

mod controller;
mod credentials;
mod cron_hash;
mod fields;
mod forge;
mod project;
mod publish;
mod refs;
pub mod repo;
mod repo_url;
mod schedule;
mod secret;
mod units;
mod webhooks;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

pub use controller::{ControllerConfig, DEFAULT_DATA_DIR, DEFAULT_LISTEN, StoreUrl};
pub use credentials::{DEFAULT_HTTPS_USERNAME, RepoCredentials};
pub use cron_hash::expand as expand_hashed_cron;
pub use publish::PublishSettings;
pub use project::{DEFAULT_POLL, InvalidProjectName, ProjectConfig, ProjectName};
pub use refs::{RefPattern, RefPatterns};
pub use repo_url::RepoUrl;
pub use schedule::Schedule;
pub use secret::{Secret, SecretSource};
pub use units::{format_duration, parse_duration, parse_size};
pub use forge::{DEFAULT_CONTEXT, Forge, ForgeAuth, ForgeKind, GITHUB_API_URL};
pub use webhooks::{DEFAULT_MAX_BODY_BYTES, DEFAULT_RECHECK_PATTERN, Webhooks};

use crate::ci::node::Value;
use crate::ci::yaml;
use crate::diagnostic::{Diagnostic, Diagnostics};

/// Looks up an environment variable by name (`None`: not set).
pub type VarLookup = Box<dyn Fn(&str) -> Option<String>>;

/// What reading a configuration needs besides its text.
pub struct Environment {
    /// The directory relative paths resolve against: the configuration file's directory.
    pub base_dir: PathBuf,
    /// Looks up an environment variable, for `env:` secrets.
    pub var: VarLookup,
    /// The number of cores, the default `concurrency`.
    pub cores: NonZeroUsize,
}

impl Environment {
    /// The process's environment and core count, with paths relative to `base_dir`.
    pub fn process(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
            var: Box::new(|name| std::env::var(name).ok()),
            cores: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        }
    }

    /// A fixed set of variables and 4 cores, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests(base_dir: &Path, vars: &'static [(&'static str, &'static str)]) -> Self {
        Self {
            base_dir: base_dir.to_owned(),
            var: Box::new(move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())),
            cores: NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// A valid configuration and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: ControllerConfig,
    /// Warnings (unset `env:` variables, duplicate keys, …), in file order.
    pub warnings: Diagnostics,
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file as given.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file has errors: all of them, located, with the warnings found too.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Reads and validates the configuration in `text`, the contents of `file` (the name used in
/// locations).
///
/// # Errors
/// Every problem of the file, located (errors and the warnings found with them): YAML syntax,
/// unknown keys, values of the wrong type or form, duplicate project names, literal secrets,
/// unreadable secret files.
pub fn parse(file: &str, text: &str, env: &Environment) -> Result<Loaded, Diagnostics> {
    let loaded = yaml::load(file, text).map_err(not_a_ci_file)?;
    let mut diags = loaded.warnings;
    if let Some(header) = &loaded.header {
        diags.push(Diagnostic::error(Some(header.location.clone()), "", "must be a single YAML document"));
    }
    let root = &loaded.config;
    if matches!(root.value, Value::Null) {
        let message = "is empty";
        let hint = "a minimal file names one project: `projects: [{name: demo, repo: \"file:///srv/git/demo.git\"}]`";
        diags.push(Diagnostic::error(Some(root.location.clone()), "", message).with_hint(hint));
        return Err(diags);
    }
    let config = controller::read_controller(root, env, &mut diags);
    sort_by_position(&mut diags);
    match config {
        Some(config) if !diags.has_errors() => Ok(Loaded { config, warnings: diags }),
        _ => Err(diags),
    }
}

/// Reads `path` and validates it, with the process's environment; relative paths in the file
/// resolve against the file's directory.
///
/// # Errors
/// [`LoadError::Read`] when the file cannot be read, [`LoadError::Invalid`] with every problem
/// of the file.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
    let base_dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);
    parse(&path.display().to_string(), &text, &Environment::process(base_dir)).map_err(LoadError::Invalid)
}

/// Rewords the loader's "a YAML document of a CI file must be a mapping" for this file.
fn not_a_ci_file(mut diags: Diagnostics) -> Diagnostics {
    for diagnostic in &mut diags.0 {
        if let Some((_, found)) =
            diagnostic.message.split_once("of a CI file must be a mapping of keys to values, not ")
        {
            diagnostic.message = format!("must be a mapping of settings, not {found}");
            diagnostic.hint =
                Some("start with `listen:`, `data_dir:` or `projects:` at the beginning of a line".into());
        }
    }
    diags
}

/// Orders diagnostics by position (unlocated ones last), keeping the order of those at the
/// same place, so output follows the file whatever order the checks ran in.
fn sort_by_position(diags: &mut Diagnostics) {
    diags.0.sort_by(|a, b| match (&a.location, &b.location) {
        (Some(a), Some(b)) => (a.line, a.column).cmp(&(b.line, b.column)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

#[cfg(test)]
mod tests;
