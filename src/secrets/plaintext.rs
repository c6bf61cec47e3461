//! [`Plaintext`]: decrypted secret bytes, wiped from memory on drop and never printed.

use std::fmt;

use zeroize::Zeroizing;

/// Decrypted secret data: a whole decrypted file, a value, or an identity file.
///
/// The bytes are zeroized when dropped; `Debug` and `Display` print `[REDACTED]`, and there
/// is deliberately no `Serialize`, `Clone` or `PartialEq` against strings, so a secret
/// reaches a log, an error or the store only through an explicit [`Plaintext::expose`].
pub struct Plaintext(Zeroizing<Vec<u8>>);

impl Plaintext {
    /// Takes ownership of `bytes`; they are zeroized when the `Plaintext` is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Plaintext(Zeroizing::new(bytes))
    }

    /// The secret bytes. Call this at the one place that needs them (writing `decrypt`'s
    /// stdout, a Kubernetes `Secret`), never to format them into a message.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Plaintext {
    fn from(text: String) -> Self {
        Plaintext::new(text.into_bytes())
    }
}

impl From<Vec<u8>> for Plaintext {
    fn from(bytes: Vec<u8>) -> Self {
        Plaintext::new(bytes)
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::Plaintext;

    #[test]
    fn debug_and_display_never_show_the_bytes() {
        let secret = Plaintext::from("hunter2".to_string());
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
        assert_eq!(format!("{secret}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([REDACTED])");
        assert_eq!(secret.expose(), b"hunter2");
        assert_eq!(secret.len(), 7);
    }
}
