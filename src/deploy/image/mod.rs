//! Images for the process target: read an image from an OCI image layout (`index.json`,
//! `blobs/sha256/…`) by its manifest digest, check every blob against its digest, and unpack
//! its layers into a directory, applying whiteouts as the OCI image spec says.
//!
//! The layout is what `sluice image build` writes, or the image cache that [`pull`] fills
//! from a registry and [`prune`] empties of images no longer deployed.

mod layout;
pub mod prune;
pub mod pull;
mod unpack;

pub use layout::{ImageConfig, read};
pub use unpack::unpack;

use std::path::PathBuf;

/// Why an image could not be read or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file of the layout could not be read or written.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A blob's content does not match its digest.
    #[error("blob `{digest}` of `{}` does not match its digest: the layout is damaged", layout.display())]
    DigestMismatch {
        /// The layout.
        layout: PathBuf,
        /// The digest expected.
        digest: String,
    },
    /// The image could not be pulled from its registry.
    #[error("cannot pull `{image}`: {detail}")]
    Pull {
        /// The image reference.
        image: String,
        /// Why: the registry's answer, or what did not match.
        detail: String,
    },
    /// The layout's JSON is not what the OCI image spec describes.
    #[error("`{}`: {message}", layout.display())]
    Invalid {
        /// The layout.
        layout: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[cfg(test)]
mod tests;
