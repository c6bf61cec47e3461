//! `environments/<env>.yaml`: where an environment's releases come from, the gates in front
//! of it, its dated freezes, its deploy targets, rollout and secret recipients.

use std::num::NonZeroUsize;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::names::EnvName;
use super::window::{Window, WindowRule};
use crate::ci::node::Node;
use crate::config::fields::{Fields, error_at, item, positive_integer, sequence, string};
use crate::config::parse_duration;
use crate::diagnostic::{Diagnostics, Location};

/// One environment, validated.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The file name.
    pub name: EnvName,
    /// `promote_from`: the environment releases come from (`None`: the first one).
    pub promote_from: Option<EnvName>,
    /// `promotion`: whether Sluice promotes by itself once every gate is open.
    pub promotion: Promotion,
    /// `gates`.
    pub gates: Gates,
    /// `freezes`: dated periods without promotions.
    pub freezes: Vec<Freeze>,
    /// `targets`: where the environment's apps are deployed.
    pub targets: Vec<Target>,
    /// `rollout`.
    pub rollout: Rollout,
    /// `secrets`: the recipients the environment's secrets are encrypted to.
    pub secrets: Recipients,
    /// Where names that other files must define are written, for the checks across files.
    pub(super) spans: EnvSpans,
}

/// Locations of an environment file's cross-file references.
#[derive(Debug, Clone)]
pub(super) struct EnvSpans {
    /// The file's root.
    pub(super) file: Location,
    /// `promote_from`'s value.
    pub(super) promote_from: Option<Location>,
    /// Each `gates.approval.groups` item.
    pub(super) approval_groups: Vec<Location>,
}

/// `promotion:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Promotion {
    /// Sluice commits the promotion as soon as every gate is open.
    Auto,
    /// An authorised user runs `sluice promote` once every gate is open.
    Manual,
}

/// `gates:`. Every gate present must be open for a promotion.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    /// `from`: the release is deployed and healthy in `promote_from`.
    pub from: bool,
    /// `soak`: healthy in `promote_from` for at least this long.
    pub soak: Option<Duration>,
    /// `pipelines`: pipeline (schedule) or job names that passed for the release's commit.
    pub pipelines: Vec<String>,
    /// `window`.
    pub window: Option<Window>,
    /// `approval`.
    pub approval: Option<ApprovalPolicy>,
}

/// `gates.approval`.
#[derive(Debug, Clone)]
pub struct ApprovalPolicy {
    /// Distinct approvers needed.
    pub quorum: NonZeroUsize,
    /// Approvers must belong to one of these groups (empty: anyone allowed to approve).
    pub groups: Vec<String>,
    /// The author of the release's commit may not approve it.
    pub exclude_author: bool,
    /// Approvals older than this no longer count.
    pub expires: Option<Duration>,
}

/// One dated freeze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    /// Start (`None`: since it was written).
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive.
    pub until: DateTime<Utc>,
    /// Why.
    pub reason: Option<String>,
    /// Who wrote it.
    pub by: Option<String>,
}

impl Freeze {
    /// Whether the freeze is in force at `now`.
    pub fn covers(&self, now: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| from <= now) && now < self.until
    }
}

/// One deploy target.
#[derive(Debug, Clone)]
pub struct Target {
    /// `name`.
    pub name: String,
    /// `type` and its settings.
    pub kind: TargetKind,
}

/// `type:` of a target, with its own keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// Runs the app as a local process; its port is `base_port`.
    Process {
        /// `base_port`.
        base_port: u16,
    },
    /// Runs `run` (argv) in a private directory holding the render and the secrets.
    Command {
        /// `run`.
        run: Vec<String>,
    },
    /// Commits the render to a branch of another repository.
    Gitops {
        /// `repo`.
        repo: String,
        /// `branch`.
        branch: String,
        /// `path` (default `""`, the root).
        path: String,
    },
    /// Server-side applies the render.
    Kubernetes(KubeSettings),
    /// Installs the chart with helm.
    Helm(KubeSettings),
}

/// Where a `kubernetes` or `helm` target is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    /// `kubeconfig` (default: the usual lookup).
    pub kubeconfig: Option<String>,
    /// `context`.
    pub context: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `rollout_timeout`: how long Deployments and StatefulSets have to roll out.
    pub rollout_timeout: Option<Duration>,
}

/// `rollout:`.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// Percent of the environment's targets per step, rising, ending at 100.
    pub steps: Vec<u8>,
    /// Wait between steps.
    pub pause: Duration,
    /// Roll back by itself when a step is unhealthy.
    pub auto_rollback: bool,
}

impl Default for Rollout {
    fn default() -> Self {
        Self { steps: vec![100], pause: Duration::ZERO, auto_rollback: true }
    }
}

/// `secrets:`: recipients (public keys only).
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    /// age recipients (`age1…`).
    pub age: Vec<String>,
    /// OpenPGP fingerprints.
    pub pgp: Vec<String>,
}

const KEYS: &[&str] = &["promote_from", "promotion", "gates", "freezes", "targets", "rollout", "secrets"];
const GATE_KEYS: &[&str] = &["from", "soak", "pipelines", "window", "approval"];

/// Reads an environment file's root.
pub(super) fn read_environment(root: &Node, name: EnvName, diags: &mut Diagnostics) -> Option<Environment> {
    let fields = Fields::open(root, "", KEYS, diags)?;
    let promote_from = fields.string("promote_from", diags).and_then(|(node, text)| {
        EnvName::parse(text).map_err(|problem| diags.push(error_at(node, "promote_from", problem))).ok()
    });
    let promotion = match fields.string("promotion", diags) {
        Some((_, "auto")) => Promotion::Auto,
        Some((_, "manual")) => Promotion::Manual,
        Some((node, other)) => {
            diags.push(error_at(node, "promotion", format!("`{other}` is not `auto` or `manual`")));
            Promotion::Manual
        }
        None if fields.get("promote_from").is_none() => Promotion::Auto,
        None => Promotion::Manual,
    };
    let from_default = fields.get("promote_from").is_some();
    let gates = fields.get("gates").map_or_else(
        || Gates { from: from_default, ..Gates::default() },
        |node| read_gates(node, from_default, diags),
    );
    if let (None, Some(node)) = (&promote_from, fields.get("gates"))
        && (gates.from || gates.soak.is_some())
    {
        let message = "`from` and `soak` need `promote_from`: this environment has no previous one";
        diags.push(error_at(node, "gates", message).with_hint("add `promote_from: <env>` or remove the gate"));
    }
    let freezes = fields.get("freezes").map(|node| read_freezes(node, diags)).unwrap_or_default();
    let targets = fields.get("targets").map(|node| read_targets(node, diags)).unwrap_or_default();
    let rollout = fields.get("rollout").and_then(|node| read_rollout(node, diags)).unwrap_or_default();
    let secrets = fields.get("secrets").and_then(|node| read_recipients(node, diags)).unwrap_or_default();
    let group_nodes = fields
        .get("gates")
        .and_then(|g| g.as_map()?.get("approval")?.as_map()?.get("groups")?.as_seq().map(<[Node]>::to_vec));
    let spans = EnvSpans {
        file: root.location.clone(),
        promote_from: fields.get("promote_from").map(|n| n.location.clone()),
        approval_groups: group_nodes.unwrap_or_default().into_iter().map(|n| n.location).collect(),
    };
    // Returned even with errors, so the checks across files see every environment; the
    // repo as a whole is refused when any error was found.
    Some(Environment {
        name,
        spans,
        promote_from,
        promotion,
        gates,
        freezes,
        targets,
        rollout,
        secrets,
    })
}

fn read_gates(node: &Node, from_default: bool, diags: &mut Diagnostics) -> Gates {
    let Some(fields) = Fields::open(node, "gates", GATE_KEYS, diags) else {
        return Gates::default();
    };
    let from = match fields.get("from") {
        Some(node) => node.as_bool().unwrap_or_else(|| {
            diags.push(error_at(node, "gates.from", format!("must be `true` or `false`, not {}", node.type_name())));
            false
        }),
        None => from_default,
    };
    let soak = fields.string("soak", diags).and_then(|(node, text)| duration(node, "gates.soak", text, diags));
    let pipelines = fields.get("pipelines").map(|node| strings(node, "gates.pipelines", diags)).unwrap_or_default();
    let window = fields.get("window").and_then(|node| read_window(node, diags));
    let approval = fields.get("approval").and_then(|node| read_approval(node, diags));
    Gates { from, soak, pipelines, window, approval }
}

fn read_window(node: &Node, diags: &mut Diagnostics) -> Option<Window> {
    let fields = Fields::open(node, "gates.window", &["timezone", "allow", "deny"], diags)?;
    let timezone = match fields.string("timezone", diags) {
        Some((node, name)) => {
            crate::config::schedule::read_timezone(node, "gates.window.timezone", name, diags).unwrap_or(chrono_tz::Tz::UTC)
        }
        None => chrono_tz::Tz::UTC,
    };
    let mut rules = |key: &str| -> Vec<WindowRule> {
        let path = fields.path_of(key);
        let Some(items) = fields.get(key).and_then(|node| sequence(node, &path, diags)) else {
            return Vec::new();
        };
        let mut rules = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let path = item(&path, i);
            let Some(text) = string(entry, &path, diags) else { continue };
            match WindowRule::parse(text) {
                Ok(rule) => rules.push(rule),
                Err(problem) => diags.push(
                    error_at(entry, &path, problem)
                        .with_hint("write `Mon-Fri 09:00-17:00`, `Fri 16:00-24:00` or `cron: * 9-16 * * 1-5`"),
                ),
            }
        }
        rules
    };
    let allow = rules("allow");
    let deny = rules("deny");
    Some(Window { timezone, allow, deny })
}

fn read_approval(node: &Node, diags: &mut Diagnostics) -> Option<ApprovalPolicy> {
    let keys = &["quorum", "groups", "exclude_author", "expires"];
    let fields = Fields::open(node, "gates.approval", keys, diags)?;
    let quorum = match fields.get("quorum") {
        Some(node) => positive_integer(node, "gates.approval.quorum", diags)?,
        None => NonZeroUsize::MIN,
    };
    let groups = fields.get("groups").map(|node| strings(node, "gates.approval.groups", diags)).unwrap_or_default();
    let exclude_author = match fields.get("exclude_author") {
        Some(node) => node.as_bool().or_else(|| {
            let message = format!("must be `true` or `false`, not {}", node.type_name());
            diags.push(error_at(node, "gates.approval.exclude_author", message));
            None
        })?,
        None => false,
    };
    let expires = fields
        .string("expires", diags)
        .and_then(|(node, text)| duration(node, "gates.approval.expires", text, diags));
    Some(ApprovalPolicy { quorum, groups, exclude_author, expires })
}

fn read_freezes(node: &Node, diags: &mut Diagnostics) -> Vec<Freeze> {
    let Some(items) = sequence(node, "freezes", diags) else { return Vec::new() };
    let mut freezes = Vec::new();
    for (i, entry) in items.iter().enumerate() {
        let path = item("freezes", i);
        let Some(fields) = Fields::open(entry, &path, &["from", "until", "reason", "by"], diags) else { continue };
        let time = |key: &str, diags: &mut Diagnostics| {
            let (node, text) = fields.string(key, diags)?;
            DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                let message = format!("`{text}` is not an RFC 3339 time");
                diags.push(error_at(node, &fields.path_of(key), message).with_hint("write `2026-12-27T00:00:00Z`"));
            }).ok()
        };
        if fields.required("until", diags).is_none() {
            continue;
        }
        let (from, until) = (time("from", diags), time("until", diags));
        let reason = fields.string("reason", diags).map(|(_, text)| text.to_owned());
        let by = fields.string("by", diags).map(|(_, text)| text.to_owned());
        if let (Some(from), Some(until)) = (from, until)
            && from >= until
        {
            diags.push(error_at(entry, &path, "`from` is not before `until`"));
        }
        if let Some(until) = until {
            freezes.push(Freeze { from, until, reason, by });
        }
    }
    freezes
}

fn read_targets(node: &Node, diags: &mut Diagnostics) -> Vec<Target> {
    let Some(items) = sequence(node, "targets", diags) else { return Vec::new() };
    let mut targets: Vec<Target> = Vec::new();
    for (i, entry) in items.iter().enumerate() {
        let path = item("targets", i);
        let keys = &["name", "type", "base_port", "run", "repo", "branch", "path", "kubeconfig", "context", "namespace", "rollout_timeout"];
        let Some(fields) = Fields::open(entry, &path, keys, diags) else { continue };
        let name = fields.required("name", diags).and_then(|_| fields.string("name", diags));
        if let Some((node, name)) = name
            && targets.iter().any(|t| t.name == name)
        {
            diags.push(error_at(node, &fields.path_of("name"), format!("`{name}` names two targets")));
        }
        let kind = fields.required("type", diags).and_then(|_| fields.string("type", diags));
        let Some(((_, name), (type_node, kind))) = name.zip(kind) else { continue };
        let allowed: &[&str] = match kind {
            "process" => &["base_port"],
            "command" => &["run"],
            "gitops" => &["repo", "branch", "path"],
            "kubernetes" | "helm" => &["kubeconfig", "context", "namespace", "rollout_timeout"],
            other => {
                let message = format!("`{other}` is not a target type");
                let hint = "use `process`, `command`, `gitops`, `kubernetes` or `helm`";
                diags.push(error_at(type_node, &fields.path_of("type"), message).with_hint(hint));
                continue;
            }
        };
        for key in &keys[2..] {
            if !allowed.contains(key) && let Some(node) = fields.get(key) {
                let message = format!("`{key}` is not a setting of a `{kind}` target");
                let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
                diags.push(error_at(node, &fields.path_of(key), message).with_hint(format!("its settings: {}", list.join(", "))));
            }
        }
        let text = |key: &str, diags: &mut Diagnostics| fields.string(key, diags).map(|(_, t)| t.to_owned());
        let kind = match kind {
            "process" => {
                let Some(node) = fields.required("base_port", diags) else { continue };
                let Some(port) = node.as_int().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) else {
                    diags.push(error_at(node, &fields.path_of("base_port"), "must be a port number from 1 to 65535"));
                    continue;
                };
                TargetKind::Process { base_port: port }
            }
            "command" => {
                let Some(node) = fields.required("run", diags) else { continue };
                let run = strings(node, &fields.path_of("run"), diags);
                if run.is_empty() {
                    diags.push(error_at(node, &fields.path_of("run"), "must name a program: `[\"./deploy.sh\"]`"));
                    continue;
                }
                TargetKind::Command { run }
            }
            "gitops" => {
                let (repo, branch) = (fields.required("repo", diags), fields.required("branch", diags));
                if repo.is_none() || branch.is_none() {
                    continue;
                }
                let (Some(repo), Some(branch)) = (text("repo", diags), text("branch", diags)) else { continue };
                TargetKind::Gitops { repo, branch, path: text("path", diags).unwrap_or_default() }
            }
            other => {
                let settings = KubeSettings {
                    kubeconfig: text("kubeconfig", diags),
                    context: text("context", diags),
                    namespace: text("namespace", diags),
                    rollout_timeout: fields.string("rollout_timeout", diags).and_then(|(node, text)| {
                        duration(node, &fields.path_of("rollout_timeout"), text, diags)
                    }),
                };
                if other == "helm" { TargetKind::Helm(settings) } else { TargetKind::Kubernetes(settings) }
            }
        };
        targets.push(Target { name: name.to_owned(), kind });
    }
    targets
}

fn read_rollout(node: &Node, diags: &mut Diagnostics) -> Option<Rollout> {
    let fields = Fields::open(node, "rollout", &["steps", "pause", "auto_rollback"], diags)?;
    let mut rollout = Rollout::default();
    if let Some(node) = fields.get("steps") {
        let items = sequence(node, "rollout.steps", diags)?;
        let steps: Vec<u8> = items.iter().filter_map(|n| n.as_int().and_then(|v| u8::try_from(v).ok())).collect();
        let rising = steps.windows(2).all(|w| w[0] < w[1]);
        if steps.len() != items.len() || !rising || steps.last() != Some(&100) || steps.first() == Some(&0) {
            let message = "must be rising percentages from 1 to 100 ending at 100";
            diags.push(error_at(node, "rollout.steps", message).with_hint("write `[10, 50, 100]`"));
            return None;
        }
        rollout.steps = steps;
    }
    if let Some((node, text)) = fields.string("pause", diags) {
        rollout.pause = duration(node, "rollout.pause", text, diags)?;
    }
    if let Some(node) = fields.get("auto_rollback") {
        rollout.auto_rollback = node.as_bool().or_else(|| {
            diags.push(error_at(node, "rollout.auto_rollback", "must be `true` or `false`"));
            None
        })?;
    }
    Some(rollout)
}

fn read_recipients(node: &Node, diags: &mut Diagnostics) -> Option<Recipients> {
    let fields = Fields::open(node, "secrets", &["age", "pgp"], diags)?;
    let age = fields.get("age").map(|node| strings(node, "secrets.age", diags)).unwrap_or_default();
    let pgp = fields.get("pgp").map(|node| strings(node, "secrets.pgp", diags)).unwrap_or_default();
    for (i, recipient) in age.iter().enumerate() {
        if recipient.starts_with("AGE-SECRET-KEY-") {
            let node = fields.get("age").and_then(Node::as_seq).and_then(|s| s.get(i));
            if let Some(node) = node {
                let message = "is an age SECRET key; never commit one";
                let hint = "write its recipient (`age-keygen -y key.txt`), and treat the key as leaked";
                diags.push(error_at(node, &item("secrets.age", i), message).with_hint(hint));
            }
        } else if !recipient.starts_with("age1") {
            let node = fields.get("age").and_then(Node::as_seq).and_then(|s| s.get(i));
            if let Some(node) = node {
                diags.push(error_at(node, &item("secrets.age", i), "is not an age recipient (`age1…`)"));
            }
        }
    }
    Some(Recipients { age, pgp })
}

/// A list of strings; reports other types.
pub(super) fn strings(node: &Node, path: &str, diags: &mut Diagnostics) -> Vec<String> {
    let Some(items) = sequence(node, path, diags) else { return Vec::new() };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| string(entry, &item(path, i), diags).map(str::to_owned))
        .collect()
}

/// A duration such as `30m`; reports a bad one.
pub(super) fn duration(node: &Node, path: &str, text: &str, diags: &mut Diagnostics) -> Option<Duration> {
    parse_duration(text)
        .map_err(|problem| {
            let message = format!("`{text}` {problem}");
            diags.push(error_at(node, path, message).with_hint("write a duration such as `30s`, `10m`, `2h` or `1d`"));
        })
        .ok()
}

/// The environment file's text with one more freeze, written where `sluice freeze` writes
/// it: the first item of `freezes:` (which is added when missing). Comments and every other
/// line stay as they are.
///
/// # Errors
/// When `freezes:` is written in a form this edit does not handle (a flow list with items).
pub fn add_freeze(text: &str, freeze: &Freeze) -> Result<String, String> {
    let mut fields = vec![format!("until: \"{}\"", freeze.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))];
    if let Some(from) = freeze.from {
        fields.push(format!("from: \"{}\"", from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    }
    if let Some(reason) = &freeze.reason {
        fields.push(format!("reason: {}", serde_json::Value::String(reason.clone())));
    }
    if let Some(by) = &freeze.by {
        fields.push(format!("by: {}", serde_json::Value::String(by.clone())));
    }
    let entry = format!("- {{{}}}", fields.join(", "));
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let Some(at) = lines.iter().position(|line| line.starts_with("freezes:")) else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("freezes:\n  {entry}\n"));
        return Ok(out);
    };
    let rest = lines[at]["freezes:".len()..].split('#').next().unwrap_or("").trim().to_owned();
    let indent = lines
        .get(at + 1)
        .filter(|next| next.trim_start().starts_with("- "))
        .map_or("  ".to_owned(), |next| next[..next.len() - next.trim_start().len()].to_owned());
    match rest.as_str() {
        "" => lines.insert(at + 1, format!("{indent}{entry}")),
        "[]" => {
            lines[at] = "freezes:".into();
            lines.insert(at + 1, format!("  {entry}"));
        }
        _ => return Err("`freezes:` is a flow list; write it as a block list (`- until: …` lines) first".into()),
    }
    Ok(lines.join("\n") + "\n")
}
