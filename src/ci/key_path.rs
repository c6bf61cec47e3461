//! Key paths such as `build.rules[0].if`, built only when a message needs one.
//!
//! The steps that walk a whole configuration tree (`!reference`, inputs interpolation) must
//! know the key path of every node in case it holds an error, but almost none does:
//! formatting a `String` per node cost more than the walk itself (measured on the 2,000-job
//! bench). A [`KeyPath`] is a chain of borrowed steps on the walker's stack that renders to
//! exactly the text the `format!`s it replaces produced.

use std::fmt;

/// A key path, rendered on demand by [`fmt::Display`].
#[derive(Debug, Clone, Copy)]
pub enum KeyPath<'a> {
    /// A path given as text; empty for the root of a file.
    Text(&'a str),
    /// `parent.key`, or just `key` when the parent renders empty.
    Key(&'a KeyPath<'a>, &'a str),
    /// `parent[index]` (also when the parent renders empty: `[0]`).
    Index(&'a KeyPath<'a>, usize),
}

impl<'a> KeyPath<'a> {
    /// The root of a file: renders empty.
    pub const ROOT: KeyPath<'static> = KeyPath::Text("");

    /// The path of `name` under this one.
    pub fn key(&'a self, name: &'a str) -> KeyPath<'a> {
        KeyPath::Key(self, name)
    }

    /// The path of item `index` under this one.
    pub fn index(&'a self, index: usize) -> KeyPath<'a> {
        KeyPath::Index(self, index)
    }

    /// Whether the path renders as the empty string.
    pub fn is_empty(&self) -> bool {
        match self {
            KeyPath::Text(text) => text.is_empty(),
            KeyPath::Key(parent, name) => parent.is_empty() && name.is_empty(),
            KeyPath::Index(..) => false,
        }
    }
}

impl fmt::Display for KeyPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPath::Text(text) => f.write_str(text),
            KeyPath::Key(parent, name) if parent.is_empty() => f.write_str(name),
            KeyPath::Key(parent, name) => write!(f, "{parent}.{name}"),
            KeyPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KeyPath;

    #[test]
    fn renders_as_the_dotted_and_indexed_path() {
        let root = KeyPath::ROOT;
        let job = root.key("build");
        let rules = job.key("rules");
        let first = rules.index(0);
        assert_eq!(first.key("if").to_string(), "build.rules[0].if");
        assert_eq!(root.index(2).to_string(), "[2]");
        let empty_key = root.key("");
        assert!(empty_key.is_empty());
        assert_eq!(empty_key.key("a").to_string(), "a");
        assert_eq!(KeyPath::Text("include[1]").key("inputs").to_string(), "include[1].inputs");
    }
}
