//! A loosely typed value, the boundary between what callers hand us and the typed checkout.
//!
//! Every number keeps its literal decimal text, so money is never read through a binary float.
//! The relay reads JSON text into it ([`crate::input_json`], through `wire::input_from_json`);
//! the browser module reads a signed checkout's claims with the same reader, and a plain
//! checkout from the page's JavaScript value through serde-wasm-bindgen
//! ([`crate::input_serde`]). All then go through the same validation in [`crate::checkout`].

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Null,
    Bool(bool),
    /// A number, as its literal decimal text (`"150.0"`, `"3"`, `"1e2"`).
    Number(String),
    String(String),
    Array(Vec<Input>),
    /// Members in the order given; the first of duplicated keys wins on lookup.
    Object(Vec<(String, Input)>),
}

impl Input {
    /// The member `key` of an object, `None` when absent or when `self` is not an object.
    pub fn get(&self, key: &str) -> Option<&Input> {
        match self {
            Input::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Convenience for tests and callers building inputs by hand.
    pub fn object<K: Into<String>>(members: impl IntoIterator<Item = (K, Input)>) -> Input {
        Input::Object(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(s: &str) -> Input {
        Input::String(s.to_owned())
    }

    pub fn num(literal: &str) -> Input {
        Input::Number(literal.to_owned())
    }
}
