//! [`RepoReader`]: the `ci` engine's [`FileReader`] over a local checkout or a revision of a
//! repository, other projects' repositories for `include:project`, Sluice's bundled templates
//! and a directory of cached remote includes.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{GitError, Repo};
use crate::ci::source::{FileReader, FileSource, ReadError};

/// Files larger than this are not read (GitLab's limit for one CI file is 2 MiB; this leaves
/// room for the YAML loader to report the size itself).
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads pipeline configuration files for one pipeline.
pub struct RepoReader {
    repo: Repo,
    revision: Option<String>,
    projects: BTreeMap<String, PathBuf>,
    remote_cache: Option<PathBuf>,
}

impl RepoReader {
    /// Reads the repository's working tree as it is (uncommitted changes included) when
    /// `revision` is `None`, else the tree of that commit.
    pub fn new(repo: Repo, revision: Option<String>) -> Self {
        Self { repo, revision, projects: BTreeMap::new(), remote_cache: None }
    }

    /// Serves `include:project: NAME` from the repository at `path`.
    #[must_use]
    pub fn with_project(mut self, name: &str, path: PathBuf) -> Self {
        self.projects.insert(name.to_owned(), path);
        self
    }

    /// Serves `include:remote` from files in `dir` named by [`remote_cache_name`].
    #[must_use]
    pub fn with_remote_cache(mut self, dir: PathBuf) -> Self {
        self.remote_cache = Some(dir);
        self
    }

    /// The repository read.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    fn read_local(&self, path: &str) -> Result<String, ReadError> {
        let relative = safe_relative(path)?;
        match &self.revision {
            None => read_text_file(&self.repo.root().join(relative)),
            Some(rev) => blob_text(self.repo.read_file_at(rev, path).map_err(git_failed)?, path),
        }
    }

    fn read_project(&self, project: &str, git_ref: Option<&str>, path: &str) -> Result<String, ReadError> {
        let Some(dir) = self.projects.get(project) else {
            return Err(ReadError::Refused(format!(
                "project `{project}` is not known here; give its repository with `--project-repo {project}=PATH`"
            )));
        };
        safe_relative(path)?;
        let repo = Repo::open(dir).or_else(|_| Repo::discover(dir)).map_err(git_failed)?;
        blob_text(repo.read_file_at(git_ref.unwrap_or("HEAD"), path).map_err(git_failed)?, path)
    }

    fn read_remote(&self, url: &str) -> Result<String, ReadError> {
        let Some(dir) = &self.remote_cache else { return Err(ReadError::NotFound) };
        read_text_file(&dir.join(remote_cache_name(url)))
    }
}

/// The file name a cached copy of remote include `url` has in the cache directory: the URL with
/// every character other than ASCII letters, digits, `.` and `-` replaced by `_`.
pub fn remote_cache_name(url: &str) -> String {
    url.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

fn safe_relative(path: &str) -> Result<&Path, ReadError> {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(ReadError::Refused(format!("`{path}` leaves the repository; paths must stay inside it")));
    }
    Ok(relative)
}

fn read_text_file(path: &Path) -> Result<String, ReadError> {
    let metadata = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Err(ReadError::NotFound),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::NotFound),
        Err(e) => return Err(ReadError::Failed(format!("cannot read `{}`: {e}", path.display()))),
    };
    if metadata.len() > MAX_FILE_BYTES {
        return Err(ReadError::Failed(format!("`{}` is {} bytes; CI files may be at most {MAX_FILE_BYTES}", path.display(), metadata.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| ReadError::Failed(format!("cannot read `{}`: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|_| ReadError::Failed(format!("`{}` is not UTF-8 text", path.display())))
}

fn blob_text(blob: Option<Vec<u8>>, path: &str) -> Result<String, ReadError> {
    let bytes = blob.ok_or(ReadError::NotFound)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::Failed(format!("`{path}` is {} bytes; CI files may be at most {MAX_FILE_BYTES}", bytes.len())));
    }
    String::from_utf8(bytes).map_err(|_| ReadError::Failed(format!("`{path}` is not UTF-8 text")))
}

fn git_failed(error: GitError) -> ReadError {
    ReadError::Failed(format!("{error}: {}", std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default()))
}

impl FileReader for RepoReader {
    fn read(&self, source: &FileSource, path: &str) -> Result<String, ReadError> {
        match source {
            FileSource::Local => self.read_local(path),
            FileSource::Project { project, git_ref } => self.read_project(project, git_ref.as_deref(), path),
            FileSource::Template => crate::pipelines::template(path).map(str::to_owned).ok_or(ReadError::NotFound),
            FileSource::Remote => self.read_remote(path),
        }
    }

    fn list(&self, source: &FileSource) -> Result<Vec<String>, ReadError> {
        match source {
            FileSource::Local => match &self.revision {
                None => self.repo.working_tree_files(),
                Some(rev) => self.repo.list_files_at(rev),
            }
            .map_err(git_failed),
            FileSource::Project { project, git_ref } => {
                let dir = self.projects.get(project).ok_or(ReadError::NotFound)?;
                let repo = Repo::open(dir).or_else(|_| Repo::discover(dir)).map_err(git_failed)?;
                repo.list_files_at(git_ref.as_deref().unwrap_or("HEAD")).map_err(git_failed)
            }
            FileSource::Template => Ok(crate::pipelines::TEMPLATES.iter().map(|(name, _)| (*name).to_owned()).collect()),
            FileSource::Remote => Ok(Vec::new()),
        }
    }
}
