//! Rendering: from the config repo's templates and values to validated manifests.
//!
//! Values are the app's `values` with the pin's merged over them (the caller merges, see
//! [`crate::config::repo::ConfigRepo::values`]), and the templates see them as `values` beside
//! `app`, `env`, `version`, `image`, `digest` and `pinned_image` (`image@digest`). Every
//! output document must parse as YAML and name its `apiVersion`, `kind` and `metadata.name`.
//! Nothing outside the config repo is read: template directories, files and symlinks that
//! resolve outside its root are refused. Secrets never enter a render.

mod confine;
mod handlebars;
mod helm;
mod validate;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::spec::{DeploySpec, RenderSource};

/// What rendering produced, ready to store with the deployment record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rendered {
    /// The rendered files, sorted by path.
    pub files: Vec<RenderedFile>,
}

impl Rendered {
    /// The render as stored with a deployment: JSON `[{"path", "text"}]`.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.files).unwrap_or_else(|_| "[]".to_string())
    }

    /// A render read back from [`Rendered::to_stored`], validated again.
    ///
    /// # Errors
    ///
    /// [`RenderError::Invalid`] when the JSON or a document is not valid.
    pub fn from_stored(json: &str) -> Result<Rendered, RenderError> {
        #[derive(serde::Deserialize)]
        struct Stored {
            path: String,
            text: String,
        }
        let stored: Vec<Stored> = serde_json::from_str(json).map_err(|e| RenderError::Invalid {
            file: "stored render".to_string(),
            line: e.line(),
            message: e.to_string(),
        })?;
        let mut files = Vec::new();
        for Stored { path, text } in stored {
            let objects = validate::objects(&path, &text)?;
            files.push(RenderedFile { path, text, objects });
        }
        Ok(Rendered { files })
    }

    /// Every object of every file, in file order.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectRef> {
        self.files.iter().flat_map(|f| f.objects.iter())
    }
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedFile {
    /// Path relative to the manifests directory, without a `.hbs` suffix (`deployment.yaml`).
    pub path: String,
    /// The rendered text.
    pub text: String,
    /// The objects it defines.
    #[serde(skip)]
    pub objects: Vec<ObjectRef>,
}

/// One object of a render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectRef {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when the template sets one.
    pub namespace: Option<String>,
    /// The whole object.
    pub document: Value,
}

/// Why a render was refused. Nothing is deployed after one.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A path resolves outside the config repo.
    #[error("`{path}` leaves the config repo (it resolves to `{}`)\n\nhint: templates must be files inside the config repo; replace the symlink or path with a copy", target.display())]
    Escapes {
        /// The path as written or found, relative to the config repo or template directory.
        path: String,
        /// Where it resolves.
        target: PathBuf,
    },
    /// The template directory or chart does not exist.
    #[error("`{path}` does not exist in the config repo")]
    Missing {
        /// The path as written.
        path: String,
    },
    /// A file could not be read.
    #[error("cannot read `{path}`")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A template does not parse or render (a missing value is an error).
    #[error("{file}:{line}:{column}: {message}")]
    Template {
        /// The template, relative to the manifests directory.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Handlebars' reason.
        message: String,
    },
    /// A rendered document is not a valid object.
    #[error("{file}:{line}: rendered output: {message}")]
    Invalid {
        /// The rendered file.
        file: String,
        /// 1-based line of the rendered output.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The templates produced no object.
    #[error("`{path}` holds no `.yaml` or `.yml` template")]
    Empty {
        /// The manifests directory.
        path: String,
    },
    /// Helm is missing or failed.
    #[error("{message}")]
    Helm {
        /// What happened.
        message: String,
    },
}

/// Renders `spec`'s manifests from the config repo checked out at `config_root`.
///
/// # Errors
///
/// Any [`RenderError`]; on error nothing is returned, so nothing half-rendered is deployed.
pub fn render(config_root: &Path, spec: &DeploySpec) -> Result<Rendered, RenderError> {
    let root = config_root.canonicalize().map_err(|source| RenderError::Io {
        path: config_root.display().to_string(),
        source,
    })?;
    let context = context(spec);
    match &spec.render {
        RenderSource::None => Ok(Rendered::default()),
        RenderSource::Manifests(dir) => {
            let real = confine::resolve(&root, dir)?;
            let templates: Vec<(String, PathBuf)> = confine::files(&root, &real)?
                .into_iter()
                .filter(|(name, _)| output_name(name).is_some())
                .collect();
            if templates.is_empty() {
                return Err(RenderError::Empty {
                    path: dir.display().to_string(),
                });
            }
            let mut files = Vec::new();
            for (name, text) in handlebars::render(&templates, &context)? {
                let path = output_name(&name).unwrap_or(&name).to_string();
                let objects = validate::objects(&path, &text)?;
                files.push(RenderedFile { path, text, objects });
            }
            Ok(Rendered { files })
        }
        RenderSource::Chart(dir) => {
            let real = confine::resolve(&root, dir)?;
            confine::files(&root, &real)?;
            let text = helm::render(&real, &spec.app, &spec.env, &context["values"])?;
            let objects = validate::objects("helm-template.yaml", &text)?;
            Ok(Rendered {
                files: vec![RenderedFile {
                    path: "helm-template.yaml".to_string(),
                    text,
                    objects,
                }],
            })
        }
    }
}

/// What the templates see.
pub fn context(spec: &DeploySpec) -> Value {
    let values = if spec.values.is_null() {
        Value::Object(Map::new())
    } else {
        spec.values.clone()
    };
    serde_json::json!({
        "app": spec.app,
        "env": spec.env,
        "version": spec.version,
        "image": spec.image,
        "digest": spec.digest,
        "pinned_image": format!("{}@{}", spec.image, spec.digest),
        "values": values,
    })
}

/// The output name of a template file: `x.yaml`, `x.yml`, or either with `.hbs`, kept
/// without `.hbs`; `None` for files that are not templates.
fn output_name(name: &str) -> Option<&str> {
    let stripped = name.strip_suffix(".hbs").unwrap_or(name);
    (stripped.ends_with(".yaml") || stripped.ends_with(".yml")).then_some(stripped)
}

#[cfg(test)]
mod tests;
