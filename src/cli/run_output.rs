//! What `sluice run` prints: live job output prefixed with the job name (aligned, coloured on
//! a terminal), job start and finish lines, the summary table and the `--json` object.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use anstyle::{AnsiColor, Style};

use crate::run::{JobInfo, JobSummary, RunObserver, RunSummary};
use crate::store::{JobStatus, PipelineStatus};

const PALETTE: [AnsiColor; 6] =
    [AnsiColor::Cyan, AnsiColor::Magenta, AnsiColor::Blue, AnsiColor::Yellow, AnsiColor::Green, AnsiColor::BrightBlue];

/// Whether to colour output written to a stream that is (or is not) a terminal: only on a
/// terminal, and never when `NO_COLOR` is set.
pub fn use_colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints the runner's events as lines `name | text`, to stdout or (with `--json`) stderr.
pub struct TerminalObserver {
    width: usize,
    colour: bool,
    to_stderr: bool,
    names: Vec<String>,
    lock: Mutex<()>,
}

impl TerminalObserver {
    /// An observer for jobs named `names` (used to align and colour the prefixes).
    pub fn new(names: Vec<String>, colour: bool, to_stderr: bool) -> Self {
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0).min(40);
        Self { width, colour, to_stderr, names, lock: Mutex::new(()) }
    }

    fn style(&self, job: &JobInfo) -> Style {
        if !self.colour {
            return Style::new();
        }
        let index = self.names.iter().position(|n| *n == job.display_name || *n == job.name).unwrap_or(0);
        Style::new().fg_color(Some(PALETTE[index % PALETTE.len()].into()))
    }

    fn line(&self, job: &JobInfo, text: &str) {
        let style = self.style(job);
        let line = format!("{style}{:width$}{style:#} | {text}\n", job.display_name, width = self.width);
        let _guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A closed pipe (`sluice run | head`) must not stop the run; the summary notices.
        if self.to_stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        } else {
            let _ = std::io::stdout().write_all(line.as_bytes());
        }
    }
}

impl RunObserver for TerminalObserver {
    fn job_started(&self, job: &JobInfo) {
        let attempt = if job.attempt > 1 { format!(" (attempt {})", job.attempt) } else { String::new() };
        self.line(job, &format!("job started in stage `{}`{attempt}", job.stage));
    }

    fn job_output(&self, job: &JobInfo, line: &str) {
        self.line(job, line);
    }

    fn job_finished(&self, job: &JobInfo, summary: &JobSummary) {
        // A job that ran ends its log with GitLab's own last line (`Job succeeded`, `ERROR: Job
        // failed: …`); add what the log does not say. A job that never ran gets its status.
        let mut text = match summary.duration {
            Some(duration) => format!("finished in {}", seconds(duration)),
            None => format!("job {}", summary.status),
        };
        if summary.allowed_failure {
            text.push_str(", failure allowed");
        }
        if summary.will_retry {
            text.push_str(", retrying");
        }
        if let (None, Some(message)) = (summary.duration, &summary.message) {
            text.push_str(&format!(": {message}"));
        }
        self.line(job, &text);
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// The status word `--json` and the summary table show for a job: GitLab's word, except that a
/// job never reached (behind an unplayed blocking manual job) shows as `skipped`.
pub fn job_word(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Created | JobStatus::Pending | JobStatus::WaitingForResource | JobStatus::Preparing | JobStatus::Scheduled => "skipped",
        other => other.as_str(),
    }
}

/// The pipeline's result word: `success` (allowed failures, unplayed manual jobs and skipped
/// jobs included), `failed` or `canceled`.
pub fn pipeline_word(status: PipelineStatus) -> &'static str {
    match status {
        PipelineStatus::Failed => "failed",
        PipelineStatus::Canceled => "canceled",
        _ => "success",
    }
}

/// The summary table, one row per job.
pub fn summary_table(summary: &RunSummary) -> String {
    let rows: Vec<[String; 5]> = summary
        .jobs
        .iter()
        .map(|job| {
            [
                job.name.clone(),
                job.stage.clone(),
                job_word(job.status).to_owned(),
                job.duration.map(seconds).unwrap_or_else(|| "-".to_owned()),
                if job.allowed_failure { "yes".to_owned() } else { String::new() },
            ]
        })
        .collect();
    let header = ["JOB", "STAGE", "STATUS", "DURATION", "ALLOWED FAILURE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:width$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "\nPipeline #{} {} in {}\n",
        summary.pipeline_id.get(),
        pipeline_word(summary.status),
        seconds(summary.duration)
    ));
    out
}

/// The `--json` object.
pub fn summary_json(summary: &RunSummary) -> serde_json::Value {
    let jobs: Vec<serde_json::Value> = summary
        .jobs
        .iter()
        .map(|job| {
            serde_json::json!({
                "name": job.name,
                "stage": job.stage,
                "status": job_word(job.status),
                "allow_failure": job.allowed_failure,
                "exit_code": job.exit_code,
                "duration_ms": job.duration.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            })
        })
        .collect();
    serde_json::json!({ "status": pipeline_word(summary.status), "jobs": jobs })
}
