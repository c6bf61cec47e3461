//! OpenPGP secrets against the real `gpg` and `sops`: keys generated at test time by `gpg`
//! in a temporary GNUPGHOME (RSA, and Curve25519 as `future-default`), files `sops`
//! encrypts for them (through `gpg`) decrypt in Sluice with the exported secret key, and
//! files Sluice encrypts for a key file or a fingerprint decrypt with `sops` (through `gpg`,
//! MAC verified), for YAML, JSON, dotenv and binary files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::secrets::{PLAIN_JSON, PLAIN_YAML, Workspace, assert_no_secret, dump, ok, run, tree};

const PLAIN_ENV: &str = "DB_PASSWORD=env-secret-666\n# a comment\nPORT=5432\n";
const PLAIN_BINARY: &[u8] = b"\x00\x01binary-secret-777\xff\n";

/// A temporary GnuPG home with one passphrase-less key pair; the agent it starts is
/// stopped on drop.
pub(crate) struct Gnupg {
    pub(crate) home: PathBuf,
    /// The primary key's fingerprint.
    pub(crate) fingerprint: String,
}

/// The kinds of keys a service may use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyKind {
    /// RSA 3072 primary key with an RSA encryption subkey.
    Rsa,
    /// Ed25519 primary key with a Curve25519 (cv25519) encryption subkey.
    Curve25519,
}

impl Gnupg {
    /// A key pair of `kind` for `name` in a new GNUPGHOME under `parent` (kept short: the
    /// agent's socket path has a length limit).
    pub(crate) fn new(parent: &Path, name: &str, kind: KeyKind) -> Gnupg {
        let home = parent.join(format!("gpg-{name}"));
        std::fs::create_dir_all(&home).expect("GNUPGHOME");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod GNUPGHOME");
        }
        let mut gnupg = Gnupg { home, fingerprint: String::new() };
        let uid = format!("{name} <{name}@example.com>");
        let (algo, usage) = match kind {
            KeyKind::Rsa => ("rsa3072", "cert,sign"),
            KeyKind::Curve25519 => ("future-default", "default"),
        };
        ok(gnupg.gpg(&["--passphrase", "", "--quick-gen-key", &uid, algo, usage, "never"]), "gpg --quick-gen-key");
        let listing = ok(gnupg.gpg(&["--with-colons", "--list-keys", &uid]), "gpg --list-keys");
        gnupg.fingerprint = listing
            .lines()
            .find_map(|line| line.strip_prefix("fpr:::::::::"))
            .and_then(|rest| rest.split(':').next())
            .expect("a fingerprint")
            .to_string();
        if let KeyKind::Rsa = kind {
            let fingerprint = gnupg.fingerprint.clone();
            ok(gnupg.gpg(&["--passphrase", "", "--quick-add-key", &fingerprint, "rsa3072", "encr", "never"]), "gpg --quick-add-key");
        }
        gnupg
    }

    /// `gpg --batch` in this home.
    pub(crate) fn gpg(&self, args: &[&str]) -> Output {
        run(Command::new("gpg").arg("--batch").arg("--pinentry-mode").arg("loopback").args(args).env("GNUPGHOME", &self.home))
    }

    /// Exports the public key (`--armor` or binary) to `path`.
    pub(crate) fn export_public(&self, path: &Path, armor: bool) {
        self.export("--export", path, armor);
    }

    /// Exports the secret key (`--armor` or binary) to `path`.
    pub(crate) fn export_secret(&self, path: &Path, armor: bool) {
        self.export("--export-secret-keys", path, armor);
    }

    fn export(&self, command: &str, path: &Path, armor: bool) {
        let mut args = vec![command];
        if armor {
            args.insert(0, "--armor");
        }
        args.push(&self.fingerprint);
        let out = self.gpg(&args);
        assert!(out.status.success() && !out.stdout.is_empty(), "gpg {command}:\n{}", dump(&out));
        std::fs::write(path, &out.stdout).expect("write key");
    }

    /// `sops` using this GnuPG home, run in `dir`.
    pub(crate) fn sops(&self, dir: &Path, args: &[&str]) -> Output {
        let sops = std::env::var("SLUICE_SOPS").unwrap_or_else(|_| "sops".to_string());
        run(Command::new(sops)
            .args(args)
            .current_dir(dir)
            .env("GNUPGHOME", &self.home)
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY"))
    }
}

impl Drop for Gnupg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").args(["--kill", "gpg-agent"]).env("GNUPGHOME", &self.home).output();
    }
}

/// The clear files of every format, written into `ws`.
fn write_plain_files(ws: &Workspace) -> Vec<&'static str> {
    ws.write("app.yaml", PLAIN_YAML);
    ws.write("app.json", PLAIN_JSON);
    ws.write("app.env", PLAIN_ENV);
    std::fs::write(ws.path("blob.bin"), PLAIN_BINARY).expect("write binary");
    vec!["app.yaml", "app.json", "app.env", "blob.bin"]
}

/// Whether `clear` is what `name` held before encryption: equal trees for YAML and JSON,
/// equal bytes for dotenv and binary.
fn assert_same(name: &str, clear: &[u8], what: &str) {
    match name {
        "app.yaml" => assert_eq!(tree(name, std::str::from_utf8(clear).unwrap()), tree(name, PLAIN_YAML), "{what}"),
        "app.json" => assert_eq!(tree(name, std::str::from_utf8(clear).unwrap()), tree(name, PLAIN_JSON), "{what}"),
        "app.env" => assert_eq!(clear, PLAIN_ENV.as_bytes(), "{what}"),
        _ => assert_eq!(clear, PLAIN_BINARY, "{what}"),
    }
}

#[test]
fn files_sops_encrypts_with_gpg_decrypt_in_sluice_with_rsa_and_curve25519_keys() {
    let ws = Workspace::new();
    let names = write_plain_files(&ws);
    for kind in [KeyKind::Rsa, KeyKind::Curve25519] {
        let gnupg = Gnupg::new(ws.dir.path(), &format!("{kind:?}").to_lowercase(), kind);
        // One armored key and one binary keyring: both forms `--identity` takes.
        let armored = ws.path(&format!("{kind:?}.sec.asc"));
        let binary = ws.path(&format!("{kind:?}.sec.gpg"));
        gnupg.export_secret(&armored, true);
        gnupg.export_secret(&binary, false);
        for name in &names {
            let out = gnupg.sops(ws.dir.path(), &["--encrypt", "--pgp", &gnupg.fingerprint, name]);
            let encrypted = out.stdout.clone();
            ok(out, &format!("sops --encrypt --pgp ({kind:?}) {name}"));
            let enc_name = format!("enc-{kind:?}-{name}");
            std::fs::write(ws.path(&enc_name), &encrypted).expect("write");
            for key in [&armored, &binary] {
                let key = key.to_string_lossy().into_owned();
                let out = ws.sluice(&["secrets", "decrypt", "--identity", &key, &enc_name]);
                assert!(out.status.success(), "{kind:?} {name} with {key}:\n{}", dump(&out));
                assert_same(name, &out.stdout, &format!("{kind:?} {name} with {key}"));
            }
        }
    }
}

#[test]
fn files_sluice_encrypts_for_a_key_file_or_a_fingerprint_decrypt_in_sops() {
    let ws = Workspace::new();
    let names = write_plain_files(&ws);
    let rsa = Gnupg::new(ws.dir.path(), "rsa", KeyKind::Rsa);
    let curve = Gnupg::new(ws.dir.path(), "curve", KeyKind::Curve25519);
    let rsa_public = ws.path("rsa.pub.asc");
    rsa.export_public(&rsa_public, true);
    let rsa_public = rsa_public.to_string_lossy().into_owned();
    for name in &names {
        // The Curve25519 key by fingerprint, looked up in its GnuPG home as `sops` would.
        let out = run(Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["secrets", "encrypt", "--pgp", &rsa_public, "--pgp", &curve.fingerprint, name])
            .current_dir(ws.dir.path())
            .env("GNUPGHOME", &curve.home));
        let encrypted = ok(out, &format!("sluice secrets encrypt --pgp {name}"));
        assert_no_secret(&encrypted, "the encrypted file");
        assert!(encrypted.contains(&rsa.fingerprint) && encrypted.contains(&curve.fingerprint), "{encrypted}");
        let enc_name = format!("enc-{name}");
        ws.write(&enc_name, &encrypted);
        for gnupg in [&rsa, &curve] {
            let out = gnupg.sops(ws.dir.path(), &["--decrypt", &enc_name]);
            assert!(out.status.success(), "sops --decrypt {name} with {}:\n{}", gnupg.fingerprint, dump(&out));
            assert_same(name, &out.stdout, &format!("sops --decrypt {name}"));
        }
    }
}

#[test]
fn unusable_openpgp_keys_are_refused_with_the_reason() {
    let ws = Workspace::new();
    ws.write("app.yaml", PLAIN_YAML);
    let gnupg = Gnupg::new(ws.dir.path(), "svc", KeyKind::Curve25519);
    let public = ws.path("svc.pub.asc");
    gnupg.export_public(&public, true);
    let public = public.to_string_lossy().into_owned();
    let encrypted = ok(ws.sluice(&["secrets", "encrypt", "--pgp", &public, "app.yaml"]), "sluice secrets encrypt");
    ws.write("enc.yaml", &encrypted);

    // A public key is no identity.
    let out = ws.sluice(&["secrets", "decrypt", "--identity", &public, "enc.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--export-secret-keys"), "{}", dump(&out));

    // A passphrase-protected secret key is named and refused, not prompted for.
    ok(gnupg.gpg(&["--passphrase", "pw", "--quick-gen-key", "locked <locked@example.com>", "future-default", "default", "never"]), "gpg");
    let listing = ok(gnupg.gpg(&["--with-colons", "--list-keys", "locked@example.com"]), "gpg --list-keys");
    let locked = listing.lines().find_map(|l| l.strip_prefix("fpr:::::::::")).unwrap().split(':').next().unwrap().to_string();
    let out = gnupg.gpg(&["--passphrase", "pw", "--armor", "--export-secret-keys", &locked]);
    assert!(out.status.success() && !out.stdout.is_empty(), "{}", dump(&out));
    std::fs::write(ws.path("locked.sec.asc"), &out.stdout).expect("write");
    let out = ws.sluice(&["secrets", "decrypt", "--identity", "locked.sec.asc", "enc.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&locked) && stderr.contains("passphrase"), "{}", dump(&out));

    // A wrong key: the recipients are listed by fingerprint.
    let other = Gnupg::new(ws.dir.path(), "other", KeyKind::Rsa);
    let other_key = ws.path("other.sec.asc");
    other.export_secret(&other_key, true);
    let out = ws.sluice(&["secrets", "decrypt", "--identity", &other_key.to_string_lossy(), "enc.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("pgp:{}", gnupg.fingerprint)), "{}", dump(&out));
    assert_no_secret(&stderr, "wrong OpenPGP key");
}
