//! Parsing the files one `include:` list names on every core before they are merged.
//!
//! Parsing YAML is about half of planning a large pipeline, and the files of one include
//! list do not depend on each other, so they are read here (in order, through the reader,
//! which need not be thread-safe) and parsed side by side. Nothing else changes: the
//! resolver still counts, checks, interpolates and merges each file in order, taking the
//! parsed tree from here when it is present, so limits, cycles, errors and warnings come out
//! exactly as when each file is parsed on its own turn. A file that `rules` or a limit keep
//! out afterwards was parsed for nothing, which costs time but never changes the result.

use std::collections::HashMap;

use super::entry::{Entry, Target};
use super::location::has_yaml_extension;
use crate::ci::source::{FileReader, FileSource, ReadError};
use crate::ci::yaml::{self, Loaded};
use crate::diagnostic::Diagnostics;

/// Below this much text in one include list, parsing on one thread is faster than
/// starting others (a thread start costs tens of microseconds; a 16 KiB file parses in
/// about a hundred).
const PARALLEL_BYTES: usize = 16 * 1024;

/// A file read and parsed ahead of its turn.
pub(super) struct Parsed {
    /// The file's text.
    pub text: String,
    /// The parse of `text`; `None` when the text is blank (the resolver reports that).
    pub loaded: Option<Result<Loaded, Diagnostics>>,
}

/// Files read and parsed ahead, by source and path.
#[derive(Default)]
pub(super) struct Prefetched {
    files: HashMap<(FileSource, String), Result<Parsed, ReadError>>,
}

impl Prefetched {
    /// Reads the files that `entries` name directly (no wildcards) and parses them on up to
    /// as many threads as the machine has cores. `name` gives a file's name in locations.
    pub(super) fn fetch(
        reader: &dyn FileReader,
        entries: &[Entry],
        context: &FileSource,
        name: impl Fn(&FileSource, &str) -> String,
    ) -> Self {
        let mut wanted: Vec<(FileSource, String)> = Vec::new();
        for entry in entries {
            for (source, path) in direct_files(&entry.target, context) {
                if has_yaml_extension(&path) && !wanted.iter().any(|(s, p)| *s == source && *p == path) {
                    wanted.push((source, path));
                }
            }
        }
        let mut texts = Vec::with_capacity(wanted.len());
        let mut files = HashMap::with_capacity(wanted.len());
        for (source, path) in wanted {
            match reader.read(&source, &path) {
                Ok(text) => texts.push((name(&source, &path), text, source, path)),
                Err(e) => {
                    files.insert((source, path), Err(e));
                }
            }
        }
        let total: usize = texts.iter().map(|(_, text, ..)| text.len()).sum();
        // Asked only for large lists: the answer comes from the cgroup files.
        let threads = if total < PARALLEL_BYTES || texts.len() < 2 {
            1
        } else {
            std::thread::available_parallelism().map_or(1, usize::from).min(texts.len())
        };
        let parsed = if threads < 2 {
            texts.into_iter().map(parse).collect()
        } else {
            parse_on_threads(texts, threads, total)
        };
        for (source, path, file) in parsed {
            files.insert((source, path), Ok(file));
        }
        Self { files }
    }

    /// The read (and parse) of `path` in `source`, if it was fetched and not taken yet. A file
    /// included twice is parsed again on its second turn.
    pub(super) fn take(&mut self, source: &FileSource, path: &str) -> Option<Result<Parsed, ReadError>> {
        self.files.remove(&(source.clone(), path.to_owned()))
    }
}

type Text = (String, String, FileSource, String);

fn parse((name, text, source, path): Text) -> (FileSource, String, Parsed) {
    let loaded = (!text.trim().is_empty()).then(|| yaml::load(&name, &text));
    (source, path, Parsed { text, loaded })
}

/// Parses `texts` on `threads` threads, each taking a run of consecutive files with about
/// the same amount of text; the results come back in the order of `texts`.
fn parse_on_threads(texts: Vec<Text>, threads: usize, total: usize) -> Vec<(FileSource, String, Parsed)> {
    let share = total.div_ceil(threads);
    let mut batches: Vec<Vec<Text>> = vec![Vec::new()];
    let mut size = 0;
    for text in texts {
        if size >= share && batches.len() < threads {
            batches.push(Vec::new());
            size = 0;
        }
        size += text.1.len();
        batches.last_mut().expect("one batch at least").push(text);
    }
    let mut first = batches.remove(0);
    std::thread::scope(|scope| {
        let others: Vec<_> = batches
            .into_iter()
            .map(|batch| scope.spawn(move || batch.into_iter().map(parse).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<_> = first.drain(..).map(parse).collect();
        for handle in others {
            // A parse never panics (the YAML loader is fuzzed for that); if one did, re-raise it here.
            all.extend(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        all
    })
}

/// The files a target names without listing a directory: everything but wildcards,
/// components and artifacts.
fn direct_files(target: &Target, context: &FileSource) -> Vec<(FileSource, String)> {
    match target {
        Target::Local(at) if !at.value.contains('*') => vec![(context.clone(), at.value.clone())],
        Target::Project { project, git_ref, files } => {
            let source = FileSource::Project { project: project.clone(), git_ref: git_ref.clone() };
            files.iter().map(|at| (source.clone(), at.value.clone())).collect()
        }
        Target::Template(at) => vec![(FileSource::Template, at.value.clone())],
        Target::Remote(at) => vec![(FileSource::Remote, at.value.clone())],
        Target::Local(_) | Target::Component(_) | Target::Artifact(_) => Vec::new(),
    }
}
