//! Publication, exactly once per (app, version): after a publish job's script succeeded, the
//! runner builds the image the job describes, claims (app, version) in the store, checks the
//! registry tag, pushes, tags the commit in git and records the release.
//!
//! A job opts in with `SLUICE_IMAGE_LAYERS` or `SLUICE_IMAGE_DOCKERFILE` (the bundled
//! `Sluice/Publish.gitlab-ci.yml` sets them). The steps, each idempotent so that a failed or
//! crashed publication resumes by running them again:
//! 1. build the image from the job's workspace into an OCI layout (reproducible: the commit
//!    time is the epoch unless the job sets `SOURCE_DATE_EPOCH`): from the layers, or with
//!    podman from the Dockerfile ([`dockerfile`](super::dockerfile));
//! 2. claim (app, version) in the store ([`Store::claim_publication`]); a claim held by
//!    another pipeline, or a released version, fails this one;
//! 3. read the registry tag: another digest there is refused (tags are never overwritten),
//!    the same digest is already done, no tag is pushed;
//! 4. tag the commit `<prefix><version>` (annotated) and push the tag to the remote;
//! 5. record the release ([`Store::release_publication`]);
//! 6. with a config repo, bump the app's chart there ([`chart_bump`](super::chart_bump)).
//!
//! A failure after the claim marks the publication failed (the next pipeline takes it over).

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::chart_bump::{ChartBump, ChartRepo, bump_chart};
use super::dockerfile::{self, CONTEXT_VARIABLE, DOCKERFILE_VARIABLE, DockerfileBuild, DockerfileError};
use super::image::{self, BuildSpec, ImageError, ImageRef, LayerSpec, Layout, Source};
use super::push;
use super::registry::{RegistryError, RegistryOptions};
use crate::diagnostic::error_chain;
use crate::git::{GitError, RemoteAuth, Repo, TagOutcome};
use crate::run::hook::{AfterSuccess, HookInput, HookResult};
use crate::store::{Claim, NewPublication, PublicationState, ReleaseRow, StoreError, Timestamp};

/// The variable a job sets to be published: space-separated `SRC:DEST` layers, `SRC`
/// relative to the job's workspace.
pub const LAYERS_VARIABLE: &str = "SLUICE_IMAGE_LAYERS";

/// How long a claim is held without progress before another pipeline may take it over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15 * 60);

/// Where a project's publications go.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// `REGISTRY[/PATH]`: images go to `<registry>/<app>:<version>`. `None`: the embedded
    /// default, an OCI layout `<layout_root>/<app>` tagged `<version>`.
    pub registry: Option<String>,
    /// The embedded default's root directory (under the data or state directory).
    pub layout_root: PathBuf,
    /// Git tags are `<prefix><version>` (`v1.2.3`).
    pub tag_prefix: String,
    /// The git repository holding the commits (tags are made here).
    pub repo: PathBuf,
    /// Where tags are pushed (`None`: only tagged locally).
    pub remote: Option<String>,
    /// The credentials of `remote`.
    pub remote_auth: RemoteAuth,
    /// Held while the tag is made and pushed, when others fetch into `repo` (the daemon's
    /// mirror: its fetches prune tags the remote lacks, such as a tag not pushed yet).
    pub repo_lock: Option<Arc<Mutex<()>>>,
    /// Registry transport and credentials.
    pub registry_options: RegistryOptions,
    /// See [`DEFAULT_LEASE`].
    pub lease: Duration,
    /// The config repo whose `apps/<app>/chart/` follows each release (`None`: no chart bump).
    pub chart: Option<ChartRepo>,
}

impl PublishConfig {
    /// Where `app` `version` is published.
    ///
    /// # Errors
    ///
    /// [`ImageError::InvalidArgument`] for a registry that makes no valid reference.
    pub fn image_for(&self, app: &str, version: &str) -> Result<ImageRef, ImageError> {
        match &self.registry {
            Some(registry) => format!("{}/{app}:{version}", registry.trim_end_matches('/')).parse(),
            None => Ok(ImageRef::Layout {
                dir: self.layout_root.join(app),
                tag: version.to_owned(),
            }),
        }
    }
}

/// Why a publication failed. Every message names the app and version.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The VERSION gate did not say `publish` (the job ran anyway, by `--var` say).
    #[error("`{app}` is not published: {message}")]
    NotPublishable {
        /// The app.
        app: String,
        /// The gate's verdict in words.
        message: String,
    },
    /// A variable the publication needs is missing or invalid.
    #[error("invalid `{variable}`: {detail}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Another pipeline holds (or released) the claim of this version.
    #[error(
        "`{app}` {version} is already claimed by pipeline {holder} (publication `{state}`); \
         a version is published once"
    )]
    Claimed {
        /// The app.
        app: String,
        /// The version.
        version: String,
        /// The pipeline holding it.
        holder: String,
        /// How far that publication got.
        state: PublicationState,
    },
    /// The registry tag exists with another image; it is never overwritten.
    #[error("`{image}` already exists with digest {existing}, not this build's {built}; an existing tag is never overwritten")]
    TagExists {
        /// The image reference.
        image: String,
        /// The digest there.
        existing: String,
        /// This build's digest.
        built: String,
    },
    /// Building the image from a Dockerfile failed.
    #[error("cannot build the image of `{app}` {version} from a Dockerfile")]
    Dockerfile {
        /// The app.
        app: String,
        /// The version.
        version: String,
        /// Why.
        #[source]
        source: Box<DockerfileError>,
    },
    /// Building the image failed.
    #[error("cannot build the image of `{app}` {version}")]
    Build {
        /// The app.
        app: String,
        /// The version.
        version: String,
        /// Why.
        #[source]
        source: Box<ImageError>,
    },
    /// The registry (or layout) failed.
    #[error("cannot publish `{image}`")]
    Push {
        /// The image reference.
        image: String,
        /// Why.
        #[source]
        source: Box<RegistryError>,
    },
    /// Tagging or pushing the tag failed.
    #[error("cannot tag the release in git")]
    Git(#[source] GitError),
    /// The store failed.
    #[error("cannot record the publication")]
    Store(#[source] StoreError),
}

/// The publication step of the runner; see the module documentation.
#[derive(Clone)]
pub struct Publisher {
    config: PublishConfig,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher").field("registry", &self.config.registry).finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher for one project.
    pub fn new(config: PublishConfig) -> Publisher {
        Publisher { config }
    }

    /// Publishes the job of `input`; returns the release and the log lines of the steps.
    ///
    /// # Errors
    ///
    /// [`PublishError`]; after the claim, the publication is also marked failed.
    pub async fn publish(&self, input: &HookInput<'_>, log: &mut Vec<String>) -> Result<ReleaseRow, PublishError> {
        let job = JobFacts::read(input)?;
        let image = self.config.image_for(&job.app, &job.version).map_err(|source| build_error(&job, source))?;
        let layout_dir = input.workspace.join(".sluice-image");
        let built = self.build(input, &job, &layout_dir, log).await?;
        log.push(format!("Built image {} for `{}` {}", built.1, job.app, job.version));
        let now = Timestamp::now();
        let claim = input
            .store
            .claim_publication(
                &NewPublication {
                    app: job.app.clone(),
                    version: job.version.clone(),
                    sha: job.sha.clone(),
                    image: image.to_string(),
                    pipeline_id: Some(input.pipeline),
                },
                self.config.lease,
                now,
            )
            .map_err(PublishError::Store)?;
        let row = match claim {
            Claim::Won(row) => row,
            Claim::Held(row) => {
                return Err(PublishError::Claimed {
                    app: job.app,
                    version: job.version,
                    holder: row.pipeline_id.map_or_else(|| "(none)".to_owned(), |p| p.to_string()),
                    state: row.state,
                });
            }
        };
        log.push(format!("Claimed `{}` {} (attempt {})", job.app, job.version, row.attempt));
        let result = self.finish(input, &job, &image, &built, &layout_dir, row.id, row.attempt, log).await;
        if let Err(error) = &result {
            let message = error_chain(error);
            // The claim may have been taken over meanwhile; then there is nothing to mark.
            let _ = input.store.fail_publication(row.id, row.attempt, &message, Timestamp::now());
        }
        result
    }

    async fn build(
        &self,
        input: &HookInput<'_>,
        job: &JobFacts,
        layout_dir: &Path,
        log: &mut Vec<String>,
    ) -> Result<(image::Built, String), PublishError> {
        if let Some(file) = &job.dockerfile {
            let epoch = job.epoch(&self.config.repo).map_err(|source| build_error(job, source))?;
            let build = DockerfileBuild {
                workspace: input.workspace,
                dockerfile: file,
                context: &job.context,
                epoch,
                labels: &job.labels,
                tag: &job.version,
            };
            let built = dockerfile::build(&build, layout_dir, log).await.map_err(|source| PublishError::Dockerfile {
                app: job.app.clone(),
                version: job.version.clone(),
                source: Box::new(source),
            })?;
            let digest = built.digest.clone();
            return Ok((built, digest));
        }
        let spec = job.spec(input.workspace, &self.config.repo).map_err(|source| build_error(job, source))?;
        let layout = Layout::create(layout_dir).map_err(|source| build_error(job, source))?;
        let built = image::build(&spec, &layout, &job.version, &self.config.registry_options)
            .await
            .map_err(|source| build_error(job, source))?;
        let digest = built.digest.clone();
        Ok((built, digest))
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        input: &HookInput<'_>,
        job: &JobFacts,
        image: &ImageRef,
        built: &(image::Built, String),
        layout_dir: &Path,
        id: i64,
        attempt: i64,
        log: &mut Vec<String>,
    ) -> Result<ReleaseRow, PublishError> {
        let (built, digest) = built;
        let options = &self.config.registry_options;
        let push_error = |source| PublishError::Push {
            image: image.to_string(),
            source: Box::new(source),
        };
        match push::tag_digest(image, options).await.map_err(push_error)? {
            Some(existing) if &existing != digest => {
                return Err(PublishError::TagExists {
                    image: image.to_string(),
                    existing,
                    built: digest.clone(),
                });
            }
            Some(_) => log.push(format!("`{image}` already holds {digest}; not pushed again")),
            None => {
                let layout = Layout::open(layout_dir).map_err(|source| build_error(job, source))?;
                let report = push::push(&layout, &built.root, image, options).await.map_err(push_error)?;
                log.push(format!(
                    "Pushed `{image}` ({} blob(s) sent, {} already there)",
                    report.uploaded, report.skipped
                ));
            }
        }
        let lease = self.config.lease;
        input
            .store
            .advance_publication(id, attempt, PublicationState::ImagePushed, Some(digest), lease, Timestamp::now())
            .map_err(PublishError::Store)?;
        let tag = format!("{}{}", self.config.tag_prefix, job.version);
        let message = format!("Release {} {}\n\nImage: {image}\nDigest: {digest}\n", job.app, job.version);
        let (repo, remote, sha) = (self.config.repo.clone(), self.config.remote.clone(), job.sha.clone());
        let auth = self.config.remote_auth.clone();
        let lock = self.config.repo_lock.clone();
        let tag_name = tag.clone();
        let outcome = tokio::task::spawn_blocking(move || -> Result<TagOutcome, GitError> {
            let _held = lock.as_ref().map(|lock| lock.lock().unwrap_or_else(PoisonError::into_inner));
            let repo = Repo::open(&repo).or_else(|_| Repo::discover(&repo))?;
            let outcome = repo.tag_annotated(&tag_name, &sha, &message)?;
            if let Some(url) = remote {
                repo.push_tag(&url, &tag_name, &auth)?;
            }
            Ok(outcome)
        })
        .await
        .expect("tagging does not panic")
        .map_err(PublishError::Git)?;
        log.push(match outcome {
            TagOutcome::Created => format!("Tagged {} as `{tag}`", short(&job.sha)),
            TagOutcome::AlreadyThere => format!("Tag `{tag}` already names {}", short(&job.sha)),
        });
        input
            .store
            .advance_publication(id, attempt, PublicationState::TagPushed, None, lease, Timestamp::now())
            .map_err(PublishError::Store)?;
        let release = input.store.release_publication(id, attempt, Timestamp::now()).map_err(PublishError::Store)?;
        log.push(format!("Released `{}` {} as {}@{}", release.app, release.version, release.image, release.digest));
        if let Some(chart) = self.config.chart.clone() {
            // The release stands whatever happens here: a failed bump is logged, not fatal.
            let released = release.clone();
            let bumped = tokio::task::spawn_blocking(move || bump_chart(&chart, &released))
                .await
                .expect("the chart bump does not panic");
            log.push(match bumped {
                Ok(ChartBump::Committed { version, commit }) => {
                    format!("Bumped the chart of `{}` to {version} in the config repo ({})", release.app, short(&commit))
                }
                Ok(ChartBump::Unchanged) => format!("No chart of `{}` to bump in the config repo", release.app),
                Err(error) => format!("WARNING: the chart of `{}` was not bumped: {}", release.app, error_chain(&error)),
            });
        }
        Ok(release)
    }
}

impl AfterSuccess for Publisher {
    fn applies(&self, env: &[(String, String)]) -> bool {
        env.iter().any(|(k, v)| (k == LAYERS_VARIABLE || k == DOCKERFILE_VARIABLE) && !v.trim().is_empty())
    }

    fn run<'a>(&'a self, input: HookInput<'a>) -> Pin<Box<dyn Future<Output = HookResult> + Send + 'a>> {
        Box::pin(async move {
            let mut log = Vec::new();
            match self.publish(&input, &mut log).await {
                Ok(_) => Ok(log),
                Err(error) => Err((log, error_chain(&error))),
            }
        })
    }
}

fn build_error(job: &JobFacts, source: ImageError) -> PublishError {
    PublishError::Build {
        app: job.app.clone(),
        version: job.version.clone(),
        source: Box::new(source),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// What a publish job's variables say.
struct JobFacts {
    app: String,
    version: String,
    sha: String,
    layers: Vec<LayerSpec>,
    from: Source,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    source_date_epoch: Option<String>,
    labels: Vec<(String, String)>,
    /// The Dockerfile to build with podman instead of the layers.
    dockerfile: Option<String>,
    /// Its build context.
    context: String,
}

impl JobFacts {
    fn read(input: &HookInput<'_>) -> Result<JobFacts, PublishError> {
        let var = |name| input.var(name).map(str::trim).filter(|v| !v.is_empty());
        let app = var("SLUICE_APP").or_else(|| var("CI_PROJECT_NAME")).unwrap_or("app").to_owned();
        if var(super::variables::PUBLISH) != Some("true") {
            let message = var(super::variables::MESSAGE)
                .unwrap_or("the VERSION gate did not decide to publish (`SLUICE_PUBLISH` is not `true`)")
                .to_owned();
            return Err(PublishError::NotPublishable { app, message });
        }
        let version = var(super::variables::VERSION).ok_or(PublishError::Invalid {
            variable: "SLUICE_VERSION",
            detail: "it is empty".to_owned(),
        })?;
        let sha = var("CI_COMMIT_SHA").ok_or(PublishError::Invalid {
            variable: "CI_COMMIT_SHA",
            detail: "it is empty".to_owned(),
        })?;
        let invalid = |variable: &'static str| move |err: ImageError| PublishError::Invalid { variable, detail: err.to_string() };
        let layers = var(LAYERS_VARIABLE)
            .unwrap_or("")
            .split_whitespace()
            .map(|l| l.parse::<LayerSpec>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid(LAYERS_VARIABLE))?;
        let from = var("SLUICE_IMAGE_FROM").unwrap_or("scratch").parse().map_err(invalid("SLUICE_IMAGE_FROM"))?;
        let words = |name| var(name).map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
        let mut labels = vec![
            ("org.opencontainers.image.version".to_owned(), version.to_owned()),
            ("org.opencontainers.image.revision".to_owned(), sha.to_owned()),
        ];
        if let Some(url) = var("CI_PROJECT_URL") {
            labels.push(("org.opencontainers.image.source".to_owned(), url.to_owned()));
        }
        Ok(JobFacts {
            app,
            version: version.to_owned(),
            sha: sha.to_owned(),
            layers,
            from,
            entrypoint: words("SLUICE_IMAGE_ENTRYPOINT"),
            cmd: words("SLUICE_IMAGE_CMD"),
            source_date_epoch: var("SOURCE_DATE_EPOCH").map(str::to_owned),
            labels,
            dockerfile: var(DOCKERFILE_VARIABLE).map(str::to_owned),
            context: var(CONTEXT_VARIABLE).unwrap_or(".").to_owned(),
        })
    }

    /// The build's epoch: `SOURCE_DATE_EPOCH`, else the commit time.
    fn epoch(&self, repo: &Path) -> Result<u64, ImageError> {
        Ok(match &self.source_date_epoch {
            Some(text) => text.parse().map_err(|_| ImageError::InvalidArgument {
                what: "SOURCE_DATE_EPOCH",
                value: text.clone(),
                detail: "it must be whole seconds since 1970".to_owned(),
            })?,
            None => Repo::open(repo)
                .or_else(|_| Repo::discover(repo))
                .and_then(|r| r.commit_time(&self.sha))
                .map_or(0, |t| u64::try_from(t).unwrap_or(0)),
        })
    }

    /// The image to build: layers from the workspace, the commit time as the epoch.
    fn spec(&self, workspace: &Path, repo: &Path) -> Result<BuildSpec, ImageError> {
        let epoch = self.epoch(repo)?;
        let layers = self
            .layers
            .iter()
            .map(|l| LayerSpec {
                source: workspace.join(&l.source),
                dest: l.dest.clone(),
            })
            .collect();
        Ok(BuildSpec {
            from: Some(self.from.clone()),
            layers,
            entrypoint: self.entrypoint.clone(),
            cmd: self.cmd.clone(),
            labels: self.labels.clone(),
            epoch,
            ..BuildSpec::default()
        })
    }
}
