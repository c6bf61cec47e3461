//! Lays out a quickstart directory: the sample app (`examples/quickstart`, compiled in) as a
//! git repository with a bare remote, a config repo from the template (`sluice init`'s) with
//! `process` targets on free loopback ports, dev automatic and staging behind one approval,
//! a demo age identity (the private key stays in the directory, outside every repository),
//! the demo secret encrypted for it, and `sluice.yaml`. Git is driven with the `git` CLI, as
//! the user would.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use secrecy::ExposeSecret as _;

use super::{APP, BUMPED_VERSION, Layout, QuickstartError};
use crate::config::repo::TEMPLATE;
use crate::secrets::{self, AgeRecipient, Plaintext, Recipients};

/// The sample app's files, as `examples/quickstart` holds them.
const SAMPLE_APP: &[(&str, &str)] = &[
    (".gitlab-ci.yml", include_str!("../../examples/quickstart/.gitlab-ci.yml")),
    ("README.md", include_str!("../../examples/quickstart/README.md")),
    ("VERSION", include_str!("../../examples/quickstart/VERSION")),
    ("app.py", include_str!("../../examples/quickstart/app.py")),
    ("test_app.py", include_str!("../../examples/quickstart/test_app.py")),
];

/// The placeholder recipient of the template's `.sops.yaml` and `environments/production.yaml`.
const PLACEHOLDER_RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/// The name of the demo approver's API token (an identity of the quickstart's `access.yaml`).
pub const TOKEN_NAME: &str = "quickstart";

/// The environments the quickstart deploys to, in promotion order.
pub const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "production"];

/// What was set up, for the report.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The demo age recipient (public key).
    pub recipient: String,
    /// The first port of each environment's process target, in [`ENVIRONMENTS`] order.
    pub base_ports: [u16; 3],
}

fn fail(what: impl std::fmt::Display) -> QuickstartError {
    QuickstartError::Setup(what.to_string())
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), QuickstartError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| fail(format!("cannot create `{}`: {e}", parent.display())))?;
    }
    std::fs::write(path, contents).map_err(|e| fail(format!("cannot write `{}`: {e}", path.display())))
}

/// A file only its owner may read (the private key, the token).
fn write_private(path: &Path, contents: &[u8]) -> Result<(), QuickstartError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|e| fail(format!("cannot write `{}`: {e}", path.display())))
}

/// `git ARGS` in `dir`, as the quickstart's author.
fn git(dir: &Path, args: &[&str]) -> Result<(), QuickstartError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Sluice Quickstart", "-c", "user.email=quickstart@sluice.invalid"])
        .args(["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .map_err(|e| fail(format!("cannot run `git`: {e}; install git")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(fail(format!(
        "`git {}` failed in `{}`: {}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// A JSON string literal, which YAML reads as a double-quoted scalar.
fn quoted(path: &Path) -> String {
    serde_json::Value::from(path.display().to_string()).to_string()
}

/// Writes everything but the daemon's state: app repository, config repo, identity, secrets,
/// `sluice.yaml`.
///
/// # Errors
///
/// [`QuickstartError::Setup`] naming the file or command that failed.
pub fn write_all(layout: &Layout) -> Result<Prepared, QuickstartError> {
    write_app(layout)?;
    let key = secrets::generate(&chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    write_private(&layout.identity, key.identity_file.expose())?;
    let base_ports = free_port_pairs()?;
    write_config_repo(layout, &key.recipient, base_ports)?;
    let config = format!(
        "# Written by `sluice quickstart`: the daemon of the quickstart in this directory.\n\
         listen: \"127.0.0.1:0\"\n\
         data_dir: data\n\
         projects:\n  - name: {APP}\n    repo: {app}\n    branches: [main]\n    poll: 1s\n\
         config_repo:\n  repo: {config}\n  branch: main\n  poll: 1s\n",
        app = quoted(&layout.app_remote),
        config = quoted(&layout.config_remote),
    );
    write(&layout.config_file, config)?;
    Ok(Prepared { recipient: key.recipient, base_ports })
}

/// The sample app at 0.1.0, committed, with its bare remote (pushed to later).
fn write_app(layout: &Layout) -> Result<(), QuickstartError> {
    for (path, contents) in SAMPLE_APP {
        write(&layout.app.join(path), contents)?;
    }
    git(&layout.root, &["init", "-q", "--bare", "-b", "main", &layout.app_remote.display().to_string()])?;
    git(&layout.app, &["init", "-q", "-b", "main"])?;
    git(&layout.app, &["add", "-A"])?;
    git(&layout.app, &["commit", "-q", "-m", "hello 0.1.0"])?;
    git(&layout.app, &["remote", "add", "origin", &layout.app_remote.display().to_string()])
}

/// The template, adapted: the app's image in the data directory's layout and an HTTP health
/// check, process targets on `base_ports`, staging behind one approval by the demo approver,
/// the demo recipient instead of the placeholder, and the encrypted demo secret.
fn write_config_repo(layout: &Layout, recipient: &str, base_ports: [u16; 3]) -> Result<(), QuickstartError> {
    let dir = &layout.config;
    for (path, contents) in TEMPLATE {
        write(&dir.join(path), contents)?;
    }
    write(
        &dir.join(format!("apps/{APP}/app.yaml")),
        format!(
            "# The quickstart's sample app: images published to an OCI layout in the data directory,\n\
             # run by each environment's process target with the image's entrypoint.\n\
             project: {APP}\n\
             image: {image}\n\
             render:\n  manifests: manifests/\n\
             values:\n  replicas: 1\n\
             health:\n  http: {{path: /healthz, expect_status: 200, timeout: 2s, interval: 1s}}\n",
            image = serde_json::Value::from(format!("oci:{}", layout.images.display())),
        ),
    )?;
    write_environments(dir, recipient, base_ports)?;
    let sops = String::from_utf8_lossy(template_file(".sops.yaml")?).replace(PLACEHOLDER_RECIPIENT, recipient);
    write(&dir.join(".sops.yaml"), sops)?;
    write(
        &dir.join("access.yaml"),
        format!(
            "# The quickstart's one identity: whoever holds the API token named `{TOKEN_NAME}`.\n\
             identities:\n  you: {{tokens: [{TOKEN_NAME}]}}\n\
             groups:\n  release-managers: [you]\n\
             permissions:\n  - groups: [release-managers]\n    actions: [approve, reject, promote, rollback, freeze, override]\n    environments: [dev, staging, production]\n"
        ),
    )?;
    write_demo_secret(dir, recipient)?;
    check_config_repo(dir)?;
    git(dir, &["init", "-q", "-b", "main"])?;
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "-m", "Config repo from `sluice quickstart`"])?;
    git(&layout.root, &["clone", "-q", "--bare", &dir.display().to_string(), &layout.config_remote.display().to_string()])?;
    git(dir, &["remote", "add", "origin", &layout.config_remote.display().to_string()])?;
    git(dir, &["fetch", "-q", "origin"])?;
    git(dir, &["branch", "-q", "--set-upstream-to=origin/main", "main"])
}

/// dev (automatic), staging (one approval) and production (the template's, with the demo
/// recipient), each with a process target on its own pair of ports.
fn write_environments(dir: &Path, recipient: &str, base_ports: [u16; 3]) -> Result<(), QuickstartError> {
    write(
        &dir.join("environments/dev.yaml"),
        format!(
            "# Every new release is promoted here automatically.\n\
             targets:\n  - {{name: local, type: process, base_port: {}}}\n",
            base_ports[0]
        ),
    )?;
    write(
        &dir.join("environments/staging.yaml"),
        format!(
            "# Releases healthy in dev come here once one release manager approves them.\n\
             promote_from: dev\npromotion: auto\n\
             gates:\n  from: true\n  approval: {{quorum: 1, groups: [release-managers]}}\n\
             targets:\n  - {{name: local, type: process, base_port: {}}}\n",
            base_ports[1]
        ),
    )?;
    let production = String::from_utf8_lossy(template_file("environments/production.yaml")?).into_owned();
    let port = regex::Regex::new(r"base_port: \d+").map_err(fail)?;
    if !port.is_match(&production) || !production.contains(PLACEHOLDER_RECIPIENT) {
        return Err(fail("the config repo template's `environments/production.yaml` no longer has the `base_port` and placeholder recipient the quickstart replaces"));
    }
    let production = port.replace(&production, format!("base_port: {}", base_ports[2]).as_str());
    write(&dir.join("environments/production.yaml"), production.replace(PLACEHOLDER_RECIPIENT, recipient))?;
    Ok(())
}

fn template_file(path: &str) -> Result<&'static [u8], QuickstartError> {
    TEMPLATE
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, contents)| *contents)
        .ok_or_else(|| fail(format!("the config repo template has no `{path}`")))
}

/// `DEMO_TOKEN`, a fresh random value, encrypted for the demo recipient in dev and staging.
/// Its clear value exists only in memory.
fn write_demo_secret(dir: &Path, recipient: &str) -> Result<(), QuickstartError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| fail(format!("no random bytes for the demo secret: {e}")))?;
    let mut clear = String::from("DEMO_TOKEN: demo-");
    for byte in bytes {
        clear.push_str(&format!("{byte:02x}"));
    }
    clear.push('\n');
    let clear = Plaintext::from(clear);
    let recipients = Recipients::age(vec![AgeRecipient::parse(recipient).map_err(fail)?]);
    for env in ["dev", "staging"] {
        let file = format!("secrets/{env}/{APP}.yaml");
        let sealed = secrets::encrypt(&file, &clear, &recipients, SystemTime::now()).map_err(fail)?;
        write(&dir.join(&file), sealed)?;
    }
    Ok(())
}

/// Validates the written config repo as the daemon will, so a mistake shows here.
fn check_config_repo(dir: &Path) -> Result<(), QuickstartError> {
    let files = crate::config::repo::load_dir(dir).map_err(|e| fail(format!("cannot read `{}`: {e}", dir.display())))?;
    crate::config::repo::parse(&files, "")
        .map(drop)
        .map_err(|errors| fail(format!("the config repo it wrote is invalid:\n{errors}")))
}

/// Three pairs of consecutive free loopback ports (each process target uses two).
fn free_port_pairs() -> Result<[u16; 3], QuickstartError> {
    let mut held = Vec::new();
    let mut found = Vec::new();
    for _ in 0..100 {
        if found.len() == 3 {
            break;
        }
        let first = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| fail(format!("no free loopback port: {e}")))?;
        let port = first.local_addr().map_err(fail)?.port();
        let Some(next) = port.checked_add(1) else { continue };
        if let Ok(second) = std::net::TcpListener::bind(("127.0.0.1", next)) {
            found.push(port);
            held.push(second);
        }
        held.push(first);
    }
    found.try_into().map_err(|_| fail("found no three pairs of consecutive free loopback ports"))
}

/// Creates the demo approver's API token in the daemon's store and writes it to
/// `approver.token` (0600), the only place it is kept.
///
/// # Errors
///
/// [`QuickstartError::Setup`] when the store or the file cannot be written.
pub fn approver_token(layout: &Layout) -> Result<(), QuickstartError> {
    let store = crate::store::Store::open(layout.data.join("sluice.db")).map_err(|e| fail(format!("cannot open the daemon's store: {e}")))?;
    let token = crate::api::auth::generate_token().map_err(fail)?;
    let hash = crate::api::auth::hash_token(&token);
    store
        .create_token(TOKEN_NAME, crate::store::TokenScope::Write, &hash, crate::store::Timestamp::now())
        .map_err(|e| fail(format!("cannot create the approver's token: {e}")))?;
    write_private(&layout.token, token.expose_secret().as_bytes())
}

/// Raises `VERSION` to [`BUMPED_VERSION`], commits and pushes `main` (both commits).
///
/// # Errors
///
/// [`QuickstartError::Setup`] when git fails.
pub fn push_bump(layout: &Layout) -> Result<(), QuickstartError> {
    write(&layout.app.join("VERSION"), format!("{BUMPED_VERSION}\n"))?;
    git(&layout.app, &["commit", "-q", "-am", &format!("Release {APP} {BUMPED_VERSION}")])?;
    git(&layout.app, &["push", "-q", "origin", "main"])
}
