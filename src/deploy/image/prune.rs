//! Pruning the image cache (`<data_dir>/deploy/images`): after the deploy loop's pass, every
//! blob that no image still in use refers to is removed. An image in use is named by its
//! manifest or index digest; it keeps that document, an index's manifests, and each
//! manifest's config and layers. The cache is shared by every app and environment, so the
//! caller passes the digests of all of them ([`crate::store::Store::digests_in_use`]).
//!
//! It must not run while a pull writes into the cache: the deploy loop, the only writer, runs
//! it between passes. Blobs being written (`.partial-*`) are left alone.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::ImageError;

/// Removes from the layout `cache` every blob that none of the images `keep` refers to;
/// returns the digests removed, sorted. A missing cache removes nothing.
///
/// # Errors
///
/// [`ImageError::Io`] when the blob directory cannot be listed or a blob removed.
pub fn prune(cache: &Path, keep: &[String]) -> Result<Vec<String>, ImageError> {
    let blobs = cache.join("blobs/sha256");
    let entries = match std::fs::read_dir(&blobs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ImageError::Io { path: blobs, source }),
    };
    let kept = referenced(cache, keep);
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ImageError::Io {
            path: blobs.clone(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let digest = format!("sha256:{name}");
        if name.starts_with('.') || kept.contains(&digest) {
            continue;
        }
        std::fs::remove_file(entry.path()).map_err(|source| ImageError::Io {
            path: entry.path(),
            source,
        })?;
        removed.push(digest);
    }
    removed.sort();
    Ok(removed)
}

/// The digests `keep` and everything they refer to that is in the cache.
fn referenced(cache: &Path, keep: &[String]) -> BTreeSet<String> {
    let mut kept = BTreeSet::new();
    let mut documents: Vec<String> = keep.to_vec();
    while let Some(digest) = documents.pop() {
        if !kept.insert(digest.clone()) {
            continue;
        }
        let Some(document) = json_blob(cache, &digest) else {
            continue;
        };
        let manifests = document.get("manifests").and_then(Value::as_array).into_iter().flatten();
        documents.extend(manifests.filter_map(|m| m.get("digest")?.as_str().map(str::to_string)));
        let config = document.pointer("/config/digest").into_iter();
        let layers = document.get("layers").and_then(Value::as_array).into_iter().flatten().filter_map(|l| l.get("digest"));
        kept.extend(config.chain(layers).filter_map(Value::as_str).map(str::to_string));
    }
    kept
}

/// A blob of the cache parsed as JSON, when it is one (a layer is not).
fn json_blob(cache: &Path, digest: &str) -> Option<Value> {
    let hex = digest.strip_prefix("sha256:").filter(|hex| !hex.contains('/'))?;
    let bytes = std::fs::read(cache.join("blobs/sha256").join(hex)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::prune;
    use crate::deploy::test_image::server_image;

    fn blobs(layout: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn only_blobs_of_images_in_use_stay() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("images");
        assert_eq!(prune(&cache, &[]).unwrap(), Vec::<String>::new(), "no cache yet");
        let one = server_image(&cache, "1.0.0", &[]);
        let with_one = blobs(&cache);
        let two = server_image(&cache, "2.0.0", &[]);
        let three = server_image(&cache, "3.0.0", &[]);
        std::fs::write(cache.join("blobs/sha256/.partial-1-0"), "being written").unwrap();
        let before = blobs(&cache);
        // The three share their layer; each has its own config and manifest.
        assert_eq!(before.len(), with_one.len() + 2 * 2 + 1);

        let removed = prune(&cache, &[two.clone(), three.clone()]).unwrap();
        assert_eq!(removed.len(), 2, "the manifest and config of 1.0.0 only: {removed:?}");
        assert!(removed.contains(&one));
        let after = blobs(&cache);
        assert!(after.contains(&two) && after.contains(&three) && after.contains(&"sha256:.partial-1-0".to_string()));
        crate::deploy::image::read(&cache, &two).expect("2.0.0 is whole");
        crate::deploy::image::read(&cache, &three).expect("3.0.0 is whole");
        assert!(crate::deploy::image::read(&cache, &one).is_err());

        assert_eq!(prune(&cache, &[two.clone(), three]).unwrap(), Vec::<String>::new(), "nothing more");
        prune(&cache, std::slice::from_ref(&two)).unwrap();
        crate::deploy::image::read(&cache, &two).expect("the shared layer stays");
    }
}
