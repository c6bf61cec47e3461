//! The top level of `sluice.yaml`: where the daemon listens, where it keeps its state, and the
//! projects it serves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use super::Environment;
use super::fields::{Fields, error_at, item, positive_integer, sequence, warning_at};
use super::project::{ProjectConfig, read_project};
use super::repo::source::{ConfigRepoSource, read_source};
use crate::ci::node::Node;
use crate::diagnostic::Diagnostics;

/// The controller configuration, validated: everything `sluice serve` needs before it starts.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `listen`: the address of the HTTP API and webhooks (default `127.0.0.1:8470`). Port `0`
    /// picks a free port; the daemon writes the address it bound to `<data_dir>/address`.
    pub listen: SocketAddr,
    /// `data_dir`: where mirrors, logs, artifacts and the default database live (default
    /// `/var/lib/sluice`; relative paths resolve against the configuration file's directory).
    pub data_dir: PathBuf,
    /// `store`: the database of record (default `sqlite://<data_dir>/sluice.db`).
    pub store: StoreUrl,
    /// `concurrency`: at most this many jobs run at once, all projects together (default:
    /// the number of cores).
    pub concurrency: NonZeroUsize,
    /// `projects`: the repositories Sluice watches, in file order.
    pub projects: Vec<ProjectConfig>,
    /// `config_repo`: the config repo releases are promoted in (`None`: no promotion).
    pub config_repo: Option<ConfigRepoSource>,
}

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// `sqlite://PATH`: an embedded SQLite database file (the path absolute; relative paths
    /// resolve against the configuration file's directory). `sqlite:///var/lib/x.db` is
    /// absolute.
    Sqlite(PathBuf),
}

/// The default `listen` address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";
/// The default `data_dir`.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/sluice";

const KEYS: &[&str] = &["listen", "data_dir", "store", "concurrency", "projects", "config_repo"];

/// Reads the whole file's root node.
pub(super) fn read_controller(root: &Node, env: &Environment, diags: &mut Diagnostics) -> Option<ControllerConfig> {
    let errors_before = diags.errors().count();
    let fields = Fields::open(root, "", KEYS, diags)?;
    let listen = match fields.string("listen", diags) {
        Some((node, text)) => read_listen(node, text, diags),
        None => DEFAULT_LISTEN.parse().ok(),
    };
    let data_dir = match fields.string("data_dir", diags) {
        Some((node, "")) => {
            diags.push(error_at(node, "data_dir", "is empty"));
            None
        }
        Some((_, text)) => Some(env.base_dir.join(text)),
        None => Some(PathBuf::from(DEFAULT_DATA_DIR)),
    };
    let store = match (fields.string("store", diags), &data_dir) {
        (Some((node, text)), _) => read_store(node, text, &env.base_dir, diags),
        (None, Some(data_dir)) => Some(StoreUrl::Sqlite(data_dir.join("sluice.db"))),
        (None, None) => None,
    };
    let concurrency = match fields.get("concurrency") {
        Some(node) => positive_integer(node, "concurrency", diags),
        None => Some(env.cores),
    };
    let projects = match fields.get("projects") {
        Some(node) => read_projects(node, env, concurrency, diags),
        None => {
            diags.push(warning_at(root, "projects", "no projects are configured; the daemon will watch nothing"));
            Vec::new()
        }
    };
    let config_repo = fields.get("config_repo").and_then(|node| read_source(node, env, diags));
    if diags.errors().count() > errors_before {
        return None;
    }
    Some(ControllerConfig {
        listen: listen?,
        data_dir: data_dir?,
        store: store?,
        concurrency: concurrency?,
        projects,
        config_repo,
    })
}

fn read_listen(node: &Node, text: &str, diags: &mut Diagnostics) -> Option<SocketAddr> {
    match text.parse() {
        Ok(address) => Some(address),
        Err(_) => {
            let message = format!("`{text}` is not an IP address with a port");
            let hint = "write `127.0.0.1:8470`, `0.0.0.0:8470` (every interface), `[::1]:8470` or `127.0.0.1:0` (any free port)";
            diags.push(error_at(node, "listen", message).with_hint(hint));
            None
        }
    }
}

fn read_store(node: &Node, text: &str, base_dir: &Path, diags: &mut Diagnostics) -> Option<StoreUrl> {
    if let Some(path) = text.strip_prefix("sqlite://") {
        if path.is_empty() {
            diags.push(error_at(node, "store", "`sqlite://` needs a path, as in `sqlite:///var/lib/sluice/sluice.db`"));
            return None;
        }
        return Some(StoreUrl::Sqlite(base_dir.join(path)));
    }
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let message = match postgres_url_problem(text) {
            Some(problem) => format!("not a valid PostgreSQL URL: {problem}"),
            None => "PostgreSQL stores are not supported by this build of Sluice yet".to_owned(),
        };
        diags.push(error_at(node, "store", message).with_hint("use the embedded store, `sqlite://PATH` (the default)"));
        return None;
    }
    let message = "must be `sqlite://PATH` or `postgres://…`";
    diags.push(error_at(node, "store", message).with_hint("the default is `sqlite://<data_dir>/sluice.db`"));
    None
}

/// What is wrong with a `postgres://[user[:password]@][host][:port][/database][?options]` URL
/// (libpq's form), or `None`. The URL itself is never repeated: it may hold a password.
fn postgres_url_problem(url: &str) -> Option<&'static str> {
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains spaces or control characters");
    }
    let (before_query, _query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, _database) = before_query.split_once('/').unwrap_or((before_query, ""));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    // Several hosts (`h1:5432,h2:5433`) are allowed by libpq; check every port.
    for host in host_port.split(',') {
        if host.starts_with('[') {
            let Some((_, after)) = host.split_once(']') else {
                return Some("an IPv6 host needs a closing `]`");
            };
            if let Some(port) = after.strip_prefix(':')
                && port.parse::<u16>().is_err()
            {
                return Some("the port is not a number from 0 to 65535");
            }
        } else if let Some((_, port)) = host.split_once(':')
            && port.parse::<u16>().is_err()
        {
            return Some("the port is not a number from 0 to 65535");
        }
    }
    None
}

fn read_projects(
    node: &Node,
    env: &Environment,
    global: Option<NonZeroUsize>,
    diags: &mut Diagnostics,
) -> Vec<ProjectConfig> {
    let Some(items) = sequence(node, "projects", diags) else {
        return Vec::new();
    };
    let mut projects = Vec::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for (i, entry) in items.iter().enumerate() {
        let path = item("projects", i);
        // Duplicates are found on the written names, so a project with other errors still counts.
        if let Some(name_node) = entry.as_map().and_then(|m| m.get("name"))
            && let Some(name) = name_node.as_str()
        {
            if let Some(first_line) = seen.get(name) {
                let message = format!("`{name}` is already the name of the project on line {first_line}");
                diags.push(
                    error_at(name_node, &format!("{path}.name"), message).with_hint("project names must be unique"),
                );
            } else {
                seen.insert(name.to_owned(), name_node.location.line);
            }
        }
        if let Some(project) = read_project(entry, &path, env, diags) {
            if let (Some(limit), Some(global), Some(node)) =
                (project.concurrency, global, entry.as_map().and_then(|m| m.get("concurrency")))
                && limit > global
            {
                let message = format!("{limit} is more than the global `concurrency` of {global}, which applies too");
                diags.push(warning_at(node, &format!("{path}.concurrency"), message));
            }
            projects.push(project);
        }
    }
    projects
}

#[cfg(test)]
mod tests;
