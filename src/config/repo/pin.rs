//! `apps/<app>/<env>.yaml`, the pin: the release an environment should run, its own values,
//! and the releases rolled back from it that may not return. A promotion is a commit that
//! changes exactly this file; [`render_pin`] writes it.

use semver::Version;

use crate::ci::node::Node;
use crate::config::fields::{Fields, error_at, item, sequence};
use crate::diagnostic::Diagnostics;

/// One pin, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// `version`: the release.
    pub version: Version,
    /// `image`: the image reference with its tag (`127.0.0.1:5000/hello:1.2.3`).
    pub image: String,
    /// `digest`: the image's manifest digest (`sha256:…`).
    pub digest: String,
    /// `values`: this environment's values (a JSON object, `{}` when absent).
    pub values: serde_json::Value,
    /// `blocked`: releases that may not be promoted here again.
    pub blocked: Vec<Blocked>,
}

/// One `blocked:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The release.
    pub version: Version,
    /// Why (who rolled it back).
    pub reason: Option<String>,
}

impl Pin {
    /// The block of `version`, if it is blocked.
    pub fn blocked(&self, version: &Version) -> Option<&Blocked> {
        self.blocked.iter().find(|b| &b.version == version)
    }
}

const KEYS: &[&str] = &["version", "image", "digest", "values", "blocked"];

/// Reads a pin file's root.
pub(super) fn read_pin(root: &Node, diags: &mut Diagnostics) -> Option<Pin> {
    let before = diags.errors().count();
    let fields = Fields::open(root, "", KEYS, diags)?;
    let version = fields.required("version", diags).and_then(|node| version(node, "version", diags));
    let image = fields.required("image", diags).and_then(|_| fields.string("image", diags)).map(|(_, t)| t.to_owned());
    let digest = fields.required("digest", diags).and_then(|_| fields.string("digest", diags)).and_then(|(node, d)| {
        let hex = d.strip_prefix("sha256:").unwrap_or("");
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            Some(d.to_owned())
        } else {
            diags.push(error_at(node, "digest", format!("`{d}` is not a digest `sha256:<64 hex digits>`")));
            None
        }
    });
    let values = match fields.get("values") {
        Some(node) if node.as_map().is_none() => {
            diags.push(error_at(node, "values", format!("must be a mapping, not {}", node.type_name())));
            None
        }
        Some(node) => Some(node.to_json()),
        None => Some(serde_json::json!({})),
    };
    let blocked = fields.get("blocked").map(|node| read_blocked(node, diags)).unwrap_or_default();
    if diags.errors().count() > before {
        return None;
    }
    Some(Pin { version: version?, image: image?, digest: digest?, values: values?, blocked })
}

fn read_blocked(node: &Node, diags: &mut Diagnostics) -> Vec<Blocked> {
    let Some(items) = sequence(node, "blocked", diags) else { return Vec::new() };
    let mut blocked = Vec::new();
    for (i, entry) in items.iter().enumerate() {
        let path = item("blocked", i);
        let Some(fields) = Fields::open(entry, &path, &["version", "reason"], diags) else { continue };
        let Some(node) = fields.required("version", diags) else { continue };
        let Some(version) = version(node, &fields.path_of("version"), diags) else { continue };
        let reason = fields.string("reason", diags).map(|(_, text)| text.to_owned());
        blocked.push(Blocked { version, reason });
    }
    blocked
}

/// A semantic version at `node`; reports anything else.
pub(super) fn version(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<Version> {
    let Some(text) = node.as_str() else {
        let message = format!("must be a version `MAJOR.MINOR.PATCH`, not {}", node.type_name());
        diags.push(error_at(node, path, message).with_hint("quote it: `\"1.2.3\"`"));
        return None;
    };
    Version::parse(text)
        .map_err(|e| diags.push(error_at(node, path, format!("`{text}` is not a semantic version: {e}"))))
        .ok()
}

/// The text of a pin file: what a promotion or a rollback commits.
pub fn render_pin(pin: &Pin) -> String {
    let quote = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let mut out = String::from("# Written by Sluice: the release this environment runs. Promote with `sluice promote`.\n");
    out.push_str(&format!("version: {}\n", quote(&pin.version.to_string())));
    out.push_str(&format!("image: {}\n", quote(&pin.image)));
    out.push_str(&format!("digest: {}\n", quote(&pin.digest)));
    if pin.values.as_object().is_some_and(|values| !values.is_empty()) {
        // JSON is YAML: the values keep their types exactly.
        out.push_str(&format!("values: {}\n", pin.values));
    }
    if !pin.blocked.is_empty() {
        out.push_str("blocked:\n");
        for blocked in &pin.blocked {
            out.push_str(&format!("  - version: {}\n", quote(&blocked.version.to_string())));
            if let Some(reason) = &blocked.reason {
                out.push_str(&format!("    reason: {}\n", quote(reason)));
            }
        }
    }
    out
}
