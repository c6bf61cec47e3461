//! The runner end to end: real YAML planned with `ci::plan`, real `bash` processes in
//! temporary directories, a real (in-memory) store. Ordering is observed through the
//! observer's event sequence and marker files, never through sleeps alone.

mod control;
mod outputs;
mod scheduling;

use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::observer::{JobInfo, JobSummary, RunObserver};
use super::scheduler::{PipelineRun, RunError, RunOptions, RunSummary, run_pipeline};
use super::workspace::SourceTree;
use crate::ci::context::PipelineContext;
use crate::ci::pipeline::Pipeline;
use crate::ci::source::MemoryReader;
use crate::ci::{PlanRequest, plan};
use crate::executor::ShellExecutor;
use crate::executor::process_group::become_subreaper;
use crate::store::{JobRow, JobStatus, Store};

/// What the observer saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Started(String),
    Line(String, String),
    Finished(String, JobStatus),
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl RunObserver for Recorder {
    fn job_started(&self, job: &JobInfo) {
        self.push(Event::Started(job.display_name.clone()));
    }

    fn job_output(&self, job: &JobInfo, line: &str) {
        self.push(Event::Line(job.display_name.clone(), line.to_owned()));
    }

    fn job_finished(&self, job: &JobInfo, summary: &JobSummary) {
        self.push(Event::Finished(job.display_name.clone(), summary.status));
    }
}

impl Recorder {
    fn push(&self, event: Event) {
        self.events.lock().expect("events").push(event);
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().expect("events").clone()
    }

    /// Every line job `name` printed.
    fn lines(&self, name: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Line(job, line) if job == name => Some(line),
                _ => None,
            })
            .collect()
    }

    fn position(&self, event: &Event) -> usize {
        self.events()
            .iter()
            .position(|e| e == event)
            .unwrap_or_else(|| panic!("no {event:?} in {:#?}", self.events()))
    }

    fn saw(&self, event: &Event) -> bool {
        self.events().contains(event)
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    source: SourceTree,
    store: Store,
    options: RunOptions,
    observer: Recorder,
    /// Extra files of the repository for `include`/`trigger:include`.
    files: Vec<(String, String)>,
}

impl Fixture {
    fn new() -> Self {
        become_subreaper().expect("PR_SET_CHILD_SUBREAPER");
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&root).expect("repo");
        std::fs::write(root.join("README.md"), "hello\n").expect("write");
        let source = SourceTree {
            root,
            files: vec!["README.md".to_owned()],
            untracked: Vec::new(),
            include_untracked: false,
            git: None,
        };
        let mut options = RunOptions::new(dir.path().join("state"));
        options.concurrency = 4;
        options.grace = Duration::from_millis(300);
        options.default_timeout = Duration::from_secs(60);
        Fixture {
            dir,
            source,
            store: Store::open_in_memory().expect("store"),
            options,
            observer: Recorder::default(),
            files: Vec::new(),
        }
    }

    /// A scratch path outside every workspace, for marker files shared between jobs.
    fn shared_path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn context() -> PipelineContext {
        PipelineContext::push(
            "group/project",
            "main",
            "0123456789abcdef0123456789abcdef01234567",
        )
    }

    fn reader(&self, yaml: &str) -> MemoryReader {
        self.files.iter().fold(
            MemoryReader::new().with_local(".gitlab-ci.yml", yaml),
            |r, (p, c)| r.with_local(p, c),
        )
    }

    fn plan(&self, yaml: &str) -> Pipeline {
        let ctx = Self::context();
        let reader = self.reader(yaml);
        let no_changes = |_: &str| None;
        let request = PlanRequest {
            path: ".gitlab-ci.yml",
            context: &ctx,
            reader: &reader,
            changed_since: &no_changes,
        };
        match plan(&request) {
            Ok(pipeline) => pipeline,
            Err(diagnostics) => panic!("invalid test pipeline:\n{diagnostics}"),
        }
    }

    async fn try_run(
        &self,
        yaml: &str,
        cancel: &CancellationToken,
    ) -> Result<RunSummary, RunError> {
        let pipeline = self.plan(yaml);
        let ctx = Self::context();
        let reader = self.reader(yaml);
        let run = PipelineRun {
            pipeline: &pipeline,
            context: &ctx,
            source: &self.source,
            reader: &reader,
            executor: std::sync::Arc::new(ShellExecutor::from_process_env()),
            store: &self.store,
            observer: &self.observer,
        };
        let summary = tokio::time::timeout(
            Duration::from_secs(60),
            run_pipeline(&run, &self.options, cancel),
        )
        .await
        .expect("the run finishes within a minute")?;
        self.check_record(&summary);
        Ok(summary)
    }

    async fn run(&self, yaml: &str) -> RunSummary {
        self.try_run(yaml, &CancellationToken::new())
            .await
            .expect("run")
    }

    /// The store agrees with the summary: final statuses, and no job left running.
    fn check_record(&self, summary: &RunSummary) {
        let row = self
            .store
            .get_pipeline(summary.pipeline_id)
            .expect("pipeline row");
        assert_eq!(row.status, summary.status);
        assert!(row.plan.is_object(), "plan snapshot stored");
        for job in &summary.jobs {
            let id = job.job_id.expect("job row");
            let stored = self.store.get_job(id).expect("job");
            assert_eq!(stored.status, job.status, "{}", job.name);
            assert_eq!(stored.exit_code, job.exit_code, "{}", job.name);
            let transitions = self.store.transitions_of(id).expect("transitions");
            assert_eq!(
                transitions.last().map(|t| t.to),
                Some(job.status),
                "{}",
                job.name
            );
        }
        assert!(self.store.running_jobs().expect("running").is_empty());
    }

    fn statuses(&self, id: crate::store::JobId) -> Vec<JobStatus> {
        self.store
            .transitions_of(id)
            .expect("transitions")
            .into_iter()
            .map(|t| t.to)
            .collect()
    }

    fn rows(&self, summary: &RunSummary) -> Vec<JobRow> {
        self.store.jobs_of(summary.pipeline_id).expect("jobs")
    }
}

fn job<'a>(summary: &'a RunSummary, name: &str) -> &'a JobSummary {
    summary
        .jobs
        .iter()
        .find(|j| j.name == name)
        .unwrap_or_else(|| panic!("no job `{name}` in {summary:#?}"))
}
