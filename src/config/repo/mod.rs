//! The config repo: the git repository that says what runs where. Environments
//! (`environments/<env>.yaml`: order, gates, freezes, targets, rollout, secret recipients),
//! apps (`apps/<app>/app.yaml` and the per-environment pins `apps/<app>/<env>.yaml`) and who
//! may do what (`access.yaml`). `CONFIG-REPO.md` at the root of the Sluice repository is the
//! contract; `config-repo-template/` is a valid example.
//!
//! Like `sluice.yaml`, every file is loaded with the located YAML loader and read field by
//! field; [`parse`] collects *every* problem of every file (each located by file, line,
//! column and key path) plus the checks across files (a `promote_from` naming no
//! environment, a group no one defined), and returns a [`ConfigRepo`] only when there are
//! none. The daemon never acts on a config-repo commit that does not pass.
//!
//! This module reads text it is given ([`RepoFiles`]); [`load_dir`] and [`load_at`] gather
//! that text from a directory or a commit. It writes nothing: the edits a promotion or a
//! freeze makes are built by [`pin::render_pin`] and [`environment::add_freeze`].

mod access;
mod app;
mod cross;
pub mod environment;
mod names;
pub mod pin;
pub mod source;
mod template;
mod window;

use std::collections::BTreeMap;
use std::path::Path;

pub use access::{Access, Action, Identity, Permission};
pub use app::{App, Health, HealthWatch, Render, RunOverrides};
pub use environment::{ApprovalPolicy, Environment, Freeze, Gates, Promotion, Recipients, Rollout, Target, TargetKind};
pub use names::{AppName, EnvName};
pub use pin::{Blocked, Pin};
pub use source::{CommitAuthor, ConfigRepoSource};
pub use template::TEMPLATE;
pub use window::{Window, WindowRule};

use crate::ci::node::{Node, Value};
use crate::ci::yaml;
use crate::diagnostic::{Diagnostic, Diagnostics, Location, did_you_mean};
use crate::git::{GitError, Repo};

/// The file of the access rules.
pub const ACCESS_FILE: &str = "access.yaml";

/// A validated config repo.
#[derive(Debug, Clone)]
pub struct ConfigRepo {
    /// Environments in promotion order: each comes after the one it is promoted from
    /// (ties in name order).
    pub environments: Vec<Environment>,
    /// Apps by name, each with its pins.
    pub apps: BTreeMap<AppName, App>,
    /// Identities, groups and permissions.
    pub access: Access,
}

impl ConfigRepo {
    /// The environment named `name`.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|env| env.name.as_str() == name)
    }

    /// The app named `name`.
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.get(name)
    }

    /// The pin of `app` in `env`: the release that should run there (`None`: nothing yet).
    pub fn pin(&self, app: &str, env: &str) -> Option<&Pin> {
        self.app(app)?.pins.get(env)
    }

    /// The values `app` is rendered with in `env`: the app's `values`, with the pin's `values`
    /// merged over them (mappings key by key, anything else replaced). `None` when the app
    /// does not exist.
    pub fn values(&self, app: &str, env: &str) -> Option<serde_json::Value> {
        let app = self.app(app)?;
        let mut values = app.values.clone();
        if let Some(pin) = app.pins.get(env) {
            merge(&mut values, &pin.values);
        }
        Some(values)
    }

    /// The environments whose `promote_from` is `env` (the next steps after it).
    pub fn next_environments(&self, env: &str) -> impl Iterator<Item = &Environment> {
        self.environments.iter().filter(move |e| e.promote_from.as_ref().is_some_and(|from| from.as_str() == env))
    }

    /// The names of every environment, in promotion order.
    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.iter().map(|env| env.name.as_str()).collect()
    }
}

fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// The text of a config repo's files, by path relative to its root (`/`-separated).
pub type RepoFiles = BTreeMap<String, Vec<u8>>;

/// Reads the files of the config repo in directory `dir` (every file below it, but the
/// `.git` directory), for [`parse`].
///
/// # Errors
/// An I/O error naming the file or directory that could not be read.
pub fn load_dir(dir: &Path) -> std::io::Result<RepoFiles> {
    let mut files = RepoFiles::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot read `{}`: {e}", current.display())))?;
        for entry in entries {
            let path = entry?.path();
            if path.file_name().is_some_and(|name| name == ".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                let text = std::fs::read(&path)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("cannot read `{}`: {e}", path.display())))?;
                files.insert(relative.to_string_lossy().replace('\\', "/"), text);
            }
        }
    }
    Ok(files)
}

/// Reads the files of the config repo at commit `rev` of `repo`, for [`parse`]. Blocks.
///
/// # Errors
/// What git reports when `rev` does not name a commit or a file cannot be read.
pub fn load_at(repo: &Repo, rev: &str) -> Result<RepoFiles, GitError> {
    let mut files = RepoFiles::new();
    for path in repo.list_files_at(rev)? {
        if let Some(bytes) = repo.read_file_at(rev, &path)? {
            files.insert(path, bytes);
        }
    }
    Ok(files)
}

/// Validates the config repo made of `files`; every location names the file by its path in
/// the repo, prefixed with `prefix` (a directory as the user gave it, or empty).
///
/// # Errors
/// Every problem found, in file order; warnings come along.
pub fn parse(files: &RepoFiles, prefix: &str) -> Result<(ConfigRepo, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut environments = Vec::new();
    let mut apps = BTreeMap::new();
    let mut pins: Vec<(AppName, String, Location, Pin)> = Vec::new();
    let located = |path: &str| format!("{prefix}{path}");
    for (path, bytes) in files {
        let Some(kind) = classify(path) else { continue };
        let Some(root) = load_yaml(&located(path), bytes, &mut diags) else { continue };
        match kind {
            FileKind::Environment(name) => {
                let Some(name) = names::read_name(&root, &name, "environment", &mut diags) else { continue };
                if let Some(env) = environment::read_environment(&root, EnvName(name), &mut diags) {
                    environments.push(env);
                }
            }
            FileKind::App(name) => {
                let Some(name) = names::read_name(&root, &name, "app", &mut diags) else { continue };
                if let Some(app) = app::read_app(&root, name.clone(), files, &mut diags) {
                    apps.insert(AppName(name), app);
                }
            }
            FileKind::Pin { app, env } => {
                if let Some(pin) = pin::read_pin(&root, &mut diags) {
                    pins.push((AppName(app), env, root.location.clone(), pin));
                }
            }
            FileKind::Access => {}
        }
    }
    let access = match files.get(ACCESS_FILE) {
        Some(bytes) => load_yaml(&located(ACCESS_FILE), bytes, &mut diags)
            .and_then(|root| access::read_access(&root, &mut diags)),
        None => {
            let message = format!("the config repo has no `{ACCESS_FILE}`");
            let hint = "copy it from `config-repo-template/` (`sluice init DIR`), then name who may approve and promote";
            diags.push(Diagnostic::error(Some(Location::new(located(ACCESS_FILE), 1, 1)), "", message).with_hint(hint));
            None
        }
    };
    if environments.is_empty() && !diags.has_errors() {
        let message = "the config repo defines no environment";
        diags.push(
            Diagnostic::error(Some(Location::new(located("environments/"), 1, 1)), "", message)
                .with_hint("add `environments/dev.yaml` (`sluice init DIR` writes dev, staging and production)"),
        );
    }
    let environments = cross::order_environments(environments, &mut diags);
    for (app_name, env, location, pin) in pins {
        cross::attach_pin(&mut apps, &environments, app_name, env, location, pin, &mut diags);
    }
    if let Some(access) = &access {
        cross::check_references(&environments, access, &mut diags);
    }
    sort_diagnostics(&mut diags);
    match access {
        Some(access) if !diags.has_errors() => Ok((ConfigRepo { environments, apps, access }, diags)),
        _ => Err(diags),
    }
}

/// What a file of the config repo is, by its path.
enum FileKind {
    Environment(String),
    App(String),
    Pin { app: String, env: String },
    Access,
}

fn classify(path: &str) -> Option<FileKind> {
    if path == ACCESS_FILE {
        return Some(FileKind::Access);
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["environments", file] => file.strip_suffix(".yaml").map(|name| FileKind::Environment(name.to_owned())),
        ["apps", app, "app.yaml"] => Some(FileKind::App((*app).to_owned())),
        ["apps", app, file] => file
            .strip_suffix(".yaml")
            .map(|env| FileKind::Pin { app: (*app).to_owned(), env: env.to_owned() }),
        _ => None,
    }
}

/// Loads one YAML file into a located mapping; reports syntax errors, non-UTF-8 text and a
/// root that is not a mapping.
fn load_yaml(file: &str, bytes: &[u8], diags: &mut Diagnostics) -> Option<Node> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        diags.push(Diagnostic::error(Some(Location::new(file, 1, 1)), "", "is not UTF-8 text"));
        return None;
    };
    let loaded = match yaml::load(file, text) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for mut diagnostic in errors.0 {
                if diagnostic.message.contains("of a CI file must be a mapping") {
                    diagnostic.message = "must be a mapping of settings".into();
                    diagnostic.hint = Some("write `key: value` lines starting at the beginning of the line".into());
                }
                diags.push(diagnostic);
            }
            return None;
        }
    };
    diags.extend(loaded.warnings);
    let root = loaded.config;
    if matches!(root.value, Value::Null) {
        return Some(Node::new(Value::Map(crate::ci::node::Map::new()), root.location));
    }
    Some(root)
}

fn sort_diagnostics(diags: &mut Diagnostics) {
    diags.0.sort_by(|a, b| match (&a.location, &b.location) {
        (Some(a), Some(b)) => (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

/// A "did you mean" hint for `name` among `known` (`things`, a plural), or the list of
/// known ones.
pub(crate) fn hint_among<'a>(name: &str, things: &str, known: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match did_you_mean(name, known.clone()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => {
            let list: Vec<String> = known.into_iter().map(|k| format!("`{k}`")).collect();
            if list.is_empty() { format!("no {things} are defined") } else { format!("known {things}: {}", list.join(", ")) }
        }
    }
}

#[cfg(test)]
mod tests;
