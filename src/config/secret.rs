//! Secrets named by the configuration: `env:NAME` (an environment variable of the daemon) or
//! `file:PATH` (a file, relative to the configuration file's directory). A secret is never
//! written in the configuration itself: the file usually lives in a repository, and whatever
//! is committed there is readable by everyone who can clone it.

use std::fmt;
use std::path::{Path, PathBuf};

#[cfg(test)]
use secrecy::ExposeSecret;
use secrecy::SecretString;

use super::Environment;
use super::fields::{error_at, string, warning_at};
use crate::ci::node::Node;
use crate::diagnostic::Diagnostics;

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `env:NAME`: the environment variable `NAME` of the daemon.
    Env(String),
    /// `file:PATH`: the contents of a file, without the trailing newline.
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// A secret named by the configuration, resolved when the configuration was read.
///
/// The value is `None` when it comes from an environment variable that is not set (or is
/// empty): whatever the secret protects is then disabled (a webhook endpoint answers every
/// delivery with `401`). `Debug` never prints the value.
#[derive(Clone)]
pub struct Secret {
    source: SecretSource,
    value: Option<SecretString>,
}

impl Secret {
    /// A secret from `source` with `value` (`None`: not available).
    pub fn new(source: SecretSource, value: Option<SecretString>) -> Self {
        Self { source, value }
    }

    /// Where the secret comes from (safe to print).
    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The secret, or `None` when its environment variable was not set. Expose it with
    /// [`secrecy::ExposeSecret::expose_secret`] at the one place that uses it.
    pub fn value(&self) -> Option<&SecretString> {
        self.value.as_ref()
    }

    /// Whether the secret has a value.
    pub fn is_available(&self) -> bool {
        self.value.is_some()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.value.is_some() { "[REDACTED]" } else { "unset" };
        write!(f, "Secret({}, {state})", self.source)
    }
}

/// What a secret is for, to say what an unset variable disables.
pub(super) struct Purpose<'a> {
    /// What stops working without it, as a clause: ``GitLab webhooks of `demo` are disabled``.
    pub disabled: &'a str,
}

/// Reads the secret reference at `node` and resolves it.
///
/// An unset or empty environment variable gives a secret without value and one warning that
/// names the variable; a literal value, an unknown prefix or an unreadable or empty file is an
/// error. No message ever contains a secret's value.
pub(super) fn read_secret(
    node: &Node,
    path: &str,
    purpose: &Purpose<'_>,
    env: &Environment,
    diags: &mut Diagnostics,
) -> Option<Secret> {
    let text = string(node, path, diags)?;
    if let Some(name) = text.strip_prefix("env:") {
        return read_env(node, path, name, purpose, env, diags);
    }
    if let Some(file) = text.strip_prefix("file:") {
        return read_file(node, path, file, &env.base_dir, diags);
    }
    diags.push(
        error_at(node, path, "must name where the secret is (`env:NAME` or `file:PATH`), not hold it").with_hint(
            "a secret written in the configuration file ends up in its repository; put it in an environment variable \
             (`env:NAME`) or a file (`file:PATH`)",
        ),
    );
    None
}

fn read_env(
    node: &Node,
    path: &str,
    name: &str,
    purpose: &Purpose<'_>,
    env: &Environment,
    diags: &mut Diagnostics,
) -> Option<Secret> {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        let message = format!("`{name}` is not a valid environment variable name");
        diags.push(error_at(node, path, message).with_hint("use letters, digits and `_`, as in `env:GITLAB_TOKEN`"));
        return None;
    }
    let source = SecretSource::Env(name.to_owned());
    match (env.var)(name) {
        Some(value) if !value.is_empty() => Some(Secret::new(source, Some(SecretString::from(value)))),
        found => {
            let state = if found.is_some() { "is empty" } else { "is not set" };
            let message = format!("environment variable `{name}` {state}; {}", purpose.disabled);
            diags.push(warning_at(node, path, message));
            Some(Secret::new(source, None))
        }
    }
}

fn read_file(node: &Node, path: &str, file: &str, base_dir: &Path, diags: &mut Diagnostics) -> Option<Secret> {
    if file.is_empty() {
        diags.push(error_at(node, path, "`file:` needs a path, as in `file:/run/secrets/token`"));
        return None;
    }
    let resolved = base_dir.join(file);
    let source = SecretSource::File(resolved.clone());
    match std::fs::read_to_string(&resolved) {
        Ok(contents) => {
            let value = contents.trim_end_matches(['\n', '\r']);
            if value.is_empty() {
                diags.push(error_at(node, path, format!("secret file `{}` is empty", resolved.display())));
                return None;
            }
            Some(Secret::new(source, Some(SecretString::from(value.to_owned()))))
        }
        Err(error) => {
            diags.push(error_at(node, path, format!("cannot read secret file `{}`: {error}", resolved.display())));
            None
        }
    }
}

/// Exposes the value for tests only.
#[cfg(test)]
pub(super) fn exposed(secret: &Secret) -> Option<&str> {
    secret.value().map(ExposeSecret::expose_secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::yaml;

    fn read(text: &str, env: &Environment) -> (Option<Secret>, Vec<String>) {
        let root = yaml::load("s.yaml", text).unwrap().config;
        let node = root.as_map().unwrap().get("token").unwrap();
        let mut diags = Diagnostics::new();
        let purpose = Purpose { disabled: "the thing is disabled" };
        let secret = read_secret(node, "token", &purpose, env, &mut diags);
        (secret, diags.0.iter().map(ToString::to_string).collect())
    }

    fn env_with(vars: &'static [(&'static str, &'static str)], base_dir: &Path) -> Environment {
        Environment::for_tests(base_dir, vars)
    }

    #[test]
    fn an_env_reference_reads_the_variable() {
        let env = env_with(&[("TOKEN", "s3cr3t")], Path::new("/"));
        let (secret, diags) = read("token: env:TOKEN\n", &env);
        let secret = secret.unwrap();
        assert_eq!(exposed(&secret), Some("s3cr3t"));
        assert_eq!(secret.source(), &SecretSource::Env("TOKEN".into()));
        assert!(diags.is_empty(), "{diags:?}");
    }

    #[test]
    fn an_unset_or_empty_variable_is_one_warning_and_no_value() {
        let env = env_with(&[("EMPTY", "")], Path::new("/"));
        let (secret, diags) = read("token: env:MISSING\n", &env);
        assert!(!secret.unwrap().is_available());
        assert_eq!(
            diags,
            ["s.yaml:1:8: warning: token: environment variable `MISSING` is not set; the thing is disabled"]
        );
        let (secret, diags) = read("token: env:EMPTY\n", &env);
        assert!(!secret.unwrap().is_available());
        assert_eq!(diags, ["s.yaml:1:8: warning: token: environment variable `EMPTY` is empty; the thing is disabled"]);
    }

    #[test]
    fn a_file_reference_reads_the_file_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "from-file\n").unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let env = env_with(&[], dir.path());
        let (secret, diags) = read("token: file:token\n", &env);
        assert_eq!(exposed(&secret.unwrap()), Some("from-file"));
        assert!(diags.is_empty());
        let (secret, diags) = read("token: file:empty\n", &env);
        assert!(secret.is_none());
        assert_eq!(
            diags,
            [format!("s.yaml:1:8: token: secret file `{}` is empty", dir.path().join("empty").display())]
        );
        let (secret, diags) = read("token: \"file:missing\"\n", &env);
        assert!(secret.is_none());
        let expected =
            format!("s.yaml:1:8: token: cannot read secret file `{}`: ", dir.path().join("missing").display());
        assert!(diags[0].starts_with(&expected), "{diags:?}");
    }

    #[test]
    fn a_literal_secret_is_refused_without_echoing_it() {
        let env = env_with(&[], Path::new("/"));
        let (secret, diags) = read("token: glpat-abcdef123456\n", &env);
        assert!(secret.is_none());
        assert!(
            diags[0].starts_with(
                "s.yaml:1:8: token: must name where the secret is (`env:NAME` or `file:PATH`), not hold it"
            ),
            "{diags:?}"
        );
        assert!(diags[0].contains("hint: a secret written in the configuration file"));
        assert!(!diags[0].contains("glpat"));
        let (_, diags) = read("token: env:1BAD\n", &env);
        assert!(
            diags[0].starts_with("s.yaml:1:8: token: `1BAD` is not a valid environment variable name"),
            "{diags:?}"
        );
    }

    #[test]
    fn debug_never_prints_the_value() {
        let secret = Secret::new(SecretSource::Env("TOKEN".into()), Some(SecretString::from("s3cr3t")));
        let shown = format!("{secret:?}");
        assert_eq!(shown, "Secret(env:TOKEN, [REDACTED])");
        assert!(!format!("{:#?}", Some(secret)).contains("s3cr3t"));
    }
}
