//! Secrets interoperability with the real tools, in both directions: files that `sops`
//! 3.11 encrypts (with a key from the real `age-keygen`) decrypt with `sluice secrets
//! decrypt` to the same tree, files `sluice secrets encrypt` writes decrypt with
//! `sops --decrypt` (which verifies the MAC), and wrong keys and tampered files fail with
//! exit 2 and without a clear value on stderr. `scripts/setup --test` installs both tools.

use std::path::PathBuf;
use std::process::{Command, Output};

pub(crate) const PLAIN_YAML: &str = "\
database:
  user: app
  password: correct-horse-battery
  port: 5432
  ratio: 0.75
  tls: true
  comment_unencrypted: kept in clear
tokens:
  - tok-alpha-111
  - tok-beta-222
nested:
  deeper:
    api_key: key-gamma-333
";

pub(crate) const PLAIN_JSON: &str = r#"{"service": {"token": "json-token-444", "retries": 3, "weight": 1.5, "enabled": false}, "list": ["json-item-555", null]}"#;

/// Clear values that must never appear on stderr, nor in an encrypted file.
const SECRETS: &[&str] = &[
    "correct-horse-battery",
    "tok-alpha-111",
    "tok-beta-222",
    "key-gamma-333",
    "json-token-444",
    "json-item-555",
];

/// A temporary directory with an age key made by the real `age-keygen`.
pub(crate) struct Workspace {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) key_file: PathBuf,
    pub(crate) recipient: String,
}

impl Workspace {
    pub(crate) fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_file = dir.path().join("key.txt");
        let out = run(Command::new("age-keygen").arg("-o").arg(&key_file));
        assert!(out.status.success(), "age-keygen failed:\n{}", dump(&out));
        let out = run(Command::new("age-keygen").arg("-y").arg(&key_file));
        assert!(out.status.success(), "age-keygen -y failed:\n{}", dump(&out));
        let recipient = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(recipient.starts_with("age1"), "{recipient}");
        Workspace { dir, key_file, recipient }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// `sops` with the key file, run in the workspace (no `.sops.yaml` above it).
    pub(crate) fn sops(&self, args: &[&str]) -> Output {
        let sops = std::env::var("SLUICE_SOPS").unwrap_or_else(|_| "sops".to_string());
        run(Command::new(sops)
            .args(args)
            .current_dir(self.dir.path())
            .env("SOPS_AGE_KEY_FILE", &self.key_file)
            .env_remove("SOPS_AGE_KEY"))
    }

    /// The real `sluice` binary, run in the workspace with no ambient age key.
    pub(crate) fn sluice(&self, args: &[&str]) -> Output {
        run(Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SLUICE_IDENTITY_FILE")
            .env_remove("SLUICE_IDENTITY")
            .env("XDG_CONFIG_HOME", self.dir.path().join("no-config")))
    }
}

pub(crate) fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?} (is it installed? `scripts/setup --test`): {e}"))
}

pub(crate) fn dump(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(crate) fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", dump(&out));
    assert_no_secret(&String::from_utf8_lossy(&out.stderr), what);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

pub(crate) fn assert_no_secret(text: &str, what: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what}: `{secret}` leaked:\n{text}");
    }
}

/// A YAML or JSON document as a JSON tree, for comparing what two tools printed.
pub(crate) fn tree(name: &str, text: &str) -> serde_json::Value {
    if name.ends_with(".json") {
        let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
        return normalize(value);
    }
    let loaded = sluice::ci::yaml::load(name, text).unwrap_or_else(|e| panic!("YAML {name}: {e:?}\n{text}"));
    normalize(loaded.config.to_json())
}

/// Numbers compared as floats: `sops` reads every JSON number as one.
fn normalize(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Number(n) => serde_json::json!(n.as_f64()),
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(normalize).collect()),
        serde_json::Value::Object(map) => {
            serde_json::Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

#[test]
fn files_encrypted_by_sops_decrypt_in_sluice() {
    let ws = Workspace::new();
    for (name, plain) in [("app.yaml", PLAIN_YAML), ("app.json", PLAIN_JSON)] {
        ws.write(name, plain);
        let encrypted = ok(ws.sops(&["--encrypt", "--age", &ws.recipient, name]), "sops --encrypt");
        assert_no_secret(&encrypted, "sops --encrypt output");
        let enc_name = format!("sops.{name}");
        ws.write(&enc_name, &encrypted);

        let key = ws.key_file.to_string_lossy().into_owned();
        let clear = ok(ws.sluice(&["secrets", "decrypt", "--identity", &key, &enc_name]), "sluice secrets decrypt");
        assert_eq!(tree(name, &clear), tree(name, plain), "{name}: sluice printed\n{clear}");
    }
}

#[test]
fn files_encrypted_by_sluice_decrypt_in_sops_with_the_mac_verified() {
    let ws = Workspace::new();
    for (name, plain) in [("app.yaml", PLAIN_YAML), ("app.json", PLAIN_JSON)] {
        ws.write(name, plain);
        let encrypted = ok(ws.sluice(&["secrets", "encrypt", "--age", &ws.recipient, name]), "sluice secrets encrypt");
        assert_no_secret(&encrypted, "sluice secrets encrypt output");
        let enc_name = format!("sluice.{name}");
        ws.write(&enc_name, &encrypted);
        let clear = ok(ws.sops(&["--decrypt", &enc_name]), "sops --decrypt");
        assert_eq!(tree(name, &clear), tree(name, plain), "{name}: sops printed\n{clear}");

        // sops checks the MAC: the same file with a clear value changed is refused.
        let forged = encrypted.replace("kept in clear", "changed in clear");
        if forged != encrypted {
            ws.write("forged.yaml", &forged);
            let out = ws.sops(&["--decrypt", "forged.yaml"]);
            assert!(!out.status.success(), "sops accepted a forged file:\n{}", dump(&out));
            assert!(String::from_utf8_lossy(&out.stderr).contains("MAC mismatch"), "{}", dump(&out));
        }
    }
}

#[test]
fn encrypt_in_place_replaces_the_file() {
    let ws = Workspace::new();
    let file = ws.write("app.yaml", PLAIN_YAML);
    let printed = ok(ws.sluice(&["secrets", "encrypt", "--in-place", "--age", &ws.recipient, "app.yaml"]), "encrypt -i");
    assert!(printed.is_empty(), "{printed}");
    let encrypted = std::fs::read_to_string(&file).expect("read");
    assert_no_secret(&encrypted, "file encrypted in place");
    let clear = ok(ws.sops(&["--decrypt", "app.yaml"]), "sops --decrypt");
    assert_eq!(tree("app.yaml", &clear), tree("app.yaml", PLAIN_YAML));
}

#[test]
fn a_key_sluice_generates_works_with_age_and_sops() {
    let ws = Workspace::new();
    let out = ws.sluice(&["secrets", "keygen"]);
    assert!(out.status.success(), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let recipient = stderr.trim().strip_prefix("# public key: ").expect("recipient on stderr").to_string();
    let identity = ws.write("sluice-key.txt", &String::from_utf8_lossy(&out.stdout));
    let derived = ok(run(Command::new("age-keygen").arg("-y").arg(&identity)), "age-keygen -y");
    assert_eq!(derived.trim(), recipient);

    ws.write("app.yaml", PLAIN_YAML);
    let encrypted = ok(ws.sops(&["--encrypt", "--age", &recipient, "app.yaml"]), "sops --encrypt");
    ws.write("enc.yaml", &encrypted);
    let out = run(Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["secrets", "decrypt", "enc.yaml"])
        .current_dir(ws.dir.path())
        .env("SOPS_AGE_KEY_FILE", &identity)
        .env_remove("SOPS_AGE_KEY"));
    let clear = ok(out, "sluice secrets decrypt with SOPS_AGE_KEY_FILE");
    assert_eq!(tree("app.yaml", &clear), tree("app.yaml", PLAIN_YAML));
}

#[test]
fn a_wrong_key_fails_with_exit_2_naming_the_recipients() {
    let ws = Workspace::new();
    let other = Workspace::new();
    ws.write("app.yaml", PLAIN_YAML);
    let encrypted = ok(ws.sops(&["--encrypt", "--age", &ws.recipient, "app.yaml"]), "sops --encrypt");
    ws.write("enc.yaml", &encrypted);
    let key = other.key_file.to_string_lossy().into_owned();
    let out = ws.sluice(&["secrets", "decrypt", "--identity", &key, "enc.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    assert!(out.stdout.is_empty(), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("enc.yaml") && stderr.contains(&ws.recipient), "{}", dump(&out));
    assert_no_secret(&stderr, "wrong key");

    let out = ws.sluice(&["secrets", "decrypt", "enc.yaml"]);
    assert_eq!(out.status.code(), Some(2), "no identity at all: {}", dump(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SOPS_AGE_KEY_FILE"), "{}", dump(&out));
}

#[test]
fn a_tampered_file_fails_with_exit_2_and_prints_nothing() {
    let ws = Workspace::new();
    ws.write("app.yaml", PLAIN_YAML);
    let key = ws.key_file.to_string_lossy().into_owned();
    let by_sops = ok(ws.sops(&["--encrypt", "--age", &ws.recipient, "app.yaml"]), "sops --encrypt");
    let by_sluice = ok(ws.sluice(&["secrets", "encrypt", "--age", &ws.recipient, "app.yaml"]), "sluice encrypt");
    for (origin, encrypted) in [("sops", by_sops), ("sluice", by_sluice)] {
        // A clear value changed: only the MAC tells.
        let forged = encrypted.replace("kept in clear", "changed in clear");
        assert_ne!(forged, encrypted);
        ws.write("forged.yaml", &forged);
        let out = ws.sluice(&["secrets", "decrypt", "--identity", &key, "forged.yaml"]);
        assert_eq!(out.status.code(), Some(2), "{origin}: {}", dump(&out));
        assert!(out.stdout.is_empty(), "{origin}: {}", dump(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("forged.yaml") && stderr.contains("MAC mismatch"), "{origin}: {}", dump(&out));
        assert_no_secret(&stderr, "tampered");

        // An encrypted value moved under another key: its path is authenticated.
        let lines: Vec<&str> = encrypted.lines().collect();
        let value = |key: &str| {
            lines.iter().find_map(|l| l.trim().strip_prefix(key)).map(str::trim).expect("key present").to_string()
        };
        let (user, password) = (value("user:"), value("password:"));
        let swapped = encrypted.replace(&password, "PASSWORD").replace(&user, &password).replace("PASSWORD", &user);
        ws.write("swapped.yaml", &swapped);
        let out = ws.sluice(&["secrets", "decrypt", "--identity", &key, "swapped.yaml"]);
        assert_eq!(out.status.code(), Some(2), "{origin}: {}", dump(&out));
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("swapped.yaml"), "{origin}: {}", dump(&out));
        assert_no_secret(&stderr, "swapped");
    }
}


/// Plain scalars that YAML 1.1 and YAML 1.2 type differently: `sops` (yaml.v3) keeps `yes`,
/// `on` and `1:30` as strings, reads `1e3` as a float and `0755` as octal.
const TRICKY_YAML: &str = "a: yes\nb: 1e3\nc: 1:30\nd: 0755\nf: 0o17\ng: .5\nh: 0x1F\ni: ~\nj: True\nk: on\nl: 0b101\nm: +12\nn: 1_000\no: '42'\n";

#[test]
fn scalars_are_typed_as_sops_types_them() {
    let ws = Workspace::new();
    ws.write("tricky.yaml", TRICKY_YAML);
    let key = ws.key_file.to_string_lossy().into_owned();
    let by_sops = ok(ws.sops(&["--encrypt", "--age", &ws.recipient, "tricky.yaml"]), "sops --encrypt");
    ws.write("by-sops.yaml", &by_sops);
    let sops_clear = ok(ws.sops(&["--decrypt", "by-sops.yaml"]), "sops --decrypt");
    let sluice_clear = ok(ws.sluice(&["secrets", "decrypt", "--identity", &key, "by-sops.yaml"]), "sluice decrypt");
    assert_eq!(tree("a.yaml", &sluice_clear), tree("a.yaml", &sops_clear), "sluice:\n{sluice_clear}\nsops:\n{sops_clear}");

    let by_sluice = ok(ws.sluice(&["secrets", "encrypt", "--age", &ws.recipient, "tricky.yaml"]), "sluice encrypt");
    ws.write("by-sluice.yaml", &by_sluice);
    let again = ok(ws.sops(&["--decrypt", "by-sluice.yaml"]), "sops --decrypt");
    assert_eq!(tree("a.yaml", &again), tree("a.yaml", &sops_clear), "sops printed\n{again}");
}

#[test]
fn binary_files_come_back_byte_for_byte_both_ways() {
    let ws = Workspace::new();
    let key = ws.key_file.to_string_lossy().into_owned();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).chain(b"tok-alpha-111\n".iter().copied()).collect();
    std::fs::write(ws.path("blob.bin"), &bytes).expect("write blob");

    let by_sops = ok(ws.sops(&["--encrypt", "--age", &ws.recipient, "blob.bin"]), "sops --encrypt");
    ws.write("by-sops.bin", &by_sops);
    let out = ws.sluice(&["secrets", "decrypt", "--identity", &key, "by-sops.bin"]);
    assert!(out.status.success(), "{}", dump(&out));
    assert!(out.stdout == bytes, "sluice decrypted other bytes");

    let by_sluice = ok(ws.sluice(&["secrets", "encrypt", "--age", &ws.recipient, "blob.bin"]), "sluice encrypt");
    assert_no_secret(&by_sluice, "binary encrypted by sluice");
    ws.write("by-sluice.bin", &by_sluice);
    let out = ws.sops(&["--decrypt", "by-sluice.bin"]);
    assert!(out.status.success(), "{}", dump(&out));
    assert!(out.stdout == bytes, "sops decrypted other bytes");
}

#[test]
fn dotenv_files_come_back_byte_for_byte_both_ways() {
    let ws = Workspace::new();
    let key = ws.key_file.to_string_lossy().into_owned();
    let plain = "# credentials\nDB_USER=app\nDB_PASSWORD=correct-horse-battery\nEMPTY=\nMULTI=tok-alpha-111\\nline two\nNOTE_unencrypted=clear\n";
    ws.write("app.env", plain);

    let by_sops = ok(ws.sops(&["--encrypt", "--age", &ws.recipient, "app.env"]), "sops --encrypt");
    ws.write("by-sops.env", &by_sops);
    let clear = ok(ws.sluice(&["secrets", "decrypt", "--identity", &key, "by-sops.env"]), "sluice decrypt");
    assert_eq!(clear, plain);

    let by_sluice = ok(ws.sluice(&["secrets", "encrypt", "--age", &ws.recipient, "app.env"]), "sluice encrypt");
    assert_no_secret(&by_sluice, "dotenv encrypted by sluice");
    ws.write("by-sluice.env", &by_sluice);
    let clear = ok(ws.sops(&["--decrypt", "by-sluice.env"]), "sops --decrypt");
    assert_eq!(clear, plain);
}

#[test]
fn identities_come_from_sops_age_key_and_bad_ones_are_located_not_echoed() {
    let ws = Workspace::new();
    ws.write("app.yaml", PLAIN_YAML);
    let encrypted = ok(ws.sops(&["--encrypt", "--age", &ws.recipient, "app.yaml"]), "sops --encrypt");
    ws.write("enc.yaml", &encrypted);
    let inline = std::fs::read_to_string(&ws.key_file).expect("key file");
    let out = run(Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["secrets", "decrypt", "enc.yaml"])
        .current_dir(ws.dir.path())
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("SOPS_AGE_KEY", &inline)
        .env("XDG_CONFIG_HOME", ws.path("no-config")));
    let clear = ok(out, "sluice decrypt with SOPS_AGE_KEY");
    assert_eq!(tree("app.yaml", &clear), tree("app.yaml", PLAIN_YAML));

    ws.write("bad-key.txt", "# a comment\nAGE-SECRET-KEY-1NOTAREALKEYcorrect-horse-battery\n");
    let out = ws.sluice(&["secrets", "decrypt", "--identity", "bad-key.txt", "enc.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad-key.txt") && stderr.contains("line 2"), "{}", dump(&out));
    assert_no_secret(&stderr, "bad identity file");
    assert!(!stderr.contains("NOTAREALKEY"), "{}", dump(&out));
}

#[test]
fn a_kubernetes_secret_encrypted_with_encrypted_regex_decrypts() {
    let ws = Workspace::new();
    let key = ws.key_file.to_string_lossy().into_owned();
    let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  password: correct-horse-battery\n";
    ws.write("secret.yaml", plain);
    let args = ["--encrypt", "--encrypted-regex", "^(data|stringData)$", "--age", &ws.recipient, "secret.yaml"];
    let encrypted = ok(ws.sops(&args), "sops --encrypt --encrypted-regex");
    assert!(encrypted.contains("name: db") && !encrypted.contains("correct-horse-battery"), "{encrypted}");
    ws.write("enc.yaml", &encrypted);
    let clear = ok(ws.sluice(&["secrets", "decrypt", "--identity", &key, "enc.yaml"]), "sluice decrypt");
    assert_eq!(tree("a.yaml", &clear), tree("a.yaml", plain));

    // Values left in clear by the regex are still covered by the MAC.
    ws.write("forged.yaml", &encrypted.replace("name: db", "name: other"));
    let out = ws.sluice(&["secrets", "decrypt", "--identity", &key, "forged.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
}
