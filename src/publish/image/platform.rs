//! Platforms as `--platform` writes them: `OS/ARCH[/VARIANT]`, Go's names (`linux/amd64`,
//! `linux/arm64/v8`), as OCI indexes and configs carry them.

use std::fmt;
use std::str::FromStr;

use super::ImageError;

/// One platform of an image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// `linux`, `windows`, … (Go's `GOOS`).
    pub os: String,
    /// `amd64`, `arm64`, … (Go's `GOARCH`).
    pub architecture: String,
    /// `v7`, `v8`, … when the architecture has variants.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of this machine (`linux/amd64` on x86-64 Linux).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }

    /// Whether a platform described by an index entry or a config (`os`, `architecture`,
    /// optional `variant`) is this one. A missing variant on either side matches any.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && match (self.variant.as_deref(), variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = ImageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split('/').collect();
        let valid = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(ImageError::InvalidArgument {
                what: "--platform",
                value: text.to_owned(),
                detail: "write it as OS/ARCH or OS/ARCH/VARIANT, for example `linux/amd64` or `linux/arm64/v8`"
                    .to_owned(),
            });
        }
        Ok(Platform {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_print_back() {
        for text in ["linux/amd64", "linux/arm64/v8", "windows/amd64"] {
            let platform: Platform = text.parse().expect(text);
            assert_eq!(platform.to_string(), text);
        }
    }

    #[test]
    fn malformed_platforms_are_refused_with_the_form_to_use() {
        for text in ["linux", "linux/", "/amd64", "linux/amd64/v8/x", "linux/am d64"] {
            let err = text.parse::<Platform>().expect_err(text);
            assert!(err.to_string().contains("write it as OS/ARCH"), "{err}");
        }
    }

    #[test]
    fn a_missing_variant_matches_any() {
        let arm: Platform = "linux/arm64".parse().expect("platform");
        assert!(arm.matches("linux", "arm64", Some("v8")));
        let v7: Platform = "linux/arm/v7".parse().expect("platform");
        assert!(!v7.matches("linux", "arm", Some("v6")));
        assert!(!v7.matches("linux", "arm64", None));
    }
}
