//! The Kubernetes target's logic, without a client: the objects Sluice would apply
//! (server-side apply, field manager `sluice`), the label selector and prune set, and the
//! rollout condition read from the objects the API server returns.
//!
//! No API server can run where Sluice is developed, and kube-rs is not a dependency yet (see
//! README for the measured build cost), so nothing is sent: [`super::apply`]
//! refuses this target. Everything here is tested on the JSON objects it would send and
//! receive; the requests themselves are untested.

use serde_json::{Map, Value, json};

use crate::deploy::render::Rendered;
use crate::deploy::spec::{DeploySpec, SecretValues};

/// The label every object Sluice applies carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "sluice");
/// The label naming the app.
pub const APP_LABEL: &str = "sluice.dev/app";
/// The label naming the environment.
pub const ENV_LABEL: &str = "sluice.dev/env";

/// Kinds that are not namespaced (their objects get no `metadata.namespace`).
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

/// Adds the three labels and, for namespaced kinds, the namespace.
fn label(object: &mut Value, spec: &DeploySpec, namespace: &str) {
    let namespaced = !object
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| CLUSTER_SCOPED.contains(&kind));
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if namespaced {
        metadata.insert("namespace".into(), Value::String(namespace.to_string()));
    }
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
/// carry Sluice's label and are not among `applied`. The `Namespace` is never pruned.
pub fn prune_set(live: &[Value], applied: &[Value]) -> Vec<ObjectKey> {
    let keep: Vec<ObjectKey> = applied.iter().filter_map(ObjectKey::of).collect();
    let mut prune: Vec<ObjectKey> = live
        .iter()
        .filter(|o| {
            o.pointer("/metadata/labels/app.kubernetes.io~1managed-by")
                .and_then(Value::as_str)
                == Some(MANAGED_BY.1)
        })
        .filter_map(ObjectKey::of)
        .filter(|key| key.kind != "Namespace" && !keep.contains(key))
        .collect();
    prune.sort();
    prune
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

#[cfg(test)]
mod tests;
