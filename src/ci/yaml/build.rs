//! Builds located [`Node`] trees from `saphyr-parser` events, one per YAML document, the
//! way Psych's `ToRuby` builds Ruby objects: anchors and aliases (an alias is a copy of
//! the anchored node, with the anchored node's locations), merge keys `<<` with
//! `Hash#merge!` semantics, duplicate keys (the last wins, with a warning), `!reference`.
//!
//! It never recurses (an explicit frame stack), so no input can overflow the stack, and it
//! enforces the limits while building: nesting depth (GitLab's `max_yaml_depth`, counted
//! as GitLab's `DeepSize` does, aliases expanded) and the number of nodes created, alias
//! copies included, which is checked *before* a copy is made so a "billion laughs" file
//! fails at once without allocating.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};

use super::errors;
use super::tags::{self, Problem, TagKind};
use super::{MAX_DEPTH, MAX_NODES};
use crate::ci::node::{Key, Map, Node, Value};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// One YAML document of the file.
#[derive(Debug)]
pub(super) struct Document {
    /// The document's root node (`Null` for an empty document).
    pub root: Node,
    /// Where the document starts.
    pub start: Location,
}

/// Parses every document of `text`. Problems go to `diags`; `None` means a fatal one (a
/// syntax error or a limit) stopped the parse.
pub(super) fn documents(file: &Arc<str>, text: &str, diags: &mut Diagnostics) -> Option<Vec<Document>> {
    let mut builder = Builder::new(file.clone(), text);
    let outcome = builder.run();
    diags.extend(std::mem::take(&mut builder.diags));
    match outcome {
        Ok(()) => Some(builder.documents),
        Err(fatal) => {
            diags.push(*fatal);
            None
        }
    }
}

type Fatal = Box<Diagnostic>;

/// A node kept for its aliases.
struct Anchored {
    node: Node,
    count: usize,
    height: usize,
    key_text: Option<String>,
}

/// How the node was written, which decides what a merge key does with it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Scalar,
    Alias,
    Sequence,
    Mapping,
}

/// A finished node on its way into its parent.
struct Built {
    node: Node,
    /// Where it is written (for an alias: the alias, not the anchored node).
    at: Location,
    /// Nodes in it, itself included.
    count: usize,
    /// Collection nesting inside it, itself included (0 for scalars).
    height: usize,
    origin: Origin,
    /// A non-string scalar's source text, its name when used as a key.
    key_text: Option<String>,
    /// Tagged `!!str` (a `!!str <<` key is a plain key, not a merge).
    str_tag: bool,
}

struct PendingKey {
    key: Key,
    merge: bool,
    /// The key was invalid (already reported): drop the value.
    discard: bool,
}

#[derive(Default)]
struct MapState {
    map: Map,
    key: Option<PendingKey>,
    /// Keys that came from a merge and were not written in this mapping since.
    merged_only: HashSet<String>,
}

enum Kind {
    Seq(Vec<Node>),
    Map(MapState),
}

struct Frame {
    location: Location,
    anchor: usize,
    count: usize,
    height: usize,
    reference: bool,
    kind: Kind,
}

struct Builder<'t> {
    file: Arc<str>,
    text: &'t str,
    frames: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    nodes: usize,
    diags: Diagnostics,
    documents: Vec<Document>,
    root: Option<Node>,
    doc_start: Location,
}

impl<'t> Builder<'t> {
    fn new(file: Arc<str>, text: &'t str) -> Self {
        let doc_start = Location { file: file.clone(), line: 1, column: 1 };
        Self {
            file,
            text,
            frames: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            diags: Diagnostics::new(),
            documents: Vec::new(),
            root: None,
            doc_start,
        }
    }

    fn run(&mut self) -> Result<(), Fatal> {
        let mut parser = Parser::new_from_str(self.text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| Box::new(errors::syntax(&e, self.text, &self.file)))?;
            match event {
                Event::StreamEnd => break,
                Event::StreamStart | Event::Nothing => {}
                Event::DocumentStart(_) => self.start_document(span),
                Event::DocumentEnd => self.end_document(),
                Event::Alias(id) => self.alias(id, span)?,
                Event::Scalar(value, style, anchor, tag) => self.scalar(value, style, anchor, tag.as_deref(), span)?,
                Event::SequenceStart(anchor, tag) => self.open(anchor, tag.as_deref(), span, false)?,
                Event::MappingStart(anchor, tag) => self.open(anchor, tag.as_deref(), span, true)?,
                Event::SequenceEnd | Event::MappingEnd => self.close()?,
            }
        }
        if self.root.is_some() || !self.frames.is_empty() {
            self.end_document();
        }
        Ok(())
    }

    fn location(&self, mark: Marker) -> Location {
        let line = u32::try_from(mark.line()).unwrap_or(u32::MAX);
        let column = u32::try_from(mark.col().saturating_add(1)).unwrap_or(u32::MAX);
        Location { file: self.file.clone(), line, column }
    }

    fn start_document(&mut self, span: Span) {
        // GitLab loads each document on its own: anchors do not cross documents.
        self.anchors.clear();
        self.frames.clear();
        self.root = None;
        self.doc_start = self.location(span.start);
    }

    fn end_document(&mut self) {
        let start = self.doc_start.clone();
        let root = self.root.take().unwrap_or_else(|| Node::new(Value::Null, start.clone()));
        self.frames.clear();
        self.documents.push(Document { root, start });
    }

    /// Counts `n` more nodes against the budget; `alias` says they are an alias's copy.
    fn bump(&mut self, n: usize, at: &Location, alias: bool) -> Result<(), Fatal> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes <= MAX_NODES {
            return Ok(());
        }
        let (message, hint) = if alias {
            (
                format!("YAML aliases expand to more than {MAX_NODES} nodes"),
                "an alias `*name` copies its anchored node each time it is used; repeat large anchors less, or use `extends:`",
            )
        } else {
            (format!("the YAML has more than {MAX_NODES} nodes"), "split the configuration into several files joined with `include:`")
        };
        Err(Box::new(Diagnostic::error(Some(at.clone()), self.path(), message).with_hint(hint)))
    }

    fn too_deep(&self, at: &Location) -> Fatal {
        let d = Diagnostic::error(
            Some(at.clone()),
            self.path(),
            format!("YAML is nested more than {MAX_DEPTH} levels deep (aliases expanded), more than GitLab accepts"),
        )
        .with_hint("flatten the structure, or check for aliases that nest anchors into themselves");
        Box::new(d)
    }

    /// The GitLab-style key path of the node being built (`build.script[2]`).
    fn path(&self) -> String {
        let mut out = String::new();
        for frame in &self.frames {
            match &frame.kind {
                Kind::Seq(items) => {
                    let _ = write!(out, "[{}]", items.len());
                }
                Kind::Map(state) => {
                    if let Some(pending) = &state.key {
                        if !out.is_empty() {
                            out.push('.');
                        }
                        out.push_str(&pending.key.name);
                    }
                }
            }
        }
        out
    }

    fn report(&mut self, at: &Location, problem: Problem) {
        let make = if problem.error { Diagnostic::error } else { Diagnostic::warning };
        let mut d = make(Some(at.clone()), self.path(), problem.message);
        d.hint = problem.hint;
        self.diags.push(d);
    }

    fn scalar(&mut self, raw: Cow<'_, str>, style: ScalarStyle, anchor: usize, tag: Option<&Tag>, span: Span) -> Result<(), Fatal> {
        let at = self.location(span.start);
        self.bump(1, &at, false)?;
        let (value, problem) = tags::scalar(&raw, style, tag);
        if let Some(problem) = problem {
            self.report(&at, problem);
        }
        let (value, key_text) = match value {
            None => (Value::Str(raw.into_owned()), None),
            Some(value) => (value, Some(raw.into_owned())),
        };
        let str_tag = tag.is_some_and(|t| tags::classify(&tags::full_name(t)) == TagKind::Str);
        let built = Built { node: Node::new(value, at.clone()), at, count: 1, height: 0, origin: Origin::Scalar, key_text, str_tag };
        self.register(anchor, &built);
        self.attach(built);
        Ok(())
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<(), Fatal> {
        let at = self.location(span.start);
        let Some(anchored) = self.anchors.get(&id) else {
            let name = errors::alias_name(self.text, span.start.index());
            let recursive = self.frames.iter().any(|f| f.anchor == id);
            let message = if recursive {
                format!("alias `*{name}` is used inside the node it refers to, which GitLab cannot load")
            } else {
                format!("alias `*{name}` refers to an anchor of another YAML document")
            };
            let hint = "an alias can only repeat a node anchored (`&name`) earlier in the same document";
            self.report(&at, Problem { error: true, message, hint: Some(hint.into()) });
            let built = Built { node: Node::new(Value::Null, at.clone()), at, count: 1, height: 0, origin: Origin::Alias, key_text: None, str_tag: false };
            self.attach(built);
            return Ok(());
        };
        let (count, height) = (anchored.count, anchored.height);
        // Both limits are checked before the copy is made.
        self.bump(count, &at, true)?;
        if self.frames.len() + height > MAX_DEPTH {
            return Err(self.too_deep(&at));
        }
        if let Some(anchored) = self.anchors.get(&id) {
            let (node, key_text) = (anchored.node.clone(), anchored.key_text.clone());
            self.attach(Built { node, at, count, height, origin: Origin::Alias, key_text, str_tag: false });
        }
        Ok(())
    }

    fn open(&mut self, anchor: usize, tag: Option<&Tag>, span: Span, mapping: bool) -> Result<(), Fatal> {
        let at = self.location(span.start);
        self.bump(1, &at, false)?;
        if self.frames.len() >= MAX_DEPTH {
            return Err(self.too_deep(&at));
        }
        let mut reference = false;
        if let Some(tag) = tag {
            let full = tags::full_name(tag);
            let problem = match tags::classify(&full) {
                TagKind::Reference if !mapping => {
                    reference = true;
                    None
                }
                TagKind::Reference => Some(tags::reference_error("a mapping")),
                TagKind::RubyObject | TagKind::Symbol => Some(tags::ruby_object_error(&full)),
                TagKind::Str if mapping => Some(tags::ruby_object_error(&full)),
                TagKind::Core => None,
                TagKind::Str | TagKind::Float | TagKind::Binary => Some(tags::ignored_tag_warning(&full, mapping)),
                TagKind::Unknown => Some(tags::unknown_tag_warning(&full)),
            };
            if let Some(problem) = problem {
                self.report(&at, problem);
            }
        }
        let kind = if mapping { Kind::Map(MapState::default()) } else { Kind::Seq(Vec::new()) };
        self.frames.push(Frame { location: at, anchor, count: 1, height: 0, reference, kind });
        Ok(())
    }

    fn close(&mut self) -> Result<(), Fatal> {
        let Some(frame) = self.frames.pop() else { return Ok(()) };
        let (value, origin) = match frame.kind {
            Kind::Seq(items) if frame.reference => (self.reference(items, &frame.location), Origin::Sequence),
            Kind::Seq(items) => (Value::Seq(items), Origin::Sequence),
            Kind::Map(state) => (Value::Map(state.map), Origin::Mapping),
        };
        let built = Built {
            node: Node::new(value, frame.location.clone()),
            at: frame.location,
            count: frame.count,
            height: frame.height + 1,
            origin,
            key_text: None,
            str_tag: false,
        };
        self.register(frame.anchor, &built);
        self.attach(built);
        Ok(())
    }

    /// GitLab's `Tags::Reference#valid?`: a non-empty sequence of strings.
    fn reference(&mut self, items: Vec<Node>, at: &Location) -> Value {
        let all_strings = !items.is_empty() && items.iter().all(|n| matches!(n.value, Value::Str(_)));
        if !all_strings {
            let what = if items.is_empty() { "an empty sequence".to_string() } else { "a sequence with non-string items".to_string() };
            self.report(at, tags::reference_error(&what));
            return Value::Null;
        }
        let path = items
            .into_iter()
            .map(|n| match n.value {
                Value::Str(s) => s,
                _ => String::new(),
            })
            .collect();
        Value::Reference(path)
    }

    fn register(&mut self, anchor: usize, built: &Built) {
        if anchor != 0 {
            let anchored = Anchored { node: built.node.clone(), count: built.count, height: built.height, key_text: built.key_text.clone() };
            self.anchors.insert(anchor, anchored);
        }
    }

    /// Puts a finished node into the open collection (or makes it the document root).
    fn attach(&mut self, built: Built) {
        let Some(frame) = self.frames.last_mut() else {
            self.root = Some(built.node);
            return;
        };
        frame.count = frame.count.saturating_add(built.count);
        frame.height = frame.height.max(built.height);
        match &mut frame.kind {
            Kind::Seq(items) => items.push(built.node),
            Kind::Map(state) => match state.key.take() {
                Some(pending) => insert(state, pending, built),
                None => {
                    let (pending, problem) = key(built, state);
                    state.key = Some(pending);
                    if let Some((at, problem)) = problem {
                        self.report(&at, problem);
                    }
                }
            },
        }
    }
}

/// Turns a finished node into a mapping key; reports collections used as keys and keys
/// written twice.
fn key(built: Built, state: &MapState) -> (PendingKey, Option<(Location, Problem)>) {
    let at = built.at;
    let name = match built.node.value {
        Value::Str(s) => s,
        Value::Seq(_) | Value::Map(_) | Value::Reference(_) => {
            let message = format!("a mapping key must be a string, not {}", built.node.type_name());
            let problem = Problem { error: true, message, hint: Some("write the key as plain text".into()) };
            let pending = PendingKey { key: Key { name: String::new(), location: at.clone() }, merge: false, discard: true };
            return (pending, Some((at, problem)));
        }
        other => built.key_text.unwrap_or_else(|| Node::new(other, at.clone()).scalar_to_string().unwrap_or_default()),
    };
    let merge = name == "<<" && !built.str_tag;
    let problem = (!merge && !state.merged_only.contains(&name))
        .then(|| state.map.key(&name))
        .flatten()
        .map(|first| {
            let message = format!("duplicate key `{name}` (first at {}); the last one wins, as in GitLab", first.location);
            let problem = Problem { error: false, message, hint: Some("remove one of the two, or merge them".into()) };
            (at.clone(), problem)
        });
    (PendingKey { key: Key { name, location: at }, merge, discard: false }, problem)
}

/// `hash[key] = value`, or for a merge key Psych's `revive_hash` (`hash.merge!`).
fn insert(state: &mut MapState, pending: PendingKey, built: Built) {
    if pending.discard {
        return;
    }
    let node = if pending.merge {
        match merge_source(built.origin, built.node) {
            Ok(merged) => {
                for (key, value) in merged {
                    if !state.map.contains_key(&key.name) {
                        state.merged_only.insert(key.name.clone());
                    }
                    state.map.insert(key, value);
                }
                return;
            }
            Err(node) => node,
        }
    } else {
        built.node
    };
    if !state.merged_only.is_empty() {
        state.merged_only.remove(&pending.key.name);
    }
    state.map.insert(pending.key, node);
}

/// What a `<<` value merges: a mapping (written or aliased), or a written sequence of
/// mappings where earlier ones win. Anything else (`Err`) stays a literal `<<` key, as
/// when Ruby's `merge!` raises `TypeError`.
fn merge_source(origin: Origin, node: Node) -> Result<Map, Node> {
    match (origin, node.value) {
        (Origin::Alias | Origin::Mapping, Value::Map(map)) => Ok(map),
        (Origin::Sequence, Value::Seq(items)) if items.iter().all(|n| matches!(n.value, Value::Map(_))) => {
            let mut merged = Map::new();
            for item in items.into_iter().rev() {
                if let Value::Map(map) = item.value {
                    for (key, value) in map {
                        merged.insert(key, value);
                    }
                }
            }
            Ok(merged)
        }
        (_, value) => Err(Node { value, location: node.location }),
    }
}
