//! `access.yaml`: identities (bound to API token *names* and chat user ids, never to token
//! values), groups of identities, and which groups may do which actions in which
//! environments.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::environment::strings;
use crate::ci::node::Node;
use crate::config::fields::{Fields, error_at, item, sequence};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// The access rules, validated.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `identities`, by name.
    pub identities: BTreeMap<String, Identity>,
    /// `groups`: member identities, by group name.
    pub groups: BTreeMap<String, Vec<String>>,
    /// `permissions`, in file order.
    pub permissions: Vec<Permission>,
}

/// One identity.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Names of the API tokens that act as this identity.
    pub tokens: Vec<String>,
    /// Chat user ids.
    pub chat: Vec<String>,
    /// Email addresses of their git commits (for `exclude_author`).
    pub emails: Vec<String>,
}

/// One `permissions:` entry: members of `groups` may do `actions` in `environments`.
#[derive(Debug, Clone)]
pub struct Permission {
    /// Groups granted.
    pub groups: Vec<String>,
    /// Actions granted.
    pub actions: Vec<Action>,
    /// Environments concerned.
    pub environments: Vec<String>,
    /// Where each environment is written.
    pub(super) environment_spans: Vec<Location>,
}

/// What a permission grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Approve a release for an environment.
    Approve,
    /// Reject a release for an environment.
    Reject,
    /// Promote a release whose gates are open.
    Promote,
    /// Roll an environment back.
    Rollback,
    /// Freeze an environment.
    Freeze,
    /// Promote through a closed `window` gate or a freeze (recorded as an override).
    Override,
}

impl Action {
    /// Every action, in order.
    pub const ALL: [Action; 6] =
        [Action::Approve, Action::Reject, Action::Promote, Action::Rollback, Action::Freeze, Action::Override];

    /// The word in `access.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::Freeze => "freeze",
            Action::Override => "override",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or(())
    }
}

impl Access {
    /// The identity an API token named `token_name` acts as.
    pub fn identity_of_token(&self, token_name: &str) -> Option<&str> {
        self.identities.iter().find(|(_, id)| id.tokens.iter().any(|t| t == token_name)).map(|(name, _)| name.as_str())
    }

    /// The identity whose commits carry `email` (case-insensitive).
    pub fn identity_of_email(&self, email: &str) -> Option<&str> {
        self.identities
            .iter()
            .find(|(_, id)| id.emails.iter().any(|e| e.eq_ignore_ascii_case(email)))
            .map(|(name, _)| name.as_str())
    }

    /// The groups `identity` belongs to.
    pub fn groups_of<'a>(&'a self, identity: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.groups.iter().filter(move |(_, members)| members.iter().any(|m| m == identity)).map(|(g, _)| g.as_str())
    }

    /// Whether `identity` may do `action` in environment `env`.
    pub fn allows(&self, identity: &str, action: Action, env: &str) -> bool {
        self.permissions.iter().any(|p| {
            p.actions.contains(&action)
                && p.environments.iter().any(|e| e == env)
                && p.groups.iter().any(|g| self.groups.get(g).is_some_and(|members| members.iter().any(|m| m == identity)))
        })
    }
}

/// Reads `access.yaml`'s root.
pub(super) fn read_access(root: &Node, diags: &mut Diagnostics) -> Option<Access> {
    let fields = Fields::open(root, "", &["identities", "groups", "permissions"], diags)?;
    let mut access = Access::default();
    let mut token_owner: BTreeMap<String, String> = BTreeMap::new();
    if let Some(node) = fields.get("identities") {
        for_each_entry(node, "identities", diags, |name, value, path, diags| {
            let Some(id) = Fields::open(value, path, &["tokens", "chat", "emails"], diags) else { return };
            let tokens = id.get("tokens").map(|n| strings(n, &id.path_of("tokens"), diags)).unwrap_or_default();
            let chat = id.get("chat").map(|n| strings(n, &id.path_of("chat"), diags)).unwrap_or_default();
            let emails = id.get("emails").map(|n| strings(n, &id.path_of("emails"), diags)).unwrap_or_default();
            for token in &tokens {
                // `sluice_` is the prefix of every API token value (`api::auth::TOKEN_PREFIX`).
                if token.starts_with("sluice_") {
                    let message = "looks like a token VALUE; name the token instead (`sluice token list`)";
                    diags.push(error_at(value, &id.path_of("tokens"), message).with_hint("revoke that token: it is leaked"));
                } else if let Some(owner) = token_owner.insert(token.clone(), name.to_owned()) {
                    let message = format!("token `{token}` already belongs to `{owner}`");
                    diags.push(error_at(value, &id.path_of("tokens"), message));
                }
            }
            access.identities.insert(name.to_owned(), Identity { tokens, chat, emails });
        });
    }
    if let Some(node) = fields.get("groups") {
        for_each_entry(node, "groups", diags, |name, value, path, diags| {
            let members = strings(value, path, diags);
            for (i, member) in members.iter().enumerate() {
                if !access.identities.contains_key(member) {
                    let at = value.as_seq().and_then(|s| s.get(i)).unwrap_or(value);
                    let hint = super::hint_among(member, "identities", access.identities.keys().map(String::as_str));
                    diags.push(error_at(at, &item(path, i), format!("`{member}` is not an identity")).with_hint(hint));
                }
            }
            access.groups.insert(name.to_owned(), members);
        });
    }
    if let Some(node) = fields.get("permissions")
        && let Some(items) = sequence(node, "permissions", diags)
    {
        for (i, entry) in items.iter().enumerate() {
            if let Some(permission) = read_permission(entry, &item("permissions", i), &access, diags) {
                access.permissions.push(permission);
            }
        }
    }
    Some(access)
}

fn read_permission(node: &Node, path: &str, access: &Access, diags: &mut Diagnostics) -> Option<Permission> {
    let fields = Fields::open(node, path, &["groups", "actions", "environments"], diags)?;
    let list = |key: &str, diags: &mut Diagnostics| {
        let node = fields.required(key, diags)?;
        Some((node, strings(node, &fields.path_of(key), diags)))
    };
    let (groups_node, groups) = list("groups", diags)?;
    let (actions_node, words) = list("actions", diags)?;
    let (envs_node, environments) = list("environments", diags)?;
    let environment_spans =
        envs_node.as_seq().map(|items| items.iter().map(|n| n.location.clone()).collect()).unwrap_or_default();
    for (i, group) in groups.iter().enumerate() {
        if !access.groups.contains_key(group) {
            let at = groups_node.as_seq().and_then(|s| s.get(i)).unwrap_or(groups_node);
            let hint = super::hint_among(group, "groups", access.groups.keys().map(String::as_str));
            diags.push(error_at(at, &item(&fields.path_of("groups"), i), format!("`{group}` is not a group")).with_hint(hint));
        }
    }
    let mut actions = Vec::new();
    for (i, word) in words.iter().enumerate() {
        match word.parse::<Action>() {
            Ok(action) => actions.push(action),
            Err(()) => {
                let at = actions_node.as_seq().and_then(|s| s.get(i)).unwrap_or(actions_node);
                let hint = super::hint_among(word, "actions", Action::ALL.iter().map(|a| a.as_str()));
                let message = format!("`{word}` is not an action");
                diags.push(error_at(at, &item(&fields.path_of("actions"), i), message).with_hint(hint));
            }
        }
    }
    Some(Permission { groups, actions, environments, environment_spans })
}

/// Calls `f(name, value, path)` for each entry of the mapping at `node`.
fn for_each_entry(
    node: &Node,
    path: &str,
    diags: &mut Diagnostics,
    mut f: impl FnMut(&str, &Node, &str, &mut Diagnostics),
) {
    let Some(map) = node.as_map() else {
        diags.push(error_at(node, path, format!("must be a mapping of names, not {}", node.type_name())));
        return;
    };
    for (key, value) in map.iter() {
        let child = format!("{path}.{}", key.name);
        if value.is_null() {
            diags.push(Diagnostic::error(Some(key.location.clone()), child, "has no value"));
            continue;
        }
        f(&key.name, value, &child, diags);
    }
}
