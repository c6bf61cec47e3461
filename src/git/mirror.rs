//! Bare mirrors of the watched repositories, one per project, under the data directory.
//!
//! A mirror is fetched with `+refs/heads/*:refs/heads/*` and `+refs/tags/*:refs/tags/*`
//! (pruning deleted refs), plus on demand a forge ref such as `refs/pull/7/head`. Pipelines
//! read their configuration from the mirror at a sha and run on a checkout of that sha.
//!
//! Remotes are local paths, `file://`, `https://` (the system's CA store) and `ssh://` or
//! `host:path` (the host key checked against `known_hosts`); their credentials, a
//! [`RemoteAuth`], reach libgit2 only through callbacks. Everything here blocks: async callers
//! use `spawn_blocking`.

use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{AutotagOption, FetchOptions, FetchPrune, Oid, Repository};

use super::auth::Session;
use super::{GitError, RemoteAuth, Repo};

/// The refspecs every fetch uses.
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// A project's bare mirror.
pub struct Mirror {
    pub(super) repo: Repository,
    path: PathBuf,
    pub(super) url: String,
    pub(super) auth: RemoteAuth,
}

fn other(action: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let action = action.into();
    move |source| GitError::Other { action, source }
}

impl Mirror {
    /// Opens the mirror at `path`, creating an empty bare repository there first if none
    /// exists; `url` is where it fetches from.
    ///
    /// # Errors
    /// [`GitError::Other`] when the directory cannot be created or opened as a repository.
    pub fn open_or_init(path: &Path, url: &str) -> Result<Mirror, GitError> {
        let repo = match Repository::open_bare(path) {
            Ok(repo) => repo,
            Err(_) => Repository::init_bare(path).map_err(other(format!("create the mirror `{}`", path.display())))?,
        };
        Ok(Mirror {
            repo,
            path: path.to_owned(),
            url: url.to_owned(),
            auth: RemoteAuth::default(),
        })
    }

    /// The same mirror, fetching and pushing with `auth`.
    pub fn with_auth(self, auth: RemoteAuth) -> Mirror {
        Mirror { auth, ..self }
    }

    /// The mirror's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fetches every branch and tag, pruning deleted ones, and `extra` refs (full names,
    /// such as `refs/pull/7/head`, each stored under the same name).
    ///
    /// # Errors
    /// [`GitError::HostKey`] when an SSH host's key is refused; [`GitError::Other`] naming the
    /// URL when the fetch fails otherwise (credentials refused or missing included).
    pub fn fetch(&self, extra: &[&str]) -> Result<(), GitError> {
        let mut remote = self
            .repo
            .remote_anonymous(&self.url)
            .map_err(other(format!("use remote `{}`", self.url)))?;
        let mut refspecs: Vec<String> = REFSPECS.iter().map(|s| (*s).to_owned()).collect();
        refspecs.extend(extra.iter().map(|r| format!("+{r}:{r}")));
        let session = Session::new(&self.auth, &self.url);
        let mut options = FetchOptions::new();
        options.prune(FetchPrune::On).download_tags(AutotagOption::None).remote_callbacks(session.callbacks());
        let fetched = remote.fetch(&refspecs, Some(&mut options), None);
        drop(options);
        fetched.map_err(|source| session.error(format!("fetch from `{}`", self.url), source))
    }

    /// Every branch and tag with the commit it points to (tags peeled), sorted by ref name.
    ///
    /// # Errors
    /// [`GitError::Other`] when the refs cannot be read.
    pub fn refs(&self) -> Result<Vec<(String, String)>, GitError> {
        let mut refs = Vec::new();
        for reference in self.repo.references().map_err(other("list refs"))? {
            let reference = reference.map_err(other("read a ref"))?;
            let Ok(name) = reference.name() else { continue };
            if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) {
                continue;
            }
            if let Ok(commit) = reference.peel_to_commit() {
                refs.push((name.to_owned(), commit.id().to_string()));
            }
        }
        refs.sort();
        Ok(refs)
    }

    /// The commit `rev` names (a sha or a ref), if the mirror has it.
    pub fn resolve(&self, rev: &str) -> Option<String> {
        let object = self.repo.revparse_single(rev).ok()?;
        object.peel_to_commit().ok().map(|c| c.id().to_string())
    }

    /// Writes the tree of commit `sha` into `target` (created if needed; existing files are
    /// overwritten).
    ///
    /// # Errors
    /// [`GitError::UnknownRevision`] when the mirror lacks the commit; [`GitError::Other`].
    pub fn checkout(&self, sha: &str, target: &Path) -> Result<(), GitError> {
        let unknown = |source| GitError::UnknownRevision {
            rev: sha.to_owned(),
            repo: self.path.clone(),
            source,
        };
        let oid = Oid::from_str(sha).map_err(unknown)?;
        let commit = self.repo.find_commit(oid).map_err(unknown)?;
        std::fs::create_dir_all(target).map_err(|e| GitError::Other {
            action: format!("create `{}`", target.display()),
            source: git2::Error::from_str(&e.to_string()),
        })?;
        let mut checkout = CheckoutBuilder::new();
        checkout.target_dir(target).force().recreate_missing(true);
        self.repo
            .checkout_tree(commit.as_object(), Some(&mut checkout))
            .map_err(other(format!("check out {sha} into `{}`", target.display())))
    }

    /// The mirror as a [`Repo`], for reads (files at a sha, changed paths, merge bases).
    ///
    /// # Errors
    /// [`GitError::NotARepository`] if the mirror vanished.
    pub fn reader(&self) -> Result<Repo, GitError> {
        Repo::open(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_cli::git;

    #[test]
    fn a_mirror_fetches_branches_and_tags_and_checks_out_a_commit() {
        let dir = tempfile::tempdir().expect("temp");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(&work, &["init", "-q", "-b", "main"]);
        std::fs::write(work.join("a.txt"), "one\n").expect("write");
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "first"]);
        git(&work, &["tag", "-a", "v1", "-m", "v1"]);
        let sha = git(&work, &["rev-parse", "HEAD"]);

        let mirror =
            Mirror::open_or_init(&dir.path().join("m/demo.git"), work.to_str().expect("utf-8")).expect("mirror");
        mirror.fetch(&[]).expect("fetch");
        let refs = mirror.refs().expect("refs");
        assert_eq!(
            refs,
            [
                ("refs/heads/main".to_owned(), sha.clone()),
                ("refs/tags/v1".to_owned(), sha.clone())
            ]
        );
        let checkout = dir.path().join("checkout");
        mirror.checkout(&sha, &checkout).expect("checkout");
        assert_eq!(std::fs::read_to_string(checkout.join("a.txt")).expect("file"), "one\n");

        git(&work, &["branch", "-q", "gone"]);
        mirror.fetch(&[]).expect("fetch");
        assert!(mirror.resolve("refs/heads/gone").is_some());
        git(&work, &["branch", "-q", "-D", "gone"]);
        mirror.fetch(&[]).expect("fetch");
        assert_eq!(mirror.resolve("refs/heads/gone"), None, "deleted branches are pruned");
        assert!(mirror.checkout(&"0".repeat(40), &checkout).is_err());
    }
}
