//! Names of environments and apps: they come from file and directory names of the config
//! repo, appear in URLs, commit messages and commands, so they are kept simple.

use std::fmt;

use crate::ci::node::Node;
use crate::diagnostic::{Diagnostic, Diagnostics};

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub(super) String);

        impl $name {
            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// `name` when it is a valid name, or why not.
            ///
            /// # Errors
            /// The reason, one sentence.
            pub fn parse(name: &str) -> Result<Self, String> {
                name_problem(name).map_or_else(|| Ok(Self(name.to_owned())), Err)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// An environment's name: the file name of `environments/<env>.yaml`.
    EnvName
);
name_type!(
    /// An app's name: the directory name of `apps/<app>/`.
    AppName
);

/// Why `name` is not a valid environment or app name, or `None`.
pub fn name_problem(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!valid).then(|| {
        format!("`{name}` is not a valid name: use 1 to 63 lowercase letters, digits and `-`, not starting or ending with `-`")
    })
}

/// Checks the name a file gives its environment or app; reports a bad one at the file.
pub(super) fn read_name(root: &Node, name: &str, what: &str, diags: &mut Diagnostics) -> Option<String> {
    match name_problem(name) {
        None => Some(name.to_owned()),
        Some(problem) => {
            let hint = format!("rename the {what}'s file or directory");
            diags.push(Diagnostic::error(Some(root.location.clone()), "", problem).with_hint(hint));
            None
        }
    }
}
