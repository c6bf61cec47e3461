//! `apps/<app>/app.yaml`: which code repo and image an app comes from, how it is rendered,
//! its shared values, how the `process` target runs it and how its health is checked.

use std::collections::BTreeMap;
use std::time::Duration;

use super::RepoFiles;
use super::environment::{duration, strings};
use super::names::AppName;
use super::pin::Pin;
use crate::ci::node::Node;
use crate::config::fields::{Fields, error_at};
use crate::diagnostic::Diagnostics;

/// One app, validated, with its pins.
#[derive(Debug, Clone)]
pub struct App {
    /// The directory name.
    pub name: AppName,
    /// `project`: the code repo, a project of the daemon's `sluice.yaml` (default: the app's name).
    pub project: String,
    /// `image`: the repository releases are pushed to (without tag).
    pub image: String,
    /// `render`.
    pub render: Render,
    /// `values`: shared by every environment (a JSON object).
    pub values: serde_json::Value,
    /// `run`: for the `process` target.
    pub run: RunOverrides,
    /// `health` (`None`: healthy once applied).
    pub health: Option<Health>,
    /// `health.period` and `health.failure_threshold`: how the running release is checked
    /// after it was deployed.
    pub watch: HealthWatch,
    /// The pins, by environment name: `apps/<app>/<env>.yaml`.
    pub pins: BTreeMap<String, Pin>,
}

/// `render:`: what is rendered for a target, relative to `apps/<app>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Render {
    /// `manifests`: a directory of handlebars templates.
    Manifests(String),
    /// `chart`: a Helm chart directory.
    Chart(String),
}

/// `run:` overrides of the image's entrypoint for the `process` target.
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    /// `command` (argv; empty: the image's).
    pub command: Vec<String>,
    /// `env`.
    pub env: BTreeMap<String, String>,
}

/// `health:`: how a deployed release is judged healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `http`: GET `path` answers `expect_status`.
    Http {
        /// `path`.
        path: String,
        /// `expect_status` (default 200).
        expect_status: u16,
        /// `timeout` per request (default 5s).
        timeout: Duration,
        /// `interval` between checks (default 1s).
        interval: Duration,
    },
    /// `command`: argv that exits 0 when healthy.
    Command(Vec<String>),
    /// `kubernetes: true`: readiness of the Deployments and StatefulSets.
    Kubernetes,
}

/// How often a deployed release is checked again, and how many failed checks in a row make it
/// unhealthy (Kubernetes' `periodSeconds` and `failureThreshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthWatch {
    /// `period` (default 10s, at least 1s).
    pub period: Duration,
    /// `failure_threshold` (default 3; a process that exits is unhealthy at once).
    pub failure_threshold: u32,
}

impl Default for HealthWatch {
    fn default() -> Self {
        HealthWatch {
            period: Duration::from_secs(10),
            failure_threshold: 3,
        }
    }
}

const KEYS: &[&str] = &["project", "image", "render", "values", "run", "health"];

/// Reads `apps/<name>/app.yaml`.
pub(super) fn read_app(root: &Node, name: String, files: &RepoFiles, diags: &mut Diagnostics) -> Option<App> {
    let fields = Fields::open(root, "", KEYS, diags)?;
    let project = fields.string("project", diags).map_or_else(|| name.clone(), |(_, p)| p.to_owned());
    let image = fields.required("image", diags).and_then(|_| fields.string("image", diags)).map(|(node, image)| {
        if image.contains('@') || image.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            let message = format!("`{image}` has a tag or digest; name the repository only");
            diags.push(error_at(node, "image", message).with_hint("the pin of each environment names the version"));
        }
        image.to_owned()
    });
    let render = match fields.get("render") {
        Some(node) => read_render(node, &name, files, diags),
        None => Some(Render::Manifests("manifests/".into())),
    };
    let values = match fields.get("values") {
        Some(node) if node.as_map().is_none() => {
            diags.push(error_at(node, "values", format!("must be a mapping, not {}", node.type_name())));
            None
        }
        Some(node) => Some(node.to_json()),
        None => Some(serde_json::json!({})),
    };
    let run = fields.get("run").and_then(|node| read_run(node, diags)).unwrap_or_default();
    let (health, watch) = match fields.get("health") {
        Some(node) => (read_health(node, diags), read_watch(node, diags).unwrap_or_default()),
        None => (None, HealthWatch::default()),
    };
    // Returned even with errors, so its pins are not also reported as orphans; the repo as a
    // whole is refused when any error was found.
    Some(App {
        name: AppName(name),
        project,
        image: image.unwrap_or_default(),
        render: render.unwrap_or(Render::Manifests(String::new())),
        values: values.unwrap_or_default(),
        run,
        health,
        watch,
        pins: BTreeMap::new(),
    })
}

fn read_render(node: &Node, app: &str, files: &RepoFiles, diags: &mut Diagnostics) -> Option<Render> {
    let fields = Fields::open(node, "render", &["manifests", "chart"], diags)?;
    let (key, render) = match (fields.string("manifests", diags), fields.string("chart", diags)) {
        (Some(_), Some((node, _))) => {
            diags.push(error_at(node, "render.chart", "`manifests` and `chart` exclude each other; keep one"));
            return None;
        }
        (Some((_, dir)), None) => ("manifests", Render::Manifests(dir.to_owned())),
        (None, Some((_, dir))) => ("chart", Render::Chart(dir.to_owned())),
        (None, None) => {
            diags.push(error_at(node, "render", "needs `manifests: DIR` or `chart: DIR`"));
            return None;
        }
    };
    let (Render::Manifests(dir) | Render::Chart(dir)) = &render;
    let prefix = format!("apps/{app}/{}/", dir.trim_end_matches('/'));
    if dir.starts_with('/') || dir.split('/').any(|part| part == "..") || !files.keys().any(|f| f.starts_with(&prefix)) {
        let message = format!("`{dir}` is not a directory of `apps/{app}/` holding files");
        diags.push(error_at(fields.get(key)?, &format!("render.{key}"), message));
        return None;
    }
    Some(render)
}

fn read_run(node: &Node, diags: &mut Diagnostics) -> Option<RunOverrides> {
    let fields = Fields::open(node, "run", &["command", "env"], diags)?;
    let command = fields.get("command").map(|node| strings(node, "run.command", diags)).unwrap_or_default();
    let mut env = BTreeMap::new();
    if let Some(node) = fields.get("env") {
        let Some(map) = node.as_map() else {
            diags.push(error_at(node, "run.env", format!("must be a mapping, not {}", node.type_name())));
            return None;
        };
        for (key, value) in map.iter() {
            match value.scalar_to_string() {
                Some(text) => {
                    env.insert(key.name.clone(), text);
                }
                None => diags.push(error_at(value, &format!("run.env.{}", key.name), "must be a string")),
            }
        }
    }
    Some(RunOverrides { command, env })
}

const HEALTH_KEYS: &[&str] = &["http", "command", "kubernetes", "period", "failure_threshold"];

fn read_health(node: &Node, diags: &mut Diagnostics) -> Option<Health> {
    let fields = Fields::open(node, "health", HEALTH_KEYS, diags)?;
    let present: Vec<&str> = ["http", "command", "kubernetes"].into_iter().filter(|k| fields.get(k).is_some()).collect();
    if present.len() != 1 {
        diags.push(error_at(node, "health", "needs exactly one of `http`, `command` and `kubernetes`"));
        return None;
    }
    if let Some(node) = fields.get("command") {
        let argv = strings(node, "health.command", diags);
        return (!argv.is_empty()).then_some(Health::Command(argv));
    }
    if let Some(node) = fields.get("kubernetes") {
        if node.as_bool() != Some(true) {
            diags.push(error_at(node, "health.kubernetes", "must be `true` (or leave it out)"));
        }
        return Some(Health::Kubernetes);
    }
    let node = fields.get("http")?;
    let http = Fields::open(node, "health.http", &["path", "expect_status", "timeout", "interval"], diags)?;
    let path = http.string("path", diags).map_or("/", |(_, p)| p).to_owned();
    if !path.starts_with('/') {
        diags.push(error_at(node, "health.http.path", format!("`{path}` must start with `/`")));
    }
    let expect_status = match http.get("expect_status") {
        Some(node) => node.as_int().and_then(|s| u16::try_from(s).ok()).filter(|s| (100..600).contains(s)).or_else(|| {
            diags.push(error_at(node, "health.http.expect_status", "must be an HTTP status from 100 to 599"));
            None
        })?,
        None => 200,
    };
    let mut time = |key: &str, default: u64| match http.string(key, diags) {
        Some((node, text)) => duration(node, &format!("health.http.{key}"), text, diags),
        None => Some(Duration::from_secs(default)),
    };
    let (timeout, interval) = (time("timeout", 5)?, time("interval", 1)?);
    Some(Health::Http { path, expect_status, timeout, interval })
}

/// `health.period` and `health.failure_threshold` (unknown keys are reported by [`read_health`]).
fn read_watch(node: &Node, diags: &mut Diagnostics) -> Option<HealthWatch> {
    let fields = Fields::open(node, "health", HEALTH_KEYS, &mut Diagnostics::new())?;
    let mut watch = HealthWatch::default();
    let mut valid = true;
    if let Some((node, text)) = fields.string("period", diags) {
        match duration(node, "health.period", text, diags) {
            Some(period) if !period.is_zero() => watch.period = period,
            Some(_) => {
                diags.push(error_at(node, "health.period", "must be at least `1s`"));
                valid = false;
            }
            None => valid = false,
        }
    }
    if let Some(node) = fields.get("failure_threshold") {
        match node.as_int().and_then(|n| u32::try_from(n).ok()).filter(|n| (1..=100).contains(n)) {
            Some(threshold) => watch.failure_threshold = threshold,
            None => {
                diags.push(error_at(node, "health.failure_threshold", "must be a whole number from 1 to 100"));
                valid = false;
            }
        }
    }
    valid.then_some(watch)
}
