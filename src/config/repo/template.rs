//! The config-repo template (`config-repo-template/` in the Sluice repository), compiled into
//! the binary so `sluice init` works wherever Sluice is installed.

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/config-repo-template/", $path)))),*]
    };
}

/// Every file of the template: path relative to the repo's root, and contents.
pub const TEMPLATE: &[(&str, &[u8])] = files!(
    ".gitattributes",
    ".sops.yaml",
    "README.md",
    "access.yaml",
    "apps/hello/app.yaml",
    "apps/hello/manifests/deployment.yaml",
    "environments/dev.yaml",
    "environments/production.yaml",
    "environments/staging.yaml",
    "secrets/dev/.gitkeep",
    "secrets/production/.gitkeep",
    "secrets/staging/.gitkeep",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_template_has_every_file_of_the_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template");
        let on_disk: Vec<String> = crate::config::repo::load_dir(&dir).unwrap().into_keys().collect();
        let compiled: Vec<&str> = TEMPLATE.iter().map(|(path, _)| *path).collect();
        assert_eq!(on_disk, compiled, "list every file of config-repo-template/ in TEMPLATE");
    }
}
