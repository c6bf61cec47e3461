//! Reports what the daemon does, as it happens, from its store (read-only here): pipelines
//! and their jobs, releases, promotions, approvals and deployments, each change once; what
//! each healthy deployment answers; and, once dev runs a release that staging has not
//! approved, the exact `sluice approve` command.
//!
//! [`Watcher::follow`] decides when the quickstart is done: with [`Until::Dev`], when dev's
//! health check passed for the pushed version and its URL answered; otherwise at the
//! interrupt. A failed pipeline or dev deployment ends an unattended run with the logs to
//! read; in a run that keeps going, failures are reported and watching goes on.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::daemon::Daemon;
use super::setup::{ENVIRONMENTS, Prepared};
use super::{APP, BUMPED_VERSION, Layout, Options, Outcome, QuickstartError, Until, fetch, say};
use crate::store::{
    ApprovalRow, DeploymentRow, DeploymentStatus, JobStatus, PipelineRow, PromotionRow, ReleaseRow, Store, Verdict,
};

/// How often the store is read.
const TICK: Duration = Duration::from_millis(100);

/// The environment that waits for an approval.
const APPROVED_ENV: &str = "staging";

/// What the store holds now.
#[derive(Default)]
struct Snapshot {
    pipelines: Vec<PipelineRow>,
    releases: Vec<ReleaseRow>,
    promotions: Vec<PromotionRow>,
    approvals: Vec<ApprovalRow>,
    /// The latest deployment of each environment, with its URL.
    deployments: Vec<(DeploymentRow, Option<String>)>,
}

impl Snapshot {
    fn read(store: &Store) -> Result<Snapshot, String> {
        let e = |e: crate::store::StoreError| format!("cannot read the daemon's store: {e}");
        let mut snapshot = Snapshot {
            pipelines: store.list_pipelines(Some(APP), 20).map_err(e)?,
            releases: store.list_releases(Some(APP), 20).map_err(e)?,
            ..Snapshot::default()
        };
        for env in ENVIRONMENTS {
            snapshot.promotions.extend(store.promotions_of(APP, env, 20).map_err(e)?);
            if let Some(row) = store.latest_deployment(APP, env).map_err(e)? {
                let url = store.deployment_details(row.id).map_err(e)?.and_then(|d| d.url);
                snapshot.deployments.push((row, url));
            }
        }
        for release in &snapshot.releases {
            snapshot.approvals.extend(store.approvals_of(APP, APPROVED_ENV, &release.version).map_err(e)?);
        }
        Ok(snapshot)
    }
}

/// What has been reported already.
pub struct Watcher {
    layout: Layout,
    prepared: Prepared,
    sluice: PathBuf,
    address: SocketAddr,
    store: Option<Arc<Store>>,
    pipelines: HashMap<i64, (String, HashMap<i64, JobStatus>)>,
    releases: HashSet<String>,
    promotions: HashSet<i64>,
    approvals: HashSet<i64>,
    deployments: HashMap<i64, DeploymentStatus>,
    waiting: HashSet<String>,
    /// The last line reported, for the timeout message.
    last: String,
}

/// What one look at the store found that ends the run.
enum Ending {
    Reached(Outcome),
    Failed { message: String, where_: String },
}

impl Watcher {
    /// A watcher of the quickstart in `layout`, whose daemon listens on `address`.
    pub fn new(layout: &Layout, prepared: &Prepared, sluice: &Path, address: SocketAddr) -> Watcher {
        Watcher {
            layout: layout.clone(),
            prepared: prepared.clone(),
            sluice: sluice.to_path_buf(),
            address,
            store: None,
            pipelines: HashMap::new(),
            releases: HashSet::new(),
            promotions: HashSet::new(),
            approvals: HashSet::new(),
            deployments: HashMap::new(),
            waiting: HashSet::new(),
            last: "nothing yet".to_owned(),
        }
    }

    /// Reports until the run is done (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`QuickstartError::Flow`] for a failed step, a timeout, or an interrupt before dev
    /// was reached in an unattended run; [`QuickstartError::Daemon`] when the daemon stopped.
    pub async fn follow(
        &mut self,
        options: &Options,
        daemon: &mut Daemon,
        interrupt: &CancellationToken,
        progress: &mut dyn Write,
        started: Instant,
    ) -> Result<Option<Outcome>, QuickstartError> {
        let deadline = Instant::now() + options.timeout;
        let mut dev: Option<Outcome> = None;
        loop {
            if let Some(stopped) = daemon.exited() {
                return Err(stopped);
            }
            let lines_and_verdict = self.look(options.until, dev.is_none()).await;
            let (lines, verdict) = match lines_and_verdict {
                Ok(found) => found,
                Err(message) => return Err(self.flow_error(message, "the daemon's log `logs/sluice.log`".to_owned())),
            };
            for line in &lines {
                say(progress, started, line);
            }
            if let Some(line) = lines.last() {
                self.last.clone_from(line);
            }
            match verdict {
                Some(Ending::Reached(outcome)) if options.until == Until::Dev => return Ok(Some(outcome)),
                Some(Ending::Reached(outcome)) => {
                    dev = Some(outcome);
                    say(progress, started, &self.next_steps());
                }
                Some(Ending::Failed { message, where_ }) => return Err(self.flow_error(message, where_)),
                None => {}
            }
            if dev.is_none() && Instant::now() >= deadline {
                let message = format!(
                    "dev did not run {APP} {BUMPED_VERSION} within {} s; the last thing seen: {}",
                    options.timeout.as_secs(),
                    self.last
                );
                return Err(self.flow_error(message, "the daemon's log `logs/sluice.log`".to_owned()));
            }
            tokio::select! {
                () = interrupt.cancelled() => {
                    return match (options.until, dev) {
                        (Until::Interrupted, dev) => Ok(dev),
                        (Until::Dev, _) => Err(self.flow_error("interrupted before dev ran the release".to_owned(), "the daemon's log `logs/sluice.log`".to_owned())),
                    };
                }
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    fn flow_error(&self, message: String, where_: String) -> QuickstartError {
        QuickstartError::Flow { message, logs: self.layout.root.clone(), where_ }
    }

    /// Reads the store once and returns the new lines to report, and whether the run ends.
    async fn look(&mut self, until: Until, before_dev: bool) -> Result<(Vec<String>, Option<Ending>), String> {
        let store = match &self.store {
            Some(store) => store.clone(),
            None => {
                let store = Arc::new(Store::open(self.layout.data.join("sluice.db")).map_err(|e| format!("cannot open the daemon's store: {e}"))?);
                self.store = Some(store.clone());
                store
            }
        };
        let snapshot = tokio::task::spawn_blocking(move || Snapshot::read(&store))
            .await
            .map_err(|e| format!("reading the store panicked: {e}"))??;
        let mut lines = Vec::new();
        let mut verdict = self.pipelines(&snapshot, &mut lines, until);
        self.releases(&snapshot, &mut lines);
        self.approvals(&snapshot, &mut lines);
        self.promotions(&snapshot, &mut lines);
        let deployed = self.deployments(snapshot, &mut lines, until, before_dev).await;
        verdict = verdict.or(deployed);
        Ok((lines, verdict))
    }

    fn pipelines(&mut self, snapshot: &Snapshot, lines: &mut Vec<String>, until: Until) -> Option<Ending> {
        let mut verdict = None;
        for pipeline in snapshot.pipelines.iter().rev() {
            let id = pipeline.id.get();
            let ordered = in_stage_order(pipeline);
            let (status, jobs) = self.pipelines.entry(id).or_insert_with(|| {
                let names: Vec<&str> = ordered.iter().map(|j| j.name.as_str()).collect();
                let short = pipeline.sha.get(..7).unwrap_or(&pipeline.sha);
                let branch = pipeline.git_ref.trim_start_matches("refs/heads/");
                lines.push(format!("pipeline #{id} for `{branch}` @ {short}: jobs {}", names.join(", ")));
                (String::new(), HashMap::new())
            });
            for job in ordered {
                let seen = jobs.insert(job.id.get(), job.status);
                if seen == Some(job.status) || !shown(job.status) {
                    continue;
                }
                let took = job.duration_ms.map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0)).unwrap_or_default();
                lines.push(format!("  job `{}`: {}{took}", job.name, job.status));
            }
            if *status != pipeline.status.as_str() {
                status.clear();
                status.push_str(pipeline.status.as_str());
                if pipeline.status.is_final() {
                    let took = pipeline.duration_ms.map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0)).unwrap_or_default();
                    lines.push(format!("pipeline #{id}: {}{took}", pipeline.status));
                    if pipeline.status != crate::store::PipelineStatus::Success {
                        let failed = pipeline.jobs.iter().find(|j| j.status == JobStatus::Failed);
                        let log = failed.and_then(|j| j.log_path.as_ref()).map_or_else(
                            || "the daemon's log `logs/sluice.log`".to_owned(),
                            |path| format!("the job's log `{}`", path.display()),
                        );
                        lines.push(format!("  see {log}"));
                        if until == Until::Dev {
                            verdict = Some(Ending::Failed { message: format!("pipeline #{id} {}", pipeline.status), where_: log });
                        }
                    }
                }
            }
        }
        verdict
    }

    fn releases(&mut self, snapshot: &Snapshot, lines: &mut Vec<String>) {
        for release in snapshot.releases.iter().rev() {
            if self.releases.insert(release.version.clone()) {
                lines.push(format!("published {APP} {}: image `{}`, digest {}", release.version, release.image, release.digest));
            }
        }
    }

    fn promotions(&mut self, snapshot: &Snapshot, lines: &mut Vec<String>) {
        let mut new: Vec<&PromotionRow> = snapshot.promotions.iter().filter(|p| !self.promotions.contains(&p.id)).collect();
        new.sort_by_key(|p| p.id);
        for promotion in new {
            self.promotions.insert(promotion.id);
            let by = promotion.identity.as_deref().map_or_else(|| "automatically".to_owned(), |who| format!("by {who}"));
            let short = promotion.commit_sha.get(..7).unwrap_or(&promotion.commit_sha);
            lines.push(format!(
                "{} {APP} {} to {} {by}: config repo commit {short}",
                if promotion.kind == crate::store::PromotionKind::Promote { "promoted" } else { "rolled back" },
                promotion.version,
                promotion.env
            ));
        }
    }

    fn approvals(&mut self, snapshot: &Snapshot, lines: &mut Vec<String>) {
        for approval in &snapshot.approvals {
            if self.approvals.insert(approval.id) {
                let verdict = if approval.verdict == Verdict::Approve { "approved" } else { "rejected" };
                lines.push(format!("{} {verdict} {APP} {} for {}", approval.identity, approval.version, approval.env));
            }
        }
    }

    async fn deployments(
        &mut self,
        snapshot: Snapshot,
        lines: &mut Vec<String>,
        until: Until,
        before_dev: bool,
    ) -> Option<Ending> {
        let mut verdict = None;
        for (row, url) in snapshot.deployments {
            if self.deployments.insert(row.id, row.status) == Some(row.status) {
                continue;
            }
            let message = row.message.as_deref().unwrap_or_default();
            match row.status {
                DeploymentStatus::Healthy => {
                    lines.push(format!("{}: {APP} {} is healthy ({message})", row.env, row.version));
                    let Some(url) = url else { continue };
                    let fetched = {
                        let url = url.clone();
                        tokio::task::spawn_blocking(move || fetch::get(&url)).await
                    };
                    match fetched.map_err(|e| e.to_string()).and_then(|r| r) {
                        Ok(answer) => {
                            lines.push(format!("{} answers at {url}: {answer}", row.env));
                            if row.env == "dev" && row.version == BUMPED_VERSION && before_dev {
                                verdict = Some(Ending::Reached(Outcome { dev_url: url, dev_answer: answer }));
                            }
                        }
                        Err(why) => lines.push(format!("{} does not answer at {url}: {why}", row.env)),
                    }
                    if row.env == "dev" {
                        self.waiting_for_approval(&snapshot.promotions, &row.version, lines);
                    }
                }
                DeploymentStatus::Failed | DeploymentStatus::RolledBack => {
                    let app_log = self.layout.target_dir(&row.env).join("releases");
                    lines.push(format!("{}: deploying {APP} {} {}: {message}", row.env, row.version, row.status));
                    lines.push(format!("  see the app's log `{}/<digest>/app.log` and `logs/sluice.log`", app_log.display()));
                    if until == Until::Dev && row.env == "dev" {
                        verdict = Some(Ending::Failed {
                            message: format!("deploying {APP} {} to dev failed: {message}", row.version),
                            where_: format!("the app's log under `{}`", app_log.display()),
                        });
                    }
                }
                DeploymentStatus::Deploying | DeploymentStatus::Pending => {
                    lines.push(format!("{}: deploying {APP} {}", row.env, row.version));
                }
            }
        }
        verdict
    }

    /// Once per version: staging's gate and the command that opens it.
    fn waiting_for_approval(&mut self, promotions: &[PromotionRow], version: &str, lines: &mut Vec<String>) {
        let promoted = promotions.iter().any(|p| p.env == APPROVED_ENV && p.version == version);
        if promoted || !self.waiting.insert(version.to_owned()) {
            return;
        }
        lines.push(format!(
            "{APPROVED_ENV} waits for one approval of {APP} {version} (gate `approval`, quorum 1 of group `release-managers`); to approve, in another terminal:\n\n    {}\n",
            self.approve_command(version)
        ));
    }

    /// The exact command that approves `version` for staging.
    pub fn approve_command(&self, version: &str) -> String {
        format!(
            "SLUICE_TOKEN=\"$(cat {})\" {} approve {APP} {APPROVED_ENV} {version} --server http://{}",
            shell_word(&self.layout.token.display().to_string()),
            shell_word(&self.sluice.display().to_string()),
            self.address
        )
    }

    /// What the user can do while the quickstart keeps running.
    fn next_steps(&self) -> String {
        let ports = self.prepared.base_ports;
        format!(
            "running: dev on port {} or {}, staging on port {} or {} once approved; Ctrl-C stops everything.\n\
             \x20 Push another release: cd {} && echo 0.3.0 > VERSION && git commit -qam 'Release 0.3.0' && git push -q\n\
             \x20 Pipelines: {} pipelines --config {}",
            ports[0],
            ports[0] + 1,
            ports[1],
            ports[1] + 1,
            shell_word(&self.layout.app.display().to_string()),
            shell_word(&self.sluice.display().to_string()),
            shell_word(&self.layout.config_file.display().to_string()),
        )
    }
}

/// The pipeline's jobs in the order of their stages (the store keeps them in definition order).
fn in_stage_order(pipeline: &PipelineRow) -> Vec<&crate::store::JobRow> {
    let stages: Vec<&str> = pipeline.plan["stages"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
    let mut jobs: Vec<&crate::store::JobRow> = pipeline.jobs.iter().collect();
    jobs.sort_by_key(|job| stages.iter().position(|stage| *stage == job.stage).unwrap_or(usize::MAX));
    jobs
}

/// Whether a job status is worth a line (not the bookkeeping ones).
fn shown(status: JobStatus) -> bool {
    matches!(
        status,
        JobStatus::Running | JobStatus::Success | JobStatus::Failed | JobStatus::Canceled | JobStatus::Skipped | JobStatus::Manual
    )
}

/// `text` as one shell word: as it is when it has no special characters, else single-quoted.
fn shell_word(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
