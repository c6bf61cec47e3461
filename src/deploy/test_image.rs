//! Test support: writes real OCI image layouts (gzip and plain tar layers, an index) for the
//! image and process target tests.

use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One entry of a test layer.
pub(crate) enum Entry<'a> {
    /// A regular file with its mode.
    File(&'a str, &'a [u8], u32),
    /// A directory.
    Dir(&'a str),
    /// A symlink and its target.
    Symlink(&'a str, &'a str),
}

/// A tar layer of `entries`.
pub(crate) fn layer(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        match entry {
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                header.set_mode(*mode);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn put(layout: &Path, bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

/// Writes an image with `config` (the `config` object of the image config) and `layers`
/// (the first gzip-compressed, the others plain tar) into the layout at `layout`, and returns
/// its manifest digest. `index.json` lists it with the ref name `version`.
pub(crate) fn write_image(layout: &Path, version: &str, config: Value, layers: &[Vec<u8>]) -> String {
    let mut descriptors = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let (bytes, media_type) = if i == 0 {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            std::io::Write::write_all(&mut encoder, layer).unwrap();
            (encoder.finish().unwrap(), "application/vnd.oci.image.layer.v1.tar+gzip")
        } else {
            (layer.clone(), "application/vnd.oci.image.layer.v1.tar")
        };
        let digest = put(layout, &bytes);
        descriptors.push(json!({"mediaType": media_type, "digest": digest, "size": bytes.len()}));
    }
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": []}}))
    .unwrap();
    let config_digest = put(layout, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descriptors,
    }))
    .unwrap();
    let digest = put(layout, &manifest);
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index_path = layout.join("index.json");
    let mut index: Value = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": version},
    }));
    std::fs::write(index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    digest
}

/// A python3 HTTP server answering `<APP_VERSION> key=<API_KEY reversed, or none> cwd=<dir>`
/// (reversed, so that a search for the secret does not find it in this script),
/// with 503 on `/healthz` when `BROKEN` is set.
pub(crate) const SERVER: &[u8] = br#"import http.server, os
V = os.environ.get("APP_VERSION", "?")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503 if self.path == "/healthz" and os.environ.get("BROKEN") else 200
        key = os.environ.get("API_KEY", "")[::-1] or "none"
        body = f"{V} key={key} cwd={os.path.basename(os.getcwd())}".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Two consecutive free ports (the target alternates between them).
pub(crate) fn free_ports() -> u16 {
    loop {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// `GET /` of `url` (`http://host:port`): status and body; `None` when nothing answers.
pub(crate) fn get(url: &str) -> Option<(u16, String)> {
    let addr = url.strip_prefix("http://")?;
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split("\r\n\r\n").nth(1)?.to_string()))
}

/// An image running [`SERVER`] with `python3` in `/app`, `APP_VERSION` and `extra_env` set.
pub(crate) fn server_image(layout: &Path, version: &str, extra_env: &[&str]) -> String {
    let mut env = vec![format!("APP_VERSION={version}")];
    env.extend(extra_env.iter().map(|e| e.to_string()));
    let config = json!({"Entrypoint": ["python3"], "Cmd": ["server.py"], "WorkingDir": "/app", "Env": env});
    write_image(
        layout,
        version,
        config,
        &[layer(&[Entry::Dir("app"), Entry::File("app/server.py", SERVER, 0o644)])],
    )
}
