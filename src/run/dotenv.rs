//! `artifacts:reports:dotenv`: the `KEY=VALUE` files a job writes to pass variables to the
//! jobs that receive its artifacts.
//!
//! GitLab's rules (CI/CD docs, "Pass an environment variable to another job", 17.x–18.x), on
//! top of the Ruby `dotenv` format: a file is at most 5 KB, a job exports at most 20
//! variables (the default `dotenv_variables` application limit), each line is `KEY=VALUE`
//! split at the first `=` with surrounding whitespace stripped, names are ASCII letters,
//! digits and `_`, there is no variable substitution, no escape processing and no multi-line
//! value, and quotes are kept as written. If a name repeats, the last value wins. We also
//! accept blank lines, which newer GitLab versions skip (we are fairly, not fully, sure).
//!
//! Errors name the file and line, never a value: a dotenv file may carry secrets.

use std::path::{Path, PathBuf};

/// The largest dotenv file GitLab accepts, in bytes.
pub const MAX_DOTENV_BYTES: usize = 5 * 1024;

/// The most variables one job may export through dotenv reports.
pub const MAX_DOTENV_VARIABLES: usize = 20;

/// Why a dotenv report was refused.
#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    /// The report file is missing or unreadable.
    #[error("cannot read dotenv report `{}`", path.display())]
    Read {
        /// The file, relative to the project directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The report path is absolute or leaves the project directory.
    #[error("dotenv report `{path}` is not inside the project directory")]
    OutsideWorkspace {
        /// The path as written.
        path: String,
    },
    /// The file is larger than [`MAX_DOTENV_BYTES`].
    #[error("dotenv report `{}` is {size} bytes; the limit is {MAX_DOTENV_BYTES}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: usize,
    },
    /// More than [`MAX_DOTENV_VARIABLES`] variables.
    #[error("dotenv reports define {count} variables; the limit is {MAX_DOTENV_VARIABLES}")]
    TooMany {
        /// How many were defined.
        count: usize,
    },
    /// A line is not `KEY=VALUE` with a valid key.
    #[error("dotenv report `{}` line {line}: expected `KEY=VALUE` with a name of letters, digits and `_`", path.display())]
    InvalidLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// Parses one dotenv file's `text` (named `path` in errors) into ordered pairs; a repeated
/// name keeps its first position and its last value.
///
/// # Errors
///
/// [`DotenvError::TooLarge`], [`DotenvError::InvalidLine`].
pub fn parse(path: &Path, text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    if text.len() > MAX_DOTENV_BYTES {
        return Err(DotenvError::TooLarge {
            path: path.to_owned(),
            size: text.len(),
        });
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = || DotenvError::InvalidLine {
            path: path.to_owned(),
            line: index + 1,
        };
        let (key, value) = line.split_once('=').ok_or_else(invalid)?;
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(invalid());
        }
        let value = value.trim().to_owned();
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(existing) => existing.1 = value,
            None => pairs.push((key.to_owned(), value)),
        }
    }
    Ok(pairs)
}

/// Reads and parses the dotenv reports `paths` (relative to `workspace`, as written in
/// `artifacts:reports:dotenv`), later files overriding earlier ones.
///
/// Blocks; call from `spawn_blocking`.
///
/// # Errors
///
/// Any [`DotenvError`]; the limit on the number of variables applies to all files together.
pub fn read_reports(
    workspace: &Path,
    paths: &[String],
) -> Result<Vec<(String, String)>, DotenvError> {
    let mut all: Vec<(String, String)> = Vec::new();
    for written in paths {
        let rel = super::copy::contained_path(written.trim()).ok_or_else(|| {
            DotenvError::OutsideWorkspace {
                path: written.clone(),
            }
        })?;
        let text =
            std::fs::read_to_string(workspace.join(&rel)).map_err(|source| DotenvError::Read {
                path: rel.clone(),
                source,
            })?;
        for (key, value) in parse(&rel, &text)? {
            match all.iter_mut().find(|(k, _)| *k == key) {
                Some(existing) => existing.1 = value,
                None => all.push((key, value)),
            }
        }
    }
    if all.len() > MAX_DOTENV_VARIABLES {
        return Err(DotenvError::TooMany { count: all.len() });
    }
    Ok(all)
}

/// The report paths of `artifacts:reports:dotenv` (a string or a list of strings).
pub fn report_paths(reports: &[(String, serde_json::Value)]) -> Vec<String> {
    reports
        .iter()
        .filter(|(kind, _)| kind == "dotenv")
        .flat_map(|(_, value)| match value {
            serde_json::Value::String(path) => vec![path.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}


/// Where the dotenv variables job `name` reported are kept in its pipeline's run directory,
/// so that a job run again later (a retry or a play) receives them as in the first run.
pub fn kept_path(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join("dotenv").join(format!("{}.json", super::log::safe_name(name)))
}

/// Keeps `variables` as job `name`'s dotenv report under `run_dir`. Blocks.
///
/// # Errors
/// The I/O error when the file cannot be written.
pub fn keep(run_dir: &Path, name: &str, variables: &[(String, String)]) -> std::io::Result<()> {
    let path = kept_path(run_dir, name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let text = serde_json::to_vec(variables).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

/// The dotenv variables kept for job `name` under `run_dir`; none when it reported none.
pub fn kept(run_dir: &Path, name: &str) -> Vec<(String, String)> {
    std::fs::read(kept_path(run_dir, name))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, String)> {
        parse(Path::new("build.env"), text).expect("valid")
    }

    #[test]
    fn splits_at_first_equals_and_strips() {
        let pairs = parsed("A=1\n  B = x=y  \n\nC=\"quoted\"\nA=2\n");
        let expected = [("A", "2"), ("B", "x=y"), ("C", "\"quoted\"")];
        let got: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn refuses_bad_lines_without_printing_values() {
        let err = parse(Path::new("b.env"), "OK=1\nnot a pair secretvalue\n").expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "dotenv report `b.env` line 2: expected `KEY=VALUE` with a name of letters, digits and `_`"
        );
        assert!(parse(Path::new("b.env"), "BAD-NAME=1").is_err());
        assert!(parse(Path::new("b.env"), &"A=1\n".repeat(2000)).is_err());
    }

    #[test]
    fn report_paths_accept_string_or_list() {
        let reports = vec![
            ("junit".to_owned(), serde_json::json!("r.xml")),
            ("dotenv".to_owned(), serde_json::json!(["a.env", "b.env"])),
        ];
        assert_eq!(report_paths(&reports), ["a.env", "b.env"]);
    }
}
