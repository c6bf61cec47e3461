//! One SOPS value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM with a 32-byte
//! nonce (SOPS's `aes/cipher.go`), base64 parts, and the type of the clear value so it
//! decrypts to a string, integer, float or boolean again. Also the bytes each value
//! contributes to the MAC (SOPS's `ToBytes`).

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::tree::Value;

/// AES-256-GCM with SOPS's 32-byte nonce.
type SopsGcm = AesGcm<Aes256, U32>;

const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 32;

/// The bytes SOPS feeds to the MAC and encrypts for a leaf: strings as-is, integers in
/// decimal, floats in shortest non-exponent form, booleans as `True`/`False`. `None` for
/// null, which SOPS neither encrypts nor hashes, and for containers.
pub(crate) fn leaf_bytes(value: &Value) -> Option<(Zeroizing<Vec<u8>>, &'static str)> {
    let (bytes, kind) = match value {
        Value::Str(s) => (s.as_bytes().to_vec(), "str"),
        Value::Int(i) => (i.to_string().into_bytes(), "int"),
        // Rust's `Display` for f64 is the shortest round-trip form without an exponent, as
        // Go's `strconv.FormatFloat(f, 'f', -1, 64)` is.
        Value::Float(f) => (f.to_string().into_bytes(), "float"),
        Value::Bool(b) => ((if *b { "True" } else { "False" }).as_bytes().to_vec(), "bool"),
        Value::Null | Value::Seq(_) | Value::Map(_) => return None,
    };
    Some((Zeroizing::new(bytes), kind))
}

/// Encrypts bytes as an `ENC[…]` string of type `kind`.
pub(crate) fn encrypt_bytes(bytes: &[u8], kind: &str, key: &[u8], aad: &str) -> Result<String, aes_gcm::Error> {
    let cipher = SopsGcm::new_from_slice(key).map_err(|_| aes_gcm::Error)?;
    let mut iv = [0u8; NONCE_LEN];
    getrandom::fill(&mut iv).map_err(|_| aes_gcm::Error)?;
    let sealed = cipher.encrypt(Nonce::<U32>::from_slice(&iv), Payload { msg: bytes, aad: aad.as_bytes() })?;
    let (data, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    Ok(format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        STANDARD.encode(data),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    ))
}

/// Why an `ENC[…]` value did not decrypt.
#[derive(Debug, PartialEq)]
pub(crate) enum DecryptFailure {
    /// Not of the `ENC[AES256_GCM,…]` form.
    NotEncrypted,
    /// Authentication failed or the clear text is not of the stated type.
    Corrupt,
}

/// Decrypts an `ENC[…]` string to the bytes and type it was made from.
pub(crate) fn decrypt_bytes(
    text: &str,
    key: &[u8],
    aad: &str,
) -> Result<(Zeroizing<Vec<u8>>, String), DecryptFailure> {
    let inner = text
        .strip_prefix("ENC[AES256_GCM,data:")
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or(DecryptFailure::NotEncrypted)?;
    let (data, rest) = inner.split_once(",iv:").ok_or(DecryptFailure::NotEncrypted)?;
    let (iv, rest) = rest.split_once(",tag:").ok_or(DecryptFailure::NotEncrypted)?;
    let (tag, kind) = rest.split_once(",type:").ok_or(DecryptFailure::NotEncrypted)?;
    let decode = |part: &str| STANDARD.decode(part).map_err(|_| DecryptFailure::Corrupt);
    let (mut sealed, iv, tag) = (decode(data)?, decode(iv)?, decode(tag)?);
    if iv.len() != NONCE_LEN || tag.len() != TAG_LEN {
        return Err(DecryptFailure::Corrupt);
    }
    sealed.extend_from_slice(&tag);
    let cipher = SopsGcm::new_from_slice(key).map_err(|_| DecryptFailure::Corrupt)?;
    let clear = cipher
        .decrypt(Nonce::<U32>::from_slice(&iv), Payload { msg: &sealed, aad: aad.as_bytes() })
        .map_err(|_| DecryptFailure::Corrupt)?;
    Ok((Zeroizing::new(clear), kind.to_string()))
}

/// Decrypts an `ENC[…]` leaf back to a typed value. An empty string stays empty.
pub(crate) fn decrypt_leaf(text: &str, key: &[u8], aad: &str) -> Result<Value, DecryptFailure> {
    if text.is_empty() {
        return Ok(Value::Str(String::new()));
    }
    let (bytes, kind) = decrypt_bytes(text, key, aad)?;
    let clear = std::str::from_utf8(&bytes).map_err(|_| DecryptFailure::Corrupt)?;
    Ok(match kind.as_str() {
        // `time` (sops 3.10+, YAML timestamps) is RFC 3339 text; kept as that text.
        "str" | "bytes" | "time" => Value::Str(clear.to_string()),
        "int" => Value::Int(clear.parse().map_err(|_| DecryptFailure::Corrupt)?),
        "float" => Value::Float(clear.parse().map_err(|_| DecryptFailure::Corrupt)?),
        // Go's `strconv.ParseBool`, which SOPS uses.
        "bool" => match clear {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Value::Bool(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Value::Bool(false),
            _ => return Err(DecryptFailure::Corrupt),
        },
        _ => return Err(DecryptFailure::Corrupt),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [3; 32];

    #[test]
    fn every_type_round_trips_under_its_path() {
        for value in [Value::Str("s3cret".into()), Value::Int(-42), Value::Float(0.1), Value::Bool(false)] {
            let (bytes, kind) = leaf_bytes(&value).unwrap();
            let enc = encrypt_bytes(&bytes, kind, &KEY, "db:password:").unwrap();
            assert!(enc.starts_with("ENC[AES256_GCM,data:"), "{enc}");
            assert_eq!(decrypt_leaf(&enc, &KEY, "db:password:").unwrap(), value);
            assert_eq!(decrypt_leaf(&enc, &KEY, "db:user:"), Err(DecryptFailure::Corrupt), "path is authenticated");
            assert_eq!(decrypt_leaf(&enc, &[4; 32], "db:password:"), Err(DecryptFailure::Corrupt));
        }
        assert_eq!(decrypt_leaf("", &KEY, "a:").unwrap(), Value::Str(String::new()), "empty strings stay clear");
        assert!(leaf_bytes(&Value::Null).is_none(), "null is neither encrypted nor hashed");
    }

    #[test]
    fn mac_bytes_follow_sops_to_bytes() {
        let bytes = |v: Value| String::from_utf8(leaf_bytes(&v).unwrap().0.to_vec()).unwrap();
        assert_eq!(bytes(Value::Bool(true)), "True");
        assert_eq!(bytes(Value::Float(1.0)), "1");
        assert_eq!(bytes(Value::Float(2.5)), "2.5");
        assert_eq!(bytes(Value::Int(7)), "7");
    }

    #[test]
    fn a_value_not_in_enc_form_is_reported_as_such() {
        assert_eq!(decrypt_leaf("plain", &KEY, "a:"), Err(DecryptFailure::NotEncrypted));
    }
}
