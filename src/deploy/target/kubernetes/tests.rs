use serde_json::{Value, json};

use super::{
    ObjectKey, PRUNED_KINDS, Rollout, defined_kinds, in_apply_order, is_workload, label_selector, objects_to_apply,
    kubeconfig_path, place, prune_kinds, prune_set, readiness_of, rollout, wipe_secret_data,
};
use crate::deploy::render::{ObjectRef, Rendered, RenderedFile};
use crate::deploy::spec::{DeploySpec, SecretValues};
use crate::secrets::Plaintext;

pub(super) fn spec() -> DeploySpec {
    DeploySpec::example("1.0.0")
}

pub(super) fn rendered(documents: &[Value]) -> Rendered {
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
    let applied = vec![ObjectKey::of(&labelled("ConfigMap", "keep")).unwrap()];
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

#[test]
fn prune_compares_groups_not_versions_and_spares_namespaces_and_definitions() {
    let object = |api_version: &str, kind: &str, name: &str| {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "sluice-dev",
            "labels": {"app.kubernetes.io/managed-by": "sluice"}}})
    };
    let applied = vec![ObjectKey::of(&object("autoscaling/v1", "HorizontalPodAutoscaler", "web")).unwrap()];
    let live = vec![
        object("autoscaling/v2", "HorizontalPodAutoscaler", "web"),
        object("autoscaling/v2", "HorizontalPodAutoscaler", "old"),
        object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
    ];
    let names: Vec<_> = prune_set(&live, &applied).into_iter().map(|k| k.describe()).collect();
    assert_eq!(names, ["HorizontalPodAutoscaler `sluice-dev/old`"]);
}

#[test]
fn prune_lists_the_usual_kinds_and_the_render_s_own_once_each() {
    let key = |api_version: &str, kind: &str| ObjectKey {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: "sluice-dev".into(),
        name: "x".into(),
    };
    let applied = vec![
        key("v1", "Namespace"),
        key("example.com/v1", "Widget"),
        key("autoscaling/v1", "HorizontalPodAutoscaler"),
        key("apps/v1", "Deployment"),
        key("apps/v1", "Deployment"),
    ];
    let kinds = prune_kinds(&applied);
    assert_eq!(kinds[0], ("example.com/v1".to_string(), "Widget".to_string()));
    assert_eq!(kinds[1], ("autoscaling/v1".to_string(), "HorizontalPodAutoscaler".to_string()));
    assert_eq!(kinds[2], ("apps/v1".to_string(), "Deployment".to_string()));
    assert!(!kinds.iter().any(|(_, k)| k == "Namespace"), "{kinds:?}");
    for (_, kind) in PRUNED_KINDS {
        assert_eq!(kinds.iter().filter(|(_, k)| k == kind).count(), 1, "{kind} once: {kinds:?}");
    }
    assert_eq!(kinds.len(), PRUNED_KINDS.len() + 1);
}

#[test]
fn namespaces_and_definitions_are_applied_first_the_rest_in_render_order() {
    let object = |kind: &str, name: &str| json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
    let ordered = in_apply_order(vec![
        object("Deployment", "web"),
        object("CustomResourceDefinition", "widgets.example.com"),
        object("Service", "web"),
        object("Namespace", "sluice-dev"),
        object("ConfigMap", "a"),
    ]);
    let kinds: Vec<_> = ordered
        .iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace/sluice-dev",
            "CustomResourceDefinition/widgets.example.com",
            "Deployment/web",
            "Service/web",
            "ConfigMap/a"
        ]
    );
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}}});
    assert_eq!(defined_kinds(&[crd, object("Service", "web")]), [("example.com".to_string(), "Widget".to_string())]);
}

#[test]
fn discovery_decides_the_scope() {
    let mut cluster_widget = json!({"kind": "Widget", "metadata": {"name": "w", "namespace": "sluice-dev"}});
    place(&mut cluster_widget, false, "sluice-dev");
    assert_eq!(cluster_widget["metadata"], json!({"name": "w"}));
    let mut namespaced = json!({"kind": "Widget", "metadata": {"name": "w"}});
    place(&mut namespaced, true, "sluice-dev");
    assert_eq!(namespaced["metadata"]["namespace"], "sluice-dev");
    let key = |api_version: &str, kind: &str| ObjectKey {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: String::new(),
        name: "n".into(),
    };
    assert!(is_workload(&key("apps/v1", "Deployment")));
    assert!(is_workload(&key("apps/v1", "StatefulSet")));
    assert!(!is_workload(&key("apps/v1", "DaemonSet")));
    assert!(!is_workload(&key("example.com/v1", "Deployment")), "another group's kind");
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

#[test]
fn readiness_is_the_rollout_condition_now_a_failure_first() {
    let state = |object: &Value| ("Deployment `sluice-dev/d`".to_string(), rollout(object));
    assert_eq!(readiness_of(&[state(&deployment(2, 2, 3, 3, 3, 3))]), Ok(()));
    assert_eq!(readiness_of(&[]), Ok(()), "no workload: nothing to wait for");
    let lost_a_pod = deployment(2, 2, 3, 3, 2, 3);
    assert_eq!(
        readiness_of(&[state(&deployment(2, 2, 3, 3, 3, 3)), state(&lost_a_pod)]),
        Err("Deployment `sluice-dev/d` is not ready: Deployment: 3 updated, 2 available, 3 in total of 3 desired".into())
    );
    let mut stuck = deployment(3, 3, 3, 1, 1, 3);
    stuck["status"]["conditions"] = json!([{"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]);
    let db = ("StatefulSet `sluice-dev/db`".to_string(), rollout(&stuck));
    assert_eq!(
        readiness_of(&[state(&lost_a_pod), db]),
        Err("StatefulSet `sluice-dev/db` failed: Deployment: timed out".into()),
        "a failure is named before a workload short of replicas"
    );
}

#[test]
fn a_kubeconfig_under_home_is_found_there() {
    let home = std::path::Path::new("/home/sluice");
    assert_eq!(kubeconfig_path("~/.kube/config", Some(home)), home.join(".kube/config"));
    assert_eq!(kubeconfig_path("/etc/kubeconfig", Some(home)), std::path::Path::new("/etc/kubeconfig"));
    assert_eq!(kubeconfig_path("~/.kube/config", None), std::path::Path::new("~/.kube/config"));
}

#[test]
fn a_sent_secret_s_values_are_wiped_and_other_objects_left_alone() {
    let mut secret = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"A": "czNjcmV0"}, "stringData": {"B": "plain"}});
    wipe_secret_data(&mut secret);
    assert_eq!(secret["data"]["A"], "");
    assert_eq!(secret["stringData"]["B"], "");
    assert_eq!(secret["metadata"]["name"], "s");
    let mut config = json!({"kind": "ConfigMap", "data": {"A": "kept"}});
    wipe_secret_data(&mut config);
    assert_eq!(config["data"]["A"], "kept");
}
