//! Job logs: one file per job attempt under `<state>/runs/<pipeline>/logs/`, written masked,
//! and the same masked lines fanned out live to the [`RunObserver`].
//!
//! Job names may contain `/`, `:`, spaces and anything else; [`file_name`] turns a name into
//! a file name that is unique, readable and safe, and the store keeps the exact path of each
//! job's log ([`crate::store::JobRow::log_path`]), so nothing ever has to reverse the mapping.
//!
//! Everything reaches the file and the observer through one [`MaskingStream`] per job: the
//! script's output, and the runner's own lines. A masked value split across output chunks is
//! still masked (see [`crate::run::mask`]).

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::mask::{Masker, MaskingStream};
use super::observer::{JobInfo, RunObserver};
use crate::executor::OutputSink;
use crate::store::{JobRow, Store, StoreError};

/// Longest file name stem we produce, in bytes (file systems allow 255).
const MAX_STEM: usize = 180;

/// A file-name-safe, injective encoding of a job name: ASCII letters, digits, `-` and `_`
/// stay, every other byte becomes `%XX`, and a leading `.` is encoded too. Names whose
/// encoding is too long are cut and suffixed with a hash of the full name.
pub fn safe_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, byte) in name.bytes().enumerate() {
        let keep =
            byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || (byte == b'.' && i > 0);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if out.is_empty() {
        return "%".to_owned();
    }
    if out.len() > MAX_STEM {
        let mut cut = MAX_STEM - 34;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out = format!(
            "{}~{:032x}",
            &out[..cut],
            super::cache::stable_hash(name.as_bytes())
        );
    }
    out
}

/// The log file name of `attempt` (1-based) of job `name`.
pub fn file_name(name: &str, attempt: u32) -> String {
    if attempt <= 1 {
        format!("{}.log", safe_name(name))
    } else {
        format!("{}.attempt-{attempt}.log", safe_name(name))
    }
}

/// The most recent job named `name` that has a log, among the newest `search` pipelines of
/// the store (child pipelines included), for `sluice logs JOB`.
///
/// # Errors
///
/// [`StoreError`] from reading the pipelines.
pub fn last_run_log(store: &Store, name: &str, search: u32) -> Result<Option<JobRow>, StoreError> {
    let pipelines = store.list_pipelines(None, search)?;
    Ok(pipelines.into_iter().find_map(|pipeline| {
        pipeline
            .jobs
            .into_iter()
            .filter(|job| job.name == name && job.log_path.is_some())
            .max_by_key(|job| (job.attempt, job.id))
    }))
}

/// A job's log: the [`OutputSink`] the executor writes to, plus the runner's own lines.
pub(crate) struct JobLog<'a> {
    /// `None` only after [`JobLog::finish`] took it.
    stream: Option<MaskingStream>,
    file: Option<File>,
    /// Masked bytes of the current, unfinished line.
    line: Vec<u8>,
    /// Whether the last raw byte pushed was a line break (or nothing was pushed).
    at_line_start: bool,
    observer: &'a dyn RunObserver,
    job: JobInfo,
    /// The first write error; later writes are dropped but the job goes on.
    error: Option<io::Error>,
}

impl<'a> JobLog<'a> {
    /// Creates (truncates) the log file at `path`.
    ///
    /// # Errors
    ///
    /// The file or its directory could not be created.
    pub(crate) fn create(
        path: &Path,
        masker: &Masker,
        observer: &'a dyn RunObserver,
        job: JobInfo,
    ) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::create(path)?;
        Ok(Self {
            stream: Some(masker.stream()),
            file: Some(file),
            line: Vec::new(),
            at_line_start: true,
            observer,
            job,
            error: None,
        })
    }

    /// Appends one line of the runner's own (on a line of its own).
    pub(crate) fn line(&mut self, text: &str) {
        if !self.at_line_start {
            self.push(b"\n");
        }
        self.push(text.as_bytes());
        self.push(b"\n");
    }

    fn push(&mut self, raw: &[u8]) {
        if let Some(last) = raw.last() {
            self.at_line_start = *last == b'\n';
        }
        if let Some(stream) = &mut self.stream {
            let masked = stream.push(raw);
            self.emit(&masked);
        }
    }

    /// Writes masked bytes to the file and hands complete lines to the observer.
    fn emit(&mut self, masked: &[u8]) {
        if masked.is_empty() {
            return;
        }
        if let Some(file) = &mut self.file
            && let Err(error) = file.write_all(masked)
        {
            self.error.get_or_insert(error);
            self.file = None;
        }
        let mut rest = masked;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&rest[..pos]);
            self.flush_line();
            rest = &rest[pos + 1..];
        }
        self.line.extend_from_slice(rest);
    }

    fn flush_line(&mut self) {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.observer
            .job_output(&self.job, &String::from_utf8_lossy(&line));
    }

    /// Ends the log: emits what the masker held back and the last unfinished line.
    ///
    /// # Errors
    ///
    /// The first write error met while logging (the job itself went on regardless).
    pub(crate) fn finish(mut self) -> io::Result<()> {
        if let Some(stream) = self.stream.take() {
            let tail = stream.finish();
            self.emit(&tail);
        }
        if !self.line.is_empty() {
            self.flush_line();
        }
        if let Some(file) = &mut self.file
            && let Err(error) = file.flush()
        {
            self.error.get_or_insert(error);
        }
        match self.error.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl OutputSink for JobLog<'_> {
    fn write(&mut self, chunk: &[u8]) {
        self.push(chunk);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::store::{JobId, PipelineId};

    #[test]
    fn safe_names_are_injective_and_plain() {
        assert_eq!(safe_name("build"), "build");
        assert_eq!(safe_name("test 1/3"), "test%201%2F3");
        assert_eq!(safe_name("test: [a, b]"), "test%3A%20%5Ba%2C%20b%5D");
        assert_eq!(safe_name(".hidden"), "%2Ehidden");
        assert_eq!(safe_name(".."), "%2E.");
        assert_ne!(safe_name("a b"), safe_name("a_b"));
        let long = safe_name(&"é".repeat(200));
        assert!(long.len() <= MAX_STEM, "{}", long.len());
        assert_eq!(file_name("a/b", 2), "a%2Fb.attempt-2.log");
    }

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl RunObserver for Lines {
        fn job_output(&self, _job: &JobInfo, line: &str) {
            self.0.lock().expect("lock").push(line.to_owned());
        }
    }

    #[test]
    fn masks_split_values_in_file_and_lines() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("logs/job.log");
        let masker = Masker::new(vec!["abcdefgh".to_owned()]).expect("masker");
        let observer = Lines::default();
        let job = JobInfo {
            pipeline_id: PipelineId::new(1),
            job_id: JobId::new(1),
            name: "j".into(),
            display_name: "j".into(),
            stage: "test".into(),
            attempt: 1,
        };
        let mut log = JobLog::create(&path, &masker, &observer, job).expect("log");
        log.write(b"x abc");
        log.write(b"defgh y\npartial");
        log.line("runner says abcdefgh");
        log.finish().expect("finish");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "x [MASKED] y\npartial\nrunner says [MASKED]\n");
        assert_eq!(
            *observer.0.lock().expect("lock"),
            ["x [MASKED] y", "partial", "runner says [MASKED]"]
        );
    }
}
