//! The thin layer over kube-rs: connect to one cluster (a context of a kubeconfig), map each
//! object's `apiVersion`/`kind` to its resource and scope with discovery, server-side apply
//! it (field manager `sluice`, forced), wait for Deployments and StatefulSets to roll out,
//! then delete what an earlier apply left and the new render dropped.
//!
//! Every decision is made by the pure functions of [`super`] and [`super::wait`]; this file
//! only sends requests and turns answers and failures into [`KubeError`]s that name the
//! cluster, the object and the API server's message. Secret values are never logged and are
//! masked out of every error message (they are sent once, in the `<app>-secrets` Secret).
//!
//! Untested against a real API server (none can run where Sluice is developed): the wire
//! format is checked against a recording HTTP peer in `wire_tests`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, TypeMeta};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::core::GroupVersion;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use kube::{Client, Config};
use serde_json::{Value, json};

use super::wait::{POLL_INTERVAL, RolloutWait, SystemClock, Verdict};
use super::{
    FIELD_MANAGER, ObjectKey, Rollout, defined_kinds, in_apply_order, is_workload, label_selector, objects_to_apply,
    place, prune_kinds, prune_set, readiness_of, rollout, wipe_secret_data,
};
use crate::deploy::render::Rendered;
use crate::deploy::spec::{DeploySpec, SecretValues};
use crate::deploy::target::Applied;
use crate::diagnostic::error_chain;
use crate::run::mask::Masker;

/// How long an object of a kind defined by a CustomResourceDefinition of the same render
/// waits for the API server to serve that kind.
const NEW_KIND_WAIT: Duration = Duration::from_secs(30);

/// Where one Kubernetes target is.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// The kubeconfig file; `None`: `KUBECONFIG` or `~/.kube/config`, else in-cluster.
    pub kubeconfig: Option<&'a Path>,
    /// The context; `None`: the kubeconfig's `current-context`.
    pub context: Option<&'a str>,
    /// The environment's namespace.
    pub namespace: &'a str,
    /// How long Deployments and StatefulSets have to roll out.
    pub rollout_timeout: Duration,
}

/// Why a Kubernetes target did not apply. Messages never hold a secret value.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The render cannot be applied as it is (a template sets another namespace, …).
    #[error("{0}")]
    Render(String),
    /// The kubeconfig could not be read or used.
    #[error("{cluster}: {message}")]
    Connect {
        /// Which kubeconfig and context.
        cluster: String,
        /// What went wrong.
        message: String,
    },
    /// The API server refused or failed a request.
    #[error("{cluster}: {action} {object}: {message}")]
    Request {
        /// Which kubeconfig and context.
        cluster: String,
        /// `applying`, `listing`, `deleting`, `reading`.
        action: &'static str,
        /// The object or kind, `Deployment `sluice-dev/hello``.
        object: String,
        /// The API server's message, or the transport's.
        message: String,
    },
    /// A workload's controller gave up (`ProgressDeadlineExceeded`).
    #[error("{cluster}: {object} failed to roll out: {message}")]
    RolloutFailed {
        /// Which kubeconfig and context.
        cluster: String,
        /// The workload.
        object: String,
        /// The controller's message.
        message: String,
    },
    /// A workload did not roll out within the target's `rollout_timeout`.
    #[error("{cluster}: {object} did not roll out within {seconds}s: {awaited}; raise the target's `rollout_timeout` if it needs longer")]
    RolloutTimeout {
        /// Which kubeconfig and context.
        cluster: String,
        /// The workload.
        object: String,
        /// The timeout.
        seconds: u64,
        /// What it still awaited.
        awaited: String,
    },
}

/// Applies the release to one cluster: see the module documentation. Objects of the previous
/// release that the new render still has stay untouched until applied over; nothing is
/// pruned unless every workload rolled out.
///
/// # Errors
///
/// [`KubeError`], naming the cluster and the object.
pub async fn apply(
    settings: &Settings<'_>,
    spec: &DeploySpec,
    rendered: &Rendered,
    secrets: &SecretValues,
) -> Result<Applied, KubeError> {
    let masker = masker(secrets)?;
    let objects = objects_to_apply(spec, rendered, secrets, settings.namespace).map_err(KubeError::Render)?;
    let mut objects = WipeOnDrop(in_apply_order(objects));
    let cluster = Cluster::connect(settings).await?;
    let mut session = Session {
        cluster: &cluster,
        masker: &masker,
        namespace: settings.namespace,
        discovered: HashMap::new(),
    };
    let (applied, workloads) = session.apply_all(&mut objects.0).await?;
    drop(objects);
    session.wait_rolled_out(&workloads, settings.rollout_timeout).await?;
    let pruned = session.prune(&applied, &label_selector(&spec.app, &spec.env)).await?;
    Ok(Applied {
        url: None,
        message: format!(
            "{}: applied {} objects, {} rolled out, {} pruned",
            cluster.name,
            applied.len(),
            workloads.len(),
            pruned.len()
        ),
    })
}

/// Reads the Deployments and StatefulSets of `rendered` in the target's namespace once and
/// judges them with [`readiness_of`]: the periodic health check of an app with `health:
/// {kubernetes: true}`.
///
/// # Errors
///
/// The first workload not ready, or why the cluster could not be read, as a sentence naming
/// the cluster and the object.
pub async fn readiness(settings: &Settings<'_>, rendered: &Rendered) -> Result<(), String> {
    let masker = Masker::new(std::iter::empty::<String>()).map_err(|_| "the masker could not be made".to_string())?;
    let cluster = Cluster::connect(settings).await.map_err(|e| e.to_string())?;
    let mut session = Session {
        cluster: &cluster,
        masker: &masker,
        namespace: settings.namespace,
        discovered: HashMap::new(),
    };
    let mut workloads = Vec::new();
    for object in rendered.objects() {
        let key = ObjectKey {
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            namespace: settings.namespace.to_string(),
            name: object.name.clone(),
        };
        if !is_workload(&key) {
            continue;
        }
        let Some((resource, capabilities)) = session.resource(&key.api_version, &key.kind).await.map_err(|e| e.to_string())? else {
            return Err(format!("{}: the API server does not serve {}", cluster.name, key.describe()));
        };
        workloads.push((session.api(&resource, &capabilities), key));
    }
    let states = session.rollouts(&workloads).await.map_err(|e| e.to_string())?;
    readiness_of(&states).map_err(|why| format!("{}: {why}", cluster.name))
}

/// Masks the secret values and their base64 forms (as the Secret carries them).
fn masker(secrets: &SecretValues) -> Result<Masker, KubeError> {
    use base64::Engine;
    let values = secrets.0.iter().flat_map(|(_, value)| {
        [
            String::from_utf8_lossy(value.expose()).into_owned(),
            base64::engine::general_purpose::STANDARD.encode(value.expose()),
        ]
    });
    Masker::new(values).map_err(|_| KubeError::Render("the secrets could not be prepared for masking".into()))
}

/// The objects to apply; the Secret's values are zeroed when they are dropped, on every path.
struct WipeOnDrop(Vec<Value>);

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(wipe_secret_data);
    }
}

/// A connected cluster.
pub struct Cluster {
    client: Client,
    /// `kubeconfig `/etc/sluice/kubeconfig`, context `prod-eu``: how errors name it.
    pub name: String,
}

impl Cluster {
    /// Connects to the context of the kubeconfig that `settings` names (nothing is sent yet).
    ///
    /// # Errors
    ///
    /// [`KubeError::Connect`] when the kubeconfig cannot be read, has no such context, or its
    /// credentials cannot be loaded. A kubeconfig's parse errors are not quoted: they could
    /// show the credentials it holds.
    pub async fn connect(settings: &Settings<'_>) -> Result<Cluster, KubeError> {
        let options = KubeConfigOptions {
            context: settings.context.map(str::to_string),
            ..KubeConfigOptions::default()
        };
        let (name, config) = match settings.kubeconfig {
            Some(path) => {
                let fail = |name: String, e: KubeconfigError| KubeError::Connect {
                    message: kubeconfig_message(&e),
                    cluster: name,
                };
                let described = format!("kubeconfig `{}`", path.display());
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| fail(described.clone(), e))?;
                let context = settings
                    .context
                    .map(str::to_string)
                    .or_else(|| kubeconfig.current_context.clone())
                    .unwrap_or_default();
                let name = format!("{described}, context `{context}`");
                let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
                if !known.contains(&context.as_str()) {
                    let listed: Vec<String> = known.iter().map(|c| format!("`{c}`")).collect();
                    return Err(KubeError::Connect {
                        cluster: name,
                        message: format!(
                            "the kubeconfig has no such context; set the target's `context` to one of: {}",
                            listed.join(", ")
                        ),
                    });
                }
                let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| fail(name.clone(), e))?;
                (name, config)
            }
            None => default_config(&options, settings.context).await?,
        };
        let client = Client::try_from(config).map_err(|e| KubeError::Connect {
            cluster: name.clone(),
            message: error_chain(&e),
        })?;
        Ok(Cluster { client, name })
    }
}

/// The configuration when the target names no kubeconfig: `KUBECONFIG` or `~/.kube/config`,
/// else (without a context) the in-cluster service account.
async fn default_config(options: &KubeConfigOptions, context: Option<&str>) -> Result<(String, Config), KubeError> {
    let name = match context {
        Some(context) => format!("default kubeconfig, context `{context}`"),
        None => "default kubeconfig".to_string(),
    };
    match Config::from_kubeconfig(options).await {
        Ok(config) => Ok((name, config)),
        Err(KubeconfigError::FindPath | KubeconfigError::ReadConfig(..)) if context.is_none() => {
            let config = Config::incluster().map_err(|e| KubeError::Connect {
                cluster: "in-cluster service account".into(),
                message: format!(
                    "no kubeconfig (`KUBECONFIG`, `~/.kube/config`) and not in a cluster: {}",
                    error_chain(&e)
                ),
            })?;
            Ok(("in-cluster service account".into(), config))
        }
        Err(e) => Err(KubeError::Connect {
            cluster: name,
            message: kubeconfig_message(&e),
        }),
    }
}

/// A kubeconfig error's message, without the parser's quote of the file.
fn kubeconfig_message(error: &KubeconfigError) -> String {
    match error {
        KubeconfigError::Parse(_) => {
            "not a valid kubeconfig (the parser's details are withheld: they could quote credentials); check it with `kubectl config view`".into()
        }
        other => error_chain(other),
    }
}

/// One apply to one cluster: the discovery answers so far, and what masks the secrets.
struct Session<'a> {
    cluster: &'a Cluster,
    masker: &'a Masker,
    namespace: &'a str,
    /// Discovery by `apiVersion`; `None` when the API server does not serve that version.
    discovered: HashMap<String, Option<discovery::ApiGroup>>,
}

/// A workload to wait for: its API and key.
type Workload = (Api<DynamicObject>, ObjectKey);

impl Session<'_> {
    /// Server-side applies every object, in the order given ([`in_apply_order`]). Returns
    /// the keys applied and the workloads to wait for.
    async fn apply_all(&mut self, objects: &mut [Value]) -> Result<(Vec<ObjectKey>, Vec<Workload>), KubeError> {
        let new_kinds = defined_kinds(objects);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let (mut applied, mut workloads) = (Vec::new(), Vec::new());
        for object in objects.iter_mut() {
            let Some(key) = ObjectKey::of(object) else {
                return Err(KubeError::Render("an object lacks `apiVersion`, `kind` or `metadata.name`".into()));
            };
            let is_new_kind = new_kinds.iter().any(|(g, k)| g == key.group() && *k == key.kind);
            let Some((resource, capabilities)) = self.resource_waiting(&key, is_new_kind).await? else {
                let message = format!(
                    "the API server does not serve kind `{}` in `{}`; install its CustomResourceDefinition or fix `apiVersion`",
                    key.kind, key.api_version
                );
                return Err(self.error("applying", key.describe(), message));
            };
            place(object, capabilities.scope == Scope::Namespaced, self.namespace);
            let key = ObjectKey::of(object).unwrap_or(key);
            let api = self.api(&resource, &capabilities);
            api.patch(&key.name, &params, &Patch::Apply(&*object))
                .await
                .map_err(|e| self.api_error("applying", key.describe(), &e))?;
            if is_workload(&key) {
                workloads.push((api, key.clone()));
            }
            applied.push(key);
        }
        Ok((applied, workloads))
    }

    /// Reads each workload once: its description and where its rollout stands.
    async fn rollouts(&self, workloads: &[Workload]) -> Result<Vec<(String, Rollout)>, KubeError> {
        let mut states = Vec::new();
        for (api, key) in workloads {
            let mut live = api
                .get(&key.name)
                .await
                .map_err(|e| self.api_error("reading", key.describe(), &e))?;
            live.types = Some(TypeMeta {
                api_version: key.api_version.clone(),
                kind: key.kind.clone(),
            });
            let live = serde_json::to_value(&live).map_err(|e| self.error("reading", key.describe(), e.to_string()))?;
            states.push((key.describe(), rollout(&live)));
        }
        Ok(states)
    }

    /// Reads the workloads until [`RolloutWait`] says they rolled out, failed or timed out.
    async fn wait_rolled_out(&self, workloads: &[Workload], timeout: Duration) -> Result<(), KubeError> {
        let wait = RolloutWait::start(SystemClock, timeout);
        loop {
            let states = self.rollouts(workloads).await?;
            let cluster = self.cluster.name.clone();
            match wait.judge(&states) {
                Verdict::Done => return Ok(()),
                Verdict::Again => tokio::time::sleep(POLL_INTERVAL).await,
                Verdict::Failed(object, message) => {
                    let message = self.mask(&message);
                    return Err(KubeError::RolloutFailed { cluster, object, message });
                }
                Verdict::TimedOut(object, awaited) => {
                    let seconds = timeout.as_secs();
                    return Err(KubeError::RolloutTimeout { cluster, object, seconds, awaited });
                }
            }
        }
    }

    /// Lists the [`prune_kinds`] by `selector` (metadata only: listing Secrets this way
    /// reads no secret data) and deletes the [`prune_set`]. Kinds the API server does not
    /// serve are skipped. Returns what was deleted.
    async fn prune(&mut self, applied: &[ObjectKey], selector: &str) -> Result<Vec<ObjectKey>, KubeError> {
        let params = ListParams::default().labels(selector);
        let mut live = Vec::new();
        let mut apis = Vec::new();
        for (api_version, kind) in prune_kinds(applied) {
            let Some((resource, capabilities)) = self.resource(&api_version, &kind).await? else {
                continue;
            };
            let api = self.api(&resource, &capabilities);
            let listed = api
                .list_metadata(&params)
                .await
                .map_err(|e| self.api_error("listing", format!("{kind} by `{selector}`"), &e))?;
            for item in listed.items {
                live.push(json!({"apiVersion": api_version, "kind": kind, "metadata": item.metadata}));
            }
            apis.push((api_version, kind, api));
        }
        let prune = prune_set(&live, applied);
        for key in &prune {
            let Some((_, _, api)) = apis.iter().find(|(v, k, _)| *v == key.api_version && *k == key.kind) else {
                continue;
            };
            match api.delete(&key.name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(self.api_error("deleting", key.describe(), &e)),
            }
        }
        Ok(prune)
    }

    /// [`Session::resource`], retried for up to [`NEW_KIND_WAIT`] when a
    /// CustomResourceDefinition just applied defines the kind.
    async fn resource_waiting(
        &mut self,
        key: &ObjectKey,
        is_new_kind: bool,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>, KubeError> {
        let deadline = tokio::time::Instant::now() + NEW_KIND_WAIT;
        loop {
            let found = self.resource(&key.api_version, &key.kind).await?;
            if found.is_some() || !is_new_kind || tokio::time::Instant::now() >= deadline {
                return Ok(found);
            }
            self.discovered.remove(&key.api_version);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The resource and scope of `kind` in `api_version`, by discovery of that group
    /// version (one request per group version and apply); `None` when it is not served.
    async fn resource(
        &mut self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>, KubeError> {
        if !self.discovered.contains_key(api_version) {
            let version: GroupVersion = api_version.parse().map_err(|_| {
                self.error("discovering", format!("`{api_version}`"), "not an `apiVersion`".into())
            })?;
            let group = match discovery::pinned_group(&self.cluster.client, &version).await {
                Ok(group) => Some(group),
                Err(kube::Error::Api(status)) if status.code == 404 => None,
                Err(e) => return Err(self.api_error("discovering", format!("`{api_version}`"), &e)),
            };
            self.discovered.insert(api_version.to_string(), group);
        }
        let version = api_version.rsplit('/').next().unwrap_or(api_version);
        Ok(self.discovered[api_version].as_ref().and_then(|group| {
            group
                .versioned_resources(version)
                .into_iter()
                .find(|(resource, _)| resource.kind == kind)
        }))
    }

    /// The API of a resource, in the environment's namespace when it is namespaced.
    fn api(&self, resource: &ApiResource, capabilities: &ApiCapabilities) -> Api<DynamicObject> {
        let client = self.cluster.client.clone();
        match capabilities.scope {
            Scope::Namespaced => Api::namespaced_with(client, self.namespace, resource),
            Scope::Cluster => Api::all_with(client, resource),
        }
    }

    /// A failed request: the API server's message and reason, or the transport's error.
    fn api_error(&self, action: &'static str, object: String, error: &kube::Error) -> KubeError {
        let message = match error {
            kube::Error::Api(status) if !status.message.is_empty() => {
                format!("{} ({} {})", status.message, status.code, status.reason)
            }
            other => error_chain(other),
        };
        self.error(action, object, message)
    }

    fn error(&self, action: &'static str, object: String, message: String) -> KubeError {
        KubeError::Request {
            cluster: self.cluster.name.clone(),
            action,
            object,
            message: self.mask(&message),
        }
    }

    fn mask(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.masker.mask(text.as_bytes())).into_owned()
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod wire_tests;
