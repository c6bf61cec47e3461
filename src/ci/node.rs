//! The located YAML tree that every later step of the `ci` engine works on.
//!
//! Each [`Node`] carries the [`Location`] it was written at, and keeps it through
//! anchors, merge keys, `!reference`, `extends` and `include`, so an error found late
//! still points at the line the user wrote. Mappings keep insertion order (Ruby's
//! `Hash` order, which GitLab's output follows); a later duplicate key replaces the
//! value in place, as Ruby does.

use indexmap::IndexMap;
use indexmap::map::MutableKeys;

use crate::diagnostic::Location;

/// A YAML value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value starts in its source file.
    pub location: Location,
}

/// A YAML value as GitLab's Ruby loader resolves it (YAML 1.1 scalars).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, `Null`, `NULL` or nothing.
    Null,
    /// `true`/`false`/`yes`/`no`/`on`/`off` in any case (Psych: `y` and `n` stay strings).
    Bool(bool),
    /// Integers, including YAML 1.1 octal (`0755`), hex (`0x1F`) and `_` separators.
    Int(i64),
    /// Floats, including `.inf` and `.nan`.
    Float(f64),
    /// Any other scalar, and every quoted scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping.
    Map(Map),
    /// An unresolved `!reference [job, key, ...]` tag: the path it names.
    Reference(Vec<String>),
}

/// A mapping key with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key as a string (non-string scalar keys keep their source text).
    pub name: String,
    /// Where the key is written.
    pub location: Location,
}

/// An ordered mapping from string keys to nodes.
#[derive(Debug, Clone, Default)]
pub struct Map {
    // foldhash rather than the default SipHash: hashing key names was ~8% of planning a
    // large pipeline. The hasher never affects order (IndexMap keeps insertion order), and
    // foldhash's per-process random seed keeps some resistance to crafted collisions.
    entries: IndexMap<MapKey, Node, foldhash::fast::RandomState>,
}

/// A [`Key`] as the index of a [`Map`]: hashed and compared by name only, so a lookup by
/// `&str` finds it and the name is stored once (a second copy of every key name was a
/// large share of the allocations of a big configuration).
#[derive(Debug, Clone)]
struct MapKey(Key);

impl PartialEq for MapKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for MapKey {}

impl std::hash::Hash for MapKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Must hash as `str` does, for `Borrow<str>` lookups.
        self.0.name.as_str().hash(state);
    }
}

impl std::borrow::Borrow<str> for MapKey {
    fn borrow(&self) -> &str {
        &self.0.name
    }
}

/// Equal when both have the same keys (with the same locations) and values, in any order.
impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.entries.iter().all(|(key, value)| {
                other.entries.get_key_value(key.0.name.as_str()).is_some_and(|(k, v)| k.0 == key.0 && v == value)
            })
    }
}

impl Map {
    /// An empty mapping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `key: value`. An existing key keeps its position and takes the new key
    /// location and value (Ruby `Hash#[]=`); the previous entry is returned.
    pub fn insert(&mut self, key: Key, value: Node) -> Option<(Key, Node)> {
        match self.entries.get_full_mut2(key.name.as_str()) {
            Some((_, old_key, old_value)) => {
                let old_key = std::mem::replace(&mut old_key.0, key);
                Some((old_key, std::mem::replace(old_value, value)))
            }
            None => {
                self.entries.insert(MapKey(key), value);
                None
            }
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.entries.get(name)
    }

    /// The value of `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.entries.get_mut(name)
    }

    /// The key entry of `name` (with its location).
    pub fn key(&self, name: &str) -> Option<&Key> {
        self.entries.get_key_value(name).map(|(k, _)| &k.0)
    }

    /// Removes `name`, keeping the order of the other entries.
    pub fn remove(&mut self, name: &str) -> Option<(Key, Node)> {
        self.entries.shift_remove_entry(name).map(|(k, v)| (k.0, v))
    }

    /// Whether `name` is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Node)> {
        self.entries.iter().map(|(k, v)| (&k.0, v))
    }

    /// Entries in order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Key, &mut Node)> {
        self.entries.iter_mut().map(|(k, v)| (&k.0, v))
    }

    /// Key names in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(|k| k.0.name.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl IntoIterator for Map {
    type Item = (Key, Node);
    type IntoIter = IntoIter;

    fn into_iter(self) -> Self::IntoIter {
        IntoIter(self.entries.into_iter())
    }
}

/// The entries of a [`Map`], in order, by value.
pub struct IntoIter(indexmap::map::IntoIter<MapKey, Node>);

impl Iterator for IntoIter {
    type Item = (Key, Node);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.0, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl Node {
    /// A node with `value` at `location`.
    pub fn new(value: Value, location: Location) -> Self {
        Self { value, location }
    }

    /// The mapping, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The mapping, mutably, if this is one.
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence, if this is one.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The string, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match &self.value {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// A scalar as the string GitLab would see after Ruby's `to_s` (`true`, `3`, `1.5`,
    /// `""` for null); `None` for sequences, mappings and references.
    pub fn scalar_to_string(&self) -> Option<String> {
        match &self.value {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(ruby_float_to_s(*f)),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) | Value::Reference(_) => None,
        }
    }

    /// A short name of the node's type for error messages (`a string`, `a mapping`, …).
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
            Value::Reference(_) => "a !reference tag",
        }
    }

    /// Converts to JSON (for `--json` output and tests); references print as
    /// `{"!reference": [...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(map) => J::Object(map.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect()),
            Value::Reference(path) => serde_json::json!({ "!reference": path }),
        }
    }
}

/// Ruby's `Float#to_s`: `1.0`, `1.5`, `Infinity`, `NaN`.
fn ruby_float_to_s(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32) -> Location {
        Location::new("f.yml", line, 1)
    }

    #[test]
    fn duplicate_key_keeps_position_and_takes_new_value() {
        let mut m = Map::new();
        m.insert(Key { name: "a".into(), location: at(1) }, Node::new(Value::Int(1), at(1)));
        m.insert(Key { name: "b".into(), location: at(2) }, Node::new(Value::Int(2), at(2)));
        let old = m.insert(Key { name: "a".into(), location: at(3) }, Node::new(Value::Int(3), at(3)));
        assert_eq!(old.unwrap().0.location.line, 1);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.get("a").unwrap().as_int(), Some(3));
        assert_eq!(m.key("a").unwrap().location.line, 3);
    }

    #[test]
    fn scalars_print_as_ruby_does() {
        assert_eq!(Node::new(Value::Float(1.0), at(1)).scalar_to_string().unwrap(), "1.0");
        assert_eq!(Node::new(Value::Bool(true), at(1)).scalar_to_string().unwrap(), "true");
        assert_eq!(Node::new(Value::Null, at(1)).scalar_to_string().unwrap(), "");
    }
}
