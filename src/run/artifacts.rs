//! Job artifacts: collecting the files a job names from its workspace, and restoring them
//! into a later job's workspace.
//!
//! `artifacts:paths` follows GitLab: patterns relative to the project directory, `*` within
//! one directory, `**` across directories, and a path that names a directory takes the whole
//! directory. `artifacts:exclude` matches file paths only (exclude `dir/**` to drop a
//! directory's content, as GitLab documents). `artifacts:untracked` adds every file that is
//! not tracked by git, ignored ones included. A pattern that matches nothing is reported in
//! [`CollectStats::unmatched`] so the runner can print GitLab's "no matching files" warning.
//!
//! Nothing outside the workspace is ever read: patterns that are absolute or contain `..`,
//! paths that pass through a symbolic link, and symbolic links that resolve outside the
//! workspace (or nowhere) are refused and listed in [`CollectStats::refused`] (GitLab warns
//! and goes on, so do we). Symbolic links that stay inside are kept as links.
//!
//! Both functions block; call them from `spawn_blocking`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use super::copy::{self, CopyCounts, Entry, EntryKind, TreeWriter};

/// A job's `artifacts:` keys that choose files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// `artifacts:paths`: globs relative to the project directory.
    pub paths: Vec<String>,
    /// `artifacts:exclude`: globs of files to leave out.
    pub exclude: Vec<String>,
    /// `artifacts:untracked`: add every file git does not track.
    pub untracked: bool,
}

/// What [`collect`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectStats {
    /// Files and links copied.
    pub copied: CopyCounts,
    /// `paths` entries that matched nothing (before `exclude`), as written.
    pub unmatched: Vec<String>,
    /// Patterns and files refused because they lead outside the workspace.
    pub refused: Vec<Refused>,
}

/// A pattern or path [`collect`] would not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The pattern as written, or the matched path relative to the workspace.
    pub path: String,
    /// Why.
    pub reason: RefusalReason,
}

/// Why a pattern or path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// The pattern is absolute or contains `..`.
    OutsideWorkspace,
    /// A directory on the way is a symbolic link.
    ThroughSymlink,
    /// A symbolic link resolves outside the workspace.
    SymlinkOutside,
    /// A symbolic link resolves to nothing.
    DanglingSymlink,
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusalReason::OutsideWorkspace => "outside the project directory",
            RefusalReason::ThroughSymlink => "the path goes through a symbolic link",
            RefusalReason::SymlinkOutside => "symbolic link to outside the project directory",
            RefusalReason::DanglingSymlink => "symbolic link to nothing",
        })
    }
}

/// Why artifacts could not be collected or restored.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A `paths` or `exclude` entry is not a valid glob.
    #[error("invalid artifacts pattern `{pattern}`")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// What globset found wrong.
        #[source]
        source: globset::Error,
    },
    /// A directory could not be listed.
    #[error("cannot list `{}`", path.display())]
    List {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file could not be copied.
    #[error("cannot copy `{}` into `{}`", path.display(), dest.display())]
    Copy {
        /// Path relative to the tree copied from.
        path: PathBuf,
        /// The tree copied into.
        dest: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// One `paths` entry: where to start looking and what to match.
struct PathPattern {
    written: String,
    /// The longest leading part without glob characters; only this subtree is listed.
    start: PathBuf,
    matcher: GlobMatcher,
}

/// Copies the files `spec` selects from `workspace` into `dest` (created if needed),
/// keeping their paths relative to the workspace.
///
/// `tracked_files` lists the files git tracks (relative, `/`-separated); it is only used
/// for `artifacts:untracked`.
///
/// # Errors
///
/// An invalid glob, or an I/O failure while listing or copying. Refusals and empty matches
/// are not errors; they are in the stats.
pub fn collect(
    workspace: &Path,
    spec: &ArtifactSpec,
    tracked_files: &[String],
    dest: &Path,
) -> Result<CollectStats, ArtifactError> {
    let mut stats = CollectStats::default();
    let patterns = path_patterns(&spec.paths, &mut stats.refused)?;
    let exclude = exclude_set(&spec.exclude)?;
    let list = |start: &Path| {
        copy::list_tree(workspace, start).map_err(|source| ArtifactError::List {
            path: workspace.join(start),
            source,
        })
    };

    // Sorted by path, so the copy order and the refusal list are deterministic.
    let mut selected: BTreeMap<PathBuf, EntryKind> = BTreeMap::new();
    for pattern in &patterns {
        if let Some(link) = symlink_on_the_way(workspace, &pattern.start) {
            stats.refused.push(Refused {
                path: link,
                reason: RefusalReason::ThroughSymlink,
            });
            continue;
        }
        let matched = list(&pattern.start)?
            .into_iter()
            .filter(|entry| {
                entry.kind != EntryKind::Dir
                    && matches_self_or_dir(&pattern.matcher, entry, &pattern.start)
            })
            .map(|entry| selected.insert(entry.path, entry.kind))
            .count();
        if matched == 0 {
            stats.unmatched.push(pattern.written.clone());
        }
    }
    if spec.untracked {
        let tracked: HashSet<&Path> = tracked_files.iter().map(Path::new).collect();
        for entry in list(Path::new(""))? {
            let is_git = entry.path.starts_with(".git");
            if entry.kind != EntryKind::Dir && !is_git && !tracked.contains(entry.path.as_path()) {
                selected.insert(entry.path, entry.kind);
            }
        }
    }

    std::fs::create_dir_all(dest).map_err(|source| copy_error(Path::new(""), dest, source))?;
    let workspace_real = workspace
        .canonicalize()
        .map_err(|source| ArtifactError::List {
            path: workspace.to_path_buf(),
            source,
        })?;
    let mut writer = TreeWriter::new(dest);
    for (rel, kind) in selected {
        if exclude.is_match(&rel) {
            continue;
        }
        let source = workspace.join(&rel);
        let copied = match kind {
            EntryKind::Symlink => match link_refusal(&source, &workspace_real) {
                Some(reason) => {
                    stats.refused.push(Refused {
                        path: rel.display().to_string(),
                        reason,
                    });
                    continue;
                }
                None => writer.symlink(&source, &rel),
            },
            EntryKind::File | EntryKind::Dir => writer.file(&source, &rel),
        };
        copied.map_err(|source| copy_error(&rel, dest, source))?;
    }
    stats.copied = writer.counts();
    Ok(stats)
}

/// Copies a job's collected artifacts (`from`, as written by [`collect`]) into `workspace`,
/// replacing files of the same name.
///
/// # Errors
///
/// I/O failure, including a destination whose parent in the workspace is a symbolic link
/// (nothing is written through it).
pub fn restore(from: &Path, workspace: &Path) -> Result<CopyCounts, ArtifactError> {
    let entries = copy::list_tree(from, Path::new("")).map_err(|source| ArtifactError::List {
        path: from.to_path_buf(),
        source,
    })?;
    let mut writer = TreeWriter::new(workspace);
    for entry in entries {
        let source = from.join(&entry.path);
        let copied = match entry.kind {
            EntryKind::Dir => continue,
            EntryKind::File => writer.file(&source, &entry.path),
            EntryKind::Symlink => writer.symlink(&source, &entry.path),
        };
        copied.map_err(|source| copy_error(&entry.path, workspace, source))?;
    }
    Ok(writer.counts())
}

/// Compiles `paths`; patterns leading outside the workspace go to `refused` instead.
fn path_patterns(
    paths: &[String],
    refused: &mut Vec<Refused>,
) -> Result<Vec<PathPattern>, ArtifactError> {
    let mut patterns = Vec::new();
    for written in paths {
        let trimmed = written.trim().trim_end_matches('/');
        let Some(normalized) = (match trimmed {
            "" | "." => Some(PathBuf::new()),
            _ => copy::contained_path(trimmed),
        }) else {
            refused.push(Refused {
                path: written.clone(),
                reason: RefusalReason::OutsideWorkspace,
            });
            continue;
        };
        let glob_text = if normalized.as_os_str().is_empty() {
            "**".to_owned()
        } else {
            normalized.to_string_lossy().into_owned()
        };
        let start: PathBuf = normalized
            .components()
            .take_while(|part| {
                !part
                    .as_os_str()
                    .to_string_lossy()
                    .contains(['*', '?', '[', '{', '\\'])
            })
            .collect();
        patterns.push(PathPattern {
            written: written.clone(),
            start,
            matcher: glob(&glob_text, written)?.compile_matcher(),
        });
    }
    Ok(patterns)
}

fn exclude_set(exclude: &[String]) -> Result<GlobSet, ArtifactError> {
    let mut set = GlobSetBuilder::new();
    for written in exclude {
        let trimmed = written.trim();
        let normalized = trimmed.strip_prefix("./").unwrap_or(trimmed);
        set.add(glob(normalized, written)?);
    }
    set.build().map_err(|source| ArtifactError::InvalidPattern {
        pattern: exclude.join(", "),
        source,
    })
}

fn glob(text: &str, written: &str) -> Result<globset::Glob, ArtifactError> {
    GlobBuilder::new(text)
        .literal_separator(true)
        .build()
        .map_err(|source| ArtifactError::InvalidPattern {
            pattern: written.to_owned(),
            source,
        })
}

/// Whether `matcher` matches the entry or one of its directories at or below `start`.
fn matches_self_or_dir(matcher: &GlobMatcher, entry: &Entry, start: &Path) -> bool {
    entry
        .path
        .ancestors()
        .take_while(|path| !path.as_os_str().is_empty())
        .take_while(|path| path.starts_with(start))
        .any(|path| matcher.is_match(path))
}

/// The first proper ancestor of `start` inside `workspace` that is not a real directory
/// (a symbolic link, typically), if any.
fn symlink_on_the_way(workspace: &Path, start: &Path) -> Option<String> {
    let parent = start.parent()?;
    let mut current = PathBuf::new();
    for component in parent.components() {
        current.push(component);
        match copy::kind_of(&workspace.join(&current)) {
            Ok(Some(EntryKind::Dir)) => {}
            // Missing parents are fine: the pattern simply matches nothing.
            Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
            _ => return Some(current.display().to_string()),
        }
    }
    None
}

/// Why the symbolic link at `link` may not be collected, if it may not.
fn link_refusal(link: &Path, workspace_real: &Path) -> Option<RefusalReason> {
    match link.canonicalize() {
        Ok(target) if target.starts_with(workspace_real) => None,
        Ok(_) => Some(RefusalReason::SymlinkOutside),
        Err(_) => Some(RefusalReason::DanglingSymlink),
    }
}

fn copy_error(path: &Path, dest: &Path, source: io::Error) -> ArtifactError {
    ArtifactError::Copy {
        path: path.to_path_buf(),
        dest: dest.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;
