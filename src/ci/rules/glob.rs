//! Path globs of `rules:changes`, `rules:exists` and `only/except:changes`, matched exactly as
//! GitLab matches them: Ruby's `File.fnmatch?(glob, path, FNM_PATHNAME | FNM_DOTMATCH |
//! FNM_EXTGLOB)`.
//!
//! That means: `*` and `?` never cross `/`; `**/` matches zero or more whole directories,
//! but `**` not followed by `/` is just `*` (so `docs/**` matches `docs/a` and not
//! `docs/a/b`); `[abc]`, `[a-z]`, `[!a]`/`[^a]` classes; `\` escapes; `{a,b}` alternatives,
//! nested, expanded before matching (an unclosed `{` matches nothing, as in Ruby); dot files
//! and dot directories match like any other name. The matcher is a port of Ruby's `dir.c`
//! (`fnmatch`, `fnmatch_helper`, `bracket`, `ruby_brace_expand`) rather than `globset`, whose
//! `**` and brace rules differ from Ruby's.
//!
//! Bounds: brace expansion stops after [`MAX_ALTERNATIVES`] alternatives and
//! [`MAX_BRACE_DEPTH`] nested groups, and after a fixed number of expansion steps (Ruby has
//! no limit; such globs do not occur in practice).
//! Matching itself is linear-backtracking like Ruby's (one `*` and one `**/` retry point).

/// Most alternatives one glob expands to; the rest are ignored.
pub const MAX_ALTERNATIVES: usize = 1024;
/// Most brace groups expanded one inside another.
pub const MAX_BRACE_DEPTH: usize = 32;
/// Most expansion steps for one glob (bounds the work when the depth limit cuts leaves off).
const MAX_EXPANSION_STEPS: usize = 16 * MAX_ALTERNATIVES;

/// A glob, its `{…}` alternatives expanded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    alternatives: Vec<Vec<char>>,
}

impl Glob {
    /// Prepares `pattern`.
    pub fn new(pattern: &str) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut alternatives = Vec::new();
        let mut steps = MAX_EXPANSION_STEPS;
        expand_braces(&chars, 0, &mut steps, &mut alternatives);
        Glob { alternatives }
    }

    /// Whether `path` (repository-relative, `/`-separated) matches.
    pub fn matches(&self, path: &str) -> bool {
        let path: Vec<char> = path.chars().collect();
        self.alternatives.iter().any(|p| fnmatch(p, &path))
    }
}

/// `File.fnmatch?(pattern, path, FNM_PATHNAME | FNM_DOTMATCH | FNM_EXTGLOB)`.
pub fn fnmatch_path(pattern: &str, path: &str) -> bool {
    Glob::new(pattern).matches(path)
}

/// `ruby_brace_expand`: the first top-level `{…}` is replaced by each of its alternatives
/// and the result expanded again; a pattern without braces is pushed as is.
fn expand_braces(s: &[char], depth: usize, steps: &mut usize, out: &mut Vec<Vec<char>>) {
    if out.len() >= MAX_ALTERNATIVES || depth > MAX_BRACE_DEPTH || *steps == 0 {
        return;
    }
    *steps -= 1;
    let (mut nest, mut lbrace, mut rbrace) = (0usize, None, None);
    let mut i = 0;
    while i < s.len() {
        if s[i] == '{' {
            if nest == 0 {
                lbrace = Some(i);
            }
            nest += 1;
        }
        if s[i] == '}' && lbrace.is_some() {
            nest = nest.saturating_sub(1);
            if nest == 0 {
                rbrace = Some(i);
                break;
            }
        }
        if s[i] == '\\' {
            i += 1;
        }
        i += 1;
    }
    match (lbrace, rbrace) {
        (None, _) => out.push(s.to_vec()),
        (Some(_), None) => {} // unclosed: Ruby calls nothing, so nothing matches
        (Some(l), Some(r)) => {
            let mut p = l;
            while p < r {
                p += 1;
                let start = p;
                let mut inner = 0i32;
                while p < r && !(s[p] == ',' && inner == 0) {
                    match s[p] {
                        '{' => inner += 1,
                        '}' => inner -= 1,
                        '\\' if p + 1 < r => p += 1,
                        _ => {}
                    }
                    p += 1;
                }
                let mut expanded = s[..l].to_vec();
                expanded.extend_from_slice(&s[start..p.min(r)]);
                expanded.extend_from_slice(&s[r + 1..]);
                expand_braces(&expanded, depth + 1, steps, out);
            }
        }
    }
}

/// Ruby's `fnmatch` with `FNM_PATHNAME`: segment by segment, retrying after the last `**/`.
fn fnmatch(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut retry: Option<(usize, usize)> = None;
    loop {
        if is_double_star_slash(p, pi) {
            while is_double_star_slash(p, pi) {
                pi += 3;
            }
            retry = Some((pi, si));
        }
        if let Some((np, mut ns)) = match_segment(p, pi, s, si) {
            while ns < s.len() && s[ns] != '/' {
                ns += 1;
            }
            if np < p.len() && ns < s.len() {
                pi = np + 1;
                si = ns + 1;
                continue;
            }
            if np >= p.len() && ns >= s.len() {
                return true;
            }
        }
        // Failed: let the last `**/` swallow one more directory.
        let Some((retry_p, retry_s)) = retry else { return false };
        let mut next = retry_s;
        while next < s.len() && s[next] != '/' {
            next += 1;
        }
        if next >= s.len() {
            return false;
        }
        pi = retry_p;
        si = next + 1;
        retry = Some((retry_p, si));
    }
}

fn is_double_star_slash(p: &[char], i: usize) -> bool {
    p.get(i..i + 3) == Some(&['*', '*', '/'][..])
}

/// End of a segment: end of text or `/`.
fn is_end(v: &[char], i: usize) -> bool {
    i >= v.len() || v[i] == '/'
}

/// Ruby's `fnmatch_helper`: matches one segment of the pattern from `pi` against one of the
/// path from `si`; on success returns where each stopped (the pattern at its segment end).
fn match_segment(p: &[char], mut pi: usize, s: &[char], mut si: usize) -> Option<(usize, usize)> {
    let unescape = |i: usize| if p.get(i) == Some(&'\\') { i + 1 } else { i };
    let mut star: Option<(usize, usize)> = None;
    loop {
        let advanced = match p.get(pi) {
            Some('*') => {
                while p.get(pi) == Some(&'*') {
                    pi += 1;
                }
                if is_end(p, unescape(pi)) {
                    return Some((unescape(pi), si));
                }
                if is_end(s, si) {
                    return None;
                }
                star = Some((pi, si));
                continue;
            }
            Some('?') => {
                if is_end(s, si) {
                    return None;
                }
                Some(pi + 1)
            }
            Some('[') => {
                if is_end(s, si) {
                    return None;
                }
                bracket(p, pi + 1, s[si])
            }
            _ => {
                let up = unescape(pi);
                if is_end(s, si) {
                    return is_end(p, up).then_some((up, si));
                }
                (!is_end(p, up) && p[up] == s[si]).then_some(up + 1)
            }
        };
        if let Some(next) = advanced {
            pi = next;
            si += 1;
            continue;
        }
        // Failed: the last `*` takes one more character.
        let (star_p, star_s) = star?;
        pi = star_p;
        si = star_s + 1;
        star = Some((star_p, si));
    }
}

/// Ruby's `bracket`: `p[i..]` follows a `[`; returns the index after the closing `]` when
/// `c` is in the class.
fn bracket(p: &[char], mut i: usize, c: char) -> Option<usize> {
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ok = false;
    while p.get(i) != Some(&']') {
        let t1 = if p.get(i) == Some(&'\\') { i + 1 } else { i };
        let c1 = *p.get(t1)?;
        i = t1 + 1;
        if i >= p.len() {
            return None;
        }
        if p[i] == '-' && p.get(i + 1) != Some(&']') {
            let t2 = if p.get(i + 1) == Some(&'\\') { i + 2 } else { i + 1 };
            let c2 = *p.get(t2)?;
            i = t2 + 1;
            if !ok && (c1 == c || c2 == c || (c1 <= c && c <= c2)) {
                ok = true;
            }
        } else if !ok && c1 == c {
            ok = true;
        }
    }
    (ok != negated).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        fnmatch_path(pattern, path)
    }

    #[test]
    fn star_stays_within_a_directory() {
        assert!(m("*.md", "README.md"));
        assert!(!m("*.md", "docs/a.md"));
        assert!(m("docs/*.md", "docs/a.md"));
        assert!(!m("docs/*.md", "docs/x/a.md"));
        assert!(m("docs/*", "docs/a.md"));
        assert!(!m("d?cs/a.md", "d/cs/a.md"));
    }

    #[test]
    fn double_star_slash_spans_zero_or_more_directories() {
        assert!(m("**/*.md", "a.md"));
        assert!(m("**/*.md", "docs/x/a.md"));
        assert!(m("docs/**/*.md", "docs/a.md"));
        assert!(m("docs/**/*.md", "docs/x/y/a.md"));
        assert!(!m("docs/**/*.md", "src/a.md"));
        assert!(m("**/**/b", "a/b"));
        assert!(m("**/Dockerfile", "Dockerfile"));
    }

    #[test]
    fn double_star_without_slash_is_a_single_star() {
        assert!(m("docs/**", "docs/a.md"));
        assert!(!m("docs/**", "docs/x/a.md"));
        assert!(m("docs/**/*", "docs/x/a.md"));
        assert!(m("a**b", "axxb"));
    }

    #[test]
    fn dot_files_and_directories_match() {
        assert!(m("*", ".gitlab-ci.yml"));
        assert!(m("**/*.yml", ".gitlab/ci/a.yml"));
        assert!(m(".gitlab/**/*", ".gitlab/x/.hidden"));
    }

    #[test]
    fn braces_expand_with_nesting_and_escapes() {
        assert!(m("{src,lib}/*.rs", "lib/a.rs"));
        assert!(!m("{src,lib}/*.rs", "doc/a.rs"));
        assert!(m("a.{js,{ts,tsx}}", "a.tsx"));
        assert!(m("a{,.bak}", "a"));
        assert!(m("a{}b", "ab"));
        assert!(!m("{a,b", "a"));
        assert!(!m("{a,b", "{a,b"));
        assert!(m(r"\{a\}", "{a}"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(m("file[0-9].txt", "file7.txt"));
        assert!(!m("file[0-9].txt", "filex.txt"));
        assert!(m("file[!0-9].txt", "filex.txt"));
        assert!(m("file[^0-9].txt", "filex.txt"));
        assert!(!m("a[/]b", "a/b"));
        assert!(m("[ab]c", "bc"));
        assert!(!m("[ab", "a"));
    }

    #[test]
    fn escapes_and_exact_names() {
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m("Dockerfile", "Dockerfile"));
        assert!(!m("Dockerfile", "sub/Dockerfile"));
        assert!(!m("a", "a/b"));
        assert!(!m("a/b", "a"));
    }

    #[test]
    fn brace_expansion_is_bounded() {
        let pattern = "{a,b}".repeat(20);
        assert_eq!(Glob::new(&pattern).alternatives.len(), MAX_ALTERNATIVES);
        // Deeper than the limit: expansion stops early instead of walking 2^40 branches.
        let pattern = "{a,b}".repeat(40);
        assert!(Glob::new(&pattern).alternatives.len() <= MAX_ALTERNATIVES);
        let deep = format!("{}x{}", "{".repeat(200), "}".repeat(200));
        let _ = Glob::new(&deep).matches("x");
    }
}
