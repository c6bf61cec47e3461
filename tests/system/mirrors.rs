//! Remote repositories: `https://` through libgit2's HTTPS transport from a real
//! `git http-backend`, served over TLS by a small Python server with a self-signed
//! certificate that the daemon trusts through `SSL_CERT_FILE` (optionally behind basic
//! authentication), and `ssh://` from a real `sshd` ([`crate::sshd`]) with the host key
//! checked against a `known_hosts` file.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::daemon::Daemon;
use crate::pipelines::{Remote, finished_pipeline};
use crate::sshd::TestSshd;

/// Serves every repository under `argv[1]` with `git http-backend` over TLS: HTTP/1.1 with a
/// `Content-Length`, which libgit2 needs (a CGI server's read-until-close HTTP/1.0 is not
/// enough).
const SERVER: &str = r#"
import base64, http.server, os, ssl, subprocess, sys
repos, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
login = sys.argv[4] if len(sys.argv) > 4 else None
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def backend(self):
        path, _, query = self.path.partition("?")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            # libgit2 sends a push's pack in chunks.
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    break
                body += chunk
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        user = {}
        if login is not None:
            expected = "Basic " + base64.b64encode(login.encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            # git http-backend accepts pushes from an authenticated user.
            user = {"REMOTE_USER": login.split(":")[0]}
        env = dict(os.environ, GIT_PROJECT_ROOT=repos, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path, **user,
                   QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)))
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
    do_GET = backend
    do_POST = backend
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A TLS `git http-backend`, stopped on drop.
pub(crate) struct HttpsGit {
    child: Child,
    /// The port on 127.0.0.1.
    pub(crate) port: u16,
    /// The server's certificate, for `SSL_CERT_FILE`.
    pub(crate) cert: std::path::PathBuf,
}

impl Drop for HttpsGit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command`, which must succeed.
pub(crate) fn run(command: &mut Command) {
    let out = command.output().expect("command runs");
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Serves the repositories under `repos` over TLS (certificate and key written to `dir`),
/// requiring `login` (`user:password`) by basic authentication when given.
pub(crate) fn serve(dir: &Path, repos: &Path, login: Option<&str>) -> HttpsGit {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let mut args = vec![repos.as_os_str(), cert.as_os_str(), key.as_os_str()];
    args.extend(login.map(OsStr::new));
    let (child, port) = python_server(SERVER, &args);
    HttpsGit { child, port, cert }
}

/// Starts `python3 -c script args…`, a server that prints the port it listens on first.
pub(crate) fn python_server(script: &str, args: &[&OsStr]) -> (Child, u16) {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the port");
    let port = line.trim().parse().unwrap_or_else(|_| panic!("no port from the server: {line:?}"));
    (child, port)
}

#[test]
fn an_https_repository_is_mirrored_and_its_pipeline_runs() {
    let remote = Remote::new();
    let sha = remote.push("job:\n  script:\n    - echo over https\n", "served over https");
    let dir = tempfile::tempdir().expect("temp dir");
    let repos = remote.bare.parent().expect("a parent").to_owned();
    let server = serve(dir.path(), &repos, None);
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"https://127.0.0.1:{}/demo.git\"\n    poll: 1s\n",
        server.port
    );
    let cert = dir.path().join("cert.pem");
    let daemon = Daemon::start(&config, &[("SSL_CERT_FILE", cert.to_str().expect("utf-8"))]);
    let pipeline = finished_pipeline(&daemon, &sha);
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
}

/// A daemon config for project `demo` at `repo` with `credentials` (YAML flow mapping).
fn project_config(repo: &str, credentials: &str) -> String {
    format!("projects:\n  - name: demo\n    repo: \"{repo}\"\n    poll: 1s\n    credentials: {credentials}\n")
}

#[test]
fn an_https_repository_behind_basic_authentication_is_fetched_with_the_configured_password() {
    const PASSWORD: &str = "glpat-s3cr3t-over-https";
    let remote = Remote::new();
    let sha = remote.push("job:\n  script:\n    - echo authenticated\n", "behind basic auth");
    let dir = tempfile::tempdir().expect("temp dir");
    let repos = remote.bare.parent().expect("a parent").to_owned();
    let server = serve(dir.path(), &repos, Some(&format!("sluice-bot:{PASSWORD}")));
    let url = format!("https://127.0.0.1:{}/demo.git", server.port);
    let config = project_config(&url, "{username: sluice-bot, password: \"env:DEMO_GIT_TOKEN\"}");
    let cert = server.cert.to_str().expect("utf-8");
    let daemon = Daemon::start(&config, &[("SSL_CERT_FILE", cert), ("DEMO_GIT_TOKEN", PASSWORD)]);
    let pipeline = finished_pipeline(&daemon, &sha);
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
    // The password reached git only through the credentials callback.
    let mirror_config = std::fs::read_to_string(daemon.data_dir.join("mirrors/demo.git/config")).expect("config");
    assert!(!mirror_config.contains(PASSWORD), "{mirror_config}");
    let leaked = Command::new("grep").args(["-r", "-l", "-a", PASSWORD]).arg(&daemon.root).output().expect("grep");
    assert_eq!(String::from_utf8_lossy(&leaked.stdout), "", "the password was written to disk");

    // A wrong password: no pipeline, and the log says which user was refused, without the secret.
    drop(daemon);
    let next = remote.push("job:\n  script:\n    - echo again\n", "second");
    let daemon = Daemon::start(&config, &[("SSL_CERT_FILE", cert), ("DEMO_GIT_TOKEN", "wrong")]);
    let refused = daemon.eventually("the refused password in the log", || {
        let log = daemon.stderr();
        log.contains(&format!("`{url}` refused the password of user `sluice-bot`")).then_some(()).ok_or(log)
    });
    refused.unwrap_or_else(|log| panic!("{log}"));
    assert!(!daemon.stderr().contains("wrong"), "{}", daemon.stderr());
    let pipelines = daemon.store().list_pipelines(Some("demo"), 10).expect("pipelines");
    assert!(pipelines.iter().all(|p| p.sha != next), "{pipelines:?}");
}

#[test]
fn an_ssh_repository_is_fetched_with_the_configured_key_and_a_push_becomes_a_pipeline() {
    let remote = Remote::new();
    let first = remote.push("job:\n  script:\n    - echo over ssh\n", "served over ssh");
    let sshd = TestSshd::start();
    // An encrypted key, given as text in a variable with its passphrase in another.
    let key = std::fs::read_to_string(sshd.client_key_with_passphrase("correct horse")).expect("key");
    let credentials = format!(
        "{{ssh_key: \"env:DEPLOY_KEY\", ssh_key_passphrase: \"env:DEPLOY_KEY_PASSPHRASE\", known_hosts: \"file:{}\"}}",
        sshd.known_hosts().display()
    );
    let env = [("DEPLOY_KEY", key.as_str()), ("DEPLOY_KEY_PASSPHRASE", "correct horse")];
    let daemon = Daemon::start(&project_config(&sshd.url(&remote.bare), &credentials), &env);
    let pipeline = finished_pipeline(&daemon, &first);
    assert_eq!(pipeline.status.as_str(), "success", "{}\n{}", daemon.dump(), sshd.log());
    let second = remote.push("job:\n  script:\n    - echo pushed later\n", "a later push");
    let pipeline = finished_pipeline(&daemon, &second);
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
    assert_eq!(pipeline.git_ref, "main");
}

#[test]
fn an_ssh_host_with_another_key_or_none_listed_is_refused_naming_host_and_fingerprint() {
    let remote = Remote::new();
    let sha = remote.push("job:\n  script:\n    - echo never\n", "never fetched");
    let sshd = TestSshd::start();
    let empty = tempfile::NamedTempFile::new().expect("empty known_hosts");
    let key = sshd.client_key();
    let url = sshd.url(&remote.bare);
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"{url}\"\n    poll: 1s\n    credentials: {{ssh_key: \"file:{key}\", known_hosts: \"file:{changed}\"}}\n  \
         - name: unknown\n    repo: \"{url}\"\n    poll: 1s\n    credentials: {{ssh_key: \"file:{key}\", known_hosts: \"file:{empty}\"}}\n",
        key = key.display(),
        changed = sshd.wrong_known_hosts().display(),
        empty = empty.path().display(),
    );
    let daemon = Daemon::start(&config, &[]);
    let host = format!("[127.0.0.1]:{}", sshd.port);
    let fingerprint = sshd.host_fingerprint();
    let mismatch = format!("SSH host `{host}` presented the ssh-ed25519 key {fingerprint}, which is not the key");
    let unknown = format!("SSH host `{host}` is not in `{}`; it presented the ssh-ed25519 key {fingerprint}", empty.path().display());
    let logged = daemon.eventually("both refusals in the log", || {
        let log = daemon.stderr();
        (log.contains(&mismatch) && log.contains(&unknown)).then_some(()).ok_or(log)
    });
    logged.unwrap_or_else(|log| panic!("expected `{mismatch}` and `{unknown}` in:\n{log}"));
    assert!(daemon.stderr().contains(&format!("ssh-keyscan -p {} 127.0.0.1", sshd.port)), "{}", daemon.stderr());
    assert!(!sshd.log().contains("Accepted publickey"), "no key was offered to a refused host:\n{}", sshd.log());
    let pipelines = daemon.store().list_pipelines(None, 10).expect("pipelines");
    assert!(pipelines.iter().all(|p| p.sha != sha), "{pipelines:?}");
}

#[test]
fn an_ssh_repository_without_a_readable_key_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |yaml: &str| {
        let file = dir.path().join("sluice.yaml");
        std::fs::write(&file, yaml).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["config", "check", "--config"])
            .arg(&file)
            .output()
            .expect("sluice runs");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, text) = check("projects:\n  - name: demo\n    repo: \"ssh://git@git.example.com/demo.git\"\n");
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("projects[0].credentials: `ssh://git@git.example.com/demo.git` is an SSH repository, and `credentials.ssh_key` is not set"),
        "{text}"
    );
    assert!(text.contains("hint: name the deploy key"), "{text}");
    let (code, text) = check(
        "projects:\n  - name: demo\n    repo: \"git@git.example.com:demo.git\"\n    credentials:\n      ssh_key: \"file:missing_key\"\n",
    );
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("sluice.yaml:5:"), "{text}");
    assert!(text.contains("projects[0].credentials.ssh_key: cannot read secret file"), "{text}");
}
