use serde_json::{Value, json};

use super::{ObjectKey, Rollout, label_selector, objects_to_apply, prune_set, rollout};
use crate::deploy::render::{ObjectRef, Rendered, RenderedFile};
use crate::deploy::spec::{DeploySpec, SecretValues};
use crate::secrets::Plaintext;

fn spec() -> DeploySpec {
    DeploySpec::example("1.0.0")
}

fn rendered(documents: &[Value]) -> Rendered {
    let objects = documents
        .iter()
        .map(|d| {
            let key = ObjectKey::of(d).unwrap();
            ObjectRef {
                api_version: key.api_version,
                kind: key.kind,
                name: key.name,
                namespace: (!key.namespace.is_empty()).then_some(key.namespace),
                document: d.clone(),
            }
        })
        .collect();
    Rendered {
        files: vec![RenderedFile {
            path: "all.yaml".into(),
            text: String::new(),
            objects,
        }],
    }
}

#[test]
fn objects_are_labelled_and_placed_in_the_environment_namespace() {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello", "labels": {"tier": "web"}}});
    let role =
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"}});
    let secrets = SecretValues(vec![("API_KEY".into(), Plaintext::from("s3cret".to_string()))]);
    let objects = objects_to_apply(&spec(), &rendered(&[deployment, role]), &secrets, "sluice-dev").unwrap();
    let keys: Vec<_> = objects
        .iter()
        .map(|o| ObjectKey::of(o).unwrap())
        .map(|k| format!("{}/{}/{}", k.kind, k.namespace, k.name))
        .collect();
    assert_eq!(
        keys,
        [
            "Namespace//sluice-dev",
            "Secret/sluice-dev/hello-secrets",
            "Deployment/sluice-dev/hello",
            "ClusterRole//reader"
        ]
    );
    for object in &objects {
        let labels = &object["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "sluice");
        assert_eq!(labels["sluice.dev/app"], "hello");
        assert_eq!(labels["sluice.dev/env"], "dev");
    }
    assert_eq!(objects[2]["metadata"]["labels"]["tier"], "web");
    assert_eq!(objects[1]["data"]["API_KEY"], "czNjcmV0");
    assert_eq!(
        label_selector("hello", "dev"),
        "app.kubernetes.io/managed-by=sluice,sluice.dev/app=hello,sluice.dev/env=dev"
    );
}

#[test]
fn a_template_with_another_namespace_is_refused() {
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}});
    let err = objects_to_apply(&spec(), &rendered(&[other]), &SecretValues::default(), "sluice-dev").unwrap_err();
    assert!(err.contains("ConfigMap `c` sets namespace `kube-system`"), "{err}");
}

#[test]
fn prune_takes_labelled_live_objects_missing_from_the_new_apply() {
    let labelled = |kind: &str, name: &str| {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "sluice-dev",
            "labels": {"app.kubernetes.io/managed-by": "sluice"}}})
    };
    let applied = vec![labelled("ConfigMap", "keep")];
    let mut foreign = labelled("ConfigMap", "theirs");
    foreign["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "helm"});
    let live = vec![
        labelled("ConfigMap", "keep"),
        labelled("Service", "old"),
        labelled("ConfigMap", "gone"),
        foreign,
        labelled("Namespace", "sluice-dev"),
    ];
    let names: Vec<_> = prune_set(&live, &applied)
        .into_iter()
        .map(|k| format!("{}/{}", k.kind, k.name))
        .collect();
    assert_eq!(names, ["ConfigMap/gone", "Service/old"]);
}

fn deployment(generation: i64, observed: i64, desired: i64, updated: i64, available: i64, total: i64) -> Value {
    json!({"kind": "Deployment", "metadata": {"name": "d", "generation": generation}, "spec": {"replicas": desired},
        "status": {"observedGeneration": observed, "updatedReplicas": updated, "availableReplicas": available, "replicas": total}})
}

#[test]
fn the_rollout_condition() {
    assert_eq!(rollout(&deployment(2, 2, 3, 3, 3, 3)), Rollout::Complete);
    assert_eq!(
        rollout(&deployment(3, 4, 3, 3, 3, 3)),
        Rollout::Complete,
        "observed ahead of generation is fine"
    );
    assert!(matches!(rollout(&deployment(3, 2, 3, 3, 3, 3)), Rollout::Progressing(m) if m.contains("not observed")));
    assert!(
        matches!(rollout(&deployment(2, 2, 3, 2, 3, 3)), Rollout::Progressing(_)),
        "not all updated"
    );
    assert!(
        matches!(rollout(&deployment(2, 2, 3, 3, 2, 3)), Rollout::Progressing(_)),
        "not all available"
    );
    assert!(
        matches!(rollout(&deployment(2, 2, 3, 3, 3, 4)), Rollout::Progressing(_)),
        "old pods still there"
    );
    let mut stuck = deployment(2, 2, 3, 1, 1, 3);
    stuck["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": "ReplicaSet \"d-5c\" has timed out progressing."}]);
    assert_eq!(
        rollout(&stuck),
        Rollout::Failed("Deployment: ReplicaSet \"d-5c\" has timed out progressing.".into())
    );
    let statefulset = json!({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 2},
        "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 1, "replicas": 2}});
    assert!(matches!(rollout(&statefulset), Rollout::Progressing(_)));
    assert_eq!(rollout(&json!({"kind": "ConfigMap"})), Rollout::Complete);
    let no_replicas_field = json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {},
        "status": {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1, "replicas": 1}});
    assert_eq!(rollout(&no_replicas_field), Rollout::Complete, "replicas defaults to 1");
}
