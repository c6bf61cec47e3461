//! The base of an image: `scratch`, an image in an OCI layout, or one in a registry, resolved
//! for each platform being built into its config and layers, whose blobs are copied into the
//! output layout (so the output is complete on its own and can be pushed anywhere).

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, RootFsBuilder};

use super::layout::{is_index, media_type_of};
use super::{ImageError, ImageRef, Layout, Platform, Source};
use crate::publish::registry::{Registry, RegistryOptions};

/// A base resolved for one platform: its config, and its layers (already in the output layout).
#[derive(Debug, Clone)]
pub struct Base {
    /// The base's config (for `scratch`, an empty one for the platform).
    pub config: ImageConfiguration,
    /// The base's layers, in order.
    pub layers: Vec<Descriptor>,
}

/// Where a base's documents and blobs are read from.
enum Origin {
    Layout(Layout),
    Registry(Box<Registry>, oci_client::Reference),
}

impl Origin {
    async fn manifest(&self, digest: &str, base: &str) -> Result<Vec<u8>, ImageError> {
        match self {
            Origin::Layout(layout) => layout.read_blob(digest),
            Origin::Registry(registry, reference) => {
                let by_digest = oci_client::Reference::with_digest(
                    reference.registry().to_owned(),
                    reference.repository().to_owned(),
                    digest.to_owned(),
                );
                let (bytes, _, _) = registry.pull_manifest(&by_digest).await.map_err(|e| pull_error(base, e))?;
                Ok(bytes)
            }
        }
    }

    async fn copy_blob(&self, digest: &str, out: &Layout, base: &str) -> Result<(), ImageError> {
        match self {
            Origin::Layout(layout) => out.copy_blob_from(layout, digest),
            Origin::Registry(registry, reference) => {
                registry.pull_blob_into(reference, digest, out).await.map_err(|e| pull_error(base, e))
            }
        }
    }
}

fn pull_error(base: &str, source: crate::publish::registry::RegistryError) -> ImageError {
    ImageError::Pull {
        base: base.to_owned(),
        source: Box::new(source),
    }
}

/// Resolves `source` for each of `platforms` (in order), copying the blobs into `out`.
///
/// # Errors
///
/// [`ImageError::NoSuchPlatform`] when the base lacks a platform; [`ImageError::Pull`] when a
/// registry fails; [`ImageError::NoSuchTag`] for a layout without the tag.
pub async fn resolve(
    source: &Source,
    platforms: &[Platform],
    out: &Layout,
    registry: &RegistryOptions,
) -> Result<Vec<Base>, ImageError> {
    let image = match source {
        Source::Scratch => return Ok(platforms.iter().map(scratch).collect()),
        Source::Image(image) => image,
    };
    let name = image.to_string();
    let (origin, root_bytes, root_type, root_digest) = match image {
        ImageRef::Layout { dir, tag } => {
            let layout = Layout::open(dir)?;
            let root = layout.resolve(Some(tag))?;
            let digest = root.digest().to_string();
            let bytes = layout.read_blob(&digest)?;
            (Origin::Layout(layout), bytes, media_type_of(&root), digest)
        }
        ImageRef::Registry(reference) => {
            let client = Registry::new(registry, reference);
            let (bytes, media_type, digest) = client.pull_manifest(reference).await.map_err(|e| pull_error(&name, e))?;
            (Origin::Registry(Box::new(client), reference.clone()), bytes, media_type, digest)
        }
    };
    let mut bases = Vec::with_capacity(platforms.len());
    if is_index(&root_type) {
        let index: ImageIndex = parse(&root_bytes, "index", &root_digest)?;
        for platform in platforms {
            let entry = index
                .manifests()
                .iter()
                .find(|d| {
                    d.platform().as_ref().is_some_and(|p| {
                        platform.matches(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref())
                    })
                })
                .ok_or_else(|| ImageError::NoSuchPlatform {
                    base: name.clone(),
                    platform: platform.clone(),
                    available: index
                        .manifests()
                        .iter()
                        .filter_map(|d| d.platform().as_ref().map(|p| format!("{}/{}", p.os(), p.architecture())))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            let digest = entry.digest().to_string();
            let bytes = origin.manifest(&digest, &name).await?;
            bases.push(from_manifest(&origin, &bytes, &digest, out, &name).await?);
        }
    } else {
        let base = from_manifest(&origin, &root_bytes, &root_digest, out, &name).await?;
        for platform in platforms {
            let (os, arch) = (base.config.os().to_string(), base.config.architecture().to_string());
            if !platform.matches(&os, &arch, base.config.variant().as_deref()) {
                return Err(ImageError::NoSuchPlatform {
                    base: name,
                    platform: platform.clone(),
                    available: format!("{os}/{arch}"),
                });
            }
            bases.push(base.clone());
        }
    }
    Ok(bases)
}

async fn from_manifest(
    origin: &Origin,
    bytes: &[u8],
    digest: &str,
    out: &Layout,
    name: &str,
) -> Result<Base, ImageError> {
    let manifest: ImageManifest = parse(bytes, "manifest", digest)?;
    let config_digest = manifest.config().digest().to_string();
    origin.copy_blob(&config_digest, out, name).await?;
    let config: ImageConfiguration = parse(&out.read_blob(&config_digest)?, "config", &config_digest)?;
    for layer in manifest.layers() {
        origin.copy_blob(layer.digest().as_ref(), out, name).await?;
    }
    Ok(Base {
        config,
        layers: manifest.layers().clone(),
    })
}

fn scratch(platform: &Platform) -> Base {
    let mut config = ImageConfiguration::default();
    config.set_os(platform.os.as_str().into());
    config.set_architecture(platform.architecture.as_str().into());
    config.set_variant(platform.variant.clone());
    config.set_rootfs(
        RootFsBuilder::default()
            .typ("layers")
            .diff_ids(Vec::<String>::new())
            .build()
            .expect("an empty rootfs is valid"),
    );
    Base {
        config,
        layers: Vec::new(),
    }
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str, digest: &str) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|err| ImageError::InvalidDocument {
        what,
        digest: digest.to_owned(),
        detail: err.to_string(),
    })
}
