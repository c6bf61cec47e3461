//! Where a project's repository is: the forms of URL git itself understands, minus plain
//! `http://` and minus credentials.

use std::fmt;
use std::path::{Path, PathBuf};

use super::fields::error_at;
use crate::ci::node::Node;
use crate::diagnostic::Diagnostics;

/// A project's repository, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoUrl {
    /// `file:///srv/git/demo.git`, or a local path (`/srv/git/demo.git`, `../demo`): a
    /// repository on this machine, its path absolute (relative paths resolve against the
    /// configuration file's directory).
    Local(PathBuf),
    /// `https://host/path`.
    Https(String),
    /// `ssh://[user@]host[:port]/path`, kept as written.
    Ssh(String),
    /// `[user@]host:path`, git's scp-like syntax, kept as written.
    Scp(String),
}

impl RepoUrl {
    /// The URL to hand to git.
    pub fn to_git_url(&self) -> String {
        match self {
            Self::Local(path) => path.display().to_string(),
            Self::Https(url) | Self::Ssh(url) | Self::Scp(url) => url.clone(),
        }
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_git_url())
    }
}

/// Reads `repo:` at `node`.
pub(super) fn read_repo(
    node: &Node,
    path: &str,
    url: &str,
    base_dir: &Path,
    diags: &mut Diagnostics,
) -> Option<RepoUrl> {
    match parse(url, base_dir) {
        Ok(repo) => Some(repo),
        Err((message, hint)) => {
            let mut diagnostic = error_at(node, path, message);
            if let Some(hint) = hint {
                diagnostic = diagnostic.with_hint(hint);
            }
            diags.push(diagnostic);
            None
        }
    }
}

type Problem = (String, Option<&'static str>);

fn parse(url: &str, base_dir: &Path) -> Result<RepoUrl, Problem> {
    const FORMS: &str = "use `https://host/path`, `ssh://host/path`, `git@host:path`, `file:///path` or a local path";
    if url.trim().is_empty() {
        return Err(("is empty".into(), Some(FORMS)));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(("must not contain spaces or control characters".into(), None));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err((
                format!("`{url}` must have an absolute path after `file://`"),
                Some("write `file:///srv/git/demo.git`"),
            ));
        }
        return Ok(RepoUrl::Local(PathBuf::from(path)));
    }
    if let Some(rest) = url.strip_prefix("https://") {
        check_authority(url, rest, false)?;
        return Ok(RepoUrl::Https(url.to_owned()));
    }
    if let Some(rest) = url.strip_prefix("ssh://") {
        check_authority(url, rest, true)?;
        return Ok(RepoUrl::Ssh(url.to_owned()));
    }
    if url.starts_with("http://") {
        return Err((
            format!("`{url}` uses plain `http://`"),
            Some("use `https://` or `ssh://`: plain HTTP lets anyone on the way change the code"),
        ));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err((format!("`{scheme}://` is not a supported repository URL scheme"), Some(FORMS)));
    }
    // git's rule: a colon before the first slash makes `host:path` scp-like.
    if let Some((host, repo_path)) = url.split_once(':')
        && !host.contains('/')
    {
        let host_name = host.rsplit('@').next().unwrap_or_default();
        if host_name.is_empty() || repo_path.is_empty() {
            return Err((format!("`{url}` needs a host and a path, as in `git@host:group/repo.git`"), None));
        }
        if host.matches('@').count() > 1 || host.split('@').next().is_some_and(|user| user.contains(':')) {
            return Err((format!("`{url}` is not a valid scp-like address"), Some(FORMS)));
        }
        return Ok(RepoUrl::Scp(url.to_owned()));
    }
    Ok(RepoUrl::Local(base_dir.join(url)))
}

/// Checks `host[:port]/path` after the scheme; `user@` is allowed for ssh only (a user with a
/// password would be a literal secret in the file).
fn check_authority(url: &str, rest: &str, ssh: bool) -> Result<(), Problem> {
    let (authority, repo_path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = match authority.rsplit_once('@') {
        Some((user, host_port)) => {
            if !ssh || user.contains(':') {
                let hint = "credentials in the URL end up in the configuration's repository; use `credentials` (an SSH key, \
                    or a user name and an `env:`/`file:` password)";
                return Err(("must not contain credentials".into(), Some(hint)));
            }
            host_port
        }
        None => authority,
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host_port.ends_with(']') => (host, Some(port)),
        _ => (host_port, None),
    };
    if host.is_empty() || repo_path.is_empty() {
        return Err((format!("`{url}` needs a host and a path"), None));
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err((format!("`{url}` has an invalid port"), None));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> RepoUrl {
        parse(url, Path::new("/etc/sluice")).unwrap_or_else(|e| panic!("{url}: {e:?}"))
    }

    fn err(url: &str) -> String {
        parse(url, Path::new("/etc/sluice")).unwrap_err().0
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(ok("file:///srv/git/demo.git"), RepoUrl::Local("/srv/git/demo.git".into()));
        assert_eq!(
            ok("https://gitlab.example.com/group/app.git"),
            RepoUrl::Https("https://gitlab.example.com/group/app.git".into())
        );
        assert_eq!(ok("ssh://git@host:2222/group/app.git"), RepoUrl::Ssh("ssh://git@host:2222/group/app.git".into()));
        assert_eq!(ok("git@github.com:org/app.git"), RepoUrl::Scp("git@github.com:org/app.git".into()));
        assert_eq!(ok("/srv/git/app"), RepoUrl::Local("/srv/git/app".into()));
        assert_eq!(ok("../repos/app"), RepoUrl::Local("/etc/sluice/../repos/app".into()));
        assert_eq!(ok("./dir:with-colon"), RepoUrl::Local("/etc/sluice/./dir:with-colon".into()));
    }

    #[test]
    fn refused_forms() {
        assert_eq!(err("file://relative/path"), "`file://relative/path` must have an absolute path after `file://`");
        assert_eq!(err("http://host/repo.git"), "`http://host/repo.git` uses plain `http://`");
        assert_eq!(err("https://user:glpat-x@host/repo.git"), "must not contain credentials");
        assert_eq!(err("https://oauth2@host/repo.git"), "must not contain credentials");
        assert_eq!(err("ftp://host/repo"), "`ftp://` is not a supported repository URL scheme");
        assert_eq!(err("https://host"), "`https://host` needs a host and a path");
        assert_eq!(err("ssh://host:99999/x"), "`ssh://host:99999/x` has an invalid port");
        assert_eq!(err("git@:path"), "`git@:path` needs a host and a path, as in `git@host:group/repo.git`");
        assert_eq!(err("a b"), "must not contain spaces or control characters");
        assert_eq!(err(""), "is empty");
    }
}
