//! Keeps rendering inside the config repo: a template directory, file or symlink that
//! resolves outside the repository's root is refused, whatever way it is written (`..`,
//! an absolute path, a symlink to `/etc` or to a sibling checkout).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::RenderError;

/// How deep template directories may nest (symlinked directories included).
const MAX_DEPTH: usize = 32;

/// The canonical path of `relative` inside the canonical `root`.
///
/// # Errors
///
/// [`RenderError::Escapes`] when it is absolute or resolves outside `root`;
/// [`RenderError::Missing`] when it does not exist.
pub(crate) fn resolve(root: &Path, relative: &Path) -> Result<PathBuf, RenderError> {
    let shown = relative.display().to_string();
    if relative
        .components()
        .any(|c| matches!(c, Component::RootDir | Component::Prefix(_)))
    {
        return Err(RenderError::Escapes {
            path: shown,
            target: relative.to_path_buf(),
        });
    }
    let real = match root.join(relative).canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RenderError::Missing { path: shown }),
        Err(source) => return Err(RenderError::Io { path: shown, source }),
    };
    if !real.starts_with(root) {
        return Err(RenderError::Escapes {
            path: shown,
            target: real,
        });
    }
    Ok(real)
}

/// Every regular file under the canonical directory `dir` (itself inside `root`), as its path
/// relative to `dir` (with `/`) and its canonical path, sorted by relative path. Symlinks are
/// followed only when they stay inside `root`.
///
/// # Errors
///
/// [`RenderError::Escapes`] for the first symlink that leaves `root`, wherever it is in the
/// tree (even one that would not be rendered): a repository that tries is refused as a whole.
pub(crate) fn files(root: &Path, dir: &Path) -> Result<Vec<(String, PathBuf)>, RenderError> {
    let mut found = Vec::new();
    let mut visited = HashSet::new();
    let mut stack = vec![(dir.to_path_buf(), String::new(), 0usize)];
    while let Some((real_dir, prefix, depth)) = stack.pop() {
        if depth > MAX_DEPTH || !visited.insert(real_dir.clone()) {
            continue;
        }
        let shown = |name: &str| format!("{prefix}{name}");
        let entries = std::fs::read_dir(&real_dir).map_err(|source| RenderError::Io {
            path: prefix.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| RenderError::Io {
                path: prefix.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let io = |source| RenderError::Io {
                path: shown(&name),
                source,
            };
            let real = if entry.file_type().map_err(io)?.is_symlink() {
                let real = path.canonicalize().map_err(|source| RenderError::Io {
                    path: shown(&name),
                    source,
                })?;
                if !real.starts_with(root) {
                    return Err(RenderError::Escapes {
                        path: shown(&name),
                        target: real,
                    });
                }
                real
            } else {
                path
            };
            let meta = std::fs::metadata(&real).map_err(|source| RenderError::Io {
                path: shown(&name),
                source,
            })?;
            if meta.is_dir() {
                stack.push((real, format!("{}/", shown(&name)), depth + 1));
            } else if meta.is_file() {
                found.push((shown(&name), real));
            }
        }
    }
    found.sort();
    Ok(found)
}
