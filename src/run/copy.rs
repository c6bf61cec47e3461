//! Copying file trees for workspaces and artifacts: regular files as copy-on-write clones,
//! symbolic links verbatim, and never a write through a symbolic link.
//!
//! Each file is created once, with the source's permission bits (so the executable bit), and
//! filled by a reflink (btrfs, XFS, bcachefs) or, where that fails, by `copy_file_range`.
//! A [`TreeWriter`] stops trying reflinks after the first failure: the rest of its files
//! come from the same trees. Creating the file once matters more than it looks: on ext4 an
//! inode freed a moment ago cannot be reused yet, and each creation scans past those, so a
//! create-then-unlink per file (what `reflink_or_copy` does when reflinks are unsupported)
//! made every later creation slower too (measured: see the commit that introduced this).
//! Never hard links: a job that writes a file in place (`sed -i`, a build tool truncating an
//! output) would change the developer's working tree through a hard link.
//!
//! All functions here block; callers run them in `spawn_blocking`.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// What an entry of a tree is, as seen without following symbolic links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A symbolic link (to anything, or dangling).
    Symlink,
    /// A directory.
    Dir,
}

/// One entry found by [`list_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the listed root.
    pub path: PathBuf,
    /// What it is.
    pub kind: EntryKind,
}

/// How much [`TreeWriter`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyCounts {
    /// Regular files written.
    pub files: u64,
    /// Symbolic links written.
    pub symlinks: u64,
    /// Bytes of the regular files (cloned or copied).
    pub bytes: u64,
}

/// The kind of the entry at `path`, without following a final symbolic link; `None` for
/// sockets, FIFOs and devices.
///
/// # Errors
///
/// `symlink_metadata` failed (including `NotFound`).
pub fn kind_of(path: &Path) -> io::Result<Option<EntryKind>> {
    let file_type = std::fs::symlink_metadata(path)?.file_type();
    Ok(if file_type.is_symlink() {
        Some(EntryKind::Symlink)
    } else if file_type.is_dir() {
        Some(EntryKind::Dir)
    } else if file_type.is_file() {
        Some(EntryKind::File)
    } else {
        None
    })
}

/// Lists `root/start` and everything below it, without following symbolic links, in sorted
/// order; paths are relative to `root`. A `start` that does not exist gives an empty list.
/// Sockets, FIFOs and devices are left out.
///
/// # Errors
///
/// A directory could not be read.
pub fn list_tree(root: &Path, start: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let kind = match kind_of(&root.join(start)) {
        Ok(Some(kind)) => kind,
        Ok(None) => return Ok(entries),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(entries),
        Err(error) => return Err(error),
    };
    let mut pending = vec![Entry {
        path: start.to_path_buf(),
        kind,
    }];
    while let Some(entry) = pending.pop() {
        if entry.kind == EntryKind::Dir {
            let mut children = Vec::new();
            for child in std::fs::read_dir(root.join(&entry.path))? {
                let child = child?;
                let path = entry.path.join(child.file_name());
                if let Some(kind) = kind_of(&root.join(&path))? {
                    children.push(Entry { path, kind });
                }
            }
            // Reverse order on the stack gives sorted output.
            children.sort_by(|a, b| b.path.cmp(&a.path));
            pending.extend(children);
        }
        if !entry.path.as_os_str().is_empty() {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// `text` as a relative path that stays below its root: no root, no `..`, `.` dropped.
/// `None` when it would escape or is empty.
pub fn contained_path(text: &str) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    for component in Path::new(text).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!path.as_os_str().is_empty()).then_some(path)
}

/// Copies `len` bytes (the source's size when it was opened) from the start of `from` to
/// `to` with `copy_file_range`, asking for all of them at once: one system call for most
/// files, where `io::copy` makes five (two descriptor checks, two `statx`, and a last call to
/// find the end). A source that shrinks meanwhile is copied to its new end; one that grows
/// is copied as long as it was when opened. Where the kernel cannot copy between these
/// files, `io::copy` does it.
fn copy_contents(from: &mut File, to: &mut File, len: u64) -> io::Result<u64> {
    use rustix::io::Errno;
    let mut copied = 0u64;
    while copied < len {
        let want = usize::try_from(len - copied).unwrap_or(usize::MAX);
        match rustix::fs::copy_file_range(&*from, None, &*to, None, want) {
            Ok(0) => break,
            Ok(n) => copied += n as u64,
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) if copied == 0 => return io::copy(from, to),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(copied)
}

/// The process's file creation mask, read once from `/proc/self/status` (reading it with
/// `umask(2)` would change it for a moment, under other threads creating files); all bits
/// if it cannot be read, so that every file's mode is then set explicitly.
pub(crate) fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
                u32::from_str_radix(line.trim(), 8).ok()
            })
            .unwrap_or(0o777)
    })
}

/// Writes entries below one root directory, creating parent directories as needed.
///
/// # Guarantees
///
/// Nothing is written outside `root`: every parent directory is checked to be a real
/// directory, not a symbolic link, before anything is written below it. An existing file or
/// symbolic link at a destination is replaced (the link itself, not its target).
#[derive(Debug)]
pub struct TreeWriter {
    root: PathBuf,
    real_dirs: HashSet<PathBuf>,
    counts: CopyCounts,
    /// Cleared by the first failed reflink; later files are copied straight away.
    try_reflink: bool,
}

impl TreeWriter {
    /// A writer below `root`, which must exist.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            real_dirs: HashSet::new(),
            counts: CopyCounts::default(),
            try_reflink: true,
        }
    }

    /// What was written so far.
    pub fn counts(&self) -> CopyCounts {
        self.counts
    }

    /// Clones the regular file `source` (followed if it is a symbolic link) to `rel` below
    /// the root, with the same permission bits.
    ///
    /// # Errors
    ///
    /// `source` is not a regular file, a parent is a symbolic link or not a directory, `rel`
    /// is a directory, or I/O failed.
    pub fn file(&mut self, source: &Path, rel: &Path) -> io::Result<()> {
        let mut from = File::open(source)?;
        let metadata = from.metadata()?;
        if !metadata.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` is not a regular file", source.display()),
            ));
        }
        let mode = metadata.permissions().mode();
        let mut to = self.create(rel, |dest| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(dest)
        })?;
        // The umask may have cleared bits at creation; the copy keeps the source's. (Only
        // when it did: a syscall per file is a measurable part of a workspace.)
        if mode & 0o7777 & umask() != 0 {
            to.set_permissions(metadata.permissions())?;
        }
        let bytes = if self.try_reflink && reflink_copy::reflink_file(&from, &to).is_ok() {
            metadata.len()
        } else {
            if self.try_reflink {
                self.try_reflink = false;
                // A failed clone leaves the content unspecified: start from empty.
                to.set_len(0)?;
            }
            copy_contents(&mut from, &mut to, metadata.len())?
        };
        self.counts.files += 1;
        self.counts.bytes += bytes;
        Ok(())
    }

    /// Recreates the symbolic link `source` at `rel` below the root, with the same target
    /// text (relative or absolute, resolvable or not).
    ///
    /// # Errors
    ///
    /// As for [`TreeWriter::file`].
    pub fn symlink(&mut self, source: &Path, rel: &Path) -> io::Result<()> {
        let target = std::fs::read_link(source)?;
        self.create(rel, |dest| std::os::unix::fs::symlink(&target, dest))?;
        self.counts.symlinks += 1;
        Ok(())
    }

    /// Makes sure the parents of `rel` are real directories, then creates the entry with
    /// `make` (which must fail with `AlreadyExists` rather than follow or overwrite what is
    /// there, as `create_new` and `symlink` do); if a file or a symbolic link is in the way,
    /// removes it and creates again. A directory in the way is an error.
    fn create<T>(&mut self, rel: &Path, make: impl Fn(&Path) -> io::Result<T>) -> io::Result<T> {
        if let Some(parent) = rel.parent() {
            self.real_dir(parent)?;
        }
        let dest = self.root.join(rel);
        match make(&dest) {
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            made => return made,
        }
        let removed = match kind_of(&dest) {
            Ok(Some(EntryKind::Dir)) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("`{}` is a directory", rel.display()),
                ));
            }
            Ok(_) => std::fs::remove_file(&dest),
            Err(error) => Err(error),
        };
        match removed {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => make(&dest),
        }
    }

    /// Creates `rel` and its missing parents as directories, refusing symbolic links.
    fn real_dir(&mut self, rel: &Path) -> io::Result<()> {
        let mut current = PathBuf::new();
        for component in rel.components() {
            current.push(component);
            if self.real_dirs.contains(&current) {
                continue;
            }
            let path = self.root.join(&current);
            match kind_of(&path) {
                Ok(Some(EntryKind::Dir)) => {}
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "`{}` is not a directory (a symbolic link or a file)",
                            current.display()
                        ),
                    ));
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    std::fs::create_dir(&path)?
                }
                Err(error) => return Err(error),
            }
            self.real_dirs.insert(current.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contained_path_refuses_escapes() {
        assert_eq!(contained_path("./a/./b"), Some(PathBuf::from("a/b")));
        assert_eq!(contained_path("a/../b"), None);
        assert_eq!(contained_path("/etc/passwd"), None);
        assert_eq!(contained_path("."), None);
    }

    #[test]
    fn writer_never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&outside).expect("outside");
        std::os::unix::fs::symlink(&outside, root.join("link")).expect("symlink");
        let source = dir.path().join("source");
        std::fs::write(&source, "x").expect("source");
        let mut writer = TreeWriter::new(&root);
        assert!(writer.file(&source, Path::new("link/file")).is_err());
        assert!(!outside.join("file").exists());
        // Replacing the link itself is fine and leaves the target alone.
        writer
            .file(&source, Path::new("link"))
            .expect("replace link");
        assert!(root.join("link").is_file());
        assert!(outside.is_dir());
    }

    #[test]
    fn writer_replaces_files_and_links_but_not_directories() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a-dir")).expect("dirs");
        std::fs::write(root.join("old"), "old content, longer than the new one").expect("old");
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).expect("symlink");
        let source = dir.path().join("source");
        std::fs::write(&source, "new").expect("source");
        std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        let mut writer = TreeWriter::new(&root);
        for rel in ["old", "dangling", "fresh"] {
            writer.file(&source, Path::new(rel)).expect(rel);
            assert_eq!(std::fs::read_to_string(root.join(rel)).expect(rel), "new");
            let mode = std::fs::metadata(root.join(rel))
                .expect(rel)
                .permissions()
                .mode();
            assert_eq!(mode & 0o7777, 0o750, "{rel}: {mode:o}");
        }
        assert!(writer.file(&source, Path::new("a-dir")).is_err());
        assert!(
            writer
                .symlink(&root.join("dangling"), Path::new("a-dir"))
                .is_err()
        );
        writer
            .symlink(&root.join("dangling"), Path::new("old"))
            .expect_err("`dangling` is a file now");
        std::os::unix::fs::symlink("target", dir.path().join("link")).expect("link");
        writer
            .symlink(&dir.path().join("link"), Path::new("old"))
            .expect("link over file");
        assert_eq!(
            std::fs::read_link(root.join("old")).expect("read link"),
            Path::new("target")
        );
        assert_eq!(writer.counts().files, 3);
        assert_eq!(writer.counts().bytes, 9);
    }

    #[test]
    fn list_tree_is_sorted_and_does_not_follow_links() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).expect("dirs");
        std::fs::write(root.join("b/c/f"), "").expect("file");
        std::fs::write(root.join("a"), "").expect("file");
        std::os::unix::fs::symlink("/", root.join("b/up")).expect("symlink");
        let entries = list_tree(root, Path::new("")).expect("list");
        let listed: Vec<(String, EntryKind)> = entries
            .iter()
            .map(|e| (e.path.display().to_string(), e.kind))
            .collect();
        assert_eq!(
            listed,
            [
                ("a".to_owned(), EntryKind::File),
                ("b".to_owned(), EntryKind::Dir),
                ("b/c".to_owned(), EntryKind::Dir),
                ("b/c/f".to_owned(), EntryKind::File),
                ("b/up".to_owned(), EntryKind::Symlink),
            ]
        );
    }
}
