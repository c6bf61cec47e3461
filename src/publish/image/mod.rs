//! Daemonless OCI images: assembly into an OCI image layout, as ko and jib do, without a
//! container engine.
//!
//! An image is built into a [`Layout`] (an OCI image layout directory): the base's blobs
//! ([`base`](mod@base): `scratch`, another layout, or a registry), one layer per `--layer`
//! ([`layer`](mod@layer): a tar with fixed owners, normalised modes and timestamps), then a
//! config and manifest per platform and, for several platforms, an index
//! ([`build`](mod@build)). Identical inputs give identical bytes, hence an identical digest:
//! every JSON document is written with sorted keys ([`canonical_json`]) and every time comes
//! from the build's epoch, never the wall clock. Pushing a layout to a registry is
//! [`crate::publish::registry`]'s job.

pub mod base;
pub mod build;
pub mod layer;
pub mod layout;
pub mod platform;
pub mod reference;

use std::path::PathBuf;

pub use build::{BuildSpec, Built, build};
pub use layer::LayerSpec;
pub use layout::Layout;
pub use platform::Platform;
pub use reference::{ImageRef, Source};

/// Media types this module writes and reads.
pub mod media {
    /// An OCI image manifest.
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// An OCI image index.
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// An OCI image config.
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// An uncompressed tar layer (what `sluice image build` writes).
    pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// A Docker v2 manifest (accepted in bases).
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// A Docker manifest list (accepted in bases).
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
}

/// What can go wrong building or reading an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file or directory could not be read or written.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What we were doing ("read", "write", "create directory", …).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A directory is not an OCI image layout, or its contents are not valid.
    #[error("`{}` is not a valid OCI image layout: {detail}", path.display())]
    InvalidLayout {
        /// The layout directory.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A JSON document (manifest, index, config) could not be read.
    #[error("invalid {what} `{digest}`: {detail}")]
    InvalidDocument {
        /// "manifest", "index" or "config".
        what: &'static str,
        /// Its digest (or path).
        digest: String,
        /// What is wrong.
        detail: String,
    },
    /// A layout holds no image under the tag asked for.
    #[error("OCI layout `{}` has no image tagged `{tag}` (it has: {available})", path.display())]
    NoSuchTag {
        /// The layout directory.
        path: PathBuf,
        /// The tag.
        tag: String,
        /// The tags it has, comma-separated, or "none".
        available: String,
    },
    /// A base image has no manifest for a platform asked for.
    #[error("base image `{base}` has no manifest for platform `{platform}` (it has: {available})")]
    NoSuchPlatform {
        /// The base reference.
        base: String,
        /// The platform asked for.
        platform: Platform,
        /// The platforms it has.
        available: String,
    },
    /// A command-line value is not valid (a layer spec, a platform, a reference, …).
    #[error("invalid {what} `{value}`: {detail}")]
    InvalidArgument {
        /// What kind of value ("--layer", "--platform", "image reference", …).
        what: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and how to write it.
        detail: String,
    },
    /// A layer source holds something a layer cannot carry (a socket, a device).
    #[error("cannot put `{}` into a layer: {detail}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Pulling a base image from a registry failed.
    #[error("cannot pull base image `{base}`")]
    Pull {
        /// The base reference.
        base: String,
        /// Why.
        #[source]
        source: Box<crate::publish::registry::RegistryError>,
    },
}

/// A JSON document as bytes with every object's keys sorted, so that maps the OCI types keep
/// as `HashMap` (labels, annotations) serialise the same in every process.
///
/// # Panics
///
/// Never for the OCI types: their `Serialize` cannot fail (string keys only).
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("OCI documents serialise to JSON");
    serde_json::to_vec(&sorted(value)).expect("JSON values serialise")
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// `sha256:` and the lowercase hex SHA-256 of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex_lower(&sha2::Sha256::digest(bytes)))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let mut labels = std::collections::HashMap::new();
        for key in ["b", "a", "c"] {
            labels.insert(key.to_owned(), key.to_owned());
        }
        let doc = serde_json::json!({"z": 1, "labels": labels, "list": [{"y": 1, "x": 2}]});
        assert_eq!(
            String::from_utf8(canonical_json(&doc)).expect("utf-8"),
            r#"{"labels":{"a":"a","b":"b","c":"c"},"list":[{"x":2,"y":1}],"z":1}"#
        );
    }

    #[test]
    fn sha256_of_nothing_is_the_well_known_digest() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
