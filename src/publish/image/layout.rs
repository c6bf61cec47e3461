//! OCI image layout directories: `oci-layout`, `index.json` and `blobs/sha256/<hex>`, as the
//! image spec defines them and skopeo, crane and containerd read them.
//!
//! Blobs are written to a temporary file beside their final place while they are hashed,
//! then renamed, so a reader never sees half a blob under its digest; `index.json` is
//! replaced the same way. Images are named by the `org.opencontainers.image.ref.name`
//! annotation of their `index.json` entry (the tag).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use sha2::{Digest as _, Sha256};

use super::{ImageError, canonical_json, hex_lower, media};

/// The annotation naming an image in a layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the layout at `root`, creating the directory and its `oci-layout` marker and
    /// empty index when they do not exist yet.
    ///
    /// # Errors
    ///
    /// [`ImageError::Io`]; [`ImageError::InvalidLayout`] for a directory that has an
    /// `oci-layout` file of another version.
    pub fn create(root: &Path) -> Result<Layout, ImageError> {
        let layout = Layout { root: root.to_owned() };
        let blobs = layout.root.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_error("create directory", &blobs))?;
        let marker = layout.root.join("oci-layout");
        if marker.exists() {
            return Layout::open(root);
        }
        write_atomically(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let index = empty_index();
        write_atomically(&layout.root.join("index.json"), &canonical_json(&index))?;
        Ok(layout)
    }

    /// Opens an existing layout.
    ///
    /// # Errors
    ///
    /// [`ImageError::InvalidLayout`] when `root` has no `oci-layout` file of version 1.0.0.
    pub fn open(root: &Path) -> Result<Layout, ImageError> {
        let marker = root.join("oci-layout");
        let text = fs::read(&marker).map_err(|err| ImageError::InvalidLayout {
            path: root.to_owned(),
            detail: format!("cannot read its `oci-layout` file ({err})"),
        })?;
        let version = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion").and_then(|v| v.as_str()).map(str::to_owned));
        if version.as_deref() != Some("1.0.0") {
            return Err(ImageError::InvalidLayout {
                path: root.to_owned(),
                detail: "its `oci-layout` file does not say `imageLayoutVersion` 1.0.0".to_owned(),
            });
        }
        Ok(Layout { root: root.to_owned() })
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` (`sha256:<hex>`) is stored.
    ///
    /// # Errors
    ///
    /// [`ImageError::InvalidDocument`] for a digest that is not SHA-256 in lowercase hex.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .ok_or_else(|| ImageError::InvalidDocument {
                what: "digest",
                digest: digest.to_owned(),
                detail: "only `sha256:` followed by 64 lowercase hex digits is supported".to_owned(),
            })?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// Whether the layout holds the blob `digest`.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|path| path.is_file())
    }

    /// Stores `bytes` as a blob; returns its digest and size.
    ///
    /// # Errors
    ///
    /// [`ImageError::Io`].
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(String, u64), ImageError> {
        let mut writer = self.blob_writer()?;
        writer.write_all(bytes).map_err(io_error("write", &writer.temp))?;
        writer.finish()
    }

    /// A writer that stores what is written as a blob when [`BlobWriter::finish`]ed.
    ///
    /// # Errors
    ///
    /// [`ImageError::Io`].
    pub fn blob_writer(&self) -> Result<BlobWriter, ImageError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(".partial-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let temp = self.root.join("blobs/sha256").join(name);
        let file = File::create(&temp).map_err(io_error("create", &temp))?;
        Ok(BlobWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            temp,
            dir: self.root.join("blobs/sha256"),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// The blob `digest`'s bytes.
    ///
    /// # Errors
    ///
    /// [`ImageError::Io`] naming the blob's path (a missing blob too).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(io_error("read blob", &path))
    }

    /// Makes `other`'s blob `digest` available here: a hard link when both are on one
    /// filesystem, else a copy. Nothing happens when it is already here.
    ///
    /// # Errors
    ///
    /// [`ImageError::Io`].
    pub fn copy_blob_from(&self, other: &Layout, digest: &str) -> Result<(), ImageError> {
        let target = self.blob_path(digest)?;
        if target.is_file() {
            return Ok(());
        }
        let source = other.blob_path(digest)?;
        if fs::hard_link(&source, &target).is_ok() {
            return Ok(());
        }
        let bytes = fs::read(&source).map_err(io_error("read blob", &source))?;
        self.write_blob(&bytes).map(|_| ())
    }

    /// The layout's `index.json`.
    ///
    /// # Errors
    ///
    /// [`ImageError::Io`]; [`ImageError::InvalidLayout`] when it is not an image index.
    pub fn index(&self) -> Result<ImageIndex, ImageError> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).map_err(io_error("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|err| ImageError::InvalidLayout {
            path: self.root.clone(),
            detail: format!("`index.json` is not an OCI image index: {err}"),
        })
    }

    /// Names `descriptor` `tag` in `index.json`, replacing what had that tag before.
    ///
    /// # Errors
    ///
    /// As [`Layout::index`]; [`ImageError::Io`] writing it.
    pub fn set_tag(&self, descriptor: &Descriptor, tag: &str) -> Result<(), ImageError> {
        let mut index = self.index()?;
        let mut entry = descriptor.clone();
        let mut annotations = entry.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.to_owned(), tag.to_owned());
        entry.set_annotations(Some(annotations));
        let mut manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| ref_name(d) != Some(tag))
            .cloned()
            .collect();
        manifests.push(entry);
        index.set_manifests(manifests);
        write_atomically(&self.root.join("index.json"), &canonical_json(&index))
    }

    /// The image tagged `tag`, or with `None` the only image of the layout.
    ///
    /// # Errors
    ///
    /// [`ImageError::NoSuchTag`] listing the tags there are.
    pub fn resolve(&self, tag: Option<&str>) -> Result<Descriptor, ImageError> {
        let index = self.index()?;
        let found = match tag {
            Some(tag) => index.manifests().iter().find(|d| ref_name(d) == Some(tag)),
            None if index.manifests().len() == 1 => index.manifests().first(),
            None => None,
        };
        found.cloned().ok_or_else(|| {
            let tags: Vec<&str> = index.manifests().iter().filter_map(ref_name).collect();
            ImageError::NoSuchTag {
                path: self.root.clone(),
                tag: tag.unwrap_or("(the only image)").to_owned(),
                available: if tags.is_empty() { "none".to_owned() } else { tags.join(", ") },
            }
        })
    }
}

/// An entry's tag in a layout's `index.json`.
fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::new())
        .annotations(HashMap::new())
        .build()
        .expect("an empty index is valid")
}

/// A blob being written; see [`Layout::blob_writer`].
pub struct BlobWriter {
    file: BufWriter<File>,
    temp: PathBuf,
    dir: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Stores the blob under its digest; returns the digest and size.
    ///
    /// # Errors
    ///
    /// [`ImageError::Io`].
    pub fn finish(mut self) -> Result<(String, u64), ImageError> {
        self.file.flush().map_err(io_error("write", &self.temp))?;
        let digest = format!("sha256:{}", hex_lower(&self.hasher.finalize_reset()));
        let target = self.dir.join(&digest["sha256:".len()..]);
        fs::rename(&self.temp, &target).map_err(io_error("write", &target))?;
        Ok((digest, self.size))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After `finish` the temporary file was renamed and this fails harmlessly.
        let _ = fs::remove_file(&self.temp);
    }
}

/// Media type of a descriptor as text.
pub(crate) fn media_type_of(descriptor: &Descriptor) -> String {
    descriptor.media_type().to_string()
}

/// Whether a media type names an index (OCI or Docker manifest list).
pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == media::INDEX || media_type == media::DOCKER_LIST
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let temp = path.with_extension("partial");
    fs::write(&temp, bytes).map_err(io_error("write", &temp))?;
    fs::rename(&temp, path).map_err(io_error("write", path))
}

/// An [`ImageError::Io`] maker for `map_err`.
pub(crate) fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ImageError + 'a {
    move |source| ImageError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_stored_under_their_digest_and_tags_replace_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::create(dir.path()).expect("layout");
        let (digest, size) = layout.write_blob(b"hello").expect("blob");
        assert_eq!(size, 5);
        assert_eq!(layout.read_blob(&digest).expect("read"), b"hello");
        let descriptor = Descriptor::new(MediaType::ImageManifest, size, digest.parse::<oci_spec::image::Digest>().expect("digest"));
        layout.set_tag(&descriptor, "1.0.0").expect("tag");
        layout.set_tag(&descriptor, "1.0.0").expect("tag again");
        assert_eq!(layout.index().expect("index").manifests().len(), 1);
        assert_eq!(layout.resolve(Some("1.0.0")).expect("resolve").size(), 5);
        let err = layout.resolve(Some("2.0.0")).expect_err("missing");
        assert!(err.to_string().contains("has no image tagged `2.0.0` (it has: 1.0.0)"), "{err}");
        let reopened = Layout::create(dir.path()).expect("reopen");
        assert!(reopened.has_blob(&digest));
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("blobs/sha256"))
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".partial"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_directory_without_the_marker_is_not_a_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Layout::open(dir.path()).expect_err("not a layout");
        assert!(err.to_string().contains("is not a valid OCI image layout"), "{err}");
    }
}
