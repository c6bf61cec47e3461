//! Helm charts, rendered by the `helm` binary (`helm template`), which must be on the `PATH`.
//! Helm cannot be installed on Sluice's development machines, so this path is thin and
//! untested there: values go in as a JSON file (JSON is YAML), the chart's output comes back
//! as one YAML stream that the caller validates like any render.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::RenderError;
use crate::deploy::private_dir::PrivateDir;

/// `helm template <release> <chart> --namespace <namespace> --values <values.json>`.
///
/// # Errors
///
/// [`RenderError::Helm`] when `helm` is missing (with a hint) or fails (with its stderr).
pub(crate) fn render(chart: &Path, release: &str, namespace: &str, values: &Value) -> Result<String, RenderError> {
    let scratch = PrivateDir::create(&std::env::temp_dir(), "sluice-helm").map_err(|source| RenderError::Io {
        path: std::env::temp_dir().display().to_string(),
        source,
    })?;
    let values_file = scratch.path().join("values.json");
    let written = std::fs::write(&values_file, values.to_string());
    let output = written.and_then(|()| {
        Command::new("helm")
            .args(["template", release])
            .arg(chart)
            .args(["--namespace", namespace, "--values"])
            .arg(&values_file)
            .output()
    });
    drop(scratch);
    let output = output.map_err(|e| RenderError::Helm {
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "the `helm` binary is not on the PATH; install Helm 3, or render with `render: manifests:`".to_string()
        } else {
            format!("cannot run `helm`: {e}")
        },
    })?;
    if !output.status.success() {
        return Err(RenderError::Helm {
            message: format!(
                "`helm template` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| RenderError::Helm {
        message: "`helm template` printed non-UTF-8 output".to_string(),
    })
}
