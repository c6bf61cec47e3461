//! Checks, before a deployment, that an environment's `secrets:` recipients
//! (`environments/<env>.yaml`) agree with the `.sops.yaml` creation rule that encrypts its
//! secret files (`secrets/<env>/<app>.yaml`). The environment's list is what the `gitops`
//! target encrypts to and what people read as "who can decrypt production"; the rule is what
//! `sluice secrets` and `sops` actually encrypt to. When they differ, one of them is wrong,
//! and deploying would hand secrets to keys nobody meant, or to none that can decrypt them.
//!
//! OpenPGP entries are compared as fingerprints (case and spaces ignored); a rule naming an
//! OpenPGP key file is not compared on its OpenPGP side. Nothing is checked when the
//! environment lists no recipients or the config repo has no `.sops.yaml`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::config::repo::Recipients;
use crate::secrets::{SOPS_CONFIG, SopsConfig};

/// `Ok` when the recipients of `env` (its `secrets:`) and the `.sops.yaml` rule for
/// `secrets/<env>/<app>.yaml` in the checkout `config_repo` name the same keys.
///
/// # Errors
///
/// A message naming both files, the keys only one of them lists, and the fix; also when
/// `.sops.yaml` cannot be read or has no rule for the file.
pub fn check(config_repo: &Path, env: &str, app: &str, recipients: &Recipients) -> Result<(), String> {
    if recipients.age.is_empty() && recipients.pgp.is_empty() {
        return Ok(());
    }
    let path = config_repo.join(SOPS_CONFIG);
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("`{SOPS_CONFIG}` cannot be read: {e}"))?;
    let config = SopsConfig::parse(SOPS_CONFIG, config_repo.to_path_buf(), &text).map_err(|diagnostics| {
        let errors: Vec<String> = diagnostics.errors().map(ToString::to_string).collect();
        format!("`{SOPS_CONFIG}` is invalid: {}", errors.join("; "))
    })?;
    let file = format!("secrets/{env}/{app}.yaml");
    let rule = config.rule_for(&config_repo.join(&file)).map_err(|e| {
        format!("`environments/{env}.yaml` lists `secrets:` recipients, but {e}; hint: add a creation rule for `secrets/{env}/` with the same keys")
    })?;
    let mut differences = Vec::new();
    let set = |keys: &[String], normal: fn(&str) -> String| keys.iter().map(|k| normal(k)).collect::<BTreeSet<_>>();
    differences.extend(compare("age", set(&recipients.age, |k| k.trim().to_string()), set(&rule.age, |k| k.trim().to_string())));
    let key_file = rule.pgp.iter().any(|k| config.dir.join(k).is_file());
    if !key_file {
        differences.extend(compare("pgp", set(&recipients.pgp, fingerprint), set(&rule.pgp, fingerprint)));
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the secrets recipients of `{env}` disagree: {} (`environments/{env}.yaml` against the `{SOPS_CONFIG}` rule at {} for `{file}`); \
         hint: make both name the same keys, then re-encrypt with `sluice secrets updatekeys secrets/{env}`",
        differences.join("; "),
        rule.location
    ))
}

/// What only one side lists, as sentences; none when the sets are equal.
fn compare(kind: &str, environment: BTreeSet<String>, rule: BTreeSet<String>) -> Vec<String> {
    let list = |keys: Vec<&String>| keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    let mut found = Vec::new();
    let only_env: Vec<&String> = environment.difference(&rule).collect();
    if !only_env.is_empty() {
        found.push(format!("`secrets.{kind}` lists {} that the rule does not", list(only_env)));
    }
    let only_rule: Vec<&String> = rule.difference(&environment).collect();
    if !only_rule.is_empty() {
        found.push(format!("the rule's `{kind}` lists {} that the environment does not", list(only_rule)));
    }
    found
}

fn fingerprint(key: &str) -> String {
    key.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::config::repo::Recipients;

    const A: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    const B: &str = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

    fn repo(sops: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = sops {
            std::fs::write(dir.path().join(".sops.yaml"), text).unwrap();
        }
        dir
    }

    fn age(keys: &[&str]) -> Recipients {
        Recipients { age: keys.iter().map(|k| (*k).to_string()).collect(), pgp: Vec::new() }
    }

    #[test]
    fn recipients_must_agree_with_the_rule_for_the_environments_files() {
        let rules = format!(
            "creation_rules:\n  - path_regex: ^secrets/production/\n    age: {A}\n  - path_regex: ^secrets/dev/\n    age: {A},{B}\n"
        );
        let dir = repo(Some(&rules));
        check(dir.path(), "production", "hello", &age(&[A])).unwrap();
        check(dir.path(), "dev", "hello", &age(&[B, A])).unwrap();
        check(dir.path(), "dev", "hello", &age(&[])).unwrap();
        let err = check(dir.path(), "production", "hello", &age(&[B])).unwrap_err();
        assert_eq!(
            err,
            format!(
                "the secrets recipients of `production` disagree: `secrets.age` lists `{B}` that the rule does not; \
                 the rule's `age` lists `{A}` that the environment does not (`environments/production.yaml` against \
                 the `.sops.yaml` rule at .sops.yaml:2:5 for `secrets/production/hello.yaml`); hint: make both name \
                 the same keys, then re-encrypt with `sluice secrets updatekeys secrets/production`"
            )
        );
        let err = check(dir.path(), "staging", "hello", &age(&[A])).unwrap_err();
        assert_eq!(
            err,
            "`environments/staging.yaml` lists `secrets:` recipients, but no creation rule in `.sops.yaml` matches \
             `secrets/staging/hello.yaml`; hint: add a creation rule for `secrets/staging/` with the same keys"
        );
        check(repo(None).path(), "production", "hello", &age(&[B])).unwrap();
    }

    #[test]
    fn fingerprints_compare_without_case_or_spaces() {
        let rules = "creation_rules:\n  - pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21\n";
        let dir = repo(Some(rules));
        let pgp = |fpr: &str| Recipients { age: Vec::new(), pgp: vec![fpr.to_string()] };
        check(dir.path(), "production", "hello", &pgp("85d7 7543 b3d6 24b6 3cea 9e6d bc17 301b 491b 3f21")).unwrap();
        assert!(check(dir.path(), "production", "hello", &pgp("0000")).is_err());
    }
}
