//! Comment triggers: does a review comment ask for the pipeline to run again ("recheck")?
//!
//! The pattern is configuration (per project); this module only decides whether a comment
//! matches it. A comment is data: it is matched, never interpreted further.

use regex::Regex;

/// The default recheck pattern: `recheck` or `/recheck` alone in the comment, any case.
pub const DEFAULT_RECHECK_PATTERN: &str = r"(?i)^\s*/?recheck\s*$";

/// The default recheck pattern, compiled.
pub fn default_recheck() -> Regex {
    // A constant pattern, compiled by the tests: it cannot fail at run time.
    Regex::new(DEFAULT_RECHECK_PATTERN).expect("the default recheck pattern compiles")
}

/// Whether `comment` asks for a recheck under `pattern`.
pub fn is_recheck(pattern: &Regex, comment: &str) -> bool {
    pattern.is_match(comment)
}

/// The text a Gerrit reviewer typed, without the `Patch Set N: <votes>` paragraph Gerrit puts
/// before every review message (`"Patch Set 2: Code-Review+1\n\nrecheck"` gives `"recheck"`).
/// A comment without that header is returned unchanged.
pub fn strip_gerrit_header(comment: &str) -> &str {
    let Some(rest) = comment.strip_prefix("Patch Set ") else {
        return comment;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !rest[digits..].starts_with(':') {
        return comment;
    }
    // The header is the first line; the reviewer's text follows after a blank line.
    match comment.find('\n') {
        Some(end) => comment[end..].trim_start_matches(['\n', '\r']),
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pattern_matches_recheck_alone() {
        let re = default_recheck();
        for yes in ["recheck", "/recheck", "  Recheck\n", "RECHECK"] {
            assert!(is_recheck(&re, yes), "{yes:?}");
        }
        for no in ["please recheck this", "recheck now", "", "rechecks"] {
            assert!(!is_recheck(&re, no), "{no:?}");
        }
    }

    #[test]
    fn gerrit_header_is_stripped() {
        assert_eq!(strip_gerrit_header("Patch Set 2:\n\nrecheck"), "recheck");
        assert_eq!(
            strip_gerrit_header("Patch Set 12: Code-Review+1\n\n/recheck"),
            "/recheck"
        );
        assert_eq!(strip_gerrit_header("Patch Set 3: Verified-1"), "");
        assert_eq!(strip_gerrit_header("recheck"), "recheck");
        assert_eq!(
            strip_gerrit_header("Patch Set x:\n\nrecheck"),
            "Patch Set x:\n\nrecheck"
        );
    }
}
