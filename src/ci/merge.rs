//! GitLab's deep merge, used by `include` (included files first, the including file over
//! them) and `extends` (parents first, the job over them): mappings merge key by key,
//! everything else (sequences, scalars) is replaced whole by the overriding side.

use super::node::{Node, Value};

/// Merges `over` into `base`: for keys present in both where both values are mappings, merge
/// recursively; otherwise `over`'s value replaces `base`'s. Keys keep `base`'s order, new keys
/// from `over` are appended (Ruby's `Hash#deep_merge`).
pub fn deep_merge(base: &mut Node, over: Node) {
    match (&mut base.value, over.value) {
        (Value::Map(base_map), Value::Map(over_map)) => {
            for (key, value) in over_map {
                match base_map.get_mut(&key.name) {
                    Some(existing) if existing.as_map().is_some() && value.as_map().is_some() => {
                        deep_merge(existing, value);
                    }
                    _ => {
                        base_map.insert(key, value);
                    }
                }
            }
        }
        (_, value) => {
            base.value = value;
            base.location = over.location;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::node::{Key, Map};
    use crate::diagnostic::Location;

    fn loc() -> Location {
        Location::new("t.yml", 1, 1)
    }

    fn map(entries: Vec<(&str, Node)>) -> Node {
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(Key { name: k.into(), location: loc() }, v);
        }
        Node::new(Value::Map(m), loc())
    }

    fn s(v: &str) -> Node {
        Node::new(Value::Str(v.into()), loc())
    }

    #[test]
    fn hashes_merge_arrays_replace() {
        let mut base = map(vec![
            ("variables", map(vec![("A", s("1")), ("B", s("2"))])),
            ("script", Node::new(Value::Seq(vec![s("a"), s("b")]), loc())),
        ]);
        let over = map(vec![
            ("variables", map(vec![("B", s("3")), ("C", s("4"))])),
            ("script", Node::new(Value::Seq(vec![s("c")]), loc())),
        ]);
        deep_merge(&mut base, over);
        assert_eq!(
            base.to_json(),
            serde_json::json!({"variables": {"A": "1", "B": "3", "C": "4"}, "script": ["c"]})
        );
    }
}
