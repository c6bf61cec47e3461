//! `.sops.yaml` creation rules, as `sops` reads them: the first rule whose `path_regex`
//! matches a file's path (relative to the directory holding `.sops.yaml`, `/`-separated)
//! decides its recipients, so `secrets/production/` is encrypted only for production's
//! keys. A rule without `path_regex` matches every file.
//!
//! Supported keys of a rule: `path_regex`, `age` and `pgp` (a comma-separated string or a
//! list), and `key_groups` with a single group. Several key groups (Shamir secret sharing),
//! cloud KMS keys and per-rule encryption selectors (`encrypted_regex` and friends) are
//! refused with an error rather than ignored, so no file is encrypted differently from what
//! the rules say.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::lookup::pgp_recipients;
use super::{AgeRecipient, Recipients, SecretsError};
use crate::ci::node::{Node, Value};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// The name `sops` looks for, from the working directory upwards.
pub const SOPS_CONFIG: &str = ".sops.yaml";

/// One creation rule.
#[derive(Debug)]
pub struct CreationRule {
    /// Where the rule starts, for messages.
    pub location: Location,
    /// `path_regex`; `None` matches every file.
    pub path_regex: Option<Regex>,
    /// `age` recipients as written.
    pub age: Vec<String>,
    /// `pgp` fingerprints or key files (relative to the config's directory) as written.
    pub pgp: Vec<String>,
}

/// A parsed `.sops.yaml`.
#[derive(Debug)]
pub struct SopsConfig {
    /// The directory holding the file: rule paths are relative to it.
    pub dir: PathBuf,
    /// The file as named in messages.
    pub file: String,
    /// The rules, in order.
    pub rules: Vec<CreationRule>,
}

const RULE_KEYS: &[&str] = &["path_regex", "age", "pgp", "key_groups"];
const UNSUPPORTED_KEYS: &[&str] = &[
    "kms",
    "gcp_kms",
    "azure_keyvault",
    "hc_vault_transit_uri",
    "aws_profile",
    "shamir_threshold",
    "encrypted_regex",
    "unencrypted_regex",
    "encrypted_suffix",
    "unencrypted_suffix",
    "encrypted_comment_regex",
    "unencrypted_comment_regex",
    "mac_only_encrypted",
    "filename_regex",
];

impl SopsConfig {
    /// The `.sops.yaml` in `start` or the nearest directory above it, as `sops` finds it.
    pub fn find(start: &Path) -> Option<PathBuf> {
        start.ancestors().map(|dir| dir.join(SOPS_CONFIG)).find(|path| path.is_file())
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    ///
    /// [`SecretsError::Read`], or [`SecretsError::Config`] with every problem located.
    pub fn load(path: &Path) -> Result<SopsConfig, SecretsError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SecretsError::Read { path: path.display().to_string(), source })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        SopsConfig::parse(&path.display().to_string(), dir, &text).map_err(|diagnostics| SecretsError::Config {
            message: diagnostics.errors().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
        })
    }

    /// Parses `.sops.yaml` text; `file` names it in diagnostics, `dir` is its directory.
    ///
    /// # Errors
    ///
    /// Every problem, located: not a mapping, unknown or unsupported keys, a bad regex,
    /// several key groups.
    pub fn parse(file: &str, dir: PathBuf, text: &str) -> Result<SopsConfig, Diagnostics> {
        let loaded = crate::ci::yaml::load(file, text)?;
        let mut diagnostics = Diagnostics::new();
        let mut rules = Vec::new();
        let Some(top) = loaded.config.as_map() else {
            let error = Diagnostic::error(Some(loaded.config.location.clone()), "", "`.sops.yaml` must be a mapping with `creation_rules`");
            return Err(error.into());
        };
        for (key, node) in top.iter() {
            match key.name.as_str() {
                "creation_rules" => match node.as_seq() {
                    Some(items) => {
                        for (index, item) in items.iter().enumerate() {
                            if let Some(rule) = parse_rule(item, &format!("creation_rules[{index}]"), &mut diagnostics) {
                                rules.push(rule);
                            }
                        }
                    }
                    None => diagnostics.push(Diagnostic::error(Some(node.location.clone()), "creation_rules", "must be a list of rules")),
                },
                "stores" | "destination_rules" => {}
                other => diagnostics.push(
                    Diagnostic::error(Some(key.location.clone()), other, format!("unknown key `{other}`"))
                        .with_hint("`.sops.yaml` has `creation_rules`"),
                ),
            }
        }
        if diagnostics.has_errors() {
            return Err(diagnostics);
        }
        Ok(SopsConfig { dir, file: file.to_string(), rules })
    }

    /// The first rule matching `path` (a file under [`SopsConfig::dir`], absolute or relative
    /// to the working directory).
    ///
    /// # Errors
    ///
    /// [`SecretsError::NoCreationRule`] when no rule matches.
    pub fn rule_for(&self, path: &Path) -> Result<&CreationRule, SecretsError> {
        let relative = self.relative(path);
        self.rules
            .iter()
            .find(|rule| rule.path_regex.as_ref().is_none_or(|regex| regex.is_match(&relative)))
            .ok_or_else(|| SecretsError::NoCreationRule { config: self.file.clone(), file: relative })
    }

    /// The recipients the matching rule names, parsed (age) and looked up (OpenPGP key files
    /// relative to the config's directory, or fingerprints in the GnuPG keyring).
    ///
    /// # Errors
    ///
    /// [`SecretsError::NoCreationRule`], [`SecretsError::NoRecipients`] for a rule without
    /// keys, and the errors of parsing or looking up a recipient.
    pub fn recipients_for(&self, path: &Path) -> Result<Recipients, SecretsError> {
        let rule = self.rule_for(path)?;
        let mut recipients = Recipients::default();
        for age in &rule.age {
            recipients.age.push(AgeRecipient::parse(age)?);
        }
        for pgp in &rule.pgp {
            let in_dir = self.dir.join(pgp);
            let arg = if in_dir.is_file() { in_dir.display().to_string() } else { pgp.clone() };
            recipients.pgp.extend(pgp_recipients(&arg)?);
        }
        if recipients.is_empty() {
            return Err(SecretsError::NoRecipients { file: format!("{} (rule at {})", self.relative(path), rule.location) });
        }
        Ok(recipients)
    }

    /// `path` relative to the config's directory, `/`-separated, as `sops` matches it.
    fn relative(&self, path: &Path) -> String {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = std::path::absolute(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let relative = absolute.strip_prefix(&dir).map(Path::to_path_buf).unwrap_or(absolute);
        relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
    }
}

fn parse_rule(node: &Node, path: &str, diagnostics: &mut Diagnostics) -> Option<CreationRule> {
    let Some(map) = node.as_map() else {
        diagnostics.push(Diagnostic::error(Some(node.location.clone()), path, "a creation rule must be a mapping"));
        return None;
    };
    let mut rule = CreationRule { location: node.location.clone(), path_regex: None, age: Vec::new(), pgp: Vec::new() };
    for (key, value) in map.iter() {
        let key_path = format!("{path}.{}", key.name);
        match key.name.as_str() {
            "path_regex" => match value.as_str().map(Regex::new) {
                Some(Ok(regex)) => rule.path_regex = Some(regex),
                Some(Err(error)) => diagnostics.push(Diagnostic::error(Some(value.location.clone()), key_path, format!("not a valid regex: {error}"))),
                None => diagnostics.push(Diagnostic::error(Some(value.location.clone()), key_path, "must be a string")),
            },
            "age" => rule.age.extend(key_list(value, &key_path, diagnostics)),
            "pgp" => rule.pgp.extend(key_list(value, &key_path, diagnostics)),
            "key_groups" => {
                let groups = value.as_seq().unwrap_or_default();
                if groups.len() != 1 {
                    diagnostics.push(
                        Diagnostic::error(Some(value.location.clone()), key_path, "only one key group is supported")
                            .with_hint("several groups mean Shamir secret sharing, which Sluice does not do yet; list every key in one group or in `age`/`pgp`"),
                    );
                    continue;
                }
                let Some(group) = groups[0].as_map() else { continue };
                for (group_key, keys) in group.iter() {
                    let group_path = format!("{key_path}[0].{}", group_key.name);
                    match group_key.name.as_str() {
                        "age" => rule.age.extend(key_list(keys, &group_path, diagnostics)),
                        "pgp" => rule.pgp.extend(key_list(keys, &group_path, diagnostics)),
                        other => unsupported(diagnostics, &group_key.location, &group_path, other),
                    }
                }
            }
            other => unsupported(diagnostics, &key.location, &key_path, other),
        }
    }
    Some(rule)
}

fn unsupported(diagnostics: &mut Diagnostics, location: &Location, key_path: &str, key: &str) {
    let diagnostic = if UNSUPPORTED_KEYS.contains(&key) || ["kms", "gcp_kms", "azure_kv", "hc_vault"].contains(&key) {
        Diagnostic::error(Some(location.clone()), key_path, format!("`{key}` is not supported by Sluice yet"))
            .with_hint("Sluice encrypts for `age` and `pgp` keys with SOPS's default `unencrypted_suffix`")
    } else {
        let hint = RULE_KEYS.iter().min_by_key(|known| strsim::levenshtein(known, key)).copied().unwrap_or("path_regex");
        Diagnostic::error(Some(location.clone()), key_path, format!("unknown key `{key}`")).with_hint(format!("did you mean `{hint}`?"))
    };
    diagnostics.push(diagnostic);
}

/// A key field: a comma-separated string (as `sops` has always taken) or a list of strings.
fn key_list(node: &Node, key_path: &str, diagnostics: &mut Diagnostics) -> Vec<String> {
    let split = |text: &str| text.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
    match &node.value {
        Value::Str(text) => split(text),
        Value::Null => Vec::new(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|item| match item.as_str() {
                Some(text) => Some(split(text)),
                None => {
                    diagnostics.push(Diagnostic::error(Some(item.location.clone()), key_path, "every key must be a string"));
                    None
                }
            })
            .flatten()
            .collect(),
        _ => {
            diagnostics.push(Diagnostic::error(Some(node.location.clone()), key_path, "must be a string or a list of strings"));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
creation_rules:
  - path_regex: ^secrets/production/
    age: age1prod
  - path_regex: ^secrets/(dev|staging)/
    key_groups:
      - age: [age1dev, age1stage]
        pgp: [ABCD]
  - age: >-
      age1a,
      age1b
";

    #[test]
    fn the_first_matching_rule_wins_relative_to_the_config_dir() {
        let config = SopsConfig::parse(".sops.yaml", PathBuf::from("/repo"), CONFIG).unwrap();
        assert_eq!(config.rule_for(Path::new("/repo/secrets/production/app.yaml")).unwrap().age, ["age1prod"]);
        let dev = config.rule_for(Path::new("/repo/secrets/dev/app.yaml")).unwrap();
        assert_eq!((dev.age.as_slice(), dev.pgp.as_slice()), (&["age1dev".to_string(), "age1stage".to_string()][..], &["ABCD".to_string()][..]));
        assert_eq!(config.rule_for(Path::new("/repo/other.yaml")).unwrap().age, ["age1a", "age1b"]);
    }

    #[test]
    fn unknown_unsupported_keys_and_bad_regexes_are_located() {
        let text = "creation_rules:\n  - path_regex: '['\n    agee: age1x\n    encrypted_regex: ^data$\n    key_groups: [{age: [a]}, {age: [b]}]\n";
        let errors: Vec<String> = SopsConfig::parse(".sops.yaml", PathBuf::from("/r"), text)
            .unwrap_err()
            .errors()
            .map(|d| format!("{d}"))
            .collect();
        let all = errors.join("\n");
        assert!(all.contains(".sops.yaml:2:") && all.contains("not a valid regex"), "{all}");
        assert!(all.contains(".sops.yaml:3:") && all.contains("did you mean `age`?"), "{all}");
        assert!(all.contains(".sops.yaml:4:") && all.contains("`encrypted_regex` is not supported"), "{all}");
        assert!(all.contains("only one key group"), "{all}");
    }

    #[test]
    fn the_config_repo_templates_rules_parse() {
        let text = include_str!("../../config-repo-template/.sops.yaml");
        let config = SopsConfig::parse(".sops.yaml", PathBuf::from("/repo"), text).unwrap();
        let rule = config.rule_for(Path::new("/repo/secrets/production/hello.yaml")).unwrap();
        assert_eq!(rule.path_regex.as_ref().unwrap().as_str(), "^secrets/production/");
        assert_eq!(rule.age.len(), 1);
    }

    #[test]
    fn no_matching_rule_names_the_file() {
        let config = SopsConfig::parse(".sops.yaml", PathBuf::from("/r"), "creation_rules:\n  - path_regex: ^x/\n    age: a\n").unwrap();
        let message = config.rule_for(Path::new("/r/y/z.yaml")).unwrap_err().to_string();
        assert!(message.contains("y/z.yaml") && message.contains(".sops.yaml"), "{message}");
    }
}
