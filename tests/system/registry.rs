//! A real registry for tests: Debian's `docker-registry` (the CNCF distribution registry)
//! started on a free loopback port with its configuration and storage in a temporary
//! directory (never the system service), and `skopeo` to check what it holds.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running registry, stopped when dropped.
pub struct TestRegistry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub host: String,
    dir: tempfile::TempDir,
    /// Other directories the registry reads (its htpasswd file).
    keep: Vec<tempfile::TempDir>,
}

impl TestRegistry {
    /// Starts a registry and waits until it answers `GET /v2/`.
    pub fn start() -> TestRegistry {
        Self::start_with("")
    }

    /// Starts a registry that accepts only `user` with `password` (HTTP basic
    /// authentication from an htpasswd file made with Apache's `htpasswd -B`).
    pub fn start_with_basic_auth(user: &str, password: &str) -> TestRegistry {
        let dir = tempfile::tempdir().expect("htpasswd dir");
        let htpasswd = dir.path().join("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbc"])
            .arg(&htpasswd)
            .args([user, password])
            .output()
            .expect("htpasswd runs (scripts/setup --test installs apache2-utils)");
        assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
        let auth = format!("auth:\n  htpasswd:\n    realm: sluice-test\n    path: {}\n", htpasswd.display());
        let mut registry = Self::start_with(&auth);
        registry.keep.push(dir);
        registry
    }

    /// Starts a registry that accepts only bearer tokens issued at `realm` for `service` by
    /// `issuer`, signed by a key whose certificate is in `root_certs` (distribution's
    /// `auth: token:`; the registry verifies every token's signature and claims).
    pub fn start_with_token_auth(realm: &str, service: &str, issuer: &str, root_certs: &Path) -> TestRegistry {
        let auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            root_certs.display()
        );
        Self::start_with(&auth)
    }

    fn start_with(extra_config: &str) -> TestRegistry {
        let dir = tempfile::tempdir().expect("registry dir");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n{extra_config}",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        let mut registry = TestRegistry { child: None, host, dir, keep: Vec::new() };
        registry.spawn();
        registry
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("registry.log")).expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts (scripts/setup --test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // 401: up, and asking for credentials.
            if matches!(curl_status(&format!("http://{}/v2/", self.host)).as_str(), "200" | "401") {
                return;
            }
            assert!(Instant::now() < deadline, "registry did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the registry (its storage stays), as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `127.0.0.1:PORT/REPOSITORY:TAG`.
    pub fn image(&self, repository_and_tag: &str) -> String {
        format!("{}/{repository_and_tag}", self.host)
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn curl_status(url: &str) -> String {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url]).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// Runs `skopeo` with `args` (plain http for the loopback registry).
pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo").args(args).output().expect("skopeo runs (scripts/setup --test installs it)")
}

/// `skopeo inspect [extra] docker://IMAGE` as JSON.
pub fn inspect(image: &str, extra: &[&str]) -> serde_json::Value {
    let reference = format!("docker://{image}");
    let mut args = vec!["inspect", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&reference);
    let out = skopeo(&args);
    assert!(out.status.success(), "skopeo inspect {image} failed:\n{}", crate::support::dump(&out));
    serde_json::from_slice(&out.stdout).expect("skopeo prints JSON")
}

/// Copies `image` from the registry to the OCI layout `dir` (tag `copied`) with skopeo and
/// returns the layout's manifest for that tag.
pub fn copy_to_layout(image: &str, dir: &Path, extra: &[&str]) -> serde_json::Value {
    let source = format!("docker://{image}");
    let target = format!("oci:{}:copied", dir.display());
    let mut args = vec!["copy", "-q", "--src-tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&source);
    args.push(&target);
    let out = skopeo(&args);
    assert!(out.status.success(), "skopeo copy failed:\n{}", crate::support::dump(&out));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index")).expect("index JSON");
    let digest = index["manifests"][0]["digest"].as_str().expect("digest").to_owned();
    blob_json(dir, &digest)
}

/// A JSON blob of an OCI layout.
pub fn blob_json(dir: &Path, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&blob(dir, digest)).expect("blob JSON")
}

/// A blob of an OCI layout.
pub fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    std::fs::read(dir.join("blobs/sha256").join(hex)).expect("blob")
}

/// A layer blob of an OCI layout as a tar: skopeo (1.9) gzips layers it writes to a layout,
/// so a gzip stream is decompressed with the real `gzip`.
pub fn layer_tar(dir: &Path, digest: &str) -> Vec<u8> {
    use std::io::Write as _;
    let bytes = blob(dir, digest);
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return bytes;
    }
    // From a file, not a pipe written before reading: a layer larger than the pipe's buffer
    // would block both sides.
    let mut compressed = tempfile::NamedTempFile::new().expect("temporary file");
    compressed.write_all(&bytes).expect("write the layer");
    let out = Command::new("gzip").arg("-dc").arg(compressed.path()).stdin(Stdio::null()).output().expect("gzip runs");
    assert!(out.status.success(), "gzip -dc failed");
    out.stdout
}
