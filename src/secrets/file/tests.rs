use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::secrets::{AgeRecipient, Recipients, generate};

fn key_pair() -> (Identities, Recipients) {
    let key = generate("2026-11-29T00:00:00Z");
    let mut identities = Identities::new();
    identities.add_file("keys.txt", key.identity_file.expose()).unwrap();
    (identities, Recipients::age(vec![AgeRecipient::parse(&key.recipient).unwrap()]))
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

const YAML: &str = "db:\n  user: app\n  password: hunter2\n  port: 5432\n  ratio: 0.5\n  tls: true\n  note_unencrypted: visible\nhosts:\n  - a.example\n  - b.example\nempty: \"\"\nnothing: null\n";

#[test]
fn yaml_round_trip_encrypts_every_value_but_unencrypted_suffix_ones() {
    let (identities, recipient) = key_pair();
    let encrypted = encrypt("s.yaml", &Plaintext::from(YAML.to_string()), &recipient, now()).unwrap();
    assert!(!encrypted.contains("hunter2") && !encrypted.contains("a.example"), "{encrypted}");
    assert!(encrypted.contains("note_unencrypted: visible"), "{encrypted}");
    assert!(encrypted.contains("type:int") && encrypted.contains("type:float") && encrypted.contains("type:bool"));
    assert!(encrypted.contains(&recipient.names()[0]));
    assert!(encrypted.contains("lastmodified: \"2027-01-15T08:00:00Z\""), "{encrypted}");

    let clear = decrypt("s.yaml", &encrypted, &identities).unwrap();
    let clear = std::str::from_utf8(clear.expose()).unwrap();
    assert_eq!(tree::parse_yaml("a", clear).unwrap(), tree::parse_yaml("b", YAML).unwrap(), "{clear}");
}

#[test]
fn json_round_trip_keeps_order_and_types() {
    let (identities, recipient) = key_pair();
    let json = r#"{"z": {"token": "t0k"}, "a": [1, 2.5, false, null, "x"]}"#;
    let encrypted = encrypt("s.json", &Plaintext::from(json.to_string()), &recipient, now()).unwrap();
    assert!(!encrypted.contains("t0k"));
    let clear = decrypt("s.json", &encrypted, &identities).unwrap();
    let clear: serde_json::Value = serde_json::from_slice(clear.expose()).unwrap();
    assert_eq!(clear, serde_json::from_str::<serde_json::Value>(json).unwrap());
    assert_eq!(clear.as_object().unwrap().keys().collect::<Vec<_>>(), ["z", "a"]);
}

#[test]
fn a_wrong_identity_names_the_file_and_its_recipients() {
    let (_, recipient) = key_pair();
    let (other, _) = key_pair();
    let encrypted = encrypt("s.yaml", &Plaintext::from(YAML.to_string()), &recipient, now()).unwrap();
    let err = decrypt("s.yaml", &encrypted, &other).unwrap_err().to_string();
    assert!(err.contains("s.yaml") && err.contains(&recipient.names()[0]), "{err}");
}

#[test]
fn any_one_of_several_recipients_decrypts() {
    let (first, r1) = key_pair();
    let (second, r2) = key_pair();
    let encrypted = encrypt("s.yaml", &Plaintext::from(YAML.to_string()), &Recipients { age: [r1.age, r2.age].concat(), pgp: Vec::new() }, now()).unwrap();
    assert!(decrypt("s.yaml", &encrypted, &first).is_ok());
    assert!(decrypt("s.yaml", &encrypted, &second).is_ok());
}

#[test]
fn tampering_is_detected_and_nothing_is_returned() {
    let (identities, recipient) = key_pair();
    let encrypted = encrypt("s.yaml", &Plaintext::from(YAML.to_string()), &recipient, now()).unwrap();

    // A clear value changed: only the MAC can tell.
    let changed = encrypted.replace("note_unencrypted: visible", "note_unencrypted: forged");
    let err = decrypt("s.yaml", &changed, &identities).unwrap_err();
    assert!(matches!(err, SecretsError::MacMismatch { .. }), "{err}");
    assert!(err.to_string().contains("s.yaml"));

    // A value moved to another key: its path is authenticated.
    let mut document = tree::parse_yaml("s.yaml", &encrypted).unwrap();
    if let Value::Map(top) = &mut document
        && let Some((_, Value::Map(db))) = top.iter_mut().find(|(k, _)| k == "db")
    {
        let user = db[0].1.clone();
        db[1].1 = user;
    }
    let err = decrypt("s.yaml", &tree::emit_yaml(&document), &identities).unwrap_err();
    assert!(matches!(&err, SecretsError::Value { key_path, .. } if key_path == "db.password"), "{err}");
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn refusals() {
    let (identities, recipient) = key_pair();
    let plain = Plaintext::from(YAML.to_string());
    assert!(matches!(decrypt("s.yaml", YAML, &identities), Err(SecretsError::NotEncrypted { .. })));
    assert!(matches!(encrypt("s.yaml", &plain, &Recipients::default(), now()), Err(SecretsError::NoRecipients { .. })));
    assert!(matches!(encrypt("s.ini", &plain, &recipient, now()), Err(SecretsError::UnknownFormat { .. })));
    let encrypted = encrypt("s.yaml", &plain, &recipient, now()).unwrap();
    let again = encrypt("s.yaml", &Plaintext::from(encrypted), &recipient, now());
    assert!(matches!(again, Err(SecretsError::AlreadyEncrypted { .. })));
}

#[test]
fn rules_follow_sops() {
    let path = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    let suffix = Rules { unencrypted_suffix: Some("_unencrypted".into()), ..Rules::default() };
    assert!(suffix.encrypts(&path(&["a", "b"])));
    assert!(!suffix.encrypts(&path(&["a_unencrypted", "b"])));
    let regex = Rules { encrypted_regex: Some(Regex::new("^(data|stringData)$").unwrap()), ..Rules::default() };
    assert!(regex.encrypts(&path(&["data", "x"])));
    assert!(!regex.encrypts(&path(&["metadata", "name"])));
    assert_eq!(aad(&path(&["db", "password"])), "db:password:");
}

#[test]
fn binary_files_round_trip_byte_for_byte() {
    let (identities, recipient) = key_pair();
    let bytes: Vec<u8> = (0..=255u8).chain(b"tail secret\n".iter().copied()).collect();
    let encrypted = encrypt("blob.bin", &Plaintext::new(bytes.clone()), &recipient, now()).unwrap();
    assert!(encrypted.contains("\"data\": \"ENC[AES256_GCM,") && !encrypted.contains("tail secret"), "{encrypted}");
    assert_eq!(decrypt("blob.bin", &encrypted, &identities).unwrap().expose(), bytes.as_slice());
    let empty = encrypt("empty.txt", &Plaintext::new(Vec::new()), &recipient, now()).unwrap();
    assert!(decrypt("empty.txt", &empty, &identities).unwrap().is_empty());
    let forged = encrypted.replace("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:AAAA");
    assert!(decrypt("blob.bin", &forged, &identities).is_err());
    let again = encrypt("blob.bin", &Plaintext::from(encrypted), &recipient, now());
    assert!(matches!(again, Err(SecretsError::AlreadyEncrypted { .. })));
}

#[test]
fn dotenv_files_round_trip_byte_for_byte() {
    let (identities, recipient) = key_pair();
    let text = "# database\nDB_USER=app\nDB_PASSWORD=hunter2\nEMPTY=\nMULTI=a\\nb\nNOTE_unencrypted=clear\n";
    let encrypted = encrypt("app.env", &Plaintext::from(text.to_string()), &recipient, now()).unwrap();
    assert!(!encrypted.contains("hunter2") && !encrypted.contains("database"), "{encrypted}");
    assert!(encrypted.contains("NOTE_unencrypted=clear\n") && encrypted.contains("sops_mac=ENC["), "{encrypted}");
    assert_eq!(decrypt("app.env", &encrypted, &identities).unwrap().expose(), text.as_bytes());
    let forged = encrypted.replace("NOTE_unencrypted=clear", "NOTE_unencrypted=forged");
    assert!(matches!(decrypt("app.env", &forged, &identities), Err(SecretsError::MacMismatch { .. })));
}
