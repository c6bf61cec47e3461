//! The daemon harness: the real `sluice serve` on port 0 with a temporary data directory,
//! a tiny HTTP/1.1 client over `std::net::TcpStream`, and a failure dump (command,
//! directory listing, the daemon's stderr).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice::store::Store;

/// How long the daemon may take to write its address.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A running `sluice serve`.
pub struct Daemon {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    /// The directory holding `sluice.yaml` and `data/`.
    pub root: PathBuf,
    /// `<root>/data`.
    pub data_dir: PathBuf,
    env: Vec<(String, String)>,
    starts: u32,
    /// The address the daemon bound.
    pub addr: SocketAddr,
}

impl Daemon {
    /// Writes `config` (YAML; `data_dir` and `listen` are added) and starts the daemon with
    /// the extra environment `env`.
    pub fn start(config: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_owned();
        let data_dir = root.join("data");
        let text = format!("listen: \"127.0.0.1:0\"\ndata_dir: \"data\"\n{config}");
        std::fs::write(root.join("sluice.yaml"), text).expect("write config");
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut daemon = Daemon {
            child: None,
            _dir: dir,
            root,
            data_dir,
            env,
            starts: 0,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        daemon.spawn();
        daemon
    }

    fn stderr_path(&self) -> PathBuf {
        self.root.join(format!("daemon-{}.stderr", self.starts))
    }

    fn spawn(&mut self) {
        let address_file = self.data_dir.join("address");
        let _absent_is_fine = std::fs::remove_file(&address_file);
        self.starts += 1;
        let stderr = std::fs::File::create(self.stderr_path()).expect("stderr file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .args(["serve", "--config"])
            .arg(self.root.join("sluice.yaml"))
            .current_dir(&self.root)
            .env_remove("SLUICE_CONFIG")
            .env("SLUICE_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command.spawn().expect("sluice serve starts");
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&address_file)
                && let Ok(addr) = text.trim().parse()
            {
                self.addr = addr;
                break;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "the daemon exited with {status} before writing its address\n{}",
                    self.dump()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no address file after {START_DEADLINE:?}\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let ready = self.eventually("GET /readyz answers 200", || {
            let response = self.get("/readyz");
            (response.status == 200).then_some(()).ok_or(response.to_string())
        });
        ready.unwrap_or_else(|last| panic!("{last}"));
    }

    /// `kill -9` the daemon.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    /// Sends SIGTERM and waits (with a deadline) for the daemon to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take().expect("a running daemon");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status.code();
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!(
                    "the daemon did not exit within {START_DEADLINE:?} of SIGTERM\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sets environment variable `name` for the next start.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// Starts the daemon again on the same configuration and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The store, opened beside the daemon (WAL lets both use it).
    pub fn store(&self) -> Store {
        Store::open(self.data_dir.join("sluice.db")).expect("open the daemon's store")
    }

    /// Everything the daemon printed on stderr, all runs.
    pub fn stderr(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.root.join(format!("daemon-{n}.stderr"))).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    /// What to print when a test fails.
    pub fn dump(&self) -> String {
        let mut listing = Vec::new();
        list(&self.root, &self.root, &mut listing);
        format!(
            "command: sluice serve --config {}\nworking dir: {}\nfiles:\n  {}\ndaemon stderr:\n{}",
            self.root.join("sluice.yaml").display(),
            self.root.display(),
            listing.join("\n  "),
            self.stderr()
        )
    }

    /// Polls `check` until it returns `Ok` or 60 s pass; the error is what was last seen.
    pub fn eventually<T>(&self, what: &str, mut check: impl FnMut() -> Result<T, String>) -> Result<T, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match check() {
                Ok(value) => return Ok(value),
                Err(last) if Instant::now() >= deadline => {
                    return Err(format!(
                        "timed out waiting until {what}; last seen: {last}\n{}",
                        self.dump()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        http(self.addr, "GET", path, &[], b"")
    }

    /// `POST path` with `headers` and `body`.
    pub fn post(&self, path: &str, headers: &[(String, String)], body: &[u8]) -> Response {
        http(self.addr, "POST", path, headers, body)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn list(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        // Mirrors and run directories are noise in a dump.
        if shown.ends_with(".git") || shown.contains("/runs/") {
            out.push(format!("{shown}/…"));
            continue;
        }
        out.push(shown);
        if path.is_dir() {
            list(root, &path, out);
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

impl Response {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // The server may answer (413) and close before reading all of a large body.
    let _early_answer_is_fine = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    let mut raw = Vec::new();
    let _closed_is_fine = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Response {
        status,
        body: body.to_owned(),
    }
}
