//! The gitops target: commits the render to a branch and path of a git repository for
//! Argo CD, Flux or Fleet to sync. Everything goes under `<path>/<app>/` (replaced as a whole,
//! so files the new render lacks disappear): the rendered files, and, when the app has
//! secrets, `secrets.env` encrypted with SOPS (dotenv format) for the environment's
//! recipients plus a `kustomization.yaml` listing the render and a `secretGenerator` named
//! `<app>-secrets` reading it, which Flux's kustomize-controller decrypts. A secret is never
//! committed in clear: without recipients, a deployment with secrets is refused.
//!
//! The repository is cloned once under the target's state directory; each apply fetches,
//! builds the new tree on the branch's tip (an orphan commit when the branch is new), commits
//! only if the tree changed, and pushes. Only local paths and `file://` URLs work for now
//! (libgit2 is built without network transports).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use git2::{Index, IndexEntry, IndexTime, Repository, Signature};

use super::{Applied, TargetError};
use crate::deploy::render::Rendered;
use crate::deploy::spec::{DeploySpec, SecretValues};
use crate::secrets::{self, AgeRecipient, Plaintext, Recipients};

/// Where to commit.
#[derive(Debug, Clone)]
pub struct GitopsTarget {
    /// The target's state directory (the clone lives in `work/`).
    pub dir: PathBuf,
    /// The repository (path or `file://` URL).
    pub repo: String,
    /// The branch.
    pub branch: String,
    /// The directory in the repository holding `<app>/`.
    pub path: String,
    /// Age recipients of the environment.
    pub recipients: Vec<String>,
}

impl GitopsTarget {
    /// Commits and pushes the render (and the encrypted secrets); see the module documentation.
    ///
    /// # Errors
    ///
    /// [`TargetError::Config`] for secrets without recipients, a secret that is not one line
    /// or a recipient that is not valid; [`TargetError::Git`] when git fails.
    pub async fn apply(
        &self,
        spec: &DeploySpec,
        rendered: &Rendered,
        secrets: &SecretValues,
    ) -> Result<Applied, TargetError> {
        let files = files(spec, rendered, secrets, &self.recipients)?;
        let target = self.clone();
        let message = format!("deploy {} {} to {}", spec.app, spec.version, spec.env);
        let prefix = [self.path.trim_matches('/'), spec.app.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        tokio::task::spawn_blocking(move || target.commit(&prefix, &files, &message))
            .await
            .map_err(|e| TargetError::Config(format!("the gitops commit panicked: {e}")))?
            .map_err(|e| TargetError::Git(e.message().to_string()))
    }

    fn commit(&self, prefix: &str, files: &[(String, Vec<u8>)], message: &str) -> Result<Applied, git2::Error> {
        let work = self.dir.join("work");
        let repo = match Repository::open(&work) {
            Ok(repo) => repo,
            Err(_) => Repository::init(&work)?,
        };
        let url = self.repo.strip_prefix("file://").unwrap_or(&self.repo);
        let mut remote = match repo.find_remote("origin") {
            Ok(_) => {
                repo.remote_set_url("origin", url)?;
                repo.find_remote("origin")?
            }
            Err(_) => repo.remote("origin", url)?,
        };
        remote.fetch(&["+refs/heads/*:refs/remotes/origin/*"], None, None)?;
        let tracking = format!("refs/remotes/origin/{}", self.branch);
        let parent = repo
            .find_reference(&tracking)
            .ok()
            .and_then(|r| r.peel_to_commit().ok());
        let mut index = Index::new()?;
        if let Some(parent) = &parent {
            index.read_tree(&parent.tree()?)?;
        }
        index.remove_dir(Path::new(prefix), 0)?;
        for (name, content) in files {
            let path = format!("{prefix}/{name}");
            let blob = repo.blob(content)?;
            index.add(&entry(&path, content.len(), blob))?;
        }
        let tree_id = index.write_tree_to(&repo)?;
        if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
            return Ok(Applied {
                url: None,
                message: format!("`{}` already has this render", self.branch),
            });
        }
        let tree = repo.find_tree(tree_id)?;
        let signature = Signature::now("Sluice", "sluice@localhost")?;
        let parents: Vec<_> = parent.iter().collect();
        let commit = repo.commit(None, &signature, &signature, message, &tree, &parents)?;
        let local = format!("refs/heads/{}", self.branch);
        repo.reference(&local, commit, true, message)?;
        remote.push(&[format!("{local}:{local}")], None)?;
        Ok(Applied {
            url: None,
            message: format!("committed {commit} to `{}` under `{prefix}/`", self.branch),
        })
    }
}

/// An index entry for the blob `id`, a regular file (mode 0644) at `path`.
fn entry(path: &str, size: usize, id: git2::Oid) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100_644,
        uid: 0,
        gid: 0,
        file_size: u32::try_from(size).unwrap_or(u32::MAX),
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// The files to commit under `<path>/<app>/`: the render and, with secrets, the encrypted
/// `secrets.env` and a `kustomization.yaml` (unless the render has one).
fn files(
    spec: &DeploySpec,
    rendered: &Rendered,
    secrets: &SecretValues,
    recipients: &[String],
) -> Result<Vec<(String, Vec<u8>)>, TargetError> {
    let mut files: Vec<(String, Vec<u8>)> = rendered
        .files
        .iter()
        .map(|f| (f.path.clone(), f.text.clone().into_bytes()))
        .collect();
    if secrets.is_empty() {
        return Ok(files);
    }
    if recipients.is_empty() {
        return Err(TargetError::Config(format!(
            "`{}` has secrets in `{}`, but the environment has no `secrets.age` recipients to encrypt them for; a secret is never committed in clear",
            spec.app, spec.env
        )));
    }
    let recipients = recipients
        .iter()
        .map(|r| AgeRecipient::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TargetError::Config(e.to_string()))?;
    let mut dotenv = Vec::new();
    for (name, value) in &secrets.0 {
        if value.expose().contains(&b'\n') {
            return Err(TargetError::Config(format!(
                "secret `{name}` of `{}` has several lines; the gitops target writes secrets as dotenv lines",
                spec.app
            )));
        }
        dotenv.extend_from_slice(name.as_bytes());
        dotenv.push(b'=');
        dotenv.extend_from_slice(value.expose());
        dotenv.push(b'\n');
    }
    let clear = Plaintext::new(dotenv);
    let encrypted = secrets::encrypt("secrets.env", &clear, &Recipients::age(recipients), SystemTime::now())
        .map_err(|e| TargetError::Config(e.to_string()))?;
    files.push(("secrets.env".to_string(), encrypted.into_bytes()));
    if !files.iter().any(|(path, _)| path == "kustomization.yaml") {
        let resources: Vec<String> = rendered.files.iter().map(|f| format!("  - {}\n", f.path)).collect();
        let kustomization = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}secretGenerator:\n  - name: {}-secrets\n    envs: [secrets.env]\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
            resources.concat(),
            spec.app
        );
        files.push(("kustomization.yaml".to_string(), kustomization.into_bytes()));
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
