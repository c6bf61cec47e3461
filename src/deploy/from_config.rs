//! From the validated config repo to a [`DeploySpec`]: the app's render, run overrides and
//! health, the environment's targets and rollout, and the pin's release and values.

use std::path::PathBuf;
use std::time::Duration;

use super::spec::{DeploySpec, HealthCheck, ImageSource, RenderSource, RolloutPlan, RunOverride, TargetKind, TargetSpec};
use crate::config::repo::{self, ConfigRepo, Health, Render};

/// How long a release has to pass its health check after it is applied.
pub const HEALTH_WITHIN: Duration = Duration::from_secs(30);

/// The interval and per-run timeout of a `command` health check (the config gives neither).
const COMMAND_INTERVAL: Duration = Duration::from_secs(1);

/// The deployment `repo` asks for `app` in `env`: `None` when the app has no pin there
/// (nothing to deploy yet).
///
/// # Errors
///
/// A sentence naming the app and environment when either does not exist, or a target cannot
/// deploy the pinned image (a `process` target needs an `oci:DIR[:TAG]` layout or a registry
/// reference).
pub fn spec(repo: &ConfigRepo, app: &str, env: &str) -> Result<Option<DeploySpec>, String> {
    let app_config = repo
        .app(app)
        .ok_or_else(|| format!("the config repo has no app `{app}`"))?;
    let environment = repo
        .environment(env)
        .ok_or_else(|| format!("the config repo has no environment `{env}`"))?;
    let Some(pin) = repo.pin(app, env) else {
        return Ok(None);
    };
    let render = match &app_config.render {
        Render::Manifests(dir) => RenderSource::Manifests(PathBuf::from(format!("apps/{app}/{dir}"))),
        Render::Chart(dir) => RenderSource::Chart(PathBuf::from(format!("apps/{app}/{dir}"))),
    };
    let health = app_config.health.as_ref().map(|health| match health {
        Health::Http {
            path,
            expect_status,
            timeout,
            interval,
        } => HealthCheck::Http {
            path: path.clone(),
            expect_status: *expect_status,
            timeout: *timeout,
            interval: *interval,
            within: HEALTH_WITHIN,
        },
        Health::Command(argv) => HealthCheck::Command {
            argv: argv.clone(),
            timeout: HEALTH_WITHIN,
            interval: COMMAND_INTERVAL,
            within: HEALTH_WITHIN,
        },
        Health::Kubernetes => HealthCheck::Kubernetes,
    });
    let mut targets = Vec::new();
    for target in &environment.targets {
        let kind = match &target.kind {
            repo::TargetKind::Process { base_port } => TargetKind::Process {
                image: image_source(&pin.image).map_err(|e| {
                    format!(
                        "target `{}` of `{env}` is a process target, which runs images from an OCI layout (`oci:DIR[:TAG]`) or a registry (`registry/repository[:tag]`), but `{app}` is pinned to `{}`: {e}",
                        target.name, pin.image
                    )
                })?,
                base_port: *base_port,
            },
            repo::TargetKind::Command { run } => TargetKind::Command { run: run.clone() },
            repo::TargetKind::Gitops { repo, branch, path } => TargetKind::Gitops {
                repo: repo.clone(),
                branch: branch.clone(),
                path: path.clone(),
                recipients: environment.secrets.age.clone(),
            },
            repo::TargetKind::Kubernetes(settings) | repo::TargetKind::Helm(settings) => TargetKind::Kubernetes {
                kubeconfig: settings.kubeconfig.as_deref().map(|path| {
                    let home = std::env::var_os("HOME").map(PathBuf::from);
                    crate::deploy::target::kubernetes::kubeconfig_path(path, home.as_deref())
                }),
                context: settings.context.clone(),
                namespace: settings.namespace.clone().unwrap_or_else(|| format!("sluice-{env}")),
                rollout_timeout: settings
                    .rollout_timeout
                    .unwrap_or(crate::deploy::target::kubernetes::DEFAULT_ROLLOUT_TIMEOUT),
            },
        };
        targets.push(TargetSpec {
            name: target.name.clone(),
            kind,
        });
    }
    Ok(Some(DeploySpec {
        app: app.to_string(),
        env: env.to_string(),
        version: pin.version.to_string(),
        image: pin.image.clone(),
        digest: pin.digest.clone(),
        render,
        values: repo.values(app, env).unwrap_or_default(),
        run: RunOverride {
            command: (!app_config.run.command.is_empty()).then(|| app_config.run.command.clone()),
            env: app_config.run.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        },
        health,
        targets,
        rollout: RolloutPlan {
            steps: environment.rollout.steps.clone(),
            pause: environment.rollout.pause,
            auto_rollback: environment.rollout.auto_rollback,
        },
        revision: String::new(),
    }))
}

/// Where a pinned image is: an `oci:` layout, or else a registry reference (checked here, so
/// a malformed one is refused before any target is touched).
fn image_source(image: &str) -> Result<ImageSource, String> {
    if let Some(layout) = layout_of(image) {
        return Ok(ImageSource::Layout(layout));
    }
    image
        .parse::<oci_client::Reference>()
        .map(|_| ImageSource::Registry(image.to_string()))
        .map_err(|e| e.to_string())
}

/// The layout directory of an `oci:DIR[:TAG]` image (skopeo's syntax).
fn layout_of(image: &str) -> Option<PathBuf> {
    let rest = image.strip_prefix("oci:")?;
    let dir = match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => dir,
        _ => rest,
    };
    Some(PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::{layout_of, spec};
    use crate::deploy::spec::{HealthCheck, ImageSource, RenderSource, TargetKind};

    #[test]
    fn oci_images_name_their_layout() {
        assert_eq!(
            layout_of("oci:/srv/images/hello:1.2.3"),
            Some("/srv/images/hello".into())
        );
        assert_eq!(layout_of("oci:/srv/images/hello"), Some("/srv/images/hello".into()));
        assert_eq!(layout_of("127.0.0.1:5000/hello:1.2.3"), None);
    }

    #[test]
    fn a_pin_of_the_template_repo_becomes_a_spec() {
        let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template");
        let mut files = crate::config::repo::load_dir(&template).unwrap();
        fn parse(files: &crate::config::repo::RepoFiles) -> crate::config::repo::ConfigRepo {
            crate::config::repo::parse(files, "").map(|(repo, _)| repo).unwrap()
        }
        assert!(
            spec(&parse(&files), "hello", "dev").unwrap().is_none(),
            "no pin, nothing to deploy"
        );
        assert!(
            spec(&parse(&files), "nope", "dev")
                .unwrap_err()
                .contains("no app `nope`")
        );

        let pin = "version: 1.2.3\nimage: \"oci:/srv/images/hello:1.2.3\"\ndigest: \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\nvalues: {replicas: 2}\n";
        files.insert("apps/hello/dev.yaml".into(), pin.as_bytes().to_vec());
        let spec = spec(&parse(&files), "hello", "dev").unwrap().unwrap();
        assert_eq!(
            (spec.version.as_str(), spec.values["replicas"].as_i64()),
            ("1.2.3", Some(2))
        );
        assert_eq!(spec.render, RenderSource::Manifests("apps/hello/manifests/".into()));
        assert_eq!(
            spec.run.command.as_deref(),
            Some(&["python3".to_string(), "hello.py".to_string()][..])
        );
        assert_eq!(
            spec.targets[0].kind,
            TargetKind::Process {
                image: ImageSource::Layout("/srv/images/hello".into()),
                base_port: 18080
            }
        );
        assert!(matches!(
            spec.health,
            Some(HealthCheck::Http { expect_status: 200, .. })
        ));

        files.insert(
            "apps/hello/dev.yaml".into(),
            pin.replace("oci:/srv/images/hello", "127.0.0.1:5000/hello")
                .into_bytes(),
        );
        let spec = super::spec(&parse(&files), "hello", "dev").unwrap().unwrap();
        assert_eq!(
            spec.targets[0].kind,
            TargetKind::Process {
                image: ImageSource::Registry("127.0.0.1:5000/hello:1.2.3".into()),
                base_port: 18080
            }
        );
        files.insert(
            "apps/hello/dev.yaml".into(),
            pin.replace("oci:/srv/images/hello", "127.0.0.1:5000/Hello World").into_bytes(),
        );
        let err = super::spec(&parse(&files), "hello", "dev").unwrap_err();
        assert!(err.contains("process target"), "{err}");
    }
}
