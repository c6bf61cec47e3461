//! Masking of secret values in job logs.
//!
//! A job's output reaches us in chunks of arbitrary size, so a secret may arrive split across
//! two or more chunks. [`MaskingStream`] replaces every occurrence of every masked value with
//! [`MASK`] (`[MASKED]`, GitLab's word) while holding back only the few trailing bytes that
//! could still be the start of a value: at most `longest value length − 1` bytes, and none
//! at all when the tail cannot begin any value (so ordinary output is not delayed).
//!
//! Like GitLab, we mask the raw value only. Encodings of it (base64, URL-encoding, a value
//! split by the job itself) are *not* masked; as far as we know GitLab 18.x does not mask them
//! either, and its documentation warns that a job can always leak a masked value on purpose.
//!
//! This module never logs or prints a value: [`Masker`]'s `Debug` shows counts only, and
//! [`MaskError`] names the variable, never its content.

use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

/// What replaces a masked value in a job log (the same text GitLab uses).
pub const MASK: &[u8] = b"[MASKED]";

/// The fewest characters a masked variable's value may have (GitLab's rule).
pub const MIN_MASKED_LEN: usize = 8;

/// The secret values to mask in job logs, compiled once and shared by every stream.
///
/// Cloning is cheap (the compiled matcher is shared). Empty values are ignored (they would
/// match everywhere) and duplicates are merged.
#[derive(Clone)]
pub struct Masker {
    /// `None` when there is nothing to mask: streams then pass bytes through untouched.
    patterns: Option<Arc<Patterns>>,
}

struct Patterns {
    /// Leftmost-longest, so that of two overlapping values the longer one wins.
    searcher: AhoCorasick,
    values: Vec<Vec<u8>>,
    longest: usize,
}

impl Masker {
    /// Compiles the values to mask.
    ///
    /// # Errors
    ///
    /// [`MaskError::Build`] if the matcher cannot be built (only for absurdly large sets of
    /// values; a runner must then refuse to start the job rather than log unmasked).
    pub fn new(values: impl IntoIterator<Item = String>) -> Result<Self, MaskError> {
        let mut values: Vec<Vec<u8>> = values
            .into_iter()
            .filter(|value| !value.is_empty())
            .map(String::into_bytes)
            .collect();
        values.sort();
        values.dedup();
        let Some(longest) = values.iter().map(Vec::len).max() else {
            return Ok(Masker { patterns: None });
        };
        let searcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&values)
            .map_err(MaskError::Build)?;
        Ok(Masker {
            patterns: Some(Arc::new(Patterns {
                searcher,
                values,
                longest,
            })),
        })
    }

    /// Starts masking one log stream (one job's combined output, say).
    pub fn stream(&self) -> MaskingStream {
        MaskingStream {
            patterns: self.patterns.clone(),
            pending: Vec::new(),
        }
    }

    /// Masks a complete input in one go; equal to pushing it through a stream in any chunking.
    pub fn mask(&self, input: &[u8]) -> Vec<u8> {
        let mut stream = self.stream();
        let mut out = stream.push(input);
        out.extend(stream.finish());
        out
    }
}

impl fmt::Debug for Masker {
    // Never the values themselves: a Debug print must not be a way to leak a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (count, longest) = self
            .patterns
            .as_ref()
            .map_or((0, 0), |p| (p.values.len(), p.longest));
        f.debug_struct("Masker")
            .field("values", &count)
            .field("longest", &longest)
            .finish()
    }
}

impl Patterns {
    /// Whether `tail` (the end of what we have seen) could be where a value begins: either a
    /// whole value starts here (a longer one might still follow) or `tail` is a value's prefix.
    fn could_start(&self, tail: &[u8]) -> bool {
        self.values
            .iter()
            .any(|value| value.starts_with(tail) || tail.starts_with(value))
    }
}

/// One log stream being masked. Feed it with [`push`](Self::push); call
/// [`finish`](Self::finish) at end of stream to get the bytes held back.
///
/// # Guarantees
///
/// The concatenation of everything returned by `push` and `finish` equals
/// [`Masker::mask`] of the concatenated input, whatever the chunk boundaries. At any time
/// fewer than `longest value length` bytes are held back.
pub struct MaskingStream {
    patterns: Option<Arc<Patterns>>,
    /// Bytes received but not yet emitted: a possible start of a value.
    pending: Vec<u8>,
}

impl MaskingStream {
    /// Takes the next chunk of output and returns the bytes that are safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let Some(patterns) = self.patterns.clone() else {
            return chunk.to_vec();
        };
        self.pending.extend_from_slice(chunk);
        let len = self.pending.len();
        // A match starting before `settled` fits entirely in what we have, so it (and the
        // absence of one) can no longer change whatever comes next.
        let settled = len.saturating_sub(patterns.longest - 1);
        let mut out = Vec::with_capacity(len);
        let mut pos = 0;
        for found in patterns.searcher.find_iter(&self.pending) {
            if found.start() >= settled {
                break;
            }
            out.extend_from_slice(&self.pending[pos..found.start()]);
            out.extend_from_slice(MASK);
            pos = found.end();
        }
        if pos < settled {
            out.extend_from_slice(&self.pending[pos..settled]);
            pos = settled;
        }
        // Of the unsettled tail, hold back only from the first byte that could begin a value.
        let hold = (pos..len)
            .find(|&i| patterns.could_start(&self.pending[i..]))
            .unwrap_or(len);
        out.extend_from_slice(&self.pending[pos..hold]);
        self.pending.drain(..hold);
        out
    }

    /// Ends the stream and returns the held-back tail, masked.
    pub fn finish(self) -> Vec<u8> {
        let Some(patterns) = self.patterns else {
            return self.pending;
        };
        let mut out = Vec::with_capacity(self.pending.len());
        let mut pos = 0;
        for found in patterns.searcher.find_iter(&self.pending) {
            out.extend_from_slice(&self.pending[pos..found.start()]);
            out.extend_from_slice(MASK);
            pos = found.end();
        }
        out.extend_from_slice(&self.pending[pos..]);
        out
    }
}

impl fmt::Debug for MaskingStream {
    // The pending bytes may be the start of a secret: show their count only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskingStream")
            .field("pending_bytes", &self.pending.len())
            .finish()
    }
}

/// Why a value cannot be masked, or a masker cannot be built. Names the variable, never the value.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// The value has fewer than [`MIN_MASKED_LEN`] characters.
    #[error("masked variable `{name}` must be at least {MIN_MASKED_LEN} characters long")]
    TooShort {
        /// The variable's name.
        name: String,
    },
    /// The value contains a line break.
    #[error("masked variable `{name}` must be a single line")]
    MultiLine {
        /// The variable's name.
        name: String,
    },
    /// The value contains a space, tab or other whitespace.
    #[error("masked variable `{name}` must not contain spaces")]
    Whitespace {
        /// The variable's name.
        name: String,
    },
    /// The value contains a character outside the allowed set.
    #[error(
        "masked variable `{name}` may contain only letters, digits and `@ : . ~ - _ + = /` \
         (or any non-space character if the variable is not expanded)"
    )]
    ForbiddenCharacter {
        /// The variable's name.
        name: String,
    },
    /// The matcher over the values could not be built.
    #[error("cannot build the log masker")]
    Build(#[source] aho_corasick::BuildError),
}

/// Checks that `value` may be the value of a masked variable `name` that is expanded (the
/// default), with GitLab's rules.
///
/// GitLab's documentation, "Mask a CI/CD variable" (CI/CD variables page, 17.x–18.x), requires
/// the value to be a single line with no spaces, 8 characters or longer, and, for an expanded
/// variable, made of the Base64 alphabet (RFC 4648, both the standard and URL-safe forms) plus
/// `@`, `:`, `.` and `~` (GitLab's own check is the regex `\A[a-zA-Z0-9_+=/@:.~-]{8,}\z`).
/// GitLab also refuses a value equal to the name of an existing variable; that needs the
/// whole variable set and is left to the caller. We are fairly, not fully, sure the character
/// set is unchanged in 18.x.
///
/// # Errors
///
/// The first rule broken, in the order: single line, no spaces, length, character set.
pub fn validate_masked(name: &str, value: &str) -> Result<(), MaskError> {
    validate_masked_raw(name, value)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "@:.~-_+=/".contains(c);
    if !value.chars().all(allowed) {
        return Err(MaskError::ForbiddenCharacter {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Like [`validate_masked`] for a variable that is *not* expanded (`expand: false`, "raw"):
/// GitLab then allows any character except whitespace.
///
/// # Errors
///
/// The first rule broken, in the order: single line, no spaces, length.
pub fn validate_masked_raw(name: &str, value: &str) -> Result<(), MaskError> {
    if value.contains(['\n', '\r']) {
        return Err(MaskError::MultiLine {
            name: name.to_owned(),
        });
    }
    if value.chars().any(char::is_whitespace) {
        return Err(MaskError::Whitespace {
            name: name.to_owned(),
        });
    }
    if value.chars().count() < MIN_MASKED_LEN {
        return Err(MaskError::TooShort {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn masker(values: &[&str]) -> Masker {
        Masker::new(values.iter().map(|v| (*v).to_owned())).expect("masker builds")
    }

    /// Pushes `chunks` one by one and returns everything emitted, as text.
    fn run(masker: &Masker, chunks: &[&[u8]]) -> String {
        let mut stream = masker.stream();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(stream.push(chunk));
        }
        out.extend(stream.finish());
        String::from_utf8(out).expect("utf-8 output")
    }

    /// Independent oracle: at each position take the longest value that starts there.
    fn naive_mask(values: &[String], input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let longest = values
                .iter()
                .filter(|v| !v.is_empty() && input[i..].starts_with(v.as_bytes()))
                .map(String::len)
                .max();
            match longest {
                Some(len) => {
                    out.extend_from_slice(MASK);
                    i += len;
                }
                None => {
                    out.push(input[i]);
                    i += 1;
                }
            }
        }
        out
    }

    #[test]
    fn value_split_at_every_position_across_two_chunks_is_masked() {
        let m = masker(&["s3cr3t-T0ken"]);
        let input = b"token=s3cr3t-T0ken; done";
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(run(&m, &[a, b]), "token=[MASKED]; done", "cut at {cut}");
        }
    }

    #[test]
    fn value_split_three_ways_is_masked() {
        let m = masker(&["s3cr3t-T0ken"]);
        let input = b"<s3cr3t-T0ken>";
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let out = run(&m, &[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(out, "<[MASKED]>", "cuts at {i} and {j}");
            }
        }
    }

    #[test]
    fn byte_by_byte_feeding_masks_every_occurrence() {
        let m = masker(&["password1"]);
        let input = b"password1 and password1password1";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&m, &chunks), "[MASKED] and [MASKED][MASKED]");
    }

    #[test]
    fn partial_prefix_that_never_completes_is_emitted_at_finish() {
        let m = masker(&["supersecret"]);
        let mut stream = m.stream();
        let now = stream.push(b"log line ends with super");
        assert_eq!(now, b"log line ends with ");
        assert_eq!(stream.finish(), b"super");
    }

    #[test]
    fn held_back_bytes_never_reach_the_longest_value_length() {
        let m = masker(&["abcdefgh"]);
        let mut stream = m.stream();
        let mut emitted = 0;
        let input = b"abcdefgabcdefgabcdefg";
        for (i, byte) in input.iter().enumerate() {
            emitted += stream.push(&[*byte]).len();
            assert!(i + 1 - emitted < 8, "held back {} bytes", i + 1 - emitted);
        }
        assert_eq!(emitted + stream.finish().len(), input.len());
    }

    #[test]
    fn multiple_values_are_all_masked() {
        let m = masker(&["alpha-secret", "beta-secret-2", "gamma123"]);
        let out = run(
            &m,
            &[b"a=alpha-se", b"cret b=beta-secret-2 c=gam", b"ma123."],
        );
        assert_eq!(out, "a=[MASKED] b=[MASKED] c=[MASKED].");
    }

    #[test]
    fn overlapping_values_longest_match_wins() {
        let m = masker(&["secret", "secret-extended"]);
        assert_eq!(run(&m, &[b"x secret-ext", b"ended y"]), "x [MASKED] y");
        assert_eq!(run(&m, &[b"x secret-ext", b"ra y"]), "x [MASKED]-extra y");
        // A longer value starting earlier wins over a shorter one inside it.
        let m = masker(&["cd", "abcdef"]);
        assert_eq!(run(&m, &[b"abcd", b"ef"]), "[MASKED]");
        assert_eq!(run(&m, &[b"abcd", b"eX"]), "ab[MASKED]eX");
    }

    #[test]
    fn no_value_passes_through_without_holding_back() {
        let m = masker(&[]);
        let mut stream = m.stream();
        assert_eq!(stream.push(b"anything at all"), b"anything at all");
        assert!(stream.finish().is_empty());
        // Empty values are ignored rather than matching everywhere.
        let m = masker(&[""]);
        assert_eq!(m.mask(b"abc"), b"abc");
    }

    #[test]
    fn output_that_cannot_start_a_value_is_not_delayed() {
        let m = masker(&["zzzzzzzz"]);
        let mut stream = m.stream();
        assert_eq!(stream.push(b"plain output\n"), b"plain output\n");
    }

    #[test]
    fn debug_never_shows_values_or_pending_bytes() {
        let m = masker(&["hunter2hunter2"]);
        let mut stream = m.stream();
        let _ = stream.push(b"hunter2");
        let printed = format!("{m:?} {stream:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn validate_masked_follows_gitlab_rules() {
        assert!(validate_masked("TOKEN", "abcDEF123_+=/@:.~-").is_ok());
        let err = |v: &str| {
            validate_masked("API_TOKEN", v)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            err("short"),
            "masked variable `API_TOKEN` must be at least 8 characters long"
        );
        assert_eq!(
            err("two\nlines-here"),
            "masked variable `API_TOKEN` must be a single line"
        );
        assert_eq!(
            err("has a space"),
            "masked variable `API_TOKEN` must not contain spaces"
        );
        assert!(err("dollar$ign!").contains("may contain only"));
        // The value is never part of the message.
        assert!(!err("dollar$ign!").contains("dollar"));
        // Raw (not expanded) variables may contain any non-space character.
        assert!(validate_masked_raw("RAW", "dollar$ign!").is_ok());
        assert!(validate_masked_raw("RAW", "tab\there-x").is_err());
        // Length counts characters, not bytes.
        assert!(validate_masked_raw("RAW", "ééééééé").is_err());
    }

    proptest! {
        #[test]
        fn any_chunking_equals_one_shot_masking_and_leaks_no_value(
            values in proptest::collection::vec("[abc]{1,6}", 1..4),
            input in "[abcx]{0,60}",
            mut cuts in proptest::collection::vec(0usize..=60, 0..6),
        ) {
            let m = Masker::new(values.clone()).expect("masker builds");
            let input = input.as_bytes();
            cuts.iter_mut().for_each(|c| *c = (*c).min(input.len()));
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts {
                chunks.push(&input[start..cut]);
                start = cut;
            }
            chunks.push(&input[start..]);
            let streamed = run(&m, &chunks);
            let expected = naive_mask(&values, input);
            prop_assert_eq!(streamed.as_bytes(), &expected[..]);
            prop_assert_eq!(m.mask(input), expected);
            for value in &values {
                prop_assert!(!streamed.contains(value.as_str()), "{} leaked in {}", value, streamed);
            }
        }
    }
}
