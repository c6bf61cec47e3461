//! Reading an image (manifest, config, layer list) from an OCI image layout.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ImageError;

/// What the process target needs from an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `config.Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `config.Cmd`.
    pub cmd: Vec<String>,
    /// `config.Env`, as `(name, value)`.
    pub env: Vec<(String, String)>,
    /// `config.WorkingDir` (absolute inside the image; `/` when unset).
    pub working_dir: String,
    /// The layers, bottom first: media type and the blob's path, verified.
    pub layers: Vec<(String, PathBuf)>,
}

/// Reads the image whose manifest (or index) has `digest` from the layout at `layout`. An
/// index resolves to its `linux/amd64` manifest, or its only one.
///
/// # Errors
///
/// [`ImageError::Io`] for a missing blob, [`ImageError::DigestMismatch`] when a blob's content
/// does not hash to its name, [`ImageError::Invalid`] for malformed JSON.
pub fn read(layout: &Path, digest: &str) -> Result<ImageConfig, ImageError> {
    let invalid = |message: String| ImageError::Invalid {
        layout: layout.to_path_buf(),
        message,
    };
    let mut manifest = blob_json(layout, digest)?;
    if manifest.get("manifests").is_some() {
        let chosen =
            pick_manifest(&manifest).ok_or_else(|| invalid(format!("index `{digest}` has no linux/amd64 manifest")))?;
        manifest = blob_json(layout, &chosen)?;
    }
    let config_digest = manifest
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("manifest `{digest}` has no `config.digest`")))?;
    let config = blob_json(layout, config_digest)?;
    let strings = |pointer: &str| -> Vec<String> {
        config
            .pointer(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let env = strings("/config/Env")
        .into_iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (pair, String::new()),
        })
        .collect();
    let mut layers = Vec::new();
    for layer in manifest.get("layers").and_then(Value::as_array).into_iter().flatten() {
        let (Some(media_type), Some(layer_digest)) = (
            layer.get("mediaType").and_then(Value::as_str),
            layer.get("digest").and_then(Value::as_str),
        ) else {
            return Err(invalid(format!(
                "manifest `{digest}` has a layer without `mediaType` or `digest`"
            )));
        };
        let path = blob_path(layout, layer_digest)?;
        verify(layout, layer_digest, &path)?;
        layers.push((media_type.to_string(), path));
    }
    Ok(ImageConfig {
        entrypoint: strings("/config/Entrypoint"),
        cmd: strings("/config/Cmd"),
        env,
        working_dir: config
            .pointer("/config/WorkingDir")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .unwrap_or("/")
            .to_string(),
        layers,
    })
}

/// `blobs/<algorithm>/<hex>`; only `sha256` digests with 64 lowercase hex digits.
fn blob_path(layout: &Path, digest: &str) -> Result<PathBuf, ImageError> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(layout.join("blobs/sha256").join(hex))
        }
        _ => Err(ImageError::Invalid {
            layout: layout.to_path_buf(),
            message: format!("`{digest}` is not a sha256 digest (`sha256:` and 64 lowercase hex digits)"),
        }),
    }
}

/// Checks that the file hashes to `digest`, reading it in chunks.
fn verify(layout: &Path, digest: &str, path: &Path) -> Result<(), ImageError> {
    use std::io::Read;
    let io = |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(io)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    if format!("sha256:{}", hex(&hasher.finalize())) != digest {
        return Err(ImageError::DigestMismatch {
            layout: layout.to_path_buf(),
            digest: digest.to_string(),
        });
    }
    Ok(())
}

/// A small JSON blob, verified and parsed.
fn blob_json(layout: &Path, digest: &str) -> Result<Value, ImageError> {
    let path = blob_path(layout, digest)?;
    let bytes = std::fs::read(&path).map_err(|source| ImageError::Io {
        path: path.clone(),
        source,
    })?;
    if format!("sha256:{}", hex(&Sha256::digest(&bytes))) != digest {
        return Err(ImageError::DigestMismatch {
            layout: layout.to_path_buf(),
            digest: digest.to_string(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ImageError::Invalid {
        layout: layout.to_path_buf(),
        message: format!("blob `{digest}` is not JSON: {e}"),
    })
}

/// The `linux/amd64` entry of an index, or its only entry.
pub(super) fn pick_manifest(index: &Value) -> Option<String> {
    let entries = index.get("manifests")?.as_array()?;
    let platform = |entry: &Value, key: &str| {
        entry
            .pointer(&format!("/platform/{key}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let chosen = entries
        .iter()
        .find(|e| {
            platform(e, "os").as_deref() == Some("linux") && platform(e, "architecture").as_deref() == Some("amd64")
        })
        .or(if entries.len() == 1 { entries.first() } else { None })?;
    chosen.get("digest")?.as_str().map(str::to_string)
}

/// Lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
