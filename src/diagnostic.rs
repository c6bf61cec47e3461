//! Located, user-facing messages: where a problem is (file, line, column, key path),
//! what is wrong, and how to fix it.
//!
//! Every module that reads user input reports through [`Diagnostic`]. Validation
//! collects *all* problems of an input into [`Diagnostics`] rather than stopping at
//! the first one; warnings travel in the same list with [`Severity::Warning`].
//!
//! Rendered form (ripgrep/uv style):
//!
//! ```text
//! .gitlab-ci.yml:14:5: jobs.deploy.needs: job `build` does not exist
//!
//! hint: did you mean `builds`?
//! ```

use std::fmt;
use std::sync::Arc;

/// A position in a source file. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The file as the user names it (a repository-relative path, or a description such as
    /// `template:Sluice/Publish.gitlab-ci.yml`).
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number.
    pub column: u32,
}

impl Location {
    /// A location in `file` at `line`:`column` (both 1-based).
    pub fn new(file: impl Into<Arc<str>>, line: u32, column: u32) -> Self {
        Self { file: file.into(), line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The input is rejected.
    Error,
    /// The input is accepted, but probably not what the user meant.
    Warning,
}

/// One problem found in user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where the problem is; `None` only when the input has no position (a CLI flag, say).
    pub location: Option<Location>,
    /// Dotted path of the key concerned, such as `jobs.deploy.needs`; empty for the whole file.
    pub key_path: String,
    /// What is wrong, one sentence without trailing period.
    pub message: String,
    /// How to fix it, if we can tell.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `location` about `key_path`.
    pub fn error(location: Option<Location>, key_path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            location,
            key_path: key_path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at `location` about `key_path`.
    pub fn warning(location: Option<Location>, key_path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(location, key_path, message) }
    }

    /// Adds a `hint:` line telling the user how to fix the problem.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this diagnostic rejects the input.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// All problems found in one input, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Adds all diagnostics of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The candidate closest to `unknown`, if it is close enough to be a likely typo: at most 1,
/// 2 or 3 edits (for names of up to 4, 8 or more characters), counting case-insensitively and
/// a swap of two neighbours as one edit (`stgae` → `stage`). `unknown` itself is never
/// suggested.
pub fn did_you_mean<'a>(unknown: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = unknown.to_lowercase();
    let limit = match lower.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .filter(|c| *c != unknown)
        .map(|c| (strsim::osa_distance(&lower, &c.to_lowercase()), c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// An error and its sources on one line, `: `-separated, for logs, job logs and stored
/// messages (a source whose text the message already contains is not repeated).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_key_message_and_hint() {
        let d = Diagnostic::error(Some(Location::new(".gitlab-ci.yml", 14, 5)), "jobs.deploy.needs", "job `build` does not exist")
            .with_hint("did you mean `builds`?");
        assert_eq!(
            d.to_string(),
            ".gitlab-ci.yml:14:5: jobs.deploy.needs: job `build` does not exist\n\nhint: did you mean `builds`?"
        );
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        assert_eq!(did_you_mean("scirpt", ["stage", "script"]), Some("script"));
        assert_eq!(did_you_mean("Script", ["script"]), Some("script"));
        assert_eq!(did_you_mean("stgae", ["stage"]), Some("stage"));
        assert_eq!(did_you_mean("build", ["test", "deploy"]), None);
        assert_eq!(did_you_mean("x", ["script"]), None);
        assert_eq!(did_you_mean("same", ["same"]), None);
    }

    #[test]
    fn warnings_do_not_count_as_errors() {
        let mut all = Diagnostics::new();
        all.push(Diagnostic::warning(None, "", "duplicate key"));
        assert!(!all.has_errors());
        all.push(Diagnostic::error(None, "", "bad"));
        assert!(all.has_errors());
        assert_eq!(all.warnings().count(), 1);
    }
}
