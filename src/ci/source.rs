//! What the `ci` engine reads besides its input variables: files, through [`FileReader`].
//!
//! The engine never touches the file system, git or the network itself; the caller
//! (CLI, daemon, tests) supplies a reader. This keeps planning pure and deterministic.

/// Where an included file comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileSource {
    /// The pipeline's own repository at the pipeline's commit (`include:local`).
    Local,
    /// Another project's repository (`include:project`), at `git_ref` or its default branch.
    Project {
        /// Full project path, such as `group/tools`.
        project: String,
        /// Branch, tag or sha; `None` for the default branch.
        git_ref: Option<String>,
    },
    /// A template bundled with Sluice (`include:template`), from its `pipelines/` folder.
    Template,
    /// A cached copy of a remote URL (`include:remote`). Readers never fetch live.
    Remote,
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The file does not exist at that source.
    #[error("file not found")]
    NotFound,
    /// The reader will not read this source (no such project configured, offline, ...); the
    /// message says why and what to do instead.
    #[error("{0}")]
    Refused(String),
    /// Any other failure, described.
    #[error("{0}")]
    Failed(String),
}

/// Reads the files a pipeline configuration refers to.
pub trait FileReader {
    /// The contents of `path` (relative to the source's root, no leading `/`) in `source`.
    ///
    /// For [`FileSource::Template`] `path` is the template name (`Sluice/Publish.gitlab-ci.yml`);
    /// for [`FileSource::Remote`] it is the URL.
    fn read(&self, source: &FileSource, path: &str) -> Result<String, ReadError>;

    /// Every file path (relative, `/`-separated, no leading `/`) in `source`, for wildcard
    /// includes and `rules:exists`. Directories are not listed.
    fn list(&self, source: &FileSource) -> Result<Vec<String>, ReadError>;
}

/// A reader over an in-memory set of files: the engine's tests, fuzzing and benchmarks use it.
#[derive(Debug, Clone, Default)]
pub struct MemoryReader {
    files: std::collections::BTreeMap<(SourceKey, String), String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SourceKey {
    Local,
    Project(String, Option<String>),
    Template,
    Remote,
}

impl From<&FileSource> for SourceKey {
    fn from(source: &FileSource) -> Self {
        match source {
            FileSource::Local => SourceKey::Local,
            FileSource::Project { project, git_ref } => SourceKey::Project(project.clone(), git_ref.clone()),
            FileSource::Template => SourceKey::Template,
            FileSource::Remote => SourceKey::Remote,
        }
    }
}

impl MemoryReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file of the pipeline's own repository.
    #[must_use]
    pub fn with_local(self, path: &str, contents: &str) -> Self {
        self.with(&FileSource::Local, path, contents)
    }

    /// Adds a file to `source`.
    #[must_use]
    pub fn with(mut self, source: &FileSource, path: &str, contents: &str) -> Self {
        self.files.insert((source.into(), path.to_owned()), contents.to_owned());
        self
    }
}

impl FileReader for MemoryReader {
    fn read(&self, source: &FileSource, path: &str) -> Result<String, ReadError> {
        self.files.get(&(source.into(), path.to_owned())).cloned().ok_or(ReadError::NotFound)
    }

    fn list(&self, source: &FileSource) -> Result<Vec<String>, ReadError> {
        let key = SourceKey::from(source);
        Ok(self.files.keys().filter(|(k, _)| *k == key).map(|(_, p)| p.clone()).collect())
    }
}
