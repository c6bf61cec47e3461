//! A project's `publish:` section: where its images go, with which registry account, and how
//! its release tags are named.

use super::Environment;
use super::fields::{Fields, error_at};
use super::secret::{Purpose, Secret, read_secret};
use crate::ci::node::Node;
use crate::diagnostic::Diagnostics;

/// `publish:` of a project.
#[derive(Debug, Clone)]
pub struct PublishSettings {
    /// `registry`: images go to `<registry>/<app>:<version>` (default: none, the OCI layout
    /// `<data_dir>/images/<app>`).
    pub registry: Option<String>,
    /// `tag_prefix`: release tags are this followed by the version (default `v`).
    pub tag_prefix: String,
    /// `username` and `password`: the registry account (default: the daemon's
    /// `SLUICE_REGISTRY_USERNAME` and `SLUICE_REGISTRY_PASSWORD`).
    pub credentials: Option<(String, Secret)>,
}

impl Default for PublishSettings {
    fn default() -> Self {
        PublishSettings {
            registry: None,
            // As `publish::DEFAULT_TAG_PREFIX` (config sits before publish in the flow).
            tag_prefix: "v".to_owned(),
            credentials: None,
        }
    }
}

const KEYS: &[&str] = &["registry", "tag_prefix", "username", "password"];

/// Reads `publish:` of project `project`; `None` when it has errors (all reported).
pub(super) fn read_publish(
    node: &Node,
    path: &str,
    project: &str,
    env: &Environment,
    diags: &mut Diagnostics,
) -> Option<PublishSettings> {
    let fields = Fields::open(node, path, KEYS, diags)?;
    let mut settings = PublishSettings::default();
    let mut ok = true;
    if let Some((node, registry)) = fields.string("registry", diags) {
        let valid = |c: char| c.is_ascii_alphanumeric() || "-._:/[]".contains(c);
        if registry.is_empty() || registry.contains("://") || !registry.chars().all(valid) {
            diags.push(
                error_at(node, &fields.path_of("registry"), format!("`{registry}` is not a registry"))
                    .with_hint("write `HOST[:PORT][/PATH]`, for example `127.0.0.1:5000` or `registry.example.com/team`"),
            );
            ok = false;
        } else {
            settings.registry = Some(registry.trim_end_matches('/').to_owned());
        }
    }
    if let Some((node, prefix)) = fields.string("tag_prefix", diags) {
        if prefix.contains(char::is_whitespace) || prefix.contains("..") {
            diags.push(error_at(node, &fields.path_of("tag_prefix"), format!("`{prefix}` cannot start a git tag name")));
            ok = false;
        } else {
            settings.tag_prefix = prefix.to_owned();
        }
    }
    let username = fields.string("username", diags).map(|(_, user)| user.to_owned());
    let disabled = format!("`{project}` publishes with the daemon's registry credentials");
    let password = fields
        .get("password")
        .and_then(|node| read_secret(node, &fields.path_of("password"), &Purpose { disabled: &disabled }, env, diags));
    match (username, password) {
        (Some(user), Some(password)) => settings.credentials = Some((user, password)),
        (None, None) => {}
        (user, _) => {
            let (missing, present) = if user.is_some() { ("password", "username") } else { ("username", "password") };
            let node = fields.get(present).unwrap_or(fields.node());
            diags.push(
                error_at(node, &fields.path_of(present), format!("`{present}` needs `{missing}` beside it"))
                    .with_hint("the registry account is a user name with a password or token: give both"),
            );
            ok = false;
        }
    }
    ok.then_some(settings)
}
