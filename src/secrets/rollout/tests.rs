use std::time::SystemTime;

use super::*;
use crate::secrets::{AgeRecipient, Recipients, SecretMeta, encrypt, generate};

struct Repo {
    dir: tempfile::TempDir,
    identities: Identities,
    recipients: Recipients,
}

impl Repo {
    fn new() -> Repo {
        let key = generate("2026-11-29T00:00:00Z");
        let mut identities = Identities::new();
        identities.add_file("controller.txt", key.identity_file.expose()).unwrap();
        let recipients = Recipients::age(vec![AgeRecipient::parse(&key.recipient).unwrap()]);
        Repo { dir: tempfile::tempdir().unwrap(), identities, recipients }
    }

    /// Encrypts `clear` and writes it at `relative`.
    fn secret(&self, relative: &str, clear: &[u8]) {
        let text = encrypt(relative, &Plaintext::new(clear.to_vec()), &self.recipients, SystemTime::now()).unwrap();
        self.write(relative, text.as_bytes());
    }

    fn write(&self, relative: &str, bytes: &[u8]) {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn load(&self, env: &str, app: &str) -> Result<AppSecrets, SecretsError> {
        load_app_secrets(self.dir.path(), env, app, &self.identities)
    }
}

fn text(value: &Plaintext) -> &str {
    std::str::from_utf8(value.expose()).unwrap()
}

#[test]
fn entries_come_from_the_yaml_file_the_dotenv_file_and_the_directory() {
    let repo = Repo::new();
    repo.secret("secrets/dev/hello.yaml", b"DB_PASSWORD: hunter2\nPORT: 5432\nTLS: true\nconfig:\n  a: 1\nNOTE_unencrypted: clear\n");
    repo.secret("secrets/dev/hello.env", b"API_TOKEN=tok-123\n");
    repo.secret("secrets/dev/hello/tls.key", b"\x00binary-key\xff");
    repo.secret("secrets/dev/other.yaml", b"OTHER: x\n");
    let secrets = repo.load("dev", "hello").unwrap();
    let keys: Vec<&str> = secrets.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["API_TOKEN", "DB_PASSWORD", "NOTE_unencrypted", "PORT", "TLS", "config", "tls.key"]);
    assert_eq!(text(secrets.get("DB_PASSWORD").unwrap()), "hunter2");
    assert_eq!(text(secrets.get("PORT").unwrap()), "5432");
    assert_eq!(text(secrets.get("TLS").unwrap()), "true");
    assert_eq!(text(secrets.get("config").unwrap()).replace(char::is_whitespace, ""), r#"{"a":1}"#);
    assert_eq!(secrets.get("tls.key").unwrap().expose(), b"\x00binary-key\xff");
    assert_eq!(secrets.sources, ["secrets/dev/hello.yaml", "secrets/dev/hello.env", "secrets/dev/hello/tls.key"]);

    let debug = format!("{secrets:?}");
    assert!(!debug.contains("hunter2") && !debug.contains("tok-123") && debug.contains("DB_PASSWORD"), "{debug}");

    // No secrets for an app is not an error.
    assert!(repo.load("dev", "nothing").unwrap().is_empty());
    assert!(repo.load("production", "hello").unwrap().is_empty());
}

#[test]
fn a_kubernetes_secret_has_base64_data_type_and_metadata_and_prints_no_data() {
    let repo = Repo::new();
    repo.secret("secrets/dev/hello.yaml", b"DB_PASSWORD: hunter2\n");
    let secrets = repo.load("dev", "hello").unwrap();
    let meta = SecretMeta {
        name: "hello-secrets".into(),
        namespace: Some("sluice-dev".into()),
        labels: [("app.kubernetes.io/managed-by".to_string(), "sluice".to_string())].into(),
        annotations: [("sluice.dev/sources".to_string(), "secrets/dev/hello.yaml".to_string())].into(),
        secret_type: None,
    };
    let object = secrets.kubernetes_secret(&meta);
    let json = object.expose();
    assert_eq!(json["apiVersion"], "v1");
    assert_eq!(json["kind"], "Secret");
    assert_eq!(json["type"], "Opaque");
    assert_eq!(json["metadata"]["name"], "hello-secrets");
    assert_eq!(json["metadata"]["namespace"], "sluice-dev");
    assert_eq!(json["metadata"]["labels"]["app.kubernetes.io/managed-by"], "sluice");
    assert_eq!(json["data"]["DB_PASSWORD"], "aHVudGVyMg==");
    let debug = format!("{object:?}");
    assert!(debug.contains("hello-secrets") && debug.contains("DB_PASSWORD") && !debug.contains("aHVudGVyMg"), "{debug}");
}

#[test]
fn a_wrong_key_names_the_file_and_its_recipients_and_returns_nothing() {
    let repo = Repo::new();
    repo.secret("secrets/production/hello.yaml", b"DB_PASSWORD: hunter2\n");
    let other = Repo::new();
    let err = load_app_secrets(repo.dir.path(), "production", "hello", &other.identities).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SecretsError::NoMatchingIdentity { .. }), "{message}");
    assert!(message.contains("secrets/production/hello.yaml"), "{message}");
    assert!(message.contains(&repo.recipients.names()[0]), "{message}");
    assert!(!message.contains("hunter2"));
}

#[test]
fn a_tampered_file_is_a_mac_mismatch_naming_the_file() {
    let repo = Repo::new();
    repo.secret("secrets/dev/hello.yaml", b"DB_PASSWORD: hunter2\nNOTE_unencrypted: clear\n");
    let path = repo.dir.path().join("secrets/dev/hello.yaml");
    let forged = std::fs::read_to_string(&path).unwrap().replace("clear", "forged");
    std::fs::write(&path, forged).unwrap();
    let err = repo.load("dev", "hello").unwrap_err();
    assert!(matches!(err, SecretsError::MacMismatch { ref file } if file == "secrets/dev/hello.yaml"), "{err}");
}

#[test]
fn bad_keys_duplicates_names_and_escaping_symlinks_are_refused() {
    let repo = Repo::new();
    repo.secret("secrets/dev/a.yaml", b"has space: x\n");
    let message = repo.load("dev", "a").unwrap_err().to_string();
    assert!(message.contains("secrets/dev/a.yaml") && message.contains("`has space`"), "{message}");

    repo.secret("secrets/dev/b.yaml", b"TOKEN: one\n");
    repo.secret("secrets/dev/b.env", b"TOKEN=two\n");
    let message = repo.load("dev", "b").unwrap_err().to_string();
    assert!(message.contains("already defined in `secrets/dev/b.yaml`") && !message.contains("one"), "{message}");

    assert!(repo.load("../dev", "b").is_err());
    assert!(repo.load("dev", "..").is_err());

    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.yaml"), b"a: b\n").unwrap();
    std::fs::create_dir_all(repo.dir.path().join("secrets/dev")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("x.yaml"), repo.dir.path().join("secrets/dev/c.yaml")).unwrap();
    let message = repo.load("dev", "c").unwrap_err().to_string();
    assert!(message.contains("secrets/dev/c.yaml"), "{message}");
}

#[test]
fn env_vars_need_variable_names_and_files_take_any_secret_key() {
    let repo = Repo::new();
    repo.secret("secrets/dev/hello.yaml", b"GOOD_NAME: a\n");
    repo.secret("secrets/dev/hello/tls.crt", b"cert");
    let secrets = repo.load("dev", "hello").unwrap();
    let message = secrets.env_vars().unwrap_err().to_string();
    assert!(message.contains("`tls.crt`") && message.contains("secrets/dev/hello/tls.crt"), "{message}");
    let files: Vec<&str> = secrets.files().map(|(name, _)| name).collect();
    assert_eq!(files, ["GOOD_NAME", "tls.crt"]);

    let only_env = Repo::new();
    only_env.secret("secrets/dev/app.env", b"A=1\nB_2=two\n");
    let secrets = only_env.load("dev", "app").unwrap();
    let vars: Vec<(&str, &str)> = secrets.env_vars().unwrap().into_iter().map(|(k, v)| (k, text(v))).collect();
    assert_eq!(vars, [("A", "1"), ("B_2", "two")]);
    assert_eq!(secrets.values().count(), 2);
    let pairs: Vec<(String, String)> = secrets.into_pairs().into_iter().map(|(k, v)| (k, text(&v).to_string())).collect();
    assert_eq!(pairs, [("A".to_string(), "1".to_string()), ("B_2".to_string(), "two".to_string())]);
}
