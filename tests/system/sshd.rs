//! A real OpenSSH server for tests: `sshd -D` as the current user on a free loopback port,
//! with a host key and a client key made by `ssh-keygen` in a temporary directory and a
//! generated configuration (never the system's). Git repositories are served by the
//! `git-upload-pack`/`git-receive-pack` that the SSH session runs, as on any git server.

use std::io::Read as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry::free_port;

/// A running `sshd`, stopped on drop.
pub(crate) struct TestSshd {
    child: Child,
    dir: tempfile::TempDir,
    /// The port on 127.0.0.1.
    pub(crate) port: u16,
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "sluice-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs (scripts/setup --test installs openssh-server)");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
}

fn sshd_program() -> PathBuf {
    // Debian puts sshd in /usr/sbin, which is not on every user's PATH; sshd re-executes
    // itself and so must be started by its absolute path.
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("sshd"))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/sshd"))
}

impl TestSshd {
    /// Starts a server accepting the client key [`TestSshd::client_key`] for the current user.
    pub(crate) fn start() -> TestSshd {
        let dir = tempfile::tempdir().expect("sshd dir");
        let root = dir.path();
        keygen(&root.join("host_key"));
        keygen(&root.join("client_key"));
        keygen(&root.join("other_host_key"));
        std::fs::copy(root.join("client_key.pub"), root.join("authorized_keys")).expect("authorized_keys");
        // Run as root (as CI does), sshd insists on its privilege separation directory, which
        // the package's service would create at boot.
        let privsep = Path::new("/run/sshd");
        if is_root() && !privsep.exists() {
            std::fs::create_dir_all(privsep).expect("create /run/sshd");
        }
        let config = root.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "HostKey {root}/host_key\nAuthorizedKeysFile {root}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 PidFile none\nListenAddress 127.0.0.1\nLogLevel VERBOSE\n",
                root = root.display()
            ),
        )
        .expect("sshd_config");
        let port = free_port();
        let child = Command::new(sshd_program())
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .args(["-p", &port.to_string(), "-E"])
            .arg(root.join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts (scripts/setup --test installs openssh-server)");
        let mut server = TestSshd { child, dir, port };
        server.wait_for_banner();
        server
    }

    fn wait_for_banner(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut banner = [0u8; 4];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sshd exited with {status}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "sshd did not answer:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ssh://USER@127.0.0.1:PORT/abs/path` for a repository on this machine.
    pub(crate) fn url(&self, repo: &Path) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", user(), self.port, repo.display())
    }

    /// The private key the server accepts.
    pub(crate) fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// Makes another accepted client key, encrypted with `passphrase`; returns its path.
    pub(crate) fn client_key_with_passphrase(&self, passphrase: &str) -> PathBuf {
        let path = self.dir.path().join("encrypted_client_key");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "sluice-test", "-f"])
            .arg(&path)
            .output()
            .expect("ssh-keygen runs");
        assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
        let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
        let authorized = self.dir.path().join("authorized_keys");
        let mut keys = std::fs::read_to_string(&authorized).expect("authorized_keys");
        keys.push_str(&public);
        std::fs::write(&authorized, keys).expect("authorized_keys");
        path
    }

    /// A `known_hosts` file listing the server's real host key.
    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.known_hosts_with("host_key.pub", "known_hosts")
    }

    /// A `known_hosts` file listing another key for the server (a changed or spoofed host).
    pub(crate) fn wrong_known_hosts(&self) -> PathBuf {
        self.known_hosts_with("other_host_key.pub", "wrong_known_hosts")
    }

    fn known_hosts_with(&self, public_key: &str, name: &str) -> PathBuf {
        let key = std::fs::read_to_string(self.dir.path().join(public_key)).expect("public key");
        let (key_type, blob) = {
            let mut fields = key.split_whitespace();
            (fields.next().expect("type").to_owned(), fields.next().expect("key").to_owned())
        };
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("[127.0.0.1]:{} {key_type} {blob}\n", self.port)).expect("known_hosts");
        path
    }

    /// The `SHA256:…` fingerprint of the server's real host key, as `ssh-keygen -l` prints it.
    pub(crate) fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.dir.path().join("host_key.pub"))
            .output()
            .expect("ssh-keygen runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split_whitespace().nth(1).expect("a fingerprint").to_owned()
    }

    /// What sshd logged.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}
