//! A Kubernetes `Secret` object built from an app's decrypted secrets: `apiVersion: v1`,
//! `kind: Secret`, `metadata` (name, namespace, labels, annotations), `type` and `data`
//! (base64). The object is a `serde_json::Value` held in [`KubernetesSecret`], whose strings
//! are zeroized on drop and whose `Debug` prints the metadata only.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroize;

use super::rollout::AppSecrets;

/// What to put around the data of a `Secret`.
#[derive(Debug, Clone, Default)]
pub struct SecretMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if any.
    pub namespace: Option<String>,
    /// `metadata.labels` (for example `app.kubernetes.io/managed-by: sluice`).
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `type`; `Opaque` when `None`.
    pub secret_type: Option<String>,
}

/// A Kubernetes `Secret` manifest with decrypted data. Its strings are zeroized when it is
/// dropped; `Debug` shows the name and keys, never data; there is no `Serialize` or
/// `Display`: [`KubernetesSecret::expose`] is the one way to the object.
pub struct KubernetesSecret(serde_json::Value);

impl KubernetesSecret {
    /// The manifest, for the one call that applies it (server-side apply) or writes it to a
    /// private directory. A clone escapes the zeroization: avoid keeping one.
    pub fn expose(&self) -> &serde_json::Value {
        &self.0
    }
}

impl std::fmt::Debug for KubernetesSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.0.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or_default();
        let keys: Vec<&str> =
            self.0.get("data").and_then(|d| d.as_object()).map(|d| d.keys().map(String::as_str).collect()).unwrap_or_default();
        write!(f, "KubernetesSecret({name}, keys {keys:?}, data [REDACTED])")
    }
}

impl Drop for KubernetesSecret {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

fn wipe(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => text.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
        serde_json::Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

impl AppSecrets {
    /// The app's entries as one `Secret`, every entry base64-encoded under `data`.
    pub fn kubernetes_secret(&self, meta: &SecretMeta) -> KubernetesSecret {
        let mut metadata = serde_json::Map::new();
        metadata.insert("name".into(), meta.name.clone().into());
        if let Some(namespace) = &meta.namespace {
            metadata.insert("namespace".into(), namespace.clone().into());
        }
        if !meta.labels.is_empty() {
            metadata.insert("labels".into(), serde_json::json!(meta.labels));
        }
        if !meta.annotations.is_empty() {
            metadata.insert("annotations".into(), serde_json::json!(meta.annotations));
        }
        let data: serde_json::Map<String, serde_json::Value> =
            self.entries.iter().map(|entry| (entry.key.clone(), STANDARD.encode(entry.value.expose()).into())).collect();
        KubernetesSecret(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": meta.secret_type.clone().unwrap_or_else(|| "Opaque".to_string()),
            "data": data,
        }))
    }
}
