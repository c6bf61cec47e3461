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
    // As GitLab's `Ci::Variables::Builder`: every instance of `parallel: N` or
    // `parallel: matrix` has its 1-based index and the number of instances; any other job
    // has no index and a total of 1.
    match job.parallel {
        Some(parallel) => {
            vars.insert("CI_NODE_INDEX", raw(parallel.index.to_string()));
            vars.insert("CI_NODE_TOTAL", raw(parallel.total.to_string()));
        }
        None => vars.insert("CI_NODE_TOTAL", raw("1")),
    }
    for (name, variable) in &input.pipeline.variables {
        if job.inherit_variables.includes(name) {
            vars.insert(
                name.clone(),
                Variable {
                    value: variable.value.clone(),
                    expand: variable.expand,
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

/// GitLab's environment slug (`Gitlab::Slug::Environment`): lowercased, every character
/// other than `a-z0-9` as `-`, `env-` in front unless it starts with a letter, runs of `-`
/// squeezed. When that changed the name or is longer than 24 characters, it is cut to 17
/// characters and given `-` and a suffix derived from the name (the last 6 base-36 digits of
/// its SHA-256), so two names that slugify alike still get different slugs; otherwise one
/// trailing `-` is dropped.
fn environment_slug(name: &str) -> String {
    let lower = name.to_lowercase();
    let mapped = lower.chars().map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' });
    let prefix = if lower.starts_with(|c: char| c.is_ascii_lowercase()) { "" } else { "env-" };
    let mut slug = String::with_capacity(name.len() + 4);
    for c in prefix.chars().chain(mapped) {
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    if slug.len() > 24 || slug != name {
        slug.truncate(17);
        if !slug.ends_with('-') {
            slug.push('-');
        }
        slug.push_str(&slug_suffix(name));
        slug
    } else {
        slug.strip_suffix('-').unwrap_or(&slug).to_owned()
    }
}

/// `Digest::SHA2.hexdigest(name).to_i(16).to_s(36).last(6)`: the last six base-36 digits of
/// the name's SHA-256 read as one number.
fn slug_suffix(name: &str) -> String {
    use sha2::Digest as _;
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    const MODULUS: u64 = 36u64.pow(6);
    let hash = sha2::Sha256::digest(name.as_bytes());
    let mut rest = hash.iter().fold(0u64, |acc, byte| (acc * 256 + u64::from(*byte)) % MODULUS);
    // Fewer than six digits only when the whole number is below 36^6 (1 in 2^220).
    let short = hash[..28].iter().all(|b| *b == 0) && u64::from(u32::from_be_bytes([hash[28], hash[29], hash[30], hash[31]])) < MODULUS;
    let mut digits = Vec::with_capacity(6);
    while digits.len() < 6 && (rest > 0 || !short || digits.is_empty()) {
        digits.push(DIGITS[(rest % 36) as usize]);
        rest /= 36;
    }
    digits.iter().rev().map(|d| char::from(*d)).collect()
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
/// to `<scratch>/variables/<NAME>` (mode 0600) and set to that path as the script sees it
/// (`<seen_as>/variables/<NAME>`: the scratch directory is mounted elsewhere in a
/// container), before the others are expanded, so `$FILE_VAR` in another value is the path,
/// as on a GitLab runner.
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
    seen_as: &Path,
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
        write_private(&dir.join(&variable.name), variable.value.as_bytes())?;
        let path = seen_as.join("variables").join(&variable.name);
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
        // Values computed with GitLab's `Gitlab::Slug::Environment` rule.
        for (name, slug) in [
            ("production", "production"),
            ("PRODUCTION", "production-vl4voz"),
            ("review/1-foo", "review-1-foo-9tdj0u"),
            ("staging-12345678901234567", "staging-123456789-s729ne"),
            ("staging-1234567890123456", "staging-1234567890123456"),
            ("foo-", "foo"),
            ("review/feature-x", "review-feature-x-bjrazc"),
            ("123", "env-123-7j7izn"),
            ("review//a__b", "review-a-b-jzpfuv"),
            ("", "env-qhkd3p"),
            ("Ünïcode/ü", "env-n-code-exj9xd"),
        ] {
            assert_eq!(environment_slug(name), slug, "{name}");
        }
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
        let env = environment(vars, &[conf], dir.path(), dir.path()).expect("env");
        let path = dir.path().join("variables/CONF");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "secret content"
        );
        let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("CONF"), Some(path.display().to_string()));
        assert_eq!(get("USES"), Some(format!("cat {}", path.display())));
        // In a container, the scratch directory is mounted elsewhere: the value is that path.
        let mut conf = RunVariable::new("CONF", "in a container");
        conf.file = true;
        let env = environment(Variables::new(), &[conf], dir.path(), Path::new("/builds/p.tmp")).expect("env");
        assert_eq!(env, [("CONF".to_owned(), "/builds/p.tmp/variables/CONF".to_owned())]);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "in a container");
    }
}
