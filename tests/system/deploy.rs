//! The CD loop through the real daemon: a config repo pushed with the `git` CLI, images
//! built with `sluice image build` into an OCI layout, secrets encrypted with `sluice
//! secrets` for a freshly generated age key, and the app running as a real python3 process.

use std::io::{Read as _, Write as _};

use sha2::Digest as _;
use std::path::{Path, PathBuf};

use sluice::deploy::target::process::ProcessTarget;
use sluice::store::{DeploymentRow, DeploymentStatus};

use crate::daemon::Daemon;
use crate::pipelines::{Remote, git};
use crate::support::{dump, sluice};

const SECRET: &str = "s3cret-value";

/// The secret's value after it is changed (reversed by the app: `eulav-detat0r`).
const ROTATED: &str = "r0tated-value";

/// Answers `<VERSION> key=<API_KEY reversed>` (reversed, so that a search for the secret
/// does not find it in this script).
pub(crate) const APP: &str = r#"import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (open("VERSION").read().strip() + " key=" + os.environ.get("API_KEY", "")[::-1]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// A config repo made with `sluice init` (dev: a process target and a command target writing
/// `marker`), an OCI layout for the app's images, an age identity and dev's encrypted secret.
pub(crate) struct Setup {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: Remote,
    pub(crate) layout: PathBuf,
    pub(crate) identity: PathBuf,
    recipient: String,
}

pub(crate) fn ok(output: std::process::Output) -> String {
    assert!(output.status.success(), "{}", dump(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

impl Setup {
    pub(crate) fn new(base_port: u16) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = Remote::new();
        let layout = dir.path().join("images/hello");
        ok(sluice(dir.path(), &["init", "template"]));
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(dir.path().join("template/."))
            .arg(&config.work)
            .status();
        assert!(copied.unwrap().success());
        let work = &config.work;
        std::fs::write(
            work.join("apps/hello/app.yaml"),
            format!(
                "image: \"oci:{}\"\nrender: {{manifests: manifests/}}\nvalues: {{replicas: 1}}\n\
                 health: {{http: {{path: /, expect_status: 200, timeout: 1s, interval: 1s}}}}\n",
                layout.display()
            ),
        )
        .unwrap();
        let marker = dir.path().join("marker");
        std::fs::write(
            work.join("environments/dev.yaml"),
            format!(
                "targets:\n  - {{name: local, type: process, base_port: {base_port}}}\n\
                 \x20 - {{name: marker, type: command, run: [sh, -c, \"echo $SLUICE_VERSION >> {}; \
                 sha256sum < $SLUICE_SECRETS_DIR/API_KEY > {}.key; echo $SLUICE_SECRETS_DIR > {}.dir\"]}}\n\
                 rollout: {{steps: [50, 100], pause: 0s, auto_rollback: false}}\n",
                marker.display(),
                marker.display(),
                marker.display()
            ),
        )
        .unwrap();
        let keys = sluice(dir.path(), &["secrets", "keygen"]);
        let identity = dir.path().join("identity.txt");
        std::fs::write(&identity, &keys.stdout).unwrap();
        let recipient = String::from_utf8_lossy(&keys.stderr)
            .lines()
            .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
            .expect("keygen prints the public key");
        let setup = Setup {
            dir,
            config,
            layout,
            identity,
            recipient,
        };
        setup.set_secret(SECRET);
        setup
    }

    /// Encrypts `API_KEY: value` as dev's secrets of hello (not pushed).
    fn set_secret(&self, value: &str) {
        let secrets = self.config.work.join("secrets/dev/hello.yaml");
        std::fs::write(&secrets, format!("API_KEY: {value}\n")).unwrap();
        let path = secrets.to_str().unwrap();
        ok(sluice(self.dir.path(), &["secrets", "encrypt", "--age", &self.recipient, "-i", path]));
    }

    /// Writes `text` to `path` of the config repo's working tree (not pushed).
    pub(crate) fn write(&self, path: &str, text: &str) {
        std::fs::write(self.config.work.join(path), text).unwrap();
    }

    /// The daemon's `sluice.yaml` for this config repo, polled every second.
    pub(crate) fn daemon_config(&self) -> String {
        format!("config_repo:\n  repo: \"file://{}\"\n  poll: 1s\n", self.config.bare.display())
    }

    /// Builds the app at `version` (its command `cmd`) and pins it in dev.
    /// Returns the image's tag and digest.
    pub(crate) fn pin(&self, version: &str, cmd: &[&str]) -> (String, String) {
        let (tag, digest) = self.build(version, cmd);
        let pin = format!("version: {version}\nimage: \"{tag}\"\ndigest: \"{digest}\"\n");
        self.write("apps/hello/dev.yaml", &pin);
        self.push(&format!("pin {version}"));
        (tag, digest)
    }

    /// Builds the app at `version` (its command `cmd`) into the layout: its tag and digest.
    pub(crate) fn build(&self, version: &str, cmd: &[&str]) -> (String, String) {
        self.build_app(version, cmd, APP)
    }

    /// Builds `app_py` as `app.py` of the app at `version` into the layout: its tag and digest.
    pub(crate) fn build_app(&self, version: &str, cmd: &[&str], app_py: &str) -> (String, String) {
        let app = self.dir.path().join(format!("app-{version}"));
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("app.py"), app_py).unwrap();
        std::fs::write(app.join("VERSION"), version).unwrap();
        let layer = format!("{}:/app", app.display());
        let tag = format!("oci:{}:{version}", self.layout.display());
        let mut args = vec!["image", "build", "--layer", &layer, "--workdir", "/app", "--tag", &tag];
        for arg in cmd {
            args.extend(["--cmd", arg]);
        }
        let digest = ok(sluice(self.dir.path(), &args));
        (tag, digest)
    }

    pub(crate) fn push(&self, message: &str) {
        git(&self.config.work, &["add", "-A"]);
        git(&self.config.work, &["commit", "-q", "-m", message]);
        git(&self.config.work, &["push", "-q", "origin", "main"]);
    }

    fn marker(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("marker"))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The body of `GET url/`, `None` when nothing answers.
pub(crate) fn get(url: &str) -> Option<String> {
    let addr = url.strip_prefix("http://")?;
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split("\r\n\r\n").nth(1).map(str::to_string)
}

/// Waits until the latest deployment of hello in dev is of `version` and finished.
pub(crate) fn deployed(daemon: &Daemon, version: &str) -> DeploymentRow {
    daemon
        .eventually(&format!("{version} is deployed"), || {
            let row = daemon
                .store()
                .latest_deployment("hello", "dev")
                .map_err(|e| e.to_string())?;
            match row {
                Some(row) if row.version == version && row.finished_at.is_some() => Ok(row),
                other => Err(format!("{other:?}")),
            }
        })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Fails naming the file under `dir` that holds `text` (`what` says what it is).
pub(crate) fn assert_in_no_file(dir: &Path, text: &str, what: &str) {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_default();
        assert!(
            !bytes.windows(text.len()).any(|w| w == text.as_bytes()),
            "{what} is in {}",
            path.display()
        );
    }
}

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.file_type() {
            Ok(t) if t.is_dir() => files_under(&entry.path(), found),
            Ok(t) if t.is_file() => found.push(entry.path()),
            _ => {}
        }
    }
}

#[test]
fn pins_deploy_failures_keep_the_previous_release_and_secrets_go_only_to_the_target() {
    let base_port = crate::registry::free_port();
    let setup = Setup::new(base_port);
    setup.pin("1.0.0", &["python3", "app.py"]);
    // Debug logs too: the secret must not be in any of them.
    let daemon = Daemon::start(
        &setup.daemon_config(),
        &[
            ("SLUICE_IDENTITY_FILE", setup.identity.to_str().unwrap()),
            ("SLUICE_LOG", "debug"),
        ],
    );

    let first = deployed(&daemon, "1.0.0");
    assert_eq!(
        first.status,
        DeploymentStatus::Healthy,
        "{:?}\n{}",
        first.message,
        daemon.dump()
    );
    let url = daemon
        .store()
        .deployment_details(first.id)
        .unwrap()
        .unwrap()
        .url
        .expect("a URL");
    assert_eq!(
        get(&url).as_deref(),
        Some("1.0.0 key=eulav-terc3s"),
        "the secret reached the process"
    );
    assert_eq!(setup.marker(), "1.0.0", "both rollout steps ran");
    // The command target got the secret as a file in a private directory, removed afterwards.
    let marker = setup.dir.path().join("marker");
    let key_hash = std::fs::read_to_string(marker.with_extension("key")).unwrap();
    let expected: String = sha2::Sha256::digest(SECRET.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(key_hash.split_whitespace().next(), Some(expected.as_str()), "the command target read the secret");
    let secrets_dir = std::fs::read_to_string(marker.with_extension("dir")).unwrap();
    assert!(!Path::new(secrets_dir.trim()).exists(), "{secrets_dir} is removed after the command");

    // A changed secret, same release: deployed again, the process restarted with the new value.
    let healthy_since = first.healthy_since;
    setup.set_secret(ROTATED);
    setup.push("change API_KEY");
    let first = daemon
        .eventually("the new secret is deployed", || {
            match daemon.store().latest_deployment("hello", "dev").map_err(|e| e.to_string())? {
                Some(row) if row.id > first.id && row.finished_at.is_some() => Ok(row),
                other => Err(format!("{other:?}")),
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.status, DeploymentStatus::Healthy, "{:?}", first.message);
    assert_eq!(first.healthy_since, healthy_since, "the same release was healthy all along: soak goes on");
    let url = daemon.store().deployment_details(first.id).unwrap().unwrap().url.expect("a URL");
    assert_eq!(get(&url).as_deref(), Some("1.0.0 key=eulav-detat0r"), "the new secret reached the process");
    assert_eq!(setup.marker(), "1.0.0 1.0.0", "the command target ran again");

    // 2.0.0 exits at once: the first step fails, the second (marker) does not run.
    setup.pin("2.0.0", &["python3", "missing.py"]);
    let second = deployed(&daemon, "2.0.0");
    assert_eq!(second.status, DeploymentStatus::Failed, "{:?}", second.message);
    assert!(
        second
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("target `local` failed, rollout stopped"),
        "{:?}",
        second.message
    );
    assert_eq!(
        get(&url).as_deref(),
        Some("1.0.0 key=eulav-detat0r"),
        "1.0.0 still serves"
    );
    assert_eq!(setup.marker(), "1.0.0 1.0.0", "the step after the failed one did not run");
    let current = daemon.store().current_deployment("hello", "dev").unwrap().unwrap();
    assert_eq!(
        (current.id, current.version.as_str(), current.status),
        (first.id, "1.0.0", DeploymentStatus::Healthy),
        "1.0.0 is still recorded as dev's current deployment"
    );
    let reader = crate::api::create_token(&daemon, "reader", "read");
    let history = |json: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["history", "hello", "dev"])
            .args(json)
            .env("SLUICE_SERVER", daemon.addr.to_string())
            .env("SLUICE_TOKEN", &reader)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        ok(output)
    };
    let text = history(&[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"deployments, newest first (* current):"), "{text}");
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("  ") && l.contains("  2.0.0     failed       target `local` failed")),
        "{text}"
    );
    assert!(lines.get(2).is_some_and(|l| l.starts_with("* ") && l.contains("  1.0.0     healthy ")), "{text}");
    let history: serde_json::Value = serde_json::from_str(&history(&["--json"])).unwrap();
    assert_eq!(history["current"]["version"], "1.0.0", "{history:#}");
    assert_eq!(
        (&history["deployments"][0]["version"], &history["deployments"][0]["status"]),
        (&serde_json::json!("2.0.0"), &serde_json::json!("failed")),
        "the failed attempt is in the history: {history:#}"
    );
    assert_eq!(history["deployments"][1]["current"], true, "{history:#}");

    // A template symlinked out of the config repo refuses the render: nothing is touched.
    std::os::unix::fs::symlink(
        "/etc/hostname",
        setup.config.work.join("apps/hello/manifests/leak.yaml"),
    )
    .unwrap();
    setup.pin("3.0.0", &["python3", "app.py"]);
    let third = deployed(&daemon, "3.0.0");
    assert_eq!(third.status, DeploymentStatus::Failed);
    assert!(
        third
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("`leak.yaml` leaves the config repo"),
        "{:?}",
        third.message
    );
    assert_eq!(
        get(&url).as_deref(),
        Some("1.0.0 key=eulav-detat0r"),
        "1.0.0 still serves"
    );

    // The secret is in no file the daemon wrote: logs, store, checkouts, renders, state.
    assert_in_no_file(&daemon.root, SECRET, "the secret");
    assert_in_no_file(&daemon.root, ROTATED, "the changed secret");
    let target = ProcessTarget {
        dir: daemon.data_dir.join("deploy/hello/dev/local"),
        layout: setup.layout.clone(),
        base_port,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(target.stop()).unwrap();
    assert!(get(&url).is_none(), "the release is stopped");
}
