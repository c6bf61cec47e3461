//! Sluice: a self-hosted GitOps CI/CD controller.
//!
//! The flow: a push becomes an event; the repository's `.gitlab-ci.yml` is planned with
//! GitLab's semantics ([`ci`]) and run as staged jobs ([`run`] on an [`executor`], recorded in
//! [`store`]); a raised `VERSION` publishes an image; releases are promoted through
//! environments by commits to a config repo and deployed with their secrets decrypted in
//! memory. Modules appear below in the order of that flow; [`quickstart`] runs all of it on one
//! machine, and [`cli`] sits on top.

pub mod diagnostic;
pub mod config;
pub mod ci;
pub mod pipelines;
pub mod git;
pub mod trigger;
pub mod store;
pub mod executor;
pub mod run;
pub mod forge;
pub mod publish;
pub mod promote;
pub mod secrets;
pub mod deploy;
pub mod api;
pub mod daemon;
pub mod quickstart;
pub mod cli;

/// The process's allocator for every binary linking Sluice. Planning a large pipeline is
/// allocation-heavy (node trees, key names, strings): with glibc's allocator, `malloc`,
/// `free` and `realloc` were about a third of the instructions of the 2,000-job plan
/// benchmark; mimalloc's fast paths are a fraction of that (figures in README, Development).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// `ci` is pure (STYLE rule 9): no file system, processes, network, clock, environment or
    /// other Sluice modules besides `diagnostic`. Tests inside `ci` may use what they like.
    #[test]
    fn ci_module_does_no_io() {
        const FORBIDDEN: &[&str] = &[
            "std::fs", "tokio", "std::process", "std::net::Tcp", "std::net::Udp", "std::env", "SystemTime", "Instant",
            "crate::git", "crate::store", "crate::run", "crate::executor", "crate::cli", "crate::pipelines",
        ];
        let mut offenders = Vec::new();
        let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ci")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path.file_name().unwrap().to_string_lossy();
                if !name.ends_with(".rs") || name.starts_with("tests") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Code after an inline `#[cfg(test)]` module is test code.
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for word in FORBIDDEN {
                    if code.contains(word) {
                        offenders.push(format!("{}: {word}", path.display()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "the ci module must stay pure:\n{}", offenders.join("\n"));
    }
}
