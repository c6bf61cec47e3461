//! A job's variables and environment, in GitLab's precedence (lowest first):
//!
//! 1. predefined pipeline variables ([`crate::ci::variables::predefined`]);
//! 2. predefined job variables: `CI_JOB_NAME`, `CI_JOB_NAME_SLUG`, `CI_JOB_STAGE`, `CI_JOB_ID`,
//!    `CI_PIPELINE_ID`/`CI_PIPELINE_IID`, `CI_PROJECT_DIR`, `CI_BUILDS_DIR`, `CI_JOB_MANUAL`,
//!    `CI_JOB_TIMEOUT`, `CI_NODE_INDEX`/`CI_NODE_TOTAL`, `CI_ENVIRONMENT_*`;
//! 3. global YAML `variables:` (as `inherit:variables` allows);
//! 4. job `variables:` (with `rules:variables` and matrix values, as planned);
//! 5. dotenv variables of the jobs whose artifacts this job receives;
//! 6. the caller's variables: the pipeline context's, then [`RunVariable`]s (`--var`,
//!    `--variables-file`), highest.
//!
//! Values are expanded as the runner does (`$VAR`, `${VAR}`, nested, `$$` for a literal `$`;
//! `expand: false` honoured). Predefined and dotenv values are data and are never expanded
//! themselves. A `file` variable's value is written to a file in the job's private scratch
//! directory and the variable is set to that file's path.
//!
//! Limitation: the plan keeps global variables as plain strings, so `expand: false` on a
//! global variable is not honoured (job-level `expand: false` is).

use std::io;
use std::path::{Path, PathBuf};

use super::mask::{self, MaskError, Masker};
use crate::ci::context::PipelineContext;
use crate::ci::pipeline::{Job, Pipeline};
use crate::ci::variables::{self, Variable, Variables, slugify};

/// A variable given by the caller (`--var`, `--variables-file`): highest precedence.
#[derive(Clone, PartialEq, Eq)]
pub struct RunVariable {
    /// The name.
    pub name: String,
    /// The value (for a `file` variable: the file's content).
    pub value: String,
    /// Whether the value is replaced by `[MASKED]` in logs; it must then meet GitLab's
    /// masking rules ([`mask::validate_masked`]) or the run is refused.
    pub masked: bool,
    /// `type: file`: the job sees the path of a file holding the value.
    pub file: bool,
}

impl RunVariable {
    /// A plain, unmasked variable.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            masked: false,
            file: false,
        }
    }
}

/// Prints the value only for unmasked variables.
impl std::fmt::Debug for RunVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value: &dyn std::fmt::Debug = if self.masked {
            &"[MASKED]"
        } else {
            &self.value
        };
        f.debug_struct("RunVariable")
            .field("name", &self.name)
            .field("value", value)
            .field("masked", &self.masked)
            .field("file", &self.file)
            .finish()
    }
}

/// Checks every masked variable against GitLab's masking rules and builds the masker.
///
/// # Errors
///
/// The first variable that cannot be masked, named (never its value).
pub fn masker_for(variables: &[RunVariable]) -> Result<Masker, MaskError> {
    for variable in variables.iter().filter(|v| v.masked) {
        mask::validate_masked(&variable.name, &variable.value)?;
    }
    Masker::new(
        variables
            .iter()
            .filter(|v| v.masked)
            .map(|v| v.value.clone()),
    )
}

/// What a job's variables are made from besides the job itself.
pub(crate) struct JobEnvInput<'a> {
    pub ctx: &'a PipelineContext,
    pub pipeline: &'a Pipeline,
    pub job: &'a Job,
    pub pipeline_id: i64,
    pub job_id: i64,
    pub workspace: &'a Path,
    pub builds_dir: &'a Path,
    pub timeout_secs: u64,
    pub manual: bool,
    /// Dotenv variables received, in order (later wins).
    pub dotenv: &'a [(String, String)],
    pub caller: &'a [RunVariable],
}

fn raw(value: impl Into<String>) -> Variable {
    Variable {
        value: value.into(),
        expand: false,
    }
}

/// The job's variables with every layer applied; `file` variables still hold their content.
pub(crate) fn job_variables(input: &JobEnvInput<'_>) -> Variables {
    let job = input.job;
    let mut vars = Variables::new();
    for (name, variable) in variables::predefined(input.ctx).iter() {
        vars.insert(name, raw(variable.value.clone()));
    }
    vars.insert("CI_JOB_NAME", raw(job.name.clone()));
    vars.insert("CI_JOB_NAME_SLUG", raw(slugify(&job.name)));
    vars.insert("CI_JOB_STAGE", raw(job.stage.clone()));
    vars.insert("CI_JOB_ID", raw(input.job_id.to_string()));
    vars.insert("CI_PIPELINE_ID", raw(input.pipeline_id.to_string()));
    vars.insert("CI_PIPELINE_IID", raw(input.pipeline_id.to_string()));
    vars.insert("CI_PROJECT_DIR", raw(input.workspace.display().to_string()));
    vars.insert("CI_BUILDS_DIR", raw(input.builds_dir.display().to_string()));
    vars.insert("CI_JOB_TIMEOUT", raw(input.timeout_secs.to_string()));
    if input.manual {
        vars.insert("CI_JOB_MANUAL", raw("true"));
    }
    if let Some(parallel) = job.parallel {
        vars.insert("CI_NODE_INDEX", raw(parallel.index.to_string()));
        vars.insert("CI_NODE_TOTAL", raw(parallel.total.to_string()));
    } else if job.matrix.is_some() {
        // GitLab numbers matrix instances too; the plan does not say which one this is.
        vars.insert("CI_NODE_TOTAL", raw("1"));
    }
    for (name, value) in &input.pipeline.variables {
        if job.inherit_variables.includes(name) {
            vars.insert(
                name.clone(),
                Variable {
                    value: value.clone(),
                    expand: true,
                },
            );
        }
    }
    for (name, variable) in &job.variables {
        vars.insert(
            name.clone(),
            Variable {
                value: variable.value.clone(),
                expand: variable.expand,
            },
        );
    }
    for (name, value) in input.dotenv {
        vars.insert(name.clone(), raw(value.clone()));
    }
    for (name, value) in &input.ctx.variables {
        vars.insert(
            name.clone(),
            Variable {
                value: value.clone(),
                expand: true,
            },
        );
    }
    for variable in input.caller {
        vars.insert(
            variable.name.clone(),
            Variable {
                value: variable.value.clone(),
                expand: true,
            },
        );
    }
    add_environment(&mut vars, job);
    vars
}

/// `CI_ENVIRONMENT_*` for a job with `environment:`, expanded with the job's variables.
fn add_environment(vars: &mut Variables, job: &Job) {
    let Some(environment) = &job.environment else {
        return;
    };
    let name = vars.expand_known(&environment.name);
    vars.insert("CI_ENVIRONMENT_SLUG", raw(environment_slug(&name)));
    vars.insert("CI_ENVIRONMENT_ACTION", raw(environment.action.clone()));
    let tier = environment
        .deployment_tier
        .clone()
        .unwrap_or_else(|| guess_tier(&name).to_owned());
    vars.insert("CI_ENVIRONMENT_TIER", raw(tier));
    if let Some(url) = &environment.url {
        let url = vars.expand_known(url);
        vars.insert("CI_ENVIRONMENT_URL", raw(url));
    }
    vars.insert("CI_ENVIRONMENT_NAME", raw(name));
}

/// GitLab's environment slug: lowercased, runs of other characters than `a-z0-9` as `-`, at
/// most 24 characters, starting with a letter. (GitLab appends a random suffix when it had to
/// change the name; we do not, so the slug is stable between local runs.)
fn environment_slug(name: &str) -> String {
    // GitLab squeezes runs of `-` in environment slugs (unlike `CI_COMMIT_REF_SLUG`).
    let mut slug = String::with_capacity(name.len());
    for c in slugify(name).chars() {
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    let mut slug = if slug.starts_with(|c: char| c.is_ascii_lowercase()) {
        slug
    } else {
        format!("env-{slug}")
    };
    slug.truncate(24);
    slug.trim_end_matches('-').to_owned()
}

/// GitLab's guess of a deployment tier from the environment name.
fn guess_tier(name: &str) -> &'static str {
    let lower = name.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["prod", "live"]) {
        "production"
    } else if has(&["stag", "model", "pre", "demo"]) {
        "staging"
    } else if has(&["test", "qc"]) {
        "testing"
    } else if has(&["dev", "review", "trunk"]) {
        "development"
    } else {
        "other"
    }
}

/// The process environment of a job: every variable expanded; each `file` variable written
/// to `<scratch>/variables/<NAME>` (mode 0600) and set to that path, before the others are
/// expanded, so `$FILE_VAR` in another value is the path, as on a GitLab runner.
///
/// Blocks (writes files); the job's scratch directory must exist.
///
/// # Errors
///
/// A file variable could not be written.
pub(crate) fn environment(
    mut vars: Variables,
    caller: &[RunVariable],
    scratch: &Path,
) -> io::Result<Vec<(String, String)>> {
    let mut dir: Option<PathBuf> = None;
    for variable in caller.iter().filter(|v| v.file) {
        let dir = match &dir {
            Some(dir) => dir.clone(),
            None => {
                let created = scratch.join("variables");
                std::fs::create_dir_all(&created)?;
                dir = Some(created.clone());
                created
            }
        };
        let path = dir.join(&variable.name);
        write_private(&path, variable.value.as_bytes())?;
        vars.insert(variable.name.clone(), raw(path.display().to_string()));
    }
    Ok(vars.expanded())
}

fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_values_are_validated_and_named() {
        let mut bad = RunVariable::new("API_TOKEN", "short");
        bad.masked = true;
        let err = masker_for(&[RunVariable::new("PLAIN", "x"), bad]).expect_err("refused");
        assert!(err.to_string().contains("API_TOKEN"));
        assert!(!err.to_string().contains("short"));
        let mut good = RunVariable::new("T", "abcdefgh");
        good.masked = true;
        let masker = masker_for(&[good.clone()]).expect("valid");
        assert_eq!(masker.mask(b"abcdefgh"), b"[MASKED]");
        assert!(!format!("{good:?}").contains("abcdefgh"));
    }

    #[test]
    fn environment_slug_and_tier() {
        assert_eq!(environment_slug("review/feature-x"), "review-feature-x");
        assert_eq!(environment_slug("123"), "env-123");
        assert_eq!(environment_slug("review//a__b"), "review-a-b");
        assert_eq!(guess_tier("Production"), "production");
        assert_eq!(guess_tier("review/x"), "development");
    }

    #[test]
    fn file_variables_become_paths() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut vars = Variables::new();
        vars.set("USES", "cat $CONF");
        let mut conf = RunVariable::new("CONF", "secret content");
        conf.file = true;
        let env = environment(vars, &[conf], dir.path()).expect("env");
        let path = dir.path().join("variables/CONF");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "secret content"
        );
        let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("CONF"), Some(path.display().to_string()));
        assert_eq!(get("USES"), Some(format!("cat {}", path.display())));
    }
}
