//! An `https://` repository: the daemon mirrors it through libgit2's HTTPS transport from a
//! real `git http-backend`, served over TLS by a small Python server with a self-signed
//! certificate that the daemon trusts through `SSL_CERT_FILE`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::daemon::Daemon;
use crate::pipelines::{Remote, finished_pipeline};

/// Serves every repository under `argv[1]` with `git http-backend` over TLS: HTTP/1.1 with a
/// `Content-Length`, which libgit2 needs (a CGI server's read-until-close HTTP/1.0 is not
/// enough).
const SERVER: &str = r#"
import http.server, os, ssl, subprocess, sys
repos, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def backend(self):
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        env = dict(os.environ, GIT_PROJECT_ROOT=repos, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
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
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A TLS `git http-backend`, stopped on drop.
struct HttpsGit {
    child: Child,
    port: u16,
}

impl Drop for HttpsGit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(command: &mut Command) {
    let out = command.output().expect("command runs");
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn serve(dir: &Path, repos: &Path) -> HttpsGit {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .arg(repos)
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the port");
    let port = line.trim().parse().unwrap_or_else(|_| panic!("no port from the server: {line:?}"));
    HttpsGit { child, port }
}

#[test]
fn an_https_repository_is_mirrored_and_its_pipeline_runs() {
    let remote = Remote::new();
    let sha = remote.push("job:\n  script:\n    - echo over https\n", "served over https");
    let dir = tempfile::tempdir().expect("temp dir");
    let repos = remote.bare.parent().expect("a parent").to_owned();
    let server = serve(dir.path(), &repos);
    let config = format!(
        "projects:\n  - name: demo\n    repo: \"https://127.0.0.1:{}/demo.git\"\n    poll: 1s\n",
        server.port
    );
    let cert = dir.path().join("cert.pem");
    let daemon = Daemon::start(&config, &[("SSL_CERT_FILE", cert.to_str().expect("utf-8"))]);
    let pipeline = finished_pipeline(&daemon, &sha);
    assert_eq!(pipeline.status.as_str(), "success", "{}", daemon.dump());
}
