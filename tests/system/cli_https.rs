//! The CLI over `https://`: the daemon behind a real TLS-terminating proxy (a small Python
//! server with a certificate from a test CA made with `openssl`); `sluice status` trusts it
//! through `SSL_CERT_FILE` and refuses it, with exit code 2 and a hint, when another CA is
//! the trusted one.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use crate::api::{create_token, show, start};
use crate::mirrors::python_server;
use crate::pipelines::Remote;

/// Accepts TLS on a free port and forwards each connection's request to the daemon's port,
/// then the daemon's answer back, until the daemon closes.
const PROXY: &str = r#"
import socket, ssl, sys, threading
upstream, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
def handle(client):
    try:
        tls = context.wrap_socket(client, server_side=True)
    except (ssl.SSLError, OSError):
        client.close()
        return
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += tls.recv(65536)
    daemon = socket.create_connection(("127.0.0.1", upstream))
    daemon.sendall(head + b"\r\n\r\n" + body)
    while True:
        chunk = daemon.recv(65536)
        if not chunk:
            break
        tls.sendall(chunk)
    daemon.close()
    tls.close()
while True:
    client, _ = listener.accept()
    threading.Thread(target=handle, args=(client,), daemon=True).start()
"#;

/// The proxy, stopped on drop.
struct TlsProxy {
    child: Child,
    port: u16,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA named `name` in `dir` and a certificate for `127.0.0.1` it signs: (the CA's
/// certificate, the server's certificate, the server's key). WebPKI refuses a self-signed
/// CA certificate used as the server's own.
fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let file = |suffix: &str| format!("{name}-{suffix}");
    let (ca, ca_key, csr, cert, key, ext) =
        (file("ca.pem"), file("ca-key.pem"), file("server.csr"), file("server.pem"), file("server-key.pem"), file("ext.cnf"));
    std::fs::write(dir.join(&ext), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").expect("write");
    openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", &format!("/CN={name} test CA"), "-keyout", &ca_key, "-out", &ca], dir);
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", &key, "-out", &csr], dir);
    openssl(
        &["x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial", "-days", "1", "-extfile", &ext, "-out", &cert],
        dir,
    );
    (dir.join(ca), dir.join(cert), dir.join(key))
}

fn proxy(upstream: u16, cert: &Path, key: &Path) -> TlsProxy {
    let upstream = upstream.to_string();
    let (child, port) = python_server(PROXY, &[OsStr::new(&upstream), cert.as_os_str(), key.as_os_str()]);
    TlsProxy { child, port }
}

fn status(server: &str, token: &str, trusted: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["status", "--json", "--server", server])
        .env("SLUICE_TOKEN", token)
        .env("SSL_CERT_FILE", trusted)
        .env_remove("SSL_CERT_DIR")
        .env_remove("SLUICE_SERVER")
        .output()
        .expect("sluice runs")
}

#[test]
fn the_cli_reaches_the_daemon_over_https_and_refuses_an_untrusted_certificate() {
    let remote = Remote::new();
    remote.push("job:\n  script:\n    - echo hi\n", "one job");
    let daemon = start(&remote);
    let token = create_token(&daemon, "reader", "read");
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = certificates(dir.path(), "proxy");
    let (other, _, _) = certificates(dir.path(), "other");
    let proxy = proxy(daemon.addr.port(), &cert, &key);
    let server = format!("https://127.0.0.1:{}", proxy.port);

    let trusted = status(&server, &token, &ca);
    assert!(trusted.status.success(), "{}", show(&trusted));
    let listing: serde_json::Value = serde_json::from_slice(&trusted.stdout).expect("JSON");
    assert_eq!(listing["projects"][0]["name"], "demo", "{}", show(&trusted));

    let untrusted = status(&server, &token, &other);
    assert_eq!(untrusted.status.code(), Some(2), "{}", show(&untrusted));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains(&format!("TLS with `{server}` failed")) && stderr.contains("certificate"), "{}", show(&untrusted));
    assert!(stderr.contains("hint: ") && stderr.contains("SSL_CERT_FILE"), "{}", show(&untrusted));
}
