//! Checks across the files of a config repo: the promotion order of environments, pins of
//! environments that exist, and names in `gates` and `access.yaml` that point somewhere.

use std::collections::BTreeMap;

use super::access::Access;
use super::app::App;
use super::environment::Environment;
use super::names::AppName;
use super::pin::Pin;
use super::hint_among;
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// Orders environments so each follows the one it is promoted from; reports a
/// `promote_from` naming no environment, and cycles.
pub(super) fn order_environments(mut pending: Vec<Environment>, diags: &mut Diagnostics) -> Vec<Environment> {
    let names: Vec<String> = pending.iter().map(|e| e.name.as_str().to_owned()).collect();
    for env in &pending {
        if let Some(from) = &env.promote_from
            && !names.iter().any(|n| n == from.as_str())
        {
            let message = format!("`{from}` is not an environment");
            let hint = hint_among(from.as_str(), "environments", names.iter().map(String::as_str));
            let at = env.spans.promote_from.clone().unwrap_or_else(|| env.spans.file.clone());
            diags.push(Diagnostic::error(Some(at), "promote_from", message).with_hint(hint));
        }
    }
    pending.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ordered: Vec<Environment> = Vec::new();
    loop {
        let ready = pending.iter().position(|env| match &env.promote_from {
            None => true,
            Some(from) => ordered.iter().any(|e| &e.name == from) || !names.iter().any(|n| n == from.as_str()),
        });
        match ready {
            Some(i) => ordered.push(pending.remove(i)),
            None => break,
        }
    }
    for env in &pending {
        let message = "environments promote from each other in a cycle";
        let cycle: Vec<&str> = pending.iter().map(|e| e.name.as_str()).collect();
        let hint = format!("one of {} must be first (no `promote_from`)", cycle.join(", "));
        let at = env.spans.promote_from.clone().unwrap_or_else(|| env.spans.file.clone());
        diags.push(Diagnostic::error(Some(at), "promote_from", message).with_hint(hint));
    }
    ordered.extend(pending);
    ordered
}

/// Adds the pin of `app` in `env`, read at `location`; reports a pin of an environment or
/// app that does not exist.
pub(super) fn attach_pin(
    apps: &mut BTreeMap<AppName, App>,
    environments: &[Environment],
    app: AppName,
    env: String,
    location: Location,
    pin: Pin,
    diags: &mut Diagnostics,
) {
    if !environments.iter().any(|e| e.name.as_str() == env) {
        let message = format!("`{env}.yaml` pins an environment that does not exist");
        let hint = hint_among(&env, "environments", environments.iter().map(|e| e.name.as_str()));
        diags.push(Diagnostic::error(Some(location), "", message).with_hint(hint));
        return;
    }
    match apps.get_mut(&app) {
        Some(found) => {
            found.pins.insert(env, pin);
        }
        // A missing or invalid app.yaml is reported on its own.
        None => {
            let message = format!("pins app `{app}`, which has no `apps/{app}/app.yaml`");
            diags.push(Diagnostic::error(Some(location), "", message));
        }
    }
}

/// Reports approval groups and permission environments that do not exist.
pub(super) fn check_references(environments: &[Environment], access: &Access, diags: &mut Diagnostics) {
    let env_names = || environments.iter().map(|e| e.name.as_str());
    for env in environments {
        let Some(approval) = &env.gates.approval else { continue };
        for (i, group) in approval.groups.iter().enumerate() {
            if !access.groups.contains_key(group) {
                let message = format!("`{group}` is not a group of `access.yaml`");
                let hint = hint_among(group, "groups", access.groups.keys().map(String::as_str));
                let at = env.spans.approval_groups.get(i).unwrap_or(&env.spans.file).clone();
                let path = format!("gates.approval.groups[{i}]");
                diags.push(Diagnostic::error(Some(at), path, message).with_hint(hint));
            }
        }
    }
    for (i, permission) in access.permissions.iter().enumerate() {
        for (j, env) in permission.environments.iter().enumerate() {
            if !env_names().any(|e| e == env) {
                let message = format!("`{env}` is not an environment");
                let hint = hint_among(env, "environments", env_names());
                let location = permission.environment_spans.get(j).cloned();
                let path = format!("permissions[{i}].environments[{j}]");
                diags.push(Diagnostic::error(location, path, message).with_hint(hint));
            }
        }
    }
}
