//! Which release an environment would take next: the one running in the environment it is
//! promoted from, or for the first environment the newest release; only when newer than its
//! current pin and not blocked there. Never a downgrade: going back is a rollback.

use semver::Version;

use crate::config::repo::{ConfigRepo, Environment};

/// The release `app` would be promoted to in `env`, given the versions released for it
/// (any order).
pub fn candidate(repo: &ConfigRepo, app: &str, env: &Environment, released: &[Version]) -> Option<Version> {
    let current = repo.pin(app, env.name.as_str());
    let acceptable = |version: &Version| {
        current.is_none_or(|pin| version > &pin.version && pin.blocked(version).is_none())
    };
    match &env.promote_from {
        Some(from) => repo.pin(app, from.as_str()).map(|pin| pin.version.clone()).filter(acceptable),
        None => released.iter().filter(|v| v.pre.is_empty() && acceptable(v)).max().cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::repo;

    fn template_with(files: &[(&str, &str)]) -> ConfigRepo {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template");
        let mut all = repo::load_dir(&dir).unwrap();
        for (path, text) in files {
            all.insert((*path).to_owned(), text.as_bytes().to_vec());
        }
        repo::parse(&all, "").unwrap_or_else(|d| panic!("{d}")).0
    }

    fn pin(version: &str, blocked: &str) -> String {
        let digest = "0".repeat(64);
        let blocked = if blocked.is_empty() { String::new() } else { format!("blocked: [{{version: \"{blocked}\"}}]\n") };
        format!("version: \"{version}\"\nimage: \"i:{version}\"\ndigest: \"sha256:{digest}\"\n{blocked}")
    }

    #[test]
    fn the_first_environment_takes_the_newest_release_and_the_others_the_previous_pin() {
        let released: Vec<Version> = ["1.0.0", "1.2.0", "1.1.0", "2.0.0-dev"].iter().map(|v| v.parse().unwrap()).collect();
        let repo = template_with(&[("apps/hello/dev.yaml", &pin("1.1.0", "1.2.0"))]);
        let dev = repo.environment("dev").unwrap();
        assert_eq!(candidate(&repo, "hello", dev, &released), None, "1.2.0 is blocked, 1.1.0 is current");
        let staging = repo.environment("staging").unwrap();
        assert_eq!(candidate(&repo, "hello", staging, &released), Some("1.1.0".parse().unwrap()));
        let repo = template_with(&[("apps/hello/dev.yaml", &pin("1.0.0", "")), ("apps/hello/staging.yaml", &pin("1.1.0", ""))]);
        assert_eq!(candidate(&repo, "hello", repo.environment("dev").unwrap(), &released), Some("1.2.0".parse().unwrap()));
        assert_eq!(candidate(&repo, "hello", repo.environment("staging").unwrap(), &released), None, "no downgrade");
    }
}
