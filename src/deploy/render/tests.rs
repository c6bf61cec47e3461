use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{RenderError, render};
use crate::deploy::spec::{DeploySpec, RenderSource};

fn spec(render: RenderSource) -> DeploySpec {
    let mut spec = DeploySpec::example("1.2.3");
    spec.render = render;
    spec.values = json!({"replicas": 3, "resources": {"cpu": "100m", "memory": "128Mi"}});
    spec
}

fn manifests() -> RenderSource {
    RenderSource::Manifests(PathBuf::from("apps/hello/manifests"))
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{app}}\nspec:\n  replicas: {{values.replicas}}\n  template:\n    spec:\n      containers:\n        - image: \"{{pinned_image}}\"\n          memory: {{values.resources.memory}}\n          cpu: {{values.resources.cpu}}\n";

#[test]
fn renders_templates_over_merged_values_and_lists_objects() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "apps/hello/manifests/deployment.yaml.hbs", DEPLOYMENT);
    write(
        repo.path(),
        "apps/hello/manifests/svc/service.yml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: \"{{app}}-{{env}}\", namespace: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: v{{version}}}\n",
    );
    write(repo.path(), "apps/hello/manifests/README.md", "{{not rendered}}");

    let rendered = render(repo.path(), &spec(manifests())).unwrap();
    let paths: Vec<_> = rendered.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["deployment.yaml", "svc/service.yml"]);
    let text = &rendered.files[0].text;
    assert!(text.contains("replicas: 3"), "{text}");
    assert!(text.contains("memory: 128Mi") && text.contains("cpu: 100m"), "{text}");
    assert!(
        text.contains("image: \"127.0.0.1:5000/hello:1.2.3@sha256:abc\""),
        "{text}"
    );
    let objects: Vec<_> = rendered
        .objects()
        .map(|o| (o.kind.as_str(), o.name.as_str(), o.namespace.as_deref()))
        .collect();
    assert_eq!(
        objects,
        [
            ("Deployment", "hello", None),
            ("Service", "hello-dev", Some("x")),
            ("ConfigMap", "v1.2.3", None)
        ]
    );
}

#[test]
fn a_missing_value_is_an_error_naming_the_template_and_line() {
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        "apps/hello/manifests/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{values.nmae}}\n",
    );
    let err = render(repo.path(), &spec(manifests())).unwrap_err();
    assert!(
        matches!(err, RenderError::Template { ref file, line: 4, .. } if file == "a.yaml"),
        "{err:?}"
    );
}

#[test]
fn rendered_documents_must_be_objects_with_kind_and_name() {
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        "apps/hello/manifests/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n",
    );
    let err = render(repo.path(), &spec(manifests())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a.yaml:5: rendered output: the object has no `kind` string"
    );

    write(
        repo.path(),
        "apps/hello/manifests/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n",
    );
    let err = render(repo.path(), &spec(manifests())).unwrap_err();
    assert!(matches!(err, RenderError::Invalid { line: 3 | 4, .. }), "{err:?}");
}

#[test]
fn symlinks_and_paths_that_leave_the_config_repo_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        "secret.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n",
    );
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        "apps/hello/manifests/ok.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
    );

    symlink(
        outside.path().join("secret.yaml"),
        repo.path().join("apps/hello/manifests/leak.yaml"),
    )
    .unwrap();
    let err = render(repo.path(), &spec(manifests())).unwrap_err();
    assert!(
        matches!(err, RenderError::Escapes { ref path, .. } if path == "leak.yaml"),
        "{err:?}"
    );
    assert!(err.to_string().contains("leaves the config repo"), "{err}");
    std::fs::remove_file(repo.path().join("apps/hello/manifests/leak.yaml")).unwrap();

    symlink(outside.path(), repo.path().join("apps/hello/manifests/sub")).unwrap();
    let err = render(repo.path(), &spec(manifests())).unwrap_err();
    assert!(
        matches!(err, RenderError::Escapes { ref path, .. } if path == "sub"),
        "{err:?}"
    );
    std::fs::remove_file(repo.path().join("apps/hello/manifests/sub")).unwrap();

    symlink(outside.path(), repo.path().join("apps/hello/linked")).unwrap();
    let err = render(repo.path(), &spec(RenderSource::Manifests("apps/hello/linked".into()))).unwrap_err();
    assert!(matches!(err, RenderError::Escapes { .. }), "{err:?}");

    let dotdot = format!("../{}", outside.path().file_name().unwrap().to_string_lossy());
    let err = render(repo.path(), &spec(RenderSource::Manifests(dotdot.into()))).unwrap_err();
    assert!(matches!(err, RenderError::Escapes { .. }), "{err:?}");
    let err = render(repo.path(), &spec(RenderSource::Manifests(outside.path().into()))).unwrap_err();
    assert!(matches!(err, RenderError::Escapes { .. }), "{err:?}");
    let err = render(repo.path(), &spec(RenderSource::Chart(outside.path().into()))).unwrap_err();
    assert!(matches!(err, RenderError::Escapes { .. }), "{err:?}");
}

#[test]
fn symlinks_inside_the_config_repo_are_followed() {
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        "shared/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared-{{env}}}\n",
    );
    std::fs::create_dir_all(repo.path().join("apps/hello/manifests")).unwrap();
    symlink(
        "../../../shared/cm.yaml",
        repo.path().join("apps/hello/manifests/cm.yaml"),
    )
    .unwrap();
    let rendered = render(repo.path(), &spec(manifests())).unwrap();
    assert_eq!(rendered.objects().next().unwrap().name, "shared-dev");
}

#[test]
fn an_empty_or_missing_directory_is_an_error() {
    let repo = tempfile::tempdir().unwrap();
    let err = render(repo.path(), &spec(manifests())).unwrap_err();
    assert!(matches!(err, RenderError::Missing { .. }), "{err:?}");
    std::fs::create_dir_all(repo.path().join("apps/hello/manifests")).unwrap();
    let err = render(repo.path(), &spec(manifests())).unwrap_err();
    assert!(matches!(err, RenderError::Empty { .. }), "{err:?}");
}
