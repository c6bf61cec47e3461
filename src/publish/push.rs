//! Sends an image from an OCI layout to its destination: a registry (over the distribution
//! API, see [`registry`](super::registry)) or another OCI layout directory, the embedded
//! default when no registry is configured.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::image::base::parse;
use super::image::layout::{is_index, media_type_of};
use super::image::{ImageError, ImageRef, Layout};
use super::registry::{PushReport, Registry, RegistryError, RegistryOptions};

/// Pushes the image `root` of `layout` to `target` under its tag.
///
/// # Errors
///
/// [`RegistryError`]; for a layout target, [`RegistryError::Image`].
pub async fn push(
    layout: &Layout,
    root: &Descriptor,
    target: &ImageRef,
    options: &RegistryOptions,
) -> Result<PushReport, RegistryError> {
    match target {
        ImageRef::Registry(reference) => Registry::new(options, reference).push(layout, root, reference).await,
        ImageRef::Layout { dir, tag } => {
            let out = Layout::create(dir)?;
            let report = copy(layout, root, &out)?;
            out.set_tag(root, tag)?;
            Ok(report)
        }
    }
}

/// The digest `target`'s tag points at, `None` when it has none.
///
/// # Errors
///
/// [`RegistryError`] (an unreadable layout included).
pub async fn tag_digest(target: &ImageRef, options: &RegistryOptions) -> Result<Option<String>, RegistryError> {
    match target {
        ImageRef::Registry(reference) => Registry::new(options, reference).tag_digest(reference).await,
        ImageRef::Layout { dir, tag } => {
            if !dir.join("oci-layout").exists() {
                return Ok(None);
            }
            match Layout::open(dir)?.resolve(Some(tag)) {
                Ok(descriptor) => Ok(Some(descriptor.digest().to_string())),
                Err(ImageError::NoSuchTag { .. }) => Ok(None),
                Err(err) => Err(err.into()),
            }
        }
    }
}

/// Every tag of `target`'s repository (or layout).
///
/// # Errors
///
/// [`RegistryError`].
pub async fn tags(target: &ImageRef, options: &RegistryOptions) -> Result<Vec<String>, RegistryError> {
    match target {
        ImageRef::Registry(reference) => Registry::new(options, reference).tags(reference).await,
        ImageRef::Layout { dir, .. } => {
            if !dir.join("oci-layout").exists() {
                return Ok(Vec::new());
            }
            let index = Layout::open(dir)?.index()?;
            Ok(index
                .manifests()
                .iter()
                .filter_map(|d| d.annotations().as_ref()?.get(super::image::layout::REF_NAME).cloned())
                .collect())
        }
    }
}

/// Copies every blob of `root` from `from` into `to`.
fn copy(from: &Layout, root: &Descriptor, to: &Layout) -> Result<PushReport, ImageError> {
    let mut report = PushReport {
        digest: root.digest().to_string(),
        uploaded: 0,
        skipped: 0,
    };
    let mut manifests = vec![report.digest.clone()];
    if is_index(&media_type_of(root)) {
        let index: ImageIndex = parse(&from.read_blob(&report.digest)?, "index", &report.digest)?;
        manifests = index.manifests().iter().map(|d| d.digest().to_string()).collect();
        copy_blob(from, to, &report.digest.clone(), &mut report)?;
    }
    for digest in manifests {
        let manifest: ImageManifest = parse(&from.read_blob(&digest)?, "manifest", &digest)?;
        for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
            copy_blob(from, to, blob.digest().as_ref(), &mut report)?;
        }
        copy_blob(from, to, &digest, &mut report)?;
    }
    Ok(report)
}

fn copy_blob(from: &Layout, to: &Layout, digest: &str, report: &mut PushReport) -> Result<(), ImageError> {
    if to.has_blob(digest) {
        report.skipped += 1;
    } else {
        to.copy_blob_from(from, digest)?;
        report.uploaded += 1;
    }
    Ok(())
}
