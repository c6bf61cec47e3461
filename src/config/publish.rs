//! A project's `publish:` section: where its images go and how its release tags are named.

use super::fields::{Fields, error_at};
use crate::ci::node::Node;
use crate::diagnostic::Diagnostics;

/// `publish:` of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSettings {
    /// `registry`: images go to `<registry>/<app>:<version>` (default: none, the OCI layout
    /// `<data_dir>/images/<app>`).
    pub registry: Option<String>,
    /// `tag_prefix`: release tags are this followed by the version (default `v`).
    pub tag_prefix: String,
}

impl Default for PublishSettings {
    fn default() -> Self {
        PublishSettings {
            registry: None,
            // As `publish::DEFAULT_TAG_PREFIX` (config sits before publish in the flow).
            tag_prefix: "v".to_owned(),
        }
    }
}

const KEYS: &[&str] = &["registry", "tag_prefix"];

/// Reads `publish:`; `None` when it has errors (all reported).
pub(super) fn read_publish(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<PublishSettings> {
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
    ok.then_some(settings)
}
