//! `extends:`: a top-level entry (job, hidden job, `default`-like template) inherits the
//! configuration of one or more other top-level entries.
//!
//! GitLab's semantics (`lib/gitlab/ci/config/extendable/entry.rb`): parents are resolved
//! first (recursively), deep-merged in the order listed (later parents over earlier ones),
//! then the entry's own keys are deep-merged over them: mappings merge key by key, sequences
//! and scalars are replaced whole. A parent must exist and be a mapping; a chain may be at
//! most 11 `extends` deep (GitLab: more than 10 ancestors above an entry that itself
//! extends is "nesting too deep"); cycles are errors. This module only rewrites the
//! top-level mapping; it knows nothing about job keywords.

use indexmap::{IndexMap, IndexSet};

use super::merge::deep_merge;
use super::node::{Map, Node, Value};
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};

/// The longest `extends` chain GitLab accepts, counted in `extends` steps from the entry
/// being resolved (`job` → `.a` is one step).
pub const MAX_EXTENDS_DEPTH: usize = 11;

/// Resolves every `extends:` in the top-level mapping `config`: each entry that extends
/// others becomes the deep merge of its parents (in order) and itself, without the `extends`
/// key. Non-mapping `config` is left alone (the caller reports it).
///
/// # Errors
/// Pushed to `diags`, located at the `extends` value (or the offending element of it): a
/// value that is not a string or a sequence of strings, an unknown parent (with a
/// did-you-mean hint), a parent that is not a mapping, a cycle (with its path) and a chain
/// deeper than [`MAX_EXTENDS_DEPTH`]. Entries involved in an error keep their own keys only.
pub fn resolve(config: &mut Node, diags: &mut Diagnostics) {
    let Some(map) = config.as_map() else { return };
    let graph = Graph::build(map, diags);
    if graph.parents.is_empty() {
        return;
    }
    let broken = graph.find_cycles(diags);
    let mut resolver = Resolver { graph: &graph, map, merged: IndexMap::new(), broken, heights: IndexMap::new() };
    let names: Vec<String> = graph.parents.keys().cloned().collect();
    for name in &names {
        if resolver.height(name) > MAX_EXTENDS_DEPTH {
            report_too_deep(&mut resolver, name, diags);
        }
    }
    // An entry that no other entry extends is merged in place (its own keys moved, not
    // copied): on large pipelines that is almost every job, and copying each one twice
    // (once to merge, once to memoize) dominated this step.
    let extended: IndexSet<&str> = graph.parents.values().flatten().map(String::as_str).collect();
    let mut results = Vec::new();
    for name in &names {
        let outcome = if extended.contains(name.as_str()) {
            Outcome::Merged(resolver.merged(name))
        } else if resolver.excluded(name) {
            Outcome::Merged(None)
        } else {
            Outcome::OverParents(resolver.parents_base(name))
        };
        results.push((name.clone(), outcome));
    }
    let Some(map) = config.as_map_mut() else { return };
    for (name, outcome) in results {
        let Some(slot) = map.get_mut(&name) else { continue };
        match outcome {
            Outcome::Merged(Some(node)) => *slot = node,
            Outcome::OverParents(Some(base)) => {
                let own = std::mem::replace(slot, Node::new(Value::Null, slot.location.clone()));
                *slot = over(own, base);
            }
            Outcome::Merged(None) | Outcome::OverParents(None) => {
                if let Some(own) = slot.as_map_mut() {
                    own.remove("extends");
                }
            }
        }
    }
}

/// What [`resolve`] puts in an entry's place.
enum Outcome {
    /// The fully merged entry; `None` when it cannot be merged because of an error.
    Merged(Option<Node>),
    /// The merge of the entry's parents (`Some(None)` when it has none), to merge the entry's
    /// own keys over; `None` when a parent cannot be merged.
    OverParents(Option<Option<Node>>),
}

/// The `extends` edges of the top-level mapping, validated.
struct Graph {
    /// Entry name → its valid parents (names of existing mapping entries), in order. Only
    /// entries with an `extends` key appear.
    parents: IndexMap<String, Vec<String>>,
    /// Entries whose `extends` value had an error: they are not merged.
    invalid: Vec<String>,
    /// Entry name → its `extends` value node, for error locations.
    values: IndexMap<String, Node>,
}

impl Graph {
    fn build(map: &Map, diags: &mut Diagnostics) -> Graph {
        let mut graph = Graph { parents: IndexMap::new(), invalid: Vec::new(), values: IndexMap::new() };
        for (key, node) in map.iter() {
            let Some(value) = node.as_map().and_then(|m| m.get("extends")) else { continue };
            let name = &key.name;
            let path = format!("{name}.extends");
            graph.values.insert(name.clone(), value.clone());
            let mut parents = Vec::new();
            let mut ok = true;
            for (parent, at) in parent_names(value, &path, diags, &mut ok) {
                match map.get(&parent) {
                    None => {
                        ok = false;
                        let mut d = Diagnostic::error(Some(at.location.clone()), &path, format!("`{parent}` does not exist"));
                        d = match did_you_mean(&parent, map.keys().filter(|k| *k != name)) {
                            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                            None => d.with_hint("`extends` names top-level keys (jobs or hidden `.templates`) of the configuration"),
                        };
                        diags.push(d);
                    }
                    Some(p) if p.as_map().is_none() => {
                        ok = false;
                        diags.push(Diagnostic::error(
                            Some(at.location.clone()),
                            &path,
                            format!("`{parent}` is {}, but only a mapping can be extended", p.type_name()),
                        ));
                    }
                    Some(_) => parents.push(parent),
                }
            }
            if !ok {
                graph.invalid.push(name.clone());
            }
            graph.parents.insert(name.clone(), parents);
        }
        graph
    }

    /// Reports every cycle once (with its path) and returns the entries on cycles.
    fn find_cycles(&self, diags: &mut Diagnostics) -> Vec<String> {
        let mut state: IndexMap<&str, u8> = IndexMap::new(); // 1 = on stack, 2 = done
        let mut on_cycle = Vec::new();
        for start in self.parents.keys() {
            let mut stack: Vec<&str> = Vec::new();
            self.visit(start, &mut state, &mut stack, &mut on_cycle, diags);
        }
        on_cycle
    }

    fn visit<'g>(
        &'g self,
        name: &'g str,
        state: &mut IndexMap<&'g str, u8>,
        stack: &mut Vec<&'g str>,
        on_cycle: &mut Vec<String>,
        diags: &mut Diagnostics,
    ) {
        match state.get(name) {
            Some(2) => return,
            Some(_) => {
                let start = stack.iter().position(|n| *n == name).unwrap_or(0);
                let mut path: Vec<&str> = stack[start..].to_vec();
                path.push(name);
                let closing = stack.last().copied().unwrap_or(name);
                let location = self.values.get(closing).map(|v| v.location.clone());
                let chain = path.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" -> ");
                diags.push(
                    Diagnostic::error(location, format!("{closing}.extends"), format!("circular dependency detected in `extends`: {chain}"))
                        .with_hint("remove one of the `extends` entries of this chain"),
                );
                on_cycle.extend(stack[start..].iter().map(|n| (*n).to_owned()));
                return;
            }
            None => {}
        }
        state.insert(name, 1);
        stack.push(name);
        if let Some(parents) = self.parents.get(name) {
            for parent in parents {
                self.visit(parent, state, stack, on_cycle, diags);
            }
        }
        stack.pop();
        state.insert(name, 2);
    }
}

/// The parent names of an `extends` value with the node each came from.
fn parent_names<'n>(value: &'n Node, path: &str, diags: &mut Diagnostics, ok: &mut bool) -> Vec<(String, &'n Node)> {
    let bad = |diags: &mut Diagnostics, at: &Node| {
        diags.push(
            Diagnostic::error(Some(at.location.clone()), path, format!("`extends` must be a string or a sequence of strings, not {}", at.type_name()))
                .with_hint("write `extends: .template` or `extends: [.a, .b]`"),
        );
    };
    match &value.value {
        Value::Str(s) => vec![(s.clone(), value)],
        Value::Seq(items) => {
            let mut names = Vec::new();
            for item in items {
                match &item.value {
                    Value::Str(s) => names.push((s.clone(), item)),
                    _ => {
                        *ok = false;
                        bad(diags, item);
                    }
                }
            }
            names
        }
        _ => {
            *ok = false;
            bad(diags, value);
            Vec::new()
        }
    }
}

/// Merges entries, memoized; `None` for entries that cannot be merged because of an error.
struct Resolver<'a> {
    graph: &'a Graph,
    map: &'a Map,
    merged: IndexMap<String, Option<Node>>,
    broken: Vec<String>,
    heights: IndexMap<String, usize>,
}

impl<'a> Resolver<'a> {
    /// The valid parents of `name`, borrowed from the graph (not from `self`, which the
    /// callers mutate while they iterate).
    fn parents_of(&self, name: &str) -> &'a [String] {
        let graph: &'a Graph = self.graph;
        graph.parents.get(name).map_or(&[], Vec::as_slice)
    }

    /// The number of `extends` steps of the longest chain starting at `name` (cycles cut).
    fn height(&mut self, name: &str) -> usize {
        if let Some(h) = self.heights.get(name) {
            return *h;
        }
        self.heights.insert(name.to_owned(), 0); // cuts cycles, which are reported elsewhere
        let h = self.parents_of(name).iter().map(|p| 1 + self.height(p)).max().unwrap_or(0);
        self.heights.insert(name.to_owned(), h);
        h
    }

    /// The deepest chain from `name`, as names.
    fn deepest_chain(&mut self, name: &str) -> Vec<String> {
        let mut chain = vec![name.to_owned()];
        let mut current = name.to_owned();
        while let Some(parents) = self.graph.parents.get(&current).cloned() {
            let Some(next) = parents.iter().max_by_key(|p| self.height(p)).cloned() else { break };
            if chain.contains(&next) {
                break;
            }
            chain.push(next.clone());
            current = next;
        }
        chain
    }

    /// Whether `name`'s `extends` had an error, is on a cycle or is too deep: it is not merged.
    fn excluded(&mut self, name: &str) -> bool {
        self.graph.invalid.iter().any(|n| n == name)
            || self.broken.iter().any(|n| n == name)
            || self.height(name) > MAX_EXTENDS_DEPTH
    }

    fn merged(&mut self, name: &str) -> Option<Node> {
        if let Some(done) = self.merged.get(name) {
            return done.clone();
        }
        self.merged.insert(name.to_owned(), None); // cycles resolve to None
        let own = self.map.get(name)?.clone();
        let result = if !self.graph.parents.contains_key(name) {
            Some(own)
        } else if self.excluded(name) {
            None
        } else {
            self.parents_base(name).map(|base| over(own, base))
        };
        self.merged.insert(name.to_owned(), result.clone());
        result
    }

    /// The deep merge of `name`'s parents, in order (`Some(None)` when it has none); `None`
    /// when one of them cannot be merged.
    fn parents_base(&mut self, name: &str) -> Option<Option<Node>> {
        let mut base: Option<Node> = None;
        for parent in self.parents_of(name) {
            let resolved = self.merged(parent)?;
            match &mut base {
                None => base = Some(resolved),
                Some(b) => deep_merge(b, resolved),
            }
        }
        Some(base)
    }
}

/// An entry's own keys (without `extends`) deep-merged over the merge of its parents.
fn over(mut own: Node, base: Option<Node>) -> Node {
    if let Some(m) = own.as_map_mut() {
        m.remove("extends");
    }
    let Some(mut base) = base else { return own };
    // The merged entry is located where the entry itself is written.
    let location = own.location.clone();
    deep_merge(&mut base, own);
    base.location = location;
    base
}

fn report_too_deep(resolver: &mut Resolver<'_>, name: &str, diags: &mut Diagnostics) {
    let chain = resolver.deepest_chain(name);
    let location = resolver.graph.values.get(name).map(|v| v.location.clone());
    let shown = chain.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" -> ");
    diags.push(
        Diagnostic::error(
            location,
            format!("{name}.extends"),
            format!("nesting too deep in `extends`: {shown} is {} levels deep, at most {MAX_EXTENDS_DEPTH} are allowed", chain.len() - 1),
        )
        .with_hint("flatten the chain by extending several templates in one `extends: [...]` list"),
    );
}



#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::yaml;
    use serde_json::json;

    fn run(text: &str) -> (serde_json::Value, Diagnostics) {
        let mut config = yaml::load("t.yml", text).expect("valid YAML").config;
        let mut diags = Diagnostics::new();
        resolve(&mut config, &mut diags);
        (config.to_json(), diags)
    }

    fn messages(diags: &Diagnostics) -> Vec<String> {
        diags.0.iter().map(|d| format!("{}: {}", d.key_path, d.message)).collect()
    }

    #[test]
    fn multi_level_with_hashes_merged_and_arrays_replaced() {
        let (out, diags) = run("
.base:
  image: ruby
  variables: {A: '1', B: '1'}
  script: [base]
.mid:
  extends: .base
  variables: {B: '2'}
  tags: [x]
job:
  extends: .mid
  variables: {C: '3'}
  script: [own]
");
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(
            out["job"],
            json!({"image": "ruby", "variables": {"A": "1", "B": "2", "C": "3"}, "script": ["own"], "tags": ["x"]})
        );
        assert_eq!(out[".mid"], json!({"image": "ruby", "variables": {"A": "1", "B": "2"}, "script": ["base"], "tags": ["x"]}));
    }

    #[test]
    fn later_parents_override_earlier_ones() {
        let (out, diags) = run("
.a: {script: [a], variables: {X: a, Y: a}}
.b: {script: [b], variables: {X: b}}
job:
  extends: [.a, .b]
  stage: build
");
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(out["job"], json!({"script": ["b"], "variables": {"X": "b", "Y": "a"}, "stage": "build"}));
    }

    #[test]
    fn cycle_is_reported_with_its_path_once() {
        let (out, diags) = run("
a: {extends: b, script: [a]}
b: {extends: c}
c: {extends: a}
d: {extends: a}
");
        assert_eq!(messages(&diags), ["c.extends: circular dependency detected in `extends`: `a` -> `b` -> `c` -> `a`"]);
        assert_eq!(diags.0[0].location.as_ref().map(|l| l.line), Some(4));
        assert_eq!(out["a"], json!({"script": ["a"]}));
    }

    #[test]
    fn unknown_parent_suggests_a_close_name() {
        let (_, diags) = run("
.base:
  script: [x]
job:
  extends:
    - .bsae
");
        assert_eq!(messages(&diags), ["job.extends: `.bsae` does not exist"]);
        assert_eq!(diags.0[0].hint.as_deref(), Some("did you mean `.base`?"));
        let at = diags.0[0].location.as_ref().map(|l| (l.line, l.column));
        assert_eq!(at, Some((6, 7)), "located at the `.bsae` element");
    }

    #[test]
    fn parent_must_be_a_mapping_and_value_a_string_list() {
        let (_, diags) = run("
.s: text
job: {extends: .s}
other: {extends: 3}
");
        assert_eq!(
            messages(&diags),
            [
                "job.extends: `.s` is a string, but only a mapping can be extended",
                "other.extends: `extends` must be a string or a sequence of strings, not an integer",
            ]
        );
    }

    fn chain(levels: usize) -> String {
        let mut text = "job:\n  extends: .p1\n".to_owned();
        for i in 1..levels {
            text.push_str(&format!(".p{i}:\n  extends: .p{}\n", i + 1));
        }
        text.push_str(&format!(".p{levels}:\n  script: [deep]\n"));
        text
    }

    #[test]
    fn eleven_levels_are_allowed_twelve_are_not() {
        let (out, diags) = run(&chain(11));
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(out["job"], json!({"script": ["deep"]}));
        let (_, diags) = run(&chain(12));
        assert_eq!(diags.0.len(), 1, "{diags}");
        assert_eq!(diags.0[0].key_path, "job.extends");
        assert!(diags.0[0].message.starts_with("nesting too deep in `extends`: `job` -> `.p1`"), "{diags}");
        assert!(diags.0[0].message.ends_with("is 12 levels deep, at most 11 are allowed"), "{diags}");
    }

    #[test]
    fn closest_ignores_far_names() {
        assert_eq!(crate::diagnostic::did_you_mean("build", ["test", "deploy"]), None);
        assert_eq!(crate::diagnostic::did_you_mean("biuld", ["test", "build"]), Some("build"));
    }
}
