//! The recursive part of `include:`: for one file, evaluate each entry's rules, find the files it
//! names, read, load and interpolate each one, resolve its own includes, and merge.

use super::entry::{self, Entry, Located, Target};
use super::location::{has_yaml_extension, wildcard};
use super::{MAX_DEPTH, MAX_INCLUDES};
use crate::ci::context::PipelineContext;
use crate::ci::inputs;
use crate::diagnostic::did_you_mean;
use crate::ci::merge::deep_merge;
use crate::ci::node::Node;
use crate::ci::rules::{self, RuleEnv, RulesKind};
use crate::ci::source::{FileReader, FileSource, ReadError};
use crate::ci::variables::Variables;
use crate::diagnostic::{Diagnostic, Diagnostics};

/// Resolution state shared by every file of one pipeline.
pub(super) struct Resolver<'a> {
    reader: &'a dyn FileReader,
    ctx: &'a PipelineContext,
    variables: &'a Variables,
    /// Paths changed since a ref, for `rules:changes:compare_to`.
    changed_since: &'a dyn Fn(&str) -> Option<Vec<String>>,
    /// Files included so far, repeats counted.
    count: usize,
    /// Set when a limit is hit: nothing more is included.
    aborted: bool,
    /// The chain of files being resolved, main file first.
    stack: Vec<Frame>,
    /// Errors found so far.
    pub diags: Diagnostics,
    /// Warnings of every file loaded, and of wildcards that matched nothing.
    pub warnings: Diagnostics,
}

/// One file on the include chain.
struct Frame {
    name: String,
    /// Source, path and inputs: the same file with other inputs is not a cycle.
    identity: String,
}

/// A file named by an include entry.
struct FileRef {
    source: FileSource,
    path: String,
    /// The name used in locations and messages.
    name: String,
    /// Where `local` includes inside this file resolve (the including project).
    context: FileSource,
    /// The entry value that names the file.
    at: Located,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(
        reader: &'a dyn FileReader,
        ctx: &'a PipelineContext,
        variables: &'a Variables,
        changed_since: &'a dyn Fn(&str) -> Option<Vec<String>>,
    ) -> Self {
        Self {
            reader,
            ctx,
            variables,
            changed_since,
            count: 0,
            aborted: false,
            stack: Vec::new(),
            diags: Diagnostics::new(),
            warnings: Diagnostics::new(),
        }
    }

    /// Resolves the includes of the main file (`config`, a mapping, read from `path`).
    pub(super) fn expand_main(&mut self, config: Node, path: &str) -> Node {
        self.stack.push(Frame {
            name: path.to_owned(),
            identity: identity(&FileSource::Local, path, None),
        });
        self.expand(config, &FileSource::Local)
    }

    /// Resolves the `include` of `config` (a mapping); local includes resolve in `context`.
    fn expand(&mut self, mut config: Node, context: &FileSource) -> Node {
        let Some(map) = config.as_map_mut() else {
            return config;
        };
        let Some((_, include)) = map.remove("include") else {
            return config;
        };
        let entries = entry::parse(&include, self.variables, &mut self.diags);
        let mut merged: Option<Node> = None;
        for entry in entries {
            if self.aborted {
                break;
            }
            if !self.rules_pass(&entry, context) {
                continue;
            }
            for file in self.files_of(&entry, context) {
                if self.aborted {
                    break;
                }
                if let Some(node) = self.include_file(&entry, file) {
                    match &mut merged {
                        Some(m) => deep_merge(m, node),
                        None => merged = Some(node),
                    }
                }
            }
        }
        let Some(mut merged) = merged else {
            return config;
        };
        let location = config.location.clone();
        deep_merge(&mut merged, config);
        merged.location = location;
        merged
    }

    /// Whether the entry's `rules` (if any) include it: a rule matches and is not `when: never`.
    fn rules_pass(&mut self, entry: &Entry, context: &FileSource) -> bool {
        let Some(node) = &entry.rules else {
            return true;
        };
        let before = self.diags.errors().count();
        let parsed = rules::parse(
            node,
            &format!("{}.rules", entry.key_path),
            RulesKind::Include,
            &mut self.diags,
        );
        if self.diags.errors().count() > before {
            return false;
        }
        let reader = self.reader;
        let files = || reader.list(context).unwrap_or_default();
        let env = RuleEnv {
            variables: self.variables,
            changed_paths: self.ctx.changed_paths.as_deref(),
            changed_since: self.changed_since,
            files: &files,
        };
        rules::first_match(&parsed, &env).is_some_and(|rule| rule.when.as_deref() != Some("never"))
    }

    /// The files an entry names (wildcards matched); problems are reported.
    fn files_of(&mut self, entry: &Entry, context: &FileSource) -> Vec<FileRef> {
        let file = |source: FileSource, at: &Located, context: &FileSource| FileRef {
            name: display(&source, &at.value),
            path: at.value.clone(),
            source,
            context: context.clone(),
            at: at.clone(),
        };
        match &entry.target {
            Target::Local(at) if at.value.contains('*') => self.match_wildcard(at, context),
            Target::Local(at) => vec![file(context.clone(), at, context)],
            Target::Project {
                project,
                git_ref,
                files,
            } => {
                let source = FileSource::Project {
                    project: project.clone(),
                    git_ref: git_ref.clone(),
                };
                files
                    .iter()
                    .map(|at| file(source.clone(), at, &source))
                    .collect()
            }
            Target::Template(at) => vec![file(FileSource::Template, at, context)],
            Target::Remote(at) => vec![file(FileSource::Remote, at, context)],
            Target::Component(at) => {
                self.diags.push(component_error(at));
                Vec::new()
            }
            Target::Artifact(at) => {
                let d = Diagnostic::error(
                    Some(at.location.clone()),
                    at.key_path.clone(),
                    "`include:artifact` is only allowed in `trigger:include` of a child pipeline",
                );
                self.diags.push(
                    d.with_hint("include the file with `include:local` if it is in the repository"),
                );
                Vec::new()
            }
        }
    }

    fn match_wildcard(&mut self, at: &Located, context: &FileSource) -> Vec<FileRef> {
        let Some(pattern) = wildcard(&at.value) else {
            self.diags.push(Diagnostic::error(
                Some(at.location.clone()),
                at.key_path.clone(),
                format!("`{}` is not a valid wildcard path", at.value),
            ));
            return Vec::new();
        };
        let mut paths = match self.reader.list(context) {
            Ok(paths) => paths,
            Err(e) => {
                let message = format!(
                    "cannot list the files of {} for `{}`: {e}",
                    describe(context),
                    at.value
                );
                self.diags.push(Diagnostic::error(
                    Some(at.location.clone()),
                    at.key_path.clone(),
                    message,
                ));
                return Vec::new();
            }
        };
        paths.retain(|p| pattern.is_match(p));
        paths.sort();
        if paths.is_empty() {
            let message = format!(
                "`{}` matches no file in {}, so nothing is included",
                at.value,
                describe(context)
            );
            let hint = "`*` matches within one folder, `**` across folders; paths are relative to the repository root";
            self.warnings.push(
                Diagnostic::warning(Some(at.location.clone()), at.key_path.clone(), message)
                    .with_hint(hint),
            );
        }
        let make = |path: String| FileRef {
            name: display(context, &path),
            source: context.clone(),
            context: context.clone(),
            at: at.clone(),
            path,
        };
        paths.into_iter().map(make).collect()
    }

    /// Counts, checks, reads, loads and interpolates one file, then resolves its includes.
    fn include_file(&mut self, entry: &Entry, file: FileRef) -> Option<Node> {
        let at = Some(file.at.location.clone());
        let key_path = file.at.key_path.clone();
        self.count += 1;
        if self.count > MAX_INCLUDES {
            self.aborted = true;
            let message = format!(
                "including `{}` goes over the limit of {MAX_INCLUDES} includes per pipeline",
                file.name
            );
            let hint = "a file counts each time it is included, nested includes too; include fewer or larger files";
            self.diags
                .push(Diagnostic::error(at, key_path, message).with_hint(hint));
            return None;
        }
        if self.stack.len() > MAX_DEPTH {
            self.aborted = true;
            let message = format!(
                "including `{}` nests includes more than {MAX_DEPTH} levels deep",
                file.name
            );
            self.diags.push(
                Diagnostic::error(at, key_path, message).with_hint(self.chain_hint(&file.name)),
            );
            return None;
        }
        if !has_yaml_extension(&file.path) {
            let message = format!(
                "included file `{}` does not have a `.yml` or `.yaml` extension",
                file.name
            );
            self.diags.push(
                Diagnostic::error(at, key_path, message)
                    .with_hint("only YAML files can be included"),
            );
            return None;
        }
        let inputs_json = entry.inputs.as_ref().map(|n| n.to_json().to_string());
        let identity = identity(&file.source, &file.path, inputs_json.as_deref());
        if let Some(start) = self.stack.iter().position(|f| f.identity == identity) {
            let d = self.cycle_error(start, &file);
            self.diags.push(d);
            return None;
        }
        let config = self.load(entry, &file)?;
        self.stack.push(Frame {
            name: file.name.clone(),
            identity,
        });
        let expanded = self.expand(config, &file.context);
        self.stack.pop();
        Some(expanded)
    }

    /// Reads, parses and interpolates a file; the result is a mapping.
    fn load(&mut self, entry: &Entry, file: &FileRef) -> Option<Node> {
        let at = Some(file.at.location.clone());
        let key_path = file.at.key_path.clone();
        let text = match self.reader.read(&file.source, &file.path) {
            Ok(text) => text,
            Err(e) => {
                let d = self.read_error(file, e);
                self.diags.push(d);
                return None;
            }
        };
        if text.trim().is_empty() {
            self.diags.push(Diagnostic::error(
                at,
                key_path,
                format!("included file `{}` is empty", file.name),
            ));
            return None;
        }
        let loaded = match crate::ci::yaml::load(&file.name, &text) {
            Ok(loaded) => loaded,
            Err(d) => {
                self.diags.extend(d);
                return None;
            }
        };
        self.warnings.extend(loaded.warnings);
        let site = inputs::Site {
            location: Some(entry.location.clone()),
            key_path: entry.key_path.clone(),
        };
        let config = match inputs::apply_at(
            loaded.header.as_ref(),
            entry.inputs.as_ref(),
            loaded.config,
            &file.name,
            self.variables,
            &site,
        ) {
            Ok(config) => config,
            Err(d) => {
                self.diags.extend(d);
                return None;
            }
        };
        if config.as_map().is_none() {
            let message = format!(
                "included file `{}` must be a mapping of jobs and keywords, found {}",
                file.name,
                config.type_name()
            );
            self.diags.push(Diagnostic::error(at, key_path, message));
            return None;
        }
        Some(config)
    }

    fn read_error(&self, file: &FileRef, error: ReadError) -> Diagnostic {
        let at = Some(file.at.location.clone());
        let key_path = file.at.key_path.clone();
        match (&file.source, error) {
            (FileSource::Remote, ReadError::NotFound | ReadError::Refused(_)) => {
                Diagnostic::error(at, key_path, format!("remote includes are not fetched offline: `{}` is not in the cache", file.path))
                    .with_hint(format!("download `{}` into the repository and use `include:local`", file.path))
            }
            (FileSource::Template, ReadError::NotFound) => {
                Diagnostic::error(at, key_path, format!("GitLab's template `{}` is not bundled with Sluice", file.path)).with_hint(
                    "vendor it into the repository (GitLab keeps it in `lib/gitlab/ci/templates/`) and use `include:local`",
                )
            }
            (source @ (FileSource::Local | FileSource::Project { .. }), ReadError::NotFound) => {
                let d = Diagnostic::error(at, key_path, format!("file `{}` does not exist in {}", file.path, describe(source)));
                let files = self.reader.list(source).unwrap_or_default();
                match did_you_mean(&file.path, files.iter().map(String::as_str)) {
                    Some(best) => d.with_hint(format!("did you mean `{best}`?")),
                    None => d.with_hint("paths are relative to the repository root"),
                }
            }
            (_, e) => Diagnostic::error(at, key_path, format!("cannot read `{}`: {e}", file.name)),
        }
    }

    /// The cycle closed by including `file` again, from its first place on the chain.
    fn cycle_error(&self, start: usize, file: &FileRef) -> Diagnostic {
        let mut chain: Vec<&str> = self.stack[start..]
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        chain.push(&file.name);
        let message = format!("include cycle: {}", chain.join(" -> "));
        let hint = format!(
            "`{}` is already being included; remove one of the includes (GitLab would include them over and over until the limit of {MAX_INCLUDES} includes)",
            file.name
        );
        Diagnostic::error(
            Some(file.at.location.clone()),
            file.at.key_path.clone(),
            message,
        )
        .with_hint(hint)
    }

    fn chain_hint(&self, next: &str) -> String {
        let names: Vec<&str> = self
            .stack
            .iter()
            .map(|f| f.name.as_str())
            .rev()
            .take(3)
            .collect();
        format!(
            "the chain ends with {} -> {next}; flatten the includes",
            names.into_iter().rev().collect::<Vec<_>>().join(" -> ")
        )
    }
}

fn component_error(at: &Located) -> Diagnostic {
    Diagnostic::error(Some(at.location.clone()), at.key_path.clone(), format!("CI/CD components are not fetched by Sluice: cannot include `{}`", at.value))
        .with_hint(
            "vendor the component: copy its `templates/<name>.yml` into this repository and use `include:local` with the same `inputs`, \
             or mirror its project and use `include:project` with `file: templates/<name>.yml`",
        )
}

/// A key identifying a file and the inputs it was included with.
fn identity(source: &FileSource, path: &str, inputs: Option<&str>) -> String {
    format!("{}\u{0}{}", display(source, path), inputs.unwrap_or("null"))
}

/// The name of an included file in locations and messages: the path for the pipeline's own
/// files and remote URLs, `group/project:path` (with `@ref` when given) for other projects,
/// `template:Name` for templates.
fn display(source: &FileSource, path: &str) -> String {
    match source {
        FileSource::Local | FileSource::Remote => path.to_owned(),
        FileSource::Project {
            project,
            git_ref: Some(r),
        } => format!("{project}@{r}:{path}"),
        FileSource::Project {
            project,
            git_ref: None,
        } => format!("{project}:{path}"),
        FileSource::Template => format!("template:{path}"),
    }
}

fn describe(source: &FileSource) -> String {
    match source {
        FileSource::Local => "the repository".to_owned(),
        FileSource::Project {
            project,
            git_ref: Some(r),
        } => format!("project `{project}` at `{r}`"),
        FileSource::Project {
            project,
            git_ref: None,
        } => format!("project `{project}` on its default branch"),
        FileSource::Template => "Sluice's templates".to_owned(),
        FileSource::Remote => "the remote cache".to_owned(),
    }
}
