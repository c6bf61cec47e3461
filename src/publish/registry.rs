//! OCI registries over the distribution API (`oci-client`): pushing an image from an OCI
//! layout, reading a tag's digest and a repository's tags, and pulling a base image.
//!
//! Transport: `https`, and plain `http` only for loopback registries (`127.0.0.0/8`, `::1`,
//! `localhost`) and the hosts configured as insecure. Authentication: anonymous, or basic
//! credentials from `SLUICE_REGISTRY_USERNAME` / `SLUICE_REGISTRY_PASSWORD`, which
//! `oci-client` also trades for a bearer token when the registry asks for one.
//!
//! A push sends each blob only when a `HEAD` says the registry lacks it, so re-pushing
//! unchanged layers costs one `HEAD` each; then the manifests (an index's children by digest,
//! the root by tag).

use std::net::IpAddr;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use secrecy::{ExposeSecret as _, SecretString};

use super::image::base::parse;
use crate::diagnostic::error_chain;
use super::image::layout::{is_index, media_type_of};
use super::image::{ImageError, Layout, media, sha256_digest};

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries (`host:port`) reached over plain `http` besides loopback ones.
    pub insecure: Vec<String>,
    /// Basic credentials (username, password); anonymous when `None`.
    pub credentials: Option<(String, SecretString)>,
}

impl RegistryOptions {
    /// Options from the environment: `SLUICE_INSECURE_REGISTRIES` (comma-separated
    /// `host:port`) and `SLUICE_REGISTRY_USERNAME` with `SLUICE_REGISTRY_PASSWORD`.
    pub fn from_env() -> RegistryOptions {
        let insecure = std::env::var("SLUICE_INSECURE_REGISTRIES")
            .map(|list| list.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let credentials = match (
            std::env::var("SLUICE_REGISTRY_USERNAME"),
            std::env::var("SLUICE_REGISTRY_PASSWORD"),
        ) {
            (Ok(user), Ok(password)) => Some((user, SecretString::from(password))),
            _ => None,
        };
        RegistryOptions { insecure, credentials }
    }

    /// Whether `registry` (`host[:port]`) is spoken to over plain `http`.
    pub fn allows_http(&self, registry: &str) -> bool {
        self.insecure.iter().any(|h| h == registry) || is_loopback(registry)
    }
}

/// Whether `host[:port]` names this machine.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No connection (refused, timed out, DNS).
    #[error("cannot reach registry `{registry}`: {detail}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// What the connection attempt said.
        detail: String,
    },
    /// The registry answered with an error.
    #[error("registry `{registry}` refused to {action} `{image}`: {detail}")]
    Refused {
        /// The registry.
        registry: String,
        /// What we asked ("push blob", "read tag", …).
        action: &'static str,
        /// The image.
        image: String,
        /// Its answer.
        detail: String,
    },
    /// The registry wants credentials, or refused the ones given.
    #[error(
        "registry `{registry}` refused {who} to {action} `{image}` ({detail}); hint: set \
         SLUICE_REGISTRY_USERNAME and SLUICE_REGISTRY_PASSWORD to an account allowed to push there"
    )]
    Unauthorized {
        /// The registry.
        registry: String,
        /// "anonymous access" or "the credentials of `USER`".
        who: String,
        /// What we asked.
        action: &'static str,
        /// The image.
        image: String,
        /// Its answer.
        detail: String,
    },
    /// The layout being pushed, or a base being stored, failed.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The digest of the root manifest or index, now under the tag.
    pub digest: String,
    /// Blobs sent.
    pub uploaded: usize,
    /// Blobs the registry already had (one `HEAD` each).
    pub skipped: usize,
}

/// A client of one registry.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    registry: String,
}

impl Registry {
    /// A client for the registry of `reference`.
    pub fn new(options: &RegistryOptions, reference: &Reference) -> Registry {
        let registry = reference.resolve_registry().to_owned();
        let protocol = if options.allows_http(&registry) {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            use_monolithic_push: true,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            ..ClientConfig::default()
        });
        let auth = match &options.credentials {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.expose_secret().to_owned()),
            None => RegistryAuth::Anonymous,
        };
        Registry { client, auth, registry }
    }

    fn error(&self, action: &'static str, image: &Reference, err: OciDistributionError) -> RegistryError {
        if let OciDistributionError::RequestError(request) = &err
            && (request.is_connect() || request.is_timeout())
        {
            return RegistryError::Unreachable {
                registry: self.registry.clone(),
                detail: error_chain(request),
            };
        }
        let unauthorized = match &err {
            OciDistributionError::AuthenticationFailure(_) | OciDistributionError::UnauthorizedError { .. } => true,
            OciDistributionError::RequestError(request) => request
                .status()
                .is_some_and(|status| status.as_u16() == 401 || status.as_u16() == 403),
            _ => false,
        };
        if unauthorized {
            let who = match &self.auth {
                RegistryAuth::Basic(user, _) => format!("the credentials of `{user}`"),
                _ => "anonymous access".to_owned(),
            };
            return RegistryError::Unauthorized {
                registry: self.registry.clone(),
                who,
                action,
                image: image.whole(),
                detail: err.to_string(),
            };
        }
        RegistryError::Refused {
            registry: self.registry.clone(),
            action,
            image: image.whole(),
            detail: err.to_string(),
        }
    }

    /// The digest the tag of `reference` points at, `None` when the tag (or the repository)
    /// does not exist.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] for anything but "not found".
    pub async fn tag_digest(&self, reference: &Reference) -> Result<Option<String>, RegistryError> {
        match self.client.fetch_manifest_digest(reference, &self.auth).await {
            Ok(digest) => Ok(Some(digest)),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(self.error("read tag", reference, err)),
        }
    }

    /// Every tag of the repository of `reference` (none when it does not exist).
    ///
    /// # Errors
    ///
    /// [`RegistryError`].
    pub async fn tags(&self, reference: &Reference) -> Result<Vec<String>, RegistryError> {
        match self.client.list_tags(reference, &self.auth, None, None).await {
            Ok(response) => Ok(response.tags),
            Err(err) if is_not_found(&err) => Ok(Vec::new()),
            Err(err) => Err(self.error("list tags of", reference, err)),
        }
    }

    /// Pushes the image `root` of `layout` under `reference`'s tag.
    ///
    /// # Errors
    ///
    /// [`RegistryError`]; a blob missing from the layout is [`RegistryError::Image`].
    pub async fn push(&self, layout: &Layout, root: &Descriptor, reference: &Reference) -> Result<PushReport, RegistryError> {
        self.client
            .auth(reference, &self.auth, RegistryOperation::Push)
            .await
            .map_err(|err| self.error("authenticate to push", reference, err))?;
        let mut report = PushReport {
            digest: root.digest().to_string(),
            uploaded: 0,
            skipped: 0,
        };
        let root_type = media_type_of(root);
        if is_index(&root_type) {
            let index_bytes = layout.read_blob(&report.digest)?;
            let index: ImageIndex = parse(&index_bytes, "index", &report.digest)?;
            for child in index.manifests() {
                let digest = child.digest().to_string();
                let bytes = layout.read_blob(&digest)?;
                self.push_image_blobs(layout, &bytes, &digest, reference, &mut report).await?;
                let by_digest = Reference::with_digest(
                    reference.registry().to_owned(),
                    reference.repository().to_owned(),
                    digest,
                );
                self.put_manifest(&by_digest, bytes, &media_type_of(child)).await?;
            }
            self.put_manifest(reference, index_bytes, &root_type).await?;
        } else {
            let digest = report.digest.clone();
            let bytes = layout.read_blob(&digest)?;
            self.push_image_blobs(layout, &bytes, &digest, reference, &mut report).await?;
            self.put_manifest(reference, bytes, &root_type).await?;
        }
        Ok(report)
    }

    async fn push_image_blobs(
        &self,
        layout: &Layout,
        manifest_bytes: &[u8],
        digest: &str,
        reference: &Reference,
        report: &mut PushReport,
    ) -> Result<(), RegistryError> {
        let manifest: ImageManifest = parse(manifest_bytes, "manifest", digest)?;
        let blobs = std::iter::once(manifest.config()).chain(manifest.layers());
        for blob in blobs {
            let digest = blob.digest().to_string();
            let exists = self
                .client
                .blob_exists(reference, &digest)
                .await
                .map_err(|err| self.error("check blob of", reference, err))?;
            if exists {
                report.skipped += 1;
                continue;
            }
            let path = layout.blob_path(&digest)?;
            let bytes = tokio::fs::read(&path).await.map_err(|source| ImageError::Io {
                action: "read blob",
                path: path.clone(),
                source,
            })?;
            self.client
                .push_blob(reference, bytes, &digest)
                .await
                .map_err(|err| self.error("push blob to", reference, err))?;
            report.uploaded += 1;
        }
        Ok(())
    }

    async fn put_manifest(&self, reference: &Reference, bytes: Vec<u8>, media_type: &str) -> Result<(), RegistryError> {
        let content_type = media_type
            .parse()
            .map_err(|_| ImageError::InvalidDocument {
                what: "manifest",
                digest: reference.whole(),
                detail: format!("media type `{media_type}` is not a valid header value"),
            })?;
        self.client
            .push_manifest_raw(reference, bytes, content_type)
            .await
            .map_err(|err| self.error("push manifest to", reference, err))?;
        Ok(())
    }

    /// A manifest or index by tag or digest: its bytes, media type and digest.
    ///
    /// # Errors
    ///
    /// [`RegistryError`].
    pub async fn pull_manifest(&self, reference: &Reference) -> Result<(Vec<u8>, String, String), RegistryError> {
        let accepted = [media::MANIFEST, media::INDEX, media::DOCKER_MANIFEST, media::DOCKER_LIST];
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(reference, &self.auth, &accepted)
            .await
            .map_err(|err| self.error("pull manifest of", reference, err))?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|doc| doc.get("mediaType").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| media::MANIFEST.to_owned());
        Ok((bytes.to_vec(), media_type, digest))
    }

    /// Stores the blob `digest` of `reference`'s repository in `layout` (nothing when it is
    /// already there), checking its digest.
    ///
    /// # Errors
    ///
    /// [`RegistryError`]; a digest mismatch is [`RegistryError::Refused`].
    pub async fn pull_blob_into(&self, reference: &Reference, digest: &str, layout: &Layout) -> Result<(), RegistryError> {
        if layout.has_blob(digest) {
            return Ok(());
        }
        let mut bytes = Vec::new();
        self.client
            .pull_blob(reference, digest, &mut bytes)
            .await
            .map_err(|err| self.error("pull blob of", reference, err))?;
        if sha256_digest(&bytes) != digest {
            return Err(RegistryError::Refused {
                registry: self.registry.clone(),
                action: "pull blob of",
                image: reference.whole(),
                detail: format!("the blob sent for `{digest}` has another digest"),
            });
        }
        layout.write_blob(&bytes)?;
        Ok(())
    }
}

/// Whether an error means "no such tag or repository".
fn is_not_found(err: &OciDistributionError) -> bool {
    match err {
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown)),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_configured_registries_use_http() {
        let options = RegistryOptions {
            insecure: vec!["registry.internal:5000".to_owned()],
            credentials: None,
        };
        for registry in ["127.0.0.1:5000", "localhost:5000", "[::1]:5000", "127.1.2.3", "registry.internal:5000"] {
            assert!(options.allows_http(registry), "{registry}");
        }
        for registry in ["registry.internal", "10.0.0.1:5000", "docker.io", "localhost.evil.com:5000"] {
            assert!(!options.allows_http(registry), "{registry}");
        }
    }
}
