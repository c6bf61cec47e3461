//! The Kubernetes target: server-side apply of a render to one cluster (a context of a
//! kubeconfig), pruning of what an earlier apply left, and waiting for workloads to roll out.
//!
//! This file holds the logic, as pure functions over the JSON objects Sluice sends and
//! receives: the objects to apply (labels, namespace, the `<app>-secrets` Secret), their
//! order, the kinds listed for pruning and the prune set, and the rollout condition.
//! [`cluster`] is the thin layer over kube-rs that sends them; [`wait`] decides when a
//! rollout has timed out, on a clock tests can set. No API server can run where Sluice is
//! developed: the requests are checked against a recording HTTP peer, never a real cluster.

mod cluster;
pub mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::deploy::render::Rendered;
use crate::deploy::spec::{DeploySpec, SecretValues};

pub use cluster::{Cluster, KubeError, Settings, apply, readiness};

/// How long Deployments and StatefulSets have to roll out when the target sets no
/// `rollout_timeout`.
pub const DEFAULT_ROLLOUT_TIMEOUT: Duration = Duration::from_secs(300);

/// The field manager of every server-side apply Sluice makes.
pub const FIELD_MANAGER: &str = "sluice";

/// Kinds listed for pruning even when the new render has none of them (the render's own
/// kinds are always listed too): the usual kinds of an app. A labelled object of another
/// kind that the new render drops is left in place.
pub const PRUNED_KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
];

/// Kinds never pruned: a `Namespace` holds other apps' objects, and deleting a
/// `CustomResourceDefinition` deletes every object of its kind.
const NEVER_PRUNED: &[&str] = &["Namespace", "CustomResourceDefinition"];

/// The label every object Sluice applies carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "sluice");
/// The label naming the app.
pub const APP_LABEL: &str = "sluice.dev/app";
/// The label naming the environment.
pub const ENV_LABEL: &str = "sluice.dev/env";

/// Kinds known to be cluster-scoped (their objects get no `metadata.namespace`).
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
];

/// An object's identity: `apiVersion`, `kind`, namespace (empty when cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// The key of an object as JSON; `None` when it lacks `apiVersion`, `kind` or a name.
    pub fn of(object: &Value) -> Option<ObjectKey> {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).map(str::to_string);
        Some(ObjectKey {
            api_version: text("/apiVersion")?,
            kind: text("/kind")?,
            namespace: text("/metadata/namespace").unwrap_or_default(),
            name: text("/metadata/name")?,
        })
    }

    /// The API group: `apps` for `apps/v1`, empty for the core group's `v1`.
    pub fn group(&self) -> &str {
        group_of(&self.api_version)
    }

    /// `Deployment `sluice-dev/hello``: how errors and reports name the object.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} `{}`", self.kind, self.name)
        } else {
            format!("{} `{}/{}`", self.kind, self.namespace, self.name)
        }
    }

    /// Whether `other` is the same object, perhaps read through another version of its group.
    fn same_object(&self, other: &ObjectKey) -> bool {
        self.group() == other.group()
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }
}

/// The group of an `apiVersion`: what precedes the `/`, or empty for the core group.
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// `app.kubernetes.io/managed-by=sluice,sluice.dev/app=<app>,sluice.dev/env=<env>`: what
/// lists the objects a previous apply of this app in this environment left.
pub fn label_selector(app: &str, env: &str) -> String {
    format!("{}={},{APP_LABEL}={app},{ENV_LABEL}={env}", MANAGED_BY.0, MANAGED_BY.1)
}

/// The objects to apply, in order: the environment's `Namespace`, the app's secrets as one
/// `Secret` named `<app>-secrets` (when there are any), then every rendered object, each
/// labelled and placed in `namespace`.
///
/// # Errors
///
/// A sentence naming the object when a template sets another namespace than the
/// environment's.
pub fn objects_to_apply(
    spec: &DeploySpec,
    rendered: &Rendered,
    secrets: &SecretValues,
    namespace: &str,
) -> Result<Vec<Value>, String> {
    let mut objects = vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})];
    if !secrets.is_empty() {
        use base64::Engine;
        let data: Map<String, Value> = secrets
            .0
            .iter()
            .map(|(name, value)| {
                (
                    name.clone(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(value.expose())),
                )
            })
            .collect();
        objects.push(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": format!("{}-secrets", spec.app)}, "data": data,
        }));
    }
    for object in rendered.objects() {
        if let Some(own) = &object.namespace
            && own != namespace
        {
            return Err(format!(
                "{} `{}` sets namespace `{own}`, but environment `{}` deploys to `{namespace}`; remove `metadata.namespace`",
                object.kind, object.name, spec.env
            ));
        }
        objects.push(object.document.clone());
    }
    for object in &mut objects {
        label(object, spec, namespace);
    }
    Ok(objects)
}

/// Adds the three labels and, for kinds not known to be cluster-scoped, the namespace (at
/// apply time, discovery has the last word: see [`place`]).
fn label(object: &mut Value, spec: &DeploySpec, namespace: &str) {
    let namespaced = !object
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| CLUSTER_SCOPED.contains(&kind));
    place(object, namespaced, namespace);
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let labels = metadata.entry("labels").or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        labels.insert(APP_LABEL.into(), spec.app.clone().into());
        labels.insert(ENV_LABEL.into(), spec.env.clone().into());
    }
}

/// The objects to delete after an apply: those `live` (listed with [`label_selector`]) that
/// carry Sluice's label and are not among `applied`, compared by group, kind, namespace and
/// name (a list may return another version of the group than the one applied). Namespaces
/// and CustomResourceDefinitions are never pruned.
pub fn prune_set(live: &[Value], applied: &[ObjectKey]) -> Vec<ObjectKey> {
    let mut prune: Vec<ObjectKey> = live
        .iter()
        .filter(|o| {
            o.pointer("/metadata/labels/app.kubernetes.io~1managed-by")
                .and_then(Value::as_str)
                == Some(MANAGED_BY.1)
        })
        .filter_map(ObjectKey::of)
        .filter(|key| !NEVER_PRUNED.contains(&key.kind.as_str()) && !applied.iter().any(|k| k.same_object(key)))
        .collect();
    prune.sort();
    prune.dedup();
    prune
}

/// The `(apiVersion, kind)`s to list for pruning: [`PRUNED_KINDS`] and every kind of the
/// applied objects (in the version applied), each group and kind once, never a kind of
/// `NEVER_PRUNED`.
pub fn prune_kinds(applied: &[ObjectKey]) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = Vec::new();
    let applied_kinds = applied.iter().map(|k| (k.api_version.clone(), k.kind.clone()));
    let listed = PRUNED_KINDS.iter().map(|(v, k)| (v.to_string(), k.to_string()));
    for (api_version, kind) in applied_kinds.chain(listed) {
        let known = kinds
            .iter()
            .any(|(v, k)| *k == kind && group_of(v) == group_of(&api_version));
        if !known && !NEVER_PRUNED.contains(&kind.as_str()) {
            kinds.push((api_version, kind));
        }
    }
    kinds
}

/// The objects in the order they are applied: Namespaces, then CustomResourceDefinitions
/// (so that the kinds they define exist), then the others in render order.
pub fn in_apply_order(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(|object| match object.get("kind").and_then(Value::as_str) {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    });
    objects
}

/// The `(group, kind)`s the CustomResourceDefinitions among `objects` define: their objects
/// may have to wait for the API server to serve the new kind.
pub fn defined_kinds(objects: &[Value]) -> Vec<(String, String)> {
    objects
        .iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
        .filter_map(|o| {
            let group = o.pointer("/spec/group")?.as_str()?;
            let kind = o.pointer("/spec/names/kind")?.as_str()?;
            Some((group.to_string(), kind.to_string()))
        })
        .collect()
}

/// Places an object as the API server's discovery says its kind is scoped: a namespaced
/// object in `namespace`, a cluster-scoped one without `metadata.namespace`.
pub fn place(object: &mut Value, namespaced: bool, namespace: &str) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if namespaced {
        metadata.insert("namespace".into(), Value::String(namespace.to_string()));
    } else {
        metadata.remove("namespace");
    }
}

/// The kubeconfig file a target names: a leading `~/` is the controller's home directory
/// (`home`), as in kubectl; anything else is taken as written.
pub fn kubeconfig_path(configured: &str, home: Option<&Path>) -> PathBuf {
    match (configured.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(configured),
    }
}

/// Zeroes the values of a Secret's `data` and `stringData`, so that Sluice's copy does not
/// outlive the apply (the request body kube-rs and hyper build from it is theirs, and is not
/// wiped). Other objects are left alone.
pub fn wipe_secret_data(object: &mut Value) {
    use zeroize::Zeroize as _;
    if object.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    for field in ["data", "stringData"] {
        if let Some(Value::Object(values)) = object.get_mut(field) {
            for value in values.values_mut() {
                if let Value::String(text) = value {
                    text.zeroize();
                }
            }
        }
    }
}

/// Whether Sluice waits for this object to roll out.
pub fn is_workload(key: &ObjectKey) -> bool {
    key.group() == "apps" && (key.kind == "Deployment" || key.kind == "StatefulSet")
}

/// Where a workload's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Every replica runs the new template and is available.
    Complete,
    /// Still rolling out: what is awaited.
    Progressing(String),
    /// The controller gave up (`ProgressDeadlineExceeded`).
    Failed(String),
}

/// The rollout condition of a `Deployment` or `StatefulSet` as the API server returns it
/// (other kinds are complete once applied): the controller has observed the latest
/// generation (`status.observedGeneration` ≥ `metadata.generation`), and updated, available
/// (ready, for a StatefulSet) and total replicas all equal the desired count; a Deployment
/// whose `Progressing` condition has reason `ProgressDeadlineExceeded` has failed.
pub fn rollout(object: &Value) -> Rollout {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != "Deployment" && kind != "StatefulSet" {
        return Rollout::Complete;
    }
    let number = |pointer: &str| object.pointer(pointer).and_then(Value::as_i64);
    let conditions = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(failed) = conditions.iter().find(|c| {
        c.get("type").and_then(Value::as_str) == Some("Progressing")
            && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
    }) {
        let message = failed
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("progress deadline exceeded");
        return Rollout::Failed(format!("{kind}: {message}"));
    }
    let generation = number("/metadata/generation").unwrap_or(0);
    let observed = number("/status/observedGeneration").unwrap_or(0);
    if observed < generation {
        return Rollout::Progressing(format!(
            "{kind}: generation {generation} not observed yet (observed {observed})"
        ));
    }
    let desired = number("/spec/replicas").unwrap_or(1);
    let updated = number("/status/updatedReplicas").unwrap_or(0);
    let available = if kind == "StatefulSet" {
        number("/status/readyReplicas")
    } else {
        number("/status/availableReplicas")
    };
    let available = available.unwrap_or(0);
    let total = number("/status/replicas").unwrap_or(0);
    if updated == desired && available == desired && total == desired {
        Rollout::Complete
    } else {
        Rollout::Progressing(format!(
            "{kind}: {updated} updated, {available} available, {total} in total of {desired} desired"
        ))
    }
}

/// Readiness of the workloads as read once (each with its description): the periodic health
/// check of a release that rolled out. Unlike the rollout wait there is no deadline: a
/// workload still rolling out or short of available replicas is not ready now.
///
/// # Errors
///
/// The first workload that failed or is not ready, and why.
pub fn readiness_of(states: &[(String, Rollout)]) -> Result<(), String> {
    let failed = states.iter().find(|(_, state)| matches!(state, Rollout::Failed(_)));
    let not_ready = failed.or_else(|| states.iter().find(|(_, state)| *state != Rollout::Complete));
    match not_ready {
        None => Ok(()),
        Some((object, Rollout::Failed(message))) => Err(format!("{object} failed: {message}")),
        Some((object, Rollout::Progressing(awaited))) => Err(format!("{object} is not ready: {awaited}")),
        Some((object, Rollout::Complete)) => Err(format!("{object} is not ready")),
    }
}

#[cfg(test)]
mod tests;
