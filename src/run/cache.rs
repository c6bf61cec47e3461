//! `cache:`: directories kept between runs under `<state>/cache/<key>/`, restored into a
//! job's workspace before its script and saved from it afterwards.
//!
//! - Key: a literal key is expanded with the job's variables (`$CI_COMMIT_REF_SLUG` …;
//!   default `default`). `key:files` hashes the *contents* of those files in the workspace
//!   (GitLab hashes the commits that last changed them, which needs history a working tree
//!   does not have; contents change exactly when such a commit would), prefixed with
//!   `key:prefix` as `prefix-hash`; when none of the files exists the key is `prefix-default`
//!   or `default`, as in GitLab.
//! - `policy`: `pull-push` (default), `pull`, `push`, or a `$VARIABLE` naming one of them.
//! - Restore tries the key, then `fallback_keys`, then `CACHE_FALLBACK_KEY`; the first that
//!   exists wins. Save follows `cache:when` (`on_success` default).
//! - A save writes a fresh directory and renames it into place, so a reader never sees half a
//!   cache; two jobs saving the same key at once: the last one wins, as in GitLab.
//!
//! Keys are stored under [`super::log::safe_name`] so any key is a safe directory name.
//! Functions here block; call them from `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::artifacts::{self, ArtifactError, ArtifactSpec, CollectStats};
use super::log::safe_name;
use crate::ci::pipeline::{Cache, CacheKey, When};
use crate::ci::variables::Variables;

/// One cache of a job, resolved against its variables and workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePlan {
    /// The key.
    pub key: String,
    /// Keys tried in order when `key` has no cache.
    pub fallback_keys: Vec<String>,
    /// Whether the cache is restored before the script.
    pub pull: bool,
    /// Whether the cache is saved after the script.
    pub push: bool,
    /// When it is saved.
    pub when: When,
    /// What is saved.
    pub spec: ArtifactSpec,
}

/// Why a cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// `policy` is not `pull`, `push` or `pull-push` (after expansion).
    #[error("unknown cache policy `{policy}`; expected pull, push or pull-push")]
    Policy {
        /// The expanded policy.
        policy: String,
    },
    /// A file of `key:files` could not be read.
    #[error("cannot read `{}` for cache:key:files", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Copying into or out of the cache failed.
    #[error("cannot copy the cache")]
    Copy(#[source] ArtifactError),
    /// Moving the saved cache into place failed.
    #[error("cannot store the cache in `{}`", path.display())]
    Store {
        /// The cache directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Resolves `cache` for a job whose variables are `vars` and workspace is `workspace`.
///
/// # Errors
///
/// [`CacheError::Policy`], [`CacheError::KeyFile`].
pub fn resolve(cache: &Cache, vars: &Variables, workspace: &Path) -> Result<CachePlan, CacheError> {
    let key = match &cache.key {
        CacheKey::Literal(text) => {
            let key = vars.expand(text);
            if key.trim().is_empty() {
                "default".to_owned()
            } else {
                key
            }
        }
        CacheKey::Files { files, prefix } => {
            files_key(files, prefix.as_deref().map(|p| vars.expand(p)), workspace)?
        }
    };
    let policy = vars.expand(&cache.policy);
    let (pull, push) = match policy.as_str() {
        "" | "pull-push" => (true, true),
        "pull" => (true, false),
        "push" => (false, true),
        _ => return Err(CacheError::Policy { policy }),
    };
    let mut fallback_keys: Vec<String> =
        cache.fallback_keys.iter().map(|k| vars.expand(k)).collect();
    if let Some(global) = vars.value("CACHE_FALLBACK_KEY").filter(|k| !k.is_empty()) {
        fallback_keys.push(global);
    }
    Ok(CachePlan {
        key,
        fallback_keys,
        pull,
        push,
        when: cache.when,
        spec: ArtifactSpec {
            paths: cache.paths.iter().map(|p| vars.expand(p)).collect(),
            exclude: Vec::new(),
            untracked: cache.untracked,
        },
    })
}

fn files_key(
    files: &[String],
    prefix: Option<String>,
    workspace: &Path,
) -> Result<String, CacheError> {
    let mut content = Vec::new();
    let mut found = false;
    for file in files {
        let Some(rel) = super::copy::contained_path(file) else {
            continue;
        };
        match std::fs::read(workspace.join(&rel)) {
            Ok(bytes) => {
                found = true;
                content.extend_from_slice(file.as_bytes());
                content.push(0);
                content.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                content.extend_from_slice(&bytes);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CacheError::KeyFile { path: rel, source }),
        }
    }
    let hash = if found {
        format!("{:032x}", stable_hash(&content))
    } else {
        "default".to_owned()
    };
    Ok(match prefix {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}-{hash}"),
        _ => hash,
    })
}

/// FNV-1a, 128 bits: stable across Rust versions and platforms (unlike `DefaultHasher`),
/// which cache keys and file names need. Not cryptographic; a collision only mixes two caches.
pub fn stable_hash(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(*byte)).wrapping_mul(PRIME)
    })
}

/// The directory of cache `key` under `cache_root` (`<state>/cache`).
pub fn cache_dir(cache_root: &Path, key: &str) -> PathBuf {
    cache_root.join(safe_name(key))
}

/// Copies the first existing cache of `plan.key` and its fallbacks into `workspace`;
/// returns the key used, or `None` when there is no cache yet (not an error).
///
/// # Errors
///
/// [`CacheError::Copy`].
pub fn restore(
    cache_root: &Path,
    plan: &CachePlan,
    workspace: &Path,
) -> Result<Option<String>, CacheError> {
    for key in std::iter::once(&plan.key).chain(&plan.fallback_keys) {
        let dir = cache_dir(cache_root, key);
        if dir.is_dir() {
            artifacts::restore(&dir, workspace).map_err(CacheError::Copy)?;
            return Ok(Some(key.clone()));
        }
    }
    Ok(None)
}

/// Saves `plan.spec`'s files from `workspace` as cache `plan.key`, replacing the old one.
///
/// # Errors
///
/// [`CacheError::Copy`], [`CacheError::Store`].
pub fn save(
    cache_root: &Path,
    plan: &CachePlan,
    workspace: &Path,
    tracked: &[String],
) -> Result<CollectStats, CacheError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = format!(
        ".tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let fresh = cache_root.join(&unique);
    let store_error = |path: &Path| {
        let path = path.to_owned();
        move |source| CacheError::Store { path, source }
    };
    let stats =
        artifacts::collect(workspace, &plan.spec, tracked, &fresh).map_err(CacheError::Copy)?;
    let target = cache_dir(cache_root, &plan.key);
    let old = cache_root.join(format!("{unique}-old"));
    let had_old = match std::fs::rename(&target, &old) {
        Ok(()) => true,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(source) => return Err(store_error(&target)(source)),
    };
    std::fs::rename(&fresh, &target).map_err(store_error(&target))?;
    if had_old {
        std::fs::remove_dir_all(&old).map_err(store_error(&old))?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(key: CacheKey, policy: &str) -> Cache {
        Cache {
            key,
            paths: vec!["deps/".into()],
            untracked: false,
            unprotect: false,
            when: When::OnSuccess,
            policy: policy.into(),
            fallback_keys: vec!["$FALLBACK".into()],
        }
    }

    #[test]
    fn keys_expand_and_files_hash_contents() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut vars = Variables::new();
        vars.set("CI_COMMIT_REF_SLUG", "main");
        vars.set("FALLBACK", "fb");
        vars.set("POLICY", "pull");
        let plan = resolve(
            &cache(
                CacheKey::Literal("deps-$CI_COMMIT_REF_SLUG".into()),
                "$POLICY",
            ),
            &vars,
            dir.path(),
        )
        .expect("plan");
        assert_eq!(
            (plan.key.as_str(), plan.pull, plan.push),
            ("deps-main", true, false)
        );
        assert_eq!(plan.fallback_keys, ["fb"]);
        let files = CacheKey::Files {
            files: vec!["Cargo.lock".into()],
            prefix: Some("rust".into()),
        };
        let missing = resolve(&cache(files.clone(), "pull-push"), &vars, dir.path()).expect("plan");
        assert_eq!(missing.key, "rust-default");
        std::fs::write(dir.path().join("Cargo.lock"), "v1").expect("write");
        let one = resolve(&cache(files.clone(), "pull-push"), &vars, dir.path())
            .expect("plan")
            .key;
        std::fs::write(dir.path().join("Cargo.lock"), "v2").expect("write");
        let two = resolve(&cache(files, "pull-push"), &vars, dir.path())
            .expect("plan")
            .key;
        assert!(one.starts_with("rust-") && one != two, "{one} {two}");
        assert!(matches!(
            resolve(
                &cache(CacheKey::Literal(String::new()), "sometimes"),
                &vars,
                dir.path()
            ),
            Err(CacheError::Policy { .. })
        ));
    }

    #[test]
    fn save_then_restore_round_trips_and_replaces() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("cache");
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("deps")).expect("mkdir");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(ws.join("deps/a"), "1").expect("write");
        let plan = resolve(
            &cache(CacheKey::Literal("k/1".into()), ""),
            &Variables::new(),
            &ws,
        )
        .expect("plan");
        save(&root, &plan, &ws, &[]).expect("save");
        std::fs::write(ws.join("deps/a"), "2").expect("write");
        save(&root, &plan, &ws, &[]).expect("save again");
        let ws2 = dir.path().join("ws2");
        std::fs::create_dir_all(&ws2).expect("mkdir");
        assert_eq!(
            restore(&root, &plan, &ws2).expect("restore"),
            Some("k/1".to_owned())
        );
        assert_eq!(
            std::fs::read_to_string(ws2.join("deps/a")).expect("read"),
            "2"
        );
        let names: Vec<_> = std::fs::read_dir(&root)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
