//! Pulling a pinned image from a registry into the process target's image cache: an OCI
//! layout under the data directory (`<data_dir>/deploy/images`), content-addressed, so a blob
//! already there (from another release or app) is not fetched again. The manifest is asked
//! for by the pinned digest, never by tag, and every document and blob is checked against its
//! digest before it is stored; [`super::read`] checks them again when the image is unpacked.
//!
//! Registry access (plain `http` only for loopback and configured hosts, credentials) is
//! [`crate::publish::registry`]'s.

use std::path::Path;

use serde_json::Value;

use super::ImageError;
use super::layout::pick_manifest;
use crate::diagnostic::error_chain;
use crate::publish::image::{Layout, sha256_digest};
use crate::publish::registry::{Registry, RegistryOptions};

/// Pulls `image` (`registry/repository[:tag]`) at the manifest (or index) `digest` into the
/// layout `cache`, creating it when missing. An index brings its `linux/amd64` manifest (or
/// its only one) and that manifest's config and layers.
///
/// # Errors
///
/// [`ImageError::Pull`] naming the image when the reference is malformed, the registry fails
/// or refuses, or a document it sends does not match its digest; [`ImageError::Io`] when the
/// cache cannot be written.
pub async fn pull(image: &str, digest: &str, cache: &Path, options: &RegistryOptions) -> Result<(), ImageError> {
    let failed = |detail: String| ImageError::Pull {
        image: image.to_string(),
        detail,
    };
    let reference: oci_client::Reference = image
        .parse()
        .map_err(|e| failed(format!("not an image reference ({e}); write `registry/repository:tag`")))?;
    let layout = Layout::create(cache).map_err(|e| failed(error_chain(&e)))?;
    let registry = Registry::new(options, &reference);
    let mut manifest = document(&registry, &reference, &layout, digest).await.map_err(failed)?;
    if manifest.get("manifests").is_some() {
        let chosen = pick_manifest(&manifest)
            .ok_or_else(|| failed(format!("index `{digest}` has no linux/amd64 manifest")))?;
        manifest = document(&registry, &reference, &layout, &chosen).await.map_err(failed)?;
    }
    let blobs = manifest
        .pointer("/config/digest")
        .into_iter()
        .chain(manifest.get("layers").and_then(Value::as_array).into_iter().flatten().filter_map(|l| l.get("digest")))
        .filter_map(Value::as_str);
    for blob in blobs {
        registry
            .pull_blob_into(&reference, blob, &layout)
            .await
            .map_err(|e| failed(error_chain(&e)))?;
    }
    Ok(())
}

/// The manifest or index `digest` of `reference`'s repository, from the cache or pulled by
/// digest, checked and stored.
async fn document(registry: &Registry, reference: &oci_client::Reference, layout: &Layout, digest: &str) -> Result<Value, String> {
    let bytes = if layout.has_blob(digest) {
        layout.read_blob(digest).map_err(|e| error_chain(&e))?
    } else {
        let by_digest = oci_client::Reference::with_digest(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            digest.to_owned(),
        );
        let (bytes, _, _) = registry.pull_manifest(&by_digest).await.map_err(|e| error_chain(&e))?;
        if sha256_digest(&bytes) != digest {
            return Err(format!("the registry sent a manifest for `{digest}` that has another digest"));
        }
        layout.write_blob(&bytes).map_err(|e| error_chain(&e))?;
        bytes
    };
    serde_json::from_slice(&bytes).map_err(|e| format!("manifest `{digest}` is not JSON: {e}"))
}
