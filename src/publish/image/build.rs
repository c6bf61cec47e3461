//! Assembles an image into a layout: base + layers + config, per platform, and an index when
//! there are several platforms.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::{
    Descriptor, Digest, HistoryBuilder, ImageConfiguration, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    PlatformBuilder,
};

use super::layer::{Layer, write_layer};
use super::{ImageError, Layout, LayerSpec, Platform, Source, base, canonical_json, media};
use crate::publish::registry::RegistryOptions;

/// The label holding the image's creation time.
pub const LABEL_CREATED: &str = "org.opencontainers.image.created";

/// Everything `sluice image build` takes.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    /// The base image (`None` is `scratch`).
    pub from: Option<Source>,
    /// One layer each, in order, on top of the base's.
    pub layers: Vec<LayerSpec>,
    /// Replaces the base's entrypoint (and, unless `cmd` is given, clears its cmd, as Docker does).
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the base's cmd.
    pub cmd: Option<Vec<String>>,
    /// Set (or replace) environment variables.
    pub env: Vec<(String, String)>,
    /// Labels, over the base's and the automatic `org.opencontainers.image.created`.
    pub labels: Vec<(String, String)>,
    /// The working directory.
    pub workdir: Option<String>,
    /// The user.
    pub user: Option<String>,
    /// Ports to expose (`8080`, `8080/tcp`, `53/udp`).
    pub expose: Vec<String>,
    /// The platforms; one manifest each, and an index when there are several.
    pub platforms: Vec<Platform>,
    /// Every time in the image: seconds since 1970 (`SOURCE_DATE_EPOCH` or the commit time).
    pub epoch: u64,
}

/// A built image.
#[derive(Debug, Clone)]
pub struct Built {
    /// The root: the manifest (one platform) or the index (several).
    pub root: Descriptor,
    /// The root's digest, what `sluice image build` prints.
    pub digest: String,
}

/// Builds `spec` into `layout` and tags it `tag` there.
///
/// # Errors
///
/// [`ImageError`]: unreadable layer sources, a base without a platform, a registry failure
/// pulling the base.
pub async fn build(spec: &BuildSpec, layout: &Layout, tag: &str, registry: &RegistryOptions) -> Result<Built, ImageError> {
    let platforms = if spec.platforms.is_empty() { vec![Platform::host()] } else { spec.platforms.clone() };
    let source = spec.from.clone().unwrap_or(Source::Scratch);
    let bases = base::resolve(&source, &platforms, layout, registry).await?;
    let mut layers = Vec::with_capacity(spec.layers.len());
    for layer in &spec.layers {
        let (layout, layer, epoch) = (layout.clone(), layer.clone(), spec.epoch);
        let written = tokio::task::spawn_blocking(move || write_layer(&layout, &layer, epoch))
            .await
            .expect("layer writing does not panic")?;
        layers.push(written);
    }
    let mut manifests = Vec::with_capacity(platforms.len());
    for (platform, base) in platforms.iter().zip(bases) {
        let config = configure(base.config, spec, platform, &layers);
        let (config_digest, config_size) = layout.write_blob(&canonical_json(&config))?;
        let mut all_layers = base.layers;
        for layer in &layers {
            all_layers.push(descriptor(MediaType::Other(media::LAYER_TAR.to_owned()), layer.size, &layer.digest)?);
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(MediaType::ImageConfig, config_size, &config_digest)?)
            .layers(all_layers)
            .build()
            .expect("a manifest with a config is valid");
        let (digest, size) = layout.write_blob(&canonical_json(&manifest))?;
        let mut entry = descriptor(MediaType::ImageManifest, size, &digest)?;
        let mut builder = PlatformBuilder::default()
            .os(platform.os.as_str())
            .architecture(platform.architecture.as_str());
        if let Some(variant) = &platform.variant {
            builder = builder.variant(variant.clone());
        }
        entry.set_platform(Some(builder.build().expect("a platform is valid")));
        manifests.push(entry);
    }
    let root = if manifests.len() == 1 {
        let mut only = manifests.remove(0);
        only.set_platform(None);
        only
    } else {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(manifests)
            .build()
            .expect("an index is valid");
        let (digest, size) = layout.write_blob(&canonical_json(&index))?;
        descriptor(MediaType::ImageIndex, size, &digest)?
    };
    layout.set_tag(&root, tag)?;
    Ok(Built {
        digest: root.digest().to_string(),
        root,
    })
}

fn descriptor(media_type: MediaType, size: u64, digest: &str) -> Result<Descriptor, ImageError> {
    let digest: Digest = digest.parse().map_err(|err| ImageError::InvalidDocument {
        what: "digest",
        digest: digest.to_owned(),
        detail: format!("{err}"),
    })?;
    Ok(Descriptor::new(media_type, size, digest))
}

/// The base's config with the build's changes for `platform` and `layers`.
fn configure(mut image: ImageConfiguration, spec: &BuildSpec, platform: &Platform, layers: &[Layer]) -> ImageConfiguration {
    let created = rfc3339(spec.epoch);
    image.set_created(Some(created.clone()));
    image.set_os(platform.os.as_str().into());
    image.set_architecture(platform.architecture.as_str().into());
    image.set_variant(platform.variant.clone());
    let mut config = image.config().clone().unwrap_or_default();
    let mut env: Vec<String> = config.env().clone().unwrap_or_default();
    for (key, value) in &spec.env {
        let prefix = format!("{key}=");
        env.retain(|entry| !entry.starts_with(&prefix));
        env.push(format!("{key}={value}"));
    }
    config.set_env((!env.is_empty()).then_some(env));
    if let Some(entrypoint) = &spec.entrypoint {
        config.set_entrypoint(Some(entrypoint.clone()));
        config.set_cmd(None);
    }
    if let Some(cmd) = &spec.cmd {
        config.set_cmd(Some(cmd.clone()));
    }
    if let Some(workdir) = &spec.workdir {
        config.set_working_dir(Some(workdir.clone()));
    }
    if let Some(user) = &spec.user {
        config.set_user(Some(user.clone()));
    }
    if !spec.expose.is_empty() {
        let mut ports: BTreeSet<String> = config.exposed_ports().clone().unwrap_or_default().into_iter().collect();
        ports.extend(spec.expose.iter().map(|p| if p.contains('/') { p.clone() } else { format!("{p}/tcp") }));
        config.set_exposed_ports(Some(ports.into_iter().collect()));
    }
    let mut labels: BTreeMap<String, String> = config.labels().clone().unwrap_or_default().into_iter().collect();
    labels.insert(LABEL_CREATED.to_owned(), created.clone());
    labels.extend(spec.labels.iter().cloned());
    config.set_labels(Some(labels.into_iter().collect()));
    image.set_config(Some(config));
    let mut history = image.history().clone().unwrap_or_default();
    for (layer, spec_layer) in layers.iter().zip(&spec.layers) {
        image.rootfs_mut().diff_ids_mut().push(layer.digest.clone());
        history.push(
            HistoryBuilder::default()
                .created(created.clone())
                .created_by(format!("sluice image build --layer …:{}", spec_layer.dest))
                .build()
                .expect("a history entry is valid"),
        );
    }
    image.set_history(Some(history));
    image
}

/// `epoch` as RFC 3339 in UTC (`2023-11-14T22:13:20Z`).
pub fn rfc3339(epoch: u64) -> String {
    let seconds = i64::try_from(epoch).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
