//! Registry bearer-token authentication, as Docker Hub, GHCR and GitLab's registry do it: the
//! real `docker-registry` is configured with `auth: token:` and answers `401` with a
//! `WWW-Authenticate: Bearer realm=…` challenge; `oci-client` (inside `sluice`) trades the
//! configured user name and password for a token at the realm and sends that token.
//!
//! The token server here is test infrastructure, not part of Sluice: a small Python HTTP
//! endpoint that checks basic credentials and issues a JWT (RS256, its certificate in the
//! `x5c` header) granting the requested scopes, signed with `openssl dgst` by a key made for
//! the test; the registry trusts that key's certificate through `rootcertbundle` and checks
//! every token's signature, issuer, audience and expiry.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use crate::mirrors::{python_server, run};
use crate::registry::{TestRegistry, inspect, skopeo};
use crate::support::dump;

const SERVICE: &str = "sluice-test-registry";
const ISSUER: &str = "sluice-test-token-issuer";
const USER: &str = "pusher";
const PASSWORD: &str = "token-s3cret-pass";

/// Issues a JWT for `GET /token?service=…&scope=…` to requests with the right basic
/// credentials; `401` otherwise.
const TOKEN_SERVER: &str = r#"
import base64, http.server, json, subprocess, sys, time, urllib.parse, uuid
key, cert_der, login, issuer = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
chain = [base64.b64encode(open(cert_der, "rb").read()).decode()]
def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def reply(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(login.encode()).decode():
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong user name or password"}]})
        access = []
        for scopes in query.get("scope", []):
            for scope in scopes.split(" "):
                kind, rest = scope.split(":", 1)
                name, actions = rest.rsplit(":", 1)
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": chain}
        claims = {"iss": issuer, "sub": login.split(":")[0], "aud": query.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                                   capture_output=True, check=True).stdout
        token = signing_input + "." + b64url(signature)
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300})
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A signing key and its self-signed certificate (PEM, and DER for the `x5c` header).
fn signing_key(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (key, cert, der) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pem")), dir.join(format!("{name}.der")));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    run(Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert).arg("-out").arg(&der));
    (key, cert, der)
}

/// The token server, stopped on drop.
struct TokenServer {
    child: Child,
    realm: String,
    _dir: tempfile::TempDir,
    /// The certificate of the key tokens are signed with.
    cert: PathBuf,
}

impl TokenServer {
    fn start() -> TokenServer {
        let dir = tempfile::tempdir().expect("token server dir");
        let (key, cert, der) = signing_key(dir.path(), "issuer");
        let login = format!("{USER}:{PASSWORD}");
        let args = [key.as_os_str(), der.as_os_str(), OsStr::new(&login), OsStr::new(ISSUER)];
        let (child, port) = python_server(TOKEN_SERVER, &args);
        TokenServer { child, realm: format!("http://127.0.0.1:{port}/token"), _dir: dir, cert }
    }

    /// A registry trusting tokens signed by the certificates in `root_certs`.
    fn registry(&self, root_certs: &Path) -> TestRegistry {
        TestRegistry::start_with_token_auth(&self.realm, SERVICE, ISSUER, root_certs)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sluice image build --push` of a one-file image to `image` with `password`.
fn push(work: &Path, image: &str, password: &str) -> Output {
    std::fs::write(work.join("hello.txt"), "hello\n").expect("write");
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(work)
        .args(["image", "build", "--layer", "hello.txt:/hello.txt", "--tag", image, "--push"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("NO_COLOR", "1")
        .env("SLUICE_REGISTRY_USERNAME", USER)
        .env("SLUICE_REGISTRY_PASSWORD", password)
        .output()
        .expect("sluice runs")
}

#[test]
fn an_image_is_pushed_with_a_token_traded_for_the_configured_credentials() {
    let tokens = TokenServer::start();
    let registry = tokens.registry(&tokens.cert);
    let work = tempfile::tempdir().expect("work");
    let image = registry.image("hello:1.0.0");

    let refused = push(work.path(), &image, "wrong-pass");
    assert_eq!(refused.status.code(), Some(2), "{}", dump(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(&format!("registry `{}` refused the credentials of `{USER}`", registry.host)), "{stderr}");
    assert!(!stderr.contains("wrong-pass"), "a password was printed: {stderr}");

    let pushed = push(work.path(), &image, PASSWORD);
    assert!(pushed.status.success(), "{}\n{}", dump(&pushed), registry.log());
    let digest = String::from_utf8_lossy(&pushed.stdout).trim().to_owned();
    let creds = format!("{USER}:{PASSWORD}");
    assert_eq!(inspect(&image, &["--creds", &creds])["Digest"], digest.as_str());
    let anonymous = skopeo(&["inspect", "--tls-verify=false", "--no-creds", &format!("docker://{image}")]);
    assert!(!anonymous.status.success(), "the registry demands a token: {}", dump(&anonymous));

    // Pulling a base goes through the same exchange (with a pull scope).
    let derived = registry.image("derived:1.0.0");
    let built = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(work.path())
        .args(["image", "build", "--from", &image, "--layer", "hello.txt:/again.txt", "--tag", &derived, "--push"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("SLUICE_REGISTRY_USERNAME", USER)
        .env("SLUICE_REGISTRY_PASSWORD", PASSWORD)
        .output()
        .expect("sluice runs");
    assert!(built.status.success(), "{}", dump(&built));
    let layers = inspect(&derived, &["--creds", &creds])["Layers"].as_array().map_or(0, Vec::len);
    assert_eq!(layers, 2, "the base's layer and the new one");
}

#[test]
fn a_token_signed_by_a_key_the_registry_does_not_trust_is_refused() {
    let tokens = TokenServer::start();
    let other = tempfile::tempdir().expect("other key");
    let (_, untrusted, _) = signing_key(other.path(), "someone-else");
    let registry = tokens.registry(&untrusted);
    let work = tempfile::tempdir().expect("work");
    let out = push(work.path(), &registry.image("hello:1.0.0"), PASSWORD);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("registry `{}` refused the credentials of `{USER}`", registry.host)), "{stderr}");
}

#[test]
fn a_publication_pushes_through_token_authentication() {
    let tokens = TokenServer::start();
    let registry = tokens.registry(&tokens.cert);
    let repo = crate::support::Repo::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/publish"));
    let origin = tempfile::tempdir().expect("origin");
    crate::pipelines::git(origin.path(), &["init", "-q", "--bare"]);
    crate::pipelines::git(&repo.path, &["remote", "set-url", "origin", &origin.path().display().to_string()]);
    let run = |password: &str| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .current_dir(&repo.path)
            .args(["run", "--registry", &registry.host, "--state-dir"])
            .arg(repo.path.join(".sluice"))
            .env("NO_COLOR", "1")
            .env("SLUICE_REGISTRY_USERNAME", USER)
            .env("SLUICE_REGISTRY_PASSWORD", password)
            .output()
            .expect("sluice runs")
    };
    let refused = run("wrong-pass");
    assert!(!refused.status.success(), "{}", dump(&refused));
    let text = String::from_utf8_lossy(&refused.stdout).into_owned() + &String::from_utf8_lossy(&refused.stderr);
    assert!(text.contains(&format!("refused the credentials of `{USER}`")), "{text}");
    assert!(!text.contains("wrong-pass"), "{text}");

    let out = run(PASSWORD);
    assert!(out.status.success(), "{}\n{}", dump(&out), registry.log());
    let creds = format!("{USER}:{PASSWORD}");
    let inspected = inspect(&registry.image("hello:0.1.0"), &["--creds", &creds]);
    assert_eq!(inspected["Labels"]["org.opencontainers.image.version"], "0.1.0");
}

#[test]
fn the_daemon_publishes_with_the_projects_registry_account_through_token_authentication() {
    use crate::pipelines::{Remote, finished_pipeline};
    let tokens = TokenServer::start();
    let registry = tokens.registry(&tokens.cert);
    let remote = Remote::new();
    let sha = crate::publish::push_example(&remote);
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{}\"\n    poll: 1s\n    publish:\n      registry: \"{}\"\n      username: {USER}\n      password: \"env:DEMO_REGISTRY_PASSWORD\"\n",
        remote.bare.display(),
        registry.host
    );
    let daemon = crate::daemon::Daemon::start(&config, &[("DEMO_REGISTRY_PASSWORD", PASSWORD)]);
    let pipeline = finished_pipeline(&daemon, &sha);
    assert_eq!(pipeline.status.as_str(), "success", "{}\n{}", daemon.dump(), registry.log());
    let release = daemon.store().get_release("hello", "0.1.0").expect("read").expect("released");
    let creds = format!("{USER}:{PASSWORD}");
    assert_eq!(inspect(&registry.image("hello:0.1.0"), &["--creds", &creds])["Digest"], release.digest);
}
