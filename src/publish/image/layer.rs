//! One layer from a file or directory of the build's output: `--layer SRC:DEST`.
//!
//! The layer is an uncompressed tar (so its digest is also its diff id, and a rebuild of the
//! same files gives the same bytes): entries sorted by path, parent directories of `DEST`
//! included, owner and group 0, modes normalised to what git keeps (0755 for directories and
//! for files with any execute bit, 0644 for other files), symbolic links kept as links, and
//! every timestamp set to the build's epoch. Other file types are refused.

use std::fs;
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::layout::{BlobWriter, io_error};
use super::{ImageError, Layout};

/// `--layer SRC:DEST`: put `SRC` (a file or a directory's contents) at `DEST` in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    /// The file or directory on this machine.
    pub source: PathBuf,
    /// The absolute path in the image, without trailing `/`, `/` for the root.
    pub dest: String,
}

impl FromStr for LayerSpec {
    type Err = ImageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |detail: &str| ImageError::InvalidArgument {
            what: "--layer",
            value: text.to_owned(),
            detail: detail.to_owned(),
        };
        let (source, dest) = text
            .rsplit_once(':')
            .ok_or_else(|| invalid("write it as SRC:DEST, for example `dist/app:/app`"))?;
        if source.is_empty() {
            return Err(invalid("SRC is empty; write it as SRC:DEST, for example `dist/app:/app`"));
        }
        if !dest.starts_with('/') {
            return Err(invalid("DEST must be an absolute path in the image, for example `/app`"));
        }
        let parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return Err(invalid("DEST may not contain `.` or `..`"));
        }
        Ok(LayerSpec {
            source: PathBuf::from(source),
            dest: format!("/{}", parts.join("/")),
        })
    }
}

/// A layer written to a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The blob's digest (also its diff id: the layer is uncompressed).
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Writes `spec`'s files as one layer blob into `layout`, with every time set to `epoch`
/// (seconds since 1970).
///
/// Blocks on the filesystem: async callers use `spawn_blocking`.
///
/// # Errors
///
/// [`ImageError::Io`] for an unreadable source; [`ImageError::Unsupported`] for a socket,
/// device or FIFO.
pub fn write_layer(layout: &Layout, spec: &LayerSpec, epoch: u64) -> Result<Layer, ImageError> {
    let meta = fs::symlink_metadata(&spec.source).map_err(io_error("read", &spec.source))?;
    let mut tar = tar::Builder::new(layout.blob_writer()?);
    let dest = spec.dest.trim_start_matches('/');
    let mut parents: Vec<&str> = Vec::new();
    for (i, _) in dest.match_indices('/') {
        parents.push(&dest[..i]);
    }
    if meta.is_dir() && !dest.is_empty() {
        parents.push(dest);
    }
    let mut entries = Entries { tar: &mut tar, epoch };
    for dir in parents {
        entries.directory(dir, &spec.source)?;
    }
    if meta.is_dir() {
        entries.tree(&spec.source, dest)?;
    } else {
        entries.entry(&spec.source, dest)?;
    }
    let writer: BlobWriter = tar.into_inner().map_err(io_error("write layer of", &spec.source))?;
    let (digest, size) = writer.finish()?;
    Ok(Layer { digest, size })
}

struct Entries<'a, W: Write> {
    tar: &'a mut tar::Builder<W>,
    epoch: u64,
}

impl<W: Write> Entries<'_, W> {
    /// Every entry under directory `source`, sorted by name, at `dest/…`.
    fn tree(&mut self, source: &Path, dest: &str) -> Result<(), ImageError> {
        let mut children: Vec<_> = fs::read_dir(source)
            .map_err(io_error("read directory", source))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(io_error("read directory", source))?;
        children.sort();
        for name in children {
            let Some(name_text) = name.to_str() else {
                return Err(ImageError::Unsupported {
                    path: source.join(&name),
                    detail: "the name is not UTF-8".to_owned(),
                });
            };
            let path = source.join(&name);
            let target = if dest.is_empty() { name_text.to_owned() } else { format!("{dest}/{name_text}") };
            self.entry(&path, &target)?;
        }
        Ok(())
    }

    /// `path` (of any kind) at `target`; a directory with everything under it.
    fn entry(&mut self, path: &Path, target: &str) -> Result<(), ImageError> {
        let meta = fs::symlink_metadata(path).map_err(io_error("read", path))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            self.directory(target, path)?;
            self.tree(path, target)
        } else if kind.is_symlink() {
            let link = fs::read_link(path).map_err(io_error("read link", path))?;
            let mut header = self.header(tar::EntryType::Symlink, 0o777, 0);
            self.tar
                .append_link(&mut header, target, &link)
                .map_err(io_error("write layer entry for", path))
        } else if kind.is_file() {
            let mode = if executable(&meta) { 0o755 } else { 0o644 };
            let mut header = self.header(tar::EntryType::Regular, mode, meta.len());
            let file = fs::File::open(path).map_err(io_error("read", path))?;
            self.tar
                .append_data(&mut header, target, file)
                .map_err(io_error("write layer entry for", path))
        } else {
            Err(ImageError::Unsupported {
                path: path.to_owned(),
                detail: "only files, directories and symbolic links go into layers".to_owned(),
            })
        }
    }

    fn directory(&mut self, target: &str, source: &Path) -> Result<(), ImageError> {
        let mut header = self.header(tar::EntryType::Directory, 0o755, 0);
        self.tar
            .append_data(&mut header, format!("{target}/"), io::empty())
            .map_err(io_error("write layer entry for", source))
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.epoch);
        header
    }
}

#[cfg(unix)]
fn executable(meta: &fs::Metadata) -> bool {
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_meta: &fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(layout: &Layout, layer: &Layer) -> Vec<(String, u32, u64)> {
        let bytes = layout.read_blob(&layer.digest).expect("blob");
        let mut archive = tar::Archive::new(bytes.as_slice());
        archive
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let header = e.header();
                let path = e.path().expect("path").to_string_lossy().into_owned();
                (path, header.mode().expect("mode"), header.mtime().expect("mtime"))
            })
            .collect()
    }

    #[test]
    fn a_directory_lands_under_dest_sorted_with_normalised_modes() {
        let src = tempfile::tempdir().expect("src");
        fs::create_dir(src.path().join("bin")).expect("mkdir");
        fs::write(src.path().join("bin/run"), "#!/bin/sh\n").expect("write");
        fs::set_permissions(src.path().join("bin/run"), fs::Permissions::from_mode(0o700)).expect("chmod");
        fs::write(src.path().join("a.txt"), "a").expect("write");
        fs::set_permissions(src.path().join("a.txt"), fs::Permissions::from_mode(0o600)).expect("chmod");
        let out = tempfile::tempdir().expect("out");
        let layout = Layout::create(out.path()).expect("layout");
        let spec: LayerSpec = format!("{}:/opt/app/", src.path().display()).parse().expect("spec");
        let layer = write_layer(&layout, &spec, 1_700_000_000).expect("layer");
        assert_eq!(
            entries(&layout, &layer),
            vec![
                ("opt/".to_owned(), 0o755, 1_700_000_000),
                ("opt/app/".to_owned(), 0o755, 1_700_000_000),
                ("opt/app/a.txt".to_owned(), 0o644, 1_700_000_000),
                ("opt/app/bin/".to_owned(), 0o755, 1_700_000_000),
                ("opt/app/bin/run".to_owned(), 0o755, 1_700_000_000),
            ]
        );
        // Another build of the same files, even with other times on disk, is the same blob.
        fs::write(src.path().join("a.txt"), "a").expect("rewrite");
        assert_eq!(write_layer(&layout, &spec, 1_700_000_000).expect("again"), layer);
        assert_ne!(write_layer(&layout, &spec, 1_700_000_001).expect("other epoch"), layer);
    }

    #[test]
    fn a_file_lands_at_dest_itself() {
        let src = tempfile::tempdir().expect("src");
        fs::write(src.path().join("app.py"), "print('hi')").expect("write");
        let out = tempfile::tempdir().expect("out");
        let layout = Layout::create(out.path()).expect("layout");
        let spec: LayerSpec = format!("{}:/srv/main.py", src.path().join("app.py").display()).parse().expect("spec");
        let layer = write_layer(&layout, &spec, 0).expect("layer");
        let paths: Vec<String> = entries(&layout, &layer).into_iter().map(|e| e.0).collect();
        assert_eq!(paths, ["srv/", "srv/main.py"]);
    }

    #[test]
    fn layer_specs_need_an_absolute_dest() {
        for (text, expected) in [
            ("dist", "write it as SRC:DEST"),
            ("dist:app", "DEST must be an absolute path"),
            (":/app", "SRC is empty"),
            ("dist:/app/../etc", "may not contain"),
        ] {
            let err = text.parse::<LayerSpec>().expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
        let spec: LayerSpec = "c:dist:/".parse().expect("root dest");
        assert_eq!(spec.dest, "/");
        assert_eq!(spec.source, PathBuf::from("c:dist"));
    }
}
