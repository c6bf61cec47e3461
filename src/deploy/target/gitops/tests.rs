use super::GitopsTarget;
use crate::deploy::render::{Rendered, RenderedFile};
use crate::deploy::spec::{DeploySpec, SecretValues};
use crate::deploy::target::TargetError;
use crate::git::test_cli::git;
use crate::secrets::{Identities, Plaintext};

fn rendered(files: &[(&str, &str)]) -> Rendered {
    Rendered {
        files: files
            .iter()
            .map(|(path, text)| RenderedFile {
                path: path.to_string(),
                text: text.to_string(),
                objects: Vec::new(),
            })
            .collect(),
    }
}

fn secret() -> SecretValues {
    SecretValues(vec![("API_KEY".into(), Plaintext::from("s3cret-value".to_string()))])
}

#[tokio::test]
async fn the_render_and_encrypted_secrets_are_committed_to_the_branch() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("fleet.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    let key = crate::secrets::generate("2026-11-29T00:00:00Z");
    let target = GitopsTarget {
        dir: dir.path().join("state"),
        repo: format!("file://{}", bare.display()),
        branch: "env/dev".into(),
        path: "apps/".into(),
        recipients: vec![key.recipient.clone()],
    };
    let spec = DeploySpec::example("1.0.0");
    let first = rendered(&[
        ("deployment.yaml", "kind: Deployment\n"),
        ("old.yaml", "kind: ConfigMap\n"),
    ]);
    let applied = target.apply(&spec, &first, &secret()).await.unwrap();
    assert!(applied.message.starts_with("committed "), "{}", applied.message);

    let second = rendered(&[("deployment.yaml", "kind: Deployment # 2\n")]);
    target
        .apply(&DeploySpec::example("2.0.0"), &second, &secret())
        .await
        .unwrap();
    let files = git(&bare, &["ls-tree", "-r", "--name-only", "env/dev"]);
    assert_eq!(
        files,
        "apps/hello/deployment.yaml\napps/hello/kustomization.yaml\napps/hello/secrets.env"
    );
    assert_eq!(
        git(&bare, &["log", "--format=%s", "env/dev"]),
        "deploy hello 2.0.0 to dev\ndeploy hello 1.0.0 to dev"
    );
    let kustomization = git(&bare, &["show", "env/dev:apps/hello/kustomization.yaml"]);
    assert!(
        kustomization
            .contains("  - deployment.yaml\nsecretGenerator:\n  - name: hello-secrets\n    envs: [secrets.env]"),
        "{kustomization}"
    );

    let encrypted = git(&bare, &["show", "env/dev:apps/hello/secrets.env"]);
    assert!(
        !encrypted.contains("s3cret-value") && encrypted.contains("API_KEY=ENC["),
        "{encrypted}"
    );
    let mut identities = Identities::new();
    identities.add_file("key", key.identity_file.expose()).unwrap();
    let clear = crate::secrets::decrypt("secrets.env", &format!("{encrypted}\n"), &identities).unwrap();
    assert_eq!(clear.expose(), b"API_KEY=s3cret-value\n");

    // The same render without secrets: only the render is there, and nothing else changes.
    let plain = target
        .apply(&DeploySpec::example("2.0.0"), &second, &SecretValues::default())
        .await
        .unwrap();
    assert!(plain.message.starts_with("committed "));
    let again = target
        .apply(&DeploySpec::example("2.0.0"), &second, &SecretValues::default())
        .await
        .unwrap();
    assert!(again.message.contains("already has this render"), "{}", again.message);
}

#[tokio::test]
async fn secrets_without_recipients_are_never_committed() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("fleet.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    let target = GitopsTarget {
        dir: dir.path().join("state"),
        repo: bare.display().to_string(),
        branch: "main".into(),
        path: String::new(),
        recipients: Vec::new(),
    };
    let err = target
        .apply(
            &DeploySpec::example("1.0.0"),
            &rendered(&[("a.yaml", "kind: A\n")]),
            &secret(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, TargetError::Config(ref m) if m.contains("never committed in clear")),
        "{err}"
    );
    assert_eq!(git(&bare, &["branch", "--list"]), "", "nothing was pushed");
}
