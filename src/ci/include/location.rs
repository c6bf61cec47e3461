//! Checks on where an included file comes from: remote URLs (scheme and host), wildcard paths
//! (GitLab's `Repository#search_files_by_wildcard_path`) and the YAML extension.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use regex::Regex;

use crate::diagnostic::{Diagnostic, Location};

/// A problem with a location, placed once the caller knows where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    message: String,
    hint: Option<String>,
}

impl Problem {
    fn new(message: String, hint: &str) -> Self {
        Self {
            message,
            hint: Some(hint.to_owned()),
        }
    }

    /// The problem as an error at `location`, `key_path`.
    pub(crate) fn at(self, location: &Location, key_path: &str) -> Diagnostic {
        let d = Diagnostic::error(Some(location.clone()), key_path, self.message);
        match self.hint {
            Some(h) => d.with_hint(h),
            None => d,
        }
    }
}

/// Whether a string include is a URL (GitLab's `UrlSanitizer.valid?`: scheme `http`, `https`,
/// `ssh` or `git`) rather than a local path.
pub(crate) fn looks_like_url(text: &str) -> bool {
    let text = text.trim();
    ["http://", "https://", "ssh://", "git://"]
        .iter()
        .any(|p| text.len() > p.len() && text[..p.len()].eq_ignore_ascii_case(p))
}

/// Checks a remote include URL: `http` or `https`, with a host that is a public name or address.
/// Loopback, private, link-local, unspecified and unique-local IP literals, numeric forms other
/// than dotted quads, and `localhost` are refused, as GitLab's URL blocker does by default.
pub(crate) fn check_remote_url(url: &str) -> Result<(), Problem> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Problem::new(
            format!("remote include `{url}` is not a valid URL"),
            "write a full `https://` URL",
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(Problem::new(
            format!(
                "remote include `{url}` uses scheme `{scheme}`; only `http` and `https` are allowed"
            ),
            "write an `https://` URL",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(inner) = host_port.strip_prefix('[') {
        inner.split_once(']').map_or(inner, |(h, _)| h)
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(Problem::new(
            format!("remote include `{url}` has no host"),
            "write a full `https://` URL",
        ));
    }
    match refusal(host) {
        Some(why) => Err(Problem::new(
            format!("remote include `{url}` points to {why}, which is refused"),
            "put the file into the repository and use `include:local`",
        )),
        None => Ok(()),
    }
}

fn refusal(host: &str) -> Option<&'static str> {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return Some("`localhost`");
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        return refused_ip(ip);
    }
    // `http://2130706433/` or `http://0x7f.1/` reach loopback on many resolvers.
    let numeric = name
        .split('.')
        .all(|l| !l.is_empty() && (l.bytes().all(|b| b.is_ascii_digit()) || is_hex_label(l)));
    numeric.then_some("a numeric address that is not a plain dotted IPv4 address")
}

fn is_hex_label(label: &str) -> bool {
    label
        .strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn refused_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() || ip.octets()[0] == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique-local (private) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else {
        None
    }
}

/// A compiled wildcard path: `**` matches anything (including `/`), `*` anything but `/`,
/// the rest literally, anchored at both ends.
pub(crate) fn wildcard(pattern: &str) -> Option<Regex> {
    let escaped = regex::escape(pattern)
        .replace(r"\*\*", ".*?")
        .replace(r"\*", "[^/]*?");
    Regex::new(&format!("^{escaped}$")).ok()
}

/// Whether the file name has a `.yml` or `.yaml` extension (GitLab's `YAML_ALLOWLIST_EXTENSION`,
/// case-insensitive, with at least one character before it).
pub(crate) fn has_yaml_extension(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    ["yml", "yaml"].iter().any(|ext| {
        base.strip_suffix(ext)
            .and_then(|b| b.strip_suffix('.'))
            .is_some_and(|stem| !stem.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_by_scheme() {
        assert!(looks_like_url("https://example.com/a.yml"));
        assert!(looks_like_url("HTTP://example.com/a.yml"));
        assert!(looks_like_url("git://example.com/a.yml"));
        assert!(!looks_like_url("ci/https.yml"));
        assert!(!looks_like_url("https://"));
    }

    #[test]
    fn public_hosts_pass_and_internal_ones_are_refused() {
        assert!(check_remote_url("https://gitlab.com/group/p/-/raw/main/a.yml").is_ok());
        assert!(check_remote_url("http://93.184.216.34:8080/a.yml").is_ok());
        assert!(check_remote_url("https://[2606:2800:220:1::]/a.yml").is_ok());
        for url in [
            "http://localhost/a.yml",
            "http://LOCALHOST./a.yml",
            "http://api.localhost/a.yml",
            "http://127.0.0.1/a.yml",
            "http://user:pw@10.1.2.3/a.yml",
            "http://172.16.0.1/a.yml",
            "http://192.168.1.1:80/a.yml",
            "http://169.254.169.254/latest/meta-data.yml",
            "http://0.0.0.0/a.yml",
            "http://[::1]/a.yml",
            "http://[::]/a.yml",
            "http://[fd00::1]/a.yml",
            "http://[fe80::1]/a.yml",
            "http://[::ffff:127.0.0.1]/a.yml",
            "http://2130706433/a.yml",
            "http://0x7f.1/a.yml",
        ] {
            assert!(check_remote_url(url).is_err(), "{url} should be refused");
        }
        let err = check_remote_url("ftp://example.com/a.yml").unwrap_err();
        assert!(
            err.message.contains("only `http` and `https`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn wildcards_follow_gitlab() {
        let re = wildcard("configs/*.yml").unwrap();
        assert!(re.is_match("configs/a.yml"));
        assert!(!re.is_match("configs/sub/a.yml"));
        let re = wildcard("configs/**.yml").unwrap();
        assert!(re.is_match("configs/a.yml") && re.is_match("configs/sub/a.yml"));
        let re = wildcard("configs/**/*.yml").unwrap();
        assert!(re.is_match("configs/sub/a.yml") && !re.is_match("configs/a.yml"));
        let re = wildcard("a.(x)+/*.yml").unwrap();
        assert!(re.is_match("a.(x)+/b.yml") && !re.is_match("aa(x)/b.yml"));
    }

    #[test]
    fn yaml_extension() {
        assert!(has_yaml_extension("ci/a.yml") && has_yaml_extension("A.YAML"));
        assert!(
            !has_yaml_extension("ci/.yml")
                && !has_yaml_extension("a.json")
                && !has_yaml_extension("yml")
        );
    }
}
