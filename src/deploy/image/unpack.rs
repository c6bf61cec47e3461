//! Unpacking layers into a root directory, bottom layer first, as the OCI image spec's
//! "applying changesets" says: `.wh.NAME` deletes `NAME` from the layers below, and
//! `.wh..wh..opq` empties its directory of what the layers below put there. Modes are kept
//! except set-user-ID and set-group-ID bits; owners are not (the app runs as the caller);
//! device files and FIFOs are skipped. Paths are confined to the root (`..`, absolute paths
//! and writes through symlinks are refused by `tar`'s `unpack_in`).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use tar::EntryType;

use super::ImageError;
use super::layout::ImageConfig;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Unpacks every layer of `image` into `root` (an existing, empty directory).
///
/// # Errors
///
/// [`ImageError::Io`] naming the layer; [`ImageError::Invalid`] for a compression Sluice does
/// not read (zstd) or an entry path that leaves the root.
pub fn unpack(image: &ImageConfig, root: &Path) -> Result<(), ImageError> {
    for (media_type, path) in &image.layers {
        let io = |source| ImageError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let reader: Box<dyn Read> = if media_type.ends_with("gzip") {
            Box::new(GzDecoder::new(file))
        } else if media_type.ends_with(".tar") {
            Box::new(file)
        } else {
            return Err(ImageError::Invalid {
                layout: path.clone(),
                message: format!("layer media type `{media_type}` is not supported (tar and tar+gzip are)"),
            });
        };
        apply_layer(reader, root).map_err(io)?;
    }
    Ok(())
}

fn apply_layer(reader: impl Read, root: &Path) -> std::io::Result<()> {
    let real_root = root.canonicalize()?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_mask(0o6000);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(relative) = confined(&entry.path()?) else {
            return Err(std::io::Error::other(format!(
                "entry `{}` leaves the image root",
                entry.path()?.display()
            )));
        };
        let name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = root.join(relative.parent().unwrap_or(Path::new("")));
        if name == OPAQUE || name.starts_with(WHITEOUT) {
            // A lower layer may have made a parent a symlink out of the root: never follow it.
            match parent.canonicalize() {
                Ok(real) if real.starts_with(&real_root) => {}
                Ok(_) => {
                    return Err(std::io::Error::other(format!(
                        "whiteout `{}` is below a symlink",
                        relative.display()
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        if name == OPAQUE {
            empty_dir(&parent)?;
        } else if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            remove(&parent.join(hidden))?;
        } else if matches!(
            entry.header().entry_type(),
            EntryType::Char | EntryType::Block | EntryType::Fifo
        ) {
            continue;
        } else {
            entry.unpack_in(root)?;
        }
    }
    Ok(())
}

/// The entry's path without `./` and leading `/`; `None` when it has `..`.
fn confined(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Removes a file, symlink or directory tree without following symlinks; absent is fine.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes everything inside `dir` (which layers below created); absent is fine. The
/// marker comes before its directory's entries in the layer, as the spec asks producers.
fn empty_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            for entry in std::fs::read_dir(dir)? {
                remove(&entry?.path())?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
