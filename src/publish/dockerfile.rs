//! Step 1 of publication from a `Dockerfile`: `podman build` builds the image from the job's
//! workspace and `podman push … oci:DIR:TAG` exports it to an OCI layout, from which
//! publication continues as for Sluice's own builds (claim, registry tag check, and the push
//! through Sluice's registry client with its credentials: the engine never talks to the
//! registry of the release).
//!
//! Reproducible where podman allows: `--timestamp` is the publication's epoch and podman's
//! identity label is left out, so the same inputs give the same digest. No `--build-arg` is
//! passed: no job variable (masked or not) reaches podman's command line.

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::process::Command;

use super::image::{Built, ImageError, Layout};
use crate::executor::container::Engine;

/// The variable naming the Dockerfile, relative to the job's workspace.
pub const DOCKERFILE_VARIABLE: &str = "SLUICE_IMAGE_DOCKERFILE";
/// The variable naming the build context, relative to the job's workspace (default `.`).
pub const CONTEXT_VARIABLE: &str = "SLUICE_IMAGE_CONTEXT";

/// What to build from a Dockerfile.
#[derive(Debug)]
pub struct DockerfileBuild<'a> {
    /// The job's workspace; `dockerfile` and `context` are relative to it.
    pub workspace: &'a Path,
    /// The Dockerfile, as the job names it.
    pub dockerfile: &'a str,
    /// The build context, as the job names it.
    pub context: &'a str,
    /// Every time in the image: seconds since 1970.
    pub epoch: u64,
    /// Labels of the image.
    pub labels: &'a [(String, String)],
    /// The tag of the image in the layout.
    pub tag: &'a str,
}

/// Why a Dockerfile build failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerfileError {
    /// No usable podman.
    #[error(
        "`{dockerfile}` cannot be built here: {reason}; Dockerfile builds need podman \
         (Debian: `apt-get install podman runc`) whose `podman info` works for the user running \
         Sluice, or publish with the template's `layers` instead of `dockerfile`"
    )]
    NoEngine {
        /// The Dockerfile.
        dockerfile: String,
        /// Why podman cannot be used.
        reason: String,
    },
    /// The Dockerfile or context is not a path inside the workspace, or is missing.
    #[error("invalid `{variable}` `{value}`: {detail}")]
    Path {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        detail: String,
    },
    /// A podman command failed; its output is in the job log.
    #[error("`podman {step}` of `{dockerfile}` failed ({status}); podman's output is above in the job log")]
    Failed {
        /// The Dockerfile.
        dockerfile: String,
        /// `build` or `push`.
        step: &'static str,
        /// The exit status.
        status: String,
    },
    /// Podman could not be started.
    #[error("cannot start `podman {step}`")]
    Spawn {
        /// `build` or `push`.
        step: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The exported layout could not be read.
    #[error(transparent)]
    Layout(#[from] ImageError),
}

/// Builds `build` with podman into a fresh OCI layout at `layout_dir` (removed first), tagged
/// `build.tag` there; podman's output goes to `log`.
///
/// # Errors
///
/// [`DockerfileError`]: no usable podman, a path outside the workspace or missing, a failed
/// build (its output in `log`), an export podman did not complete.
pub async fn build(build: &DockerfileBuild<'_>, layout_dir: &Path, log: &mut Vec<String>) -> Result<Built, DockerfileError> {
    let dockerfile = inside(build.workspace, DOCKERFILE_VARIABLE, build.dockerfile)?;
    let context = inside(build.workspace, CONTEXT_VARIABLE, build.context)?;
    if !dockerfile.is_file() {
        return Err(missing(DOCKERFILE_VARIABLE, build.dockerfile, "no such file in the job's workspace"));
    }
    if !context.is_dir() {
        return Err(missing(CONTEXT_VARIABLE, build.context, "no such directory in the job's workspace"));
    }
    let engine = Engine::podman();
    let probe = engine.clone();
    tokio::task::spawn_blocking(move || probe.probe())
        .await
        .expect("probing podman does not panic")
        .map_err(|reason| DockerfileError::NoEngine {
            dockerfile: build.dockerfile.to_owned(),
            reason,
        })?;
    // A layout left by an earlier attempt must not end up in the build context.
    remove_dir(layout_dir)?;
    static BUILDS: AtomicU64 = AtomicU64::new(0);
    let local = format!("localhost/sluice-publish:{}-{}", std::process::id(), BUILDS.fetch_add(1, Ordering::Relaxed));
    let mut args = vec![
        "build".to_owned(),
        format!("--timestamp={}", build.epoch),
        "--identity-label=false".to_owned(),
    ];
    for (key, value) in build.labels {
        args.extend(["--label".to_owned(), format!("{key}={value}")]);
    }
    args.extend(["--file".to_owned(), dockerfile.display().to_string(), "--tag".to_owned(), local.clone()]);
    args.push(context.display().to_string());
    log.push(format!("Building `{}` with {}", build.dockerfile, engine.name()));
    let built = run(engine.name(), "build", &args, build.dockerfile, log).await;
    let exported = match built {
        Ok(()) => {
            let target = format!("oci:{}:{}", layout_dir.display(), build.tag);
            let push = ["push".to_owned(), "--quiet".to_owned(), local.clone(), target];
            run(engine.name(), "push", &push, build.dockerfile, log).await
        }
        Err(error) => Err(error),
    };
    // The image stays in the layout only; a failed removal leaves a tag, harmless.
    let _ = Command::new(engine.name()).args(["rmi", &local]).stdout(Stdio::null()).stderr(Stdio::null()).status().await;
    exported?;
    let layout = Layout::open(layout_dir)?;
    let root = layout.resolve(Some(build.tag))?;
    let digest = root.digest().to_string();
    Ok(Built { root, digest })
}

/// Runs `program args`, its output (stdout, then stderr) appended to `log`.
async fn run(program: &str, step: &'static str, args: &[String], dockerfile: &str, log: &mut Vec<String>) -> Result<(), DockerfileError> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| DockerfileError::Spawn { step, source })?;
    for stream in [&output.stdout, &output.stderr] {
        log.extend(String::from_utf8_lossy(stream).lines().map(str::to_owned));
    }
    if output.status.success() {
        Ok(())
    } else {
        Err(DockerfileError::Failed {
            dockerfile: dockerfile.to_owned(),
            step,
            status: output.status.to_string(),
        })
    }
}

/// `value` under `workspace`, refused when absolute or climbing out of it.
fn inside(workspace: &Path, variable: &'static str, value: &str) -> Result<PathBuf, DockerfileError> {
    let path = Path::new(value);
    if path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(missing(variable, value, "it must be a path relative to the repository, without `..`"));
    }
    Ok(workspace.join(path))
}

fn missing(variable: &'static str, value: &str, detail: &str) -> DockerfileError {
    DockerfileError::Path {
        variable,
        value: value.to_owned(),
        detail: detail.to_owned(),
    }
}

fn remove_dir(dir: &Path) -> Result<(), DockerfileError> {
    match std::fs::remove_dir_all(dir) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(DockerfileError::Layout(ImageError::Io {
            action: "remove",
            path: dir.to_owned(),
            source,
        })),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside_the_workspace() {
        let workspace = Path::new("/w");
        assert_eq!(inside(workspace, DOCKERFILE_VARIABLE, "docker/Dockerfile").unwrap(), Path::new("/w/docker/Dockerfile"));
        assert_eq!(inside(workspace, CONTEXT_VARIABLE, ".").unwrap(), Path::new("/w/."));
        for bad in ["/etc/passwd", "../Dockerfile", "a/../../b"] {
            let error = inside(workspace, DOCKERFILE_VARIABLE, bad).unwrap_err().to_string();
            assert!(error.contains(&format!("invalid `SLUICE_IMAGE_DOCKERFILE` `{bad}`")), "{error}");
        }
    }

    #[tokio::test]
    async fn a_missing_dockerfile_is_named_before_any_engine_runs() {
        let workspace = tempfile::tempdir().unwrap();
        let build = DockerfileBuild {
            workspace: workspace.path(),
            dockerfile: "Dockerfile",
            context: ".",
            epoch: 0,
            labels: &[],
            tag: "1.0.0",
        };
        let mut log = Vec::new();
        let error = super::build(&build, &workspace.path().join(".sluice-image"), &mut log).await.unwrap_err().to_string();
        assert_eq!(error, "invalid `SLUICE_IMAGE_DOCKERFILE` `Dockerfile`: no such file in the job's workspace");
    }
}
