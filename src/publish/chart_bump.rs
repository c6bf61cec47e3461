//! After a release, the app's Helm chart in the config repo follows it: when the config repo
//! holds `apps/<app>/chart/Chart.yaml`, Sluice commits a patch bump of the chart's `version`
//! and the release as its `appVersion` (nothing else: reaching an environment is a
//! promotion), with a message naming the release (image, digest, commit, pipeline).
//!
//! The edit keeps every other line of `Chart.yaml` as it is; it is skipped when `appVersion`
//! already is the release (a resumed publication).

use std::path::PathBuf;

use crate::git::{GitError, Mirror, RemoteAuth};
use crate::store::ReleaseRow;

/// The config repo a publication bumps charts in.
#[derive(Debug, Clone)]
pub struct ChartRepo {
    /// The mirror used to commit (under the data directory).
    pub mirror: PathBuf,
    /// The config repo's URL.
    pub url: String,
    /// Its credentials.
    pub auth: RemoteAuth,
    /// Its branch.
    pub branch: String,
    /// Name and email of the commit.
    pub author: (String, String),
}

/// What a chart bump did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartBump {
    /// Committed and pushed: the new chart version and the commit.
    Committed {
        /// The chart's new `version`.
        version: String,
        /// The config-repo commit.
        commit: String,
    },
    /// The config repo has no chart for the app, or it already names the release.
    Unchanged,
}

/// Why a chart was not bumped.
#[derive(Debug, thiserror::Error)]
pub enum ChartBumpError {
    /// `Chart.yaml` has no usable `version`.
    #[error("`{path}` has no semantic `version:` line to bump")]
    NoVersion {
        /// The file in the config repo.
        path: String,
    },
    /// Git failed.
    #[error("cannot commit the chart bump to the config repo")]
    Git(#[source] GitError),
}

/// Bumps the chart of `release.app` in `repo` (blocks: run it in `spawn_blocking`).
///
/// # Errors
///
/// [`ChartBumpError`].
pub fn bump_chart(repo: &ChartRepo, release: &ReleaseRow) -> Result<ChartBump, ChartBumpError> {
    let path = format!("apps/{}/chart/Chart.yaml", release.app);
    let mirror = Mirror::open_or_init(&repo.mirror, &repo.url).map_err(ChartBumpError::Git)?.with_auth(repo.auth.clone());
    let new_version = std::cell::RefCell::new(None);
    let malformed = std::cell::Cell::new(false);
    let message = format!(
        "{app}: chart for release {version}\n\nRelease: {app} {version}\nImage: {image}@{digest}\nCommit: {sha}\nPipeline: {pipeline}\n",
        app = release.app,
        version = release.version,
        image = release.image,
        digest = release.digest,
        sha = release.sha,
        pipeline = release.pipeline_id.map_or_else(|| "(none)".to_owned(), |p| p.to_string()),
    );
    let edit = |current: Option<&[u8]>| {
        let text = String::from_utf8_lossy(current?).into_owned();
        match edit_chart(&text, &release.version) {
            Ok(Some((edited, version))) => {
                *new_version.borrow_mut() = Some(version);
                Some(edited.into_bytes())
            }
            Ok(None) => None,
            Err(()) => {
                malformed.set(true);
                None
            }
        }
    };
    let author = (repo.author.0.as_str(), repo.author.1.as_str());
    let commit = mirror.commit_file(&repo.branch, &path, edit, &message, author).map_err(ChartBumpError::Git)?;
    if malformed.get() {
        return Err(ChartBumpError::NoVersion { path });
    }
    Ok(match (commit, new_version.into_inner()) {
        (Some(commit), Some(version)) => ChartBump::Committed { version, commit },
        _ => ChartBump::Unchanged,
    })
}

/// `Chart.yaml` with its top-level `version` patch-bumped and `appVersion` set to
/// `app_version`, and the new chart version; `None` when `appVersion` already is it.
fn edit_chart(text: &str, app_version: &str) -> Result<Option<(String, String)>, ()> {
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.split(" #").next().unwrap_or("").trim().trim_matches(['"', '\'']).to_owned())
    };
    if text.lines().any(|line| value(line, "appVersion").as_deref() == Some(app_version)) {
        return Ok(None);
    }
    let current = text.lines().find_map(|line| value(line, "version")).ok_or(())?;
    let mut version = semver::Version::parse(&current).map_err(|_| ())?;
    version.patch += 1;
    version.pre = semver::Prerelease::EMPTY;
    let bumped = version.to_string();
    let mut has_app_version = false;
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            if value(line, "version").is_some() {
                format!("version: {bumped}")
            } else if value(line, "appVersion").is_some() {
                has_app_version = true;
                format!("appVersion: \"{app_version}\"")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !has_app_version {
        lines.push(format!("appVersion: \"{app_version}\""));
    }
    Ok(Some((lines.join("\n") + "\n", bumped)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_cli::git;

    const CHART: &str = "apiVersion: v2\nname: hello # the app\nversion: 0.3.9\nappVersion: \"1.1.0\"\ndependencies:\n  - name: redis\n    version: 17.0.0\n";

    #[test]
    fn the_version_is_patch_bumped_and_app_version_set_and_nothing_else_changes() {
        let (edited, version) = edit_chart(CHART, "1.2.0").expect("valid").expect("changed");
        assert_eq!(version, "0.3.10");
        assert_eq!(
            edited,
            "apiVersion: v2\nname: hello # the app\nversion: 0.3.10\nappVersion: \"1.2.0\"\ndependencies:\n  - name: redis\n    version: 17.0.0\n"
        );
        assert_eq!(edit_chart(&edited, "1.2.0"), Ok(None));
        let (edited, _) = edit_chart("name: x\nversion: '1.0.0-rc.1'\n", "2.0.0").expect("valid").expect("changed");
        assert_eq!(edited, "name: x\nversion: 1.0.1\nappVersion: \"2.0.0\"\n");
        assert_eq!(edit_chart("name: x\n", "2.0.0"), Err(()));
    }

    #[test]
    fn a_release_commits_the_bump_to_the_config_repo_and_a_resume_commits_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (bare, work) = (dir.path().join("config.git"), dir.path().join("work"));
        git(dir.path(), &["init", "-q", "--bare", "-b", "main", bare.to_str().expect("utf-8")]);
        git(dir.path(), &["clone", "-q", bare.to_str().expect("utf-8"), work.to_str().expect("utf-8")]);
        std::fs::create_dir_all(work.join("apps/hello/chart")).expect("mkdir");
        std::fs::write(work.join("apps/hello/chart/Chart.yaml"), CHART).expect("write");
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "chart"]);
        git(&work, &["push", "-q", "origin", "HEAD:main"]);
        let repo = ChartRepo {
            mirror: dir.path().join("mirror.git"),
            url: bare.display().to_string(),
            auth: RemoteAuth::default(),
            branch: "main".to_owned(),
            author: ("Sluice".to_owned(), "sluice@localhost".to_owned()),
        };
        let release = ReleaseRow {
            app: "hello".to_owned(),
            version: "1.2.0".to_owned(),
            sha: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            image: "127.0.0.1:5000/hello:1.2.0".to_owned(),
            digest: "sha256:00".to_owned(),
            pipeline_id: Some(crate::store::PipelineId::new(7)),
            created_at: crate::store::Timestamp::from_unix_millis(0),
        };
        let bump = bump_chart(&repo, &release).expect("bump");
        let ChartBump::Committed { version, commit } = bump else { panic!("{bump:?}") };
        assert_eq!(version, "0.3.10");
        assert_eq!(git(&bare, &["rev-parse", "main"]), commit);
        let chart = git(&bare, &["show", "main:apps/hello/chart/Chart.yaml"]);
        assert!(chart.contains("version: 0.3.10\nappVersion: \"1.2.0\""), "{chart}");
        let message = git(&bare, &["log", "-1", "--format=%B", "main"]);
        assert!(message.starts_with("hello: chart for release 1.2.0"), "{message}");
        assert!(message.contains("Image: 127.0.0.1:5000/hello:1.2.0@sha256:00"), "{message}");
        assert_eq!(git(&bare, &["diff", "--name-only", "main~1", "main"]), "apps/hello/chart/Chart.yaml");
        assert_eq!(bump_chart(&repo, &release).expect("again"), ChartBump::Unchanged);
        let other = ReleaseRow { app: "nochart".to_owned(), ..release };
        assert_eq!(bump_chart(&repo, &other).expect("no chart"), ChartBump::Unchanged);
    }
}
