//! Where images come from and go to: a registry reference (`127.0.0.1:5000/hello:1.2.3`), an
//! OCI image layout (`oci:DIR[:TAG]`, skopeo's syntax), or, for a base only, `scratch`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::ImageError;

/// The tag of a layout reference without one, as skopeo assumes.
const DEFAULT_TAG: &str = "latest";

/// An image's place: a registry repository and tag, or a tag in an OCI layout directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// In a registry, reached over the distribution API.
    Registry(oci_client::Reference),
    /// In an OCI image layout directory, under the `org.opencontainers.image.ref.name` tag.
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// The tag.
        tag: String,
    },
}

impl ImageRef {
    /// The tag (`latest` when a registry reference names none).
    pub fn tag(&self) -> &str {
        match self {
            ImageRef::Registry(reference) => reference.tag().unwrap_or(DEFAULT_TAG),
            ImageRef::Layout { tag, .. } => tag,
        }
    }

    /// The same place with another tag.
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        match self {
            ImageRef::Registry(reference) => ImageRef::Registry(oci_client::Reference::with_tag(
                reference.registry().to_owned(),
                reference.repository().to_owned(),
                tag.to_owned(),
            )),
            ImageRef::Layout { dir, .. } => ImageRef::Layout {
                dir: dir.clone(),
                tag: tag.to_owned(),
            },
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Registry(reference) => write!(f, "{}", reference.whole()),
            ImageRef::Layout { dir, tag } => write!(f, "oci:{}:{tag}", dir.display()),
        }
    }
}

impl FromStr for ImageRef {
    type Err = ImageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = text.strip_prefix("oci:") {
            // `oci:DIR:TAG`: the last `:` starts the tag unless what follows is a path.
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir, tag),
                _ => (rest, DEFAULT_TAG),
            };
            if dir.is_empty() || tag.is_empty() {
                return Err(invalid(text, "write an OCI layout as `oci:DIR` or `oci:DIR:TAG`"));
            }
            return Ok(ImageRef::Layout {
                dir: PathBuf::from(dir),
                tag: tag.to_owned(),
            });
        }
        if text.contains('@') {
            return Err(invalid(text, "name a tag (`REPO:TAG`), not a digest"));
        }
        oci_client::Reference::from_str(text)
            .map(ImageRef::Registry)
            .map_err(|err| invalid(text, &format!("{err}; write it as `REGISTRY/REPOSITORY:TAG`")))
    }
}

fn invalid(text: &str, detail: &str) -> ImageError {
    ImageError::InvalidArgument {
        what: "image reference",
        value: text.to_owned(),
        detail: detail.to_owned(),
    }
}

/// A base image: `scratch` (nothing) or an image somewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No base: the image holds only the layers built.
    Scratch,
    /// Another image's layers and config.
    Image(ImageRef),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Scratch => f.write_str("scratch"),
            Source::Image(image) => image.fmt(f),
        }
    }
}

impl FromStr for Source {
    type Err = ImageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "scratch" {
            Ok(Source::Scratch)
        } else {
            text.parse().map(Source::Image)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_references_split_at_the_last_colon() {
        let parsed: ImageRef = "oci:/tmp/out:1.2.3".parse().expect("ref");
        assert_eq!(
            parsed,
            ImageRef::Layout {
                dir: "/tmp/out".into(),
                tag: "1.2.3".to_owned()
            }
        );
        let parsed: ImageRef = "oci:./out".parse().expect("ref");
        assert_eq!(parsed.tag(), "latest");
        let parsed: ImageRef = "oci:c:/dir/x".parse().expect("ref");
        assert!(matches!(parsed, ImageRef::Layout { ref dir, .. } if dir == &PathBuf::from("c:/dir/x")));
    }

    #[test]
    fn registry_references_keep_host_port_repository_and_tag() {
        let parsed: ImageRef = "127.0.0.1:5000/team/hello:1.2.3".parse().expect("ref");
        let ImageRef::Registry(reference) = &parsed else { panic!("{parsed:?}") };
        assert_eq!(reference.registry(), "127.0.0.1:5000");
        assert_eq!(reference.repository(), "team/hello");
        assert_eq!(parsed.tag(), "1.2.3");
        assert_eq!(parsed.with_tag("2.0.0").to_string(), "127.0.0.1:5000/team/hello:2.0.0");
    }

    #[test]
    fn digests_and_garbage_are_refused_with_the_form_to_use() {
        let err = "127.0.0.1:5000/hello@sha256:abc".parse::<ImageRef>().expect_err("digest");
        assert!(err.to_string().contains("name a tag"), "{err}");
        let err = "Not A Ref".parse::<ImageRef>().expect_err("garbage");
        assert!(err.to_string().contains("REGISTRY/REPOSITORY:TAG"), "{err}");
        assert_eq!("scratch".parse::<Source>().expect("scratch"), Source::Scratch);
    }
}
