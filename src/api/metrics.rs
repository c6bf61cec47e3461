//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by hand for a handful
//! of series. No authentication, like `/healthz` and `/readyz`: expose it only where the
//! scraper can reach it.
//!
//! Series:
//! - `sluice_events_received_total{forge, outcome}`: webhook deliveries and API triggers by
//!   outcome (`recorded`, `duplicate`, `ignored`, `refused`, `error`);
//! - `sluice_webhook_duration_seconds`: histogram of webhook handling time, from request to
//!   answer (the event is stored before the answer);
//! - `sluice_job_duration_seconds`: histogram of finished jobs' run time;
//! - `sluice_pipelines{status}`: pipelines in the store by status (read at scrape time);
//! - `sluice_queue_depth`: events waiting for the worker (read at scrape time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::run::{JobInfo, JobSummary, RunObserver};

/// Upper bounds (seconds) of the webhook latency buckets.
const WEBHOOK_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Upper bounds (seconds) of the job duration buckets.
const JOB_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];

/// A cumulative histogram with fixed buckets.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// One count per bound (not cumulative; summed at exposition).
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum of observations in microseconds.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
        );
    }
}

/// The daemon's counters and histograms. Share it in an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    events: Mutex<BTreeMap<(String, &'static str), u64>>,
    webhook_latency: Histogram,
    job_duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            events: Mutex::new(BTreeMap::new()),
            webhook_latency: Histogram::new(WEBHOOK_BUCKETS),
            job_duration: Histogram::new(JOB_BUCKETS),
        }
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one event received from `forge` (`gitlab`, `github`, `gerrit`, `api`) with its
    /// `outcome` (`recorded`, `duplicate`, `ignored`, `refused`, `error`).
    pub fn event_received(&self, forge: &str, outcome: &'static str) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        *events.entry((forge.to_owned(), outcome)).or_default() += 1;
    }

    /// Records how long handling one webhook took.
    pub fn webhook_handled(&self, elapsed: Duration) {
        self.webhook_latency.observe(elapsed);
    }

    /// Records the run time of a finished job.
    pub fn observe_job(&self, elapsed: Duration) {
        self.job_duration.observe(elapsed);
    }

    /// The exposition: the in-memory series, then `pipelines` (by status) and `queue_depth`
    /// as read from the store at scrape time.
    fn render(&self, pipelines: &[(String, u64)], queue_depth: u64) -> String {
        let mut out = String::new();
        out.push_str("# HELP sluice_events_received_total Events received, by forge and outcome.\n");
        out.push_str("# TYPE sluice_events_received_total counter\n");
        for ((forge, outcome), n) in self.events.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(
                out,
                "sluice_events_received_total{{forge=\"{forge}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        self.webhook_latency.write(
            &mut out,
            "sluice_webhook_duration_seconds",
            "Time to handle a webhook delivery, from request to answer.",
        );
        self.job_duration
            .write(&mut out, "sluice_job_duration_seconds", "Run time of finished jobs.");
        out.push_str("# HELP sluice_pipelines Pipelines in the store, by status.\n# TYPE sluice_pipelines gauge\n");
        for (status, n) in pipelines {
            let _ = writeln!(out, "sluice_pipelines{{status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP sluice_queue_depth Events waiting for the worker.\n# TYPE sluice_queue_depth gauge\n");
        let _ = writeln!(out, "sluice_queue_depth {queue_depth}");
        out
    }
}

/// Feeds finished jobs' durations into [`Metrics`] (the worker's runs report through it).
impl RunObserver for Metrics {
    fn job_finished(&self, _job: &JobInfo, summary: &JobSummary) {
        if let Some(duration) = summary.duration {
            self.observe_job(duration);
        }
    }
}

/// `GET /metrics`.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let store = state.inner.store.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
        let pipelines = store.pipelines_by_status()?;
        Ok((pipelines, store.pending_event_count()?))
    })
    .await;
    let (pipelines, depth) = match read {
        Ok(Ok((pipelines, depth))) => (pipelines, depth),
        _ => return super::error(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable"),
    };
    let pipelines: Vec<(String, u64)> = pipelines.into_iter().map(|(s, n)| (s.as_str().to_owned(), n)).collect();
    let body = state.inner.metrics.render(&pipelines, depth);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_every_series() {
        let metrics = Metrics::new();
        metrics.event_received("gitlab", "recorded");
        metrics.event_received("gitlab", "recorded");
        metrics.event_received("github", "refused");
        metrics.webhook_handled(Duration::from_millis(3));
        metrics.observe_job(Duration::from_secs(2));
        let text = metrics.render(&[("success".to_owned(), 4)], 1);
        for line in [
            "sluice_events_received_total{forge=\"gitlab\",outcome=\"recorded\"} 2",
            "sluice_events_received_total{forge=\"github\",outcome=\"refused\"} 1",
            "sluice_webhook_duration_seconds_bucket{le=\"0.0025\"} 0",
            "sluice_webhook_duration_seconds_bucket{le=\"0.005\"} 1",
            "sluice_webhook_duration_seconds_bucket{le=\"+Inf\"} 1",
            "sluice_webhook_duration_seconds_count 1",
            "sluice_job_duration_seconds_bucket{le=\"5\"} 1",
            "sluice_job_duration_seconds_sum 2",
            "sluice_pipelines{status=\"success\"} 4",
            "sluice_queue_depth 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
    }
}
