//! JSON text to [`Input`] with serde_json: the independent reader that the hand-written one
//! ([`crate::input_json`], which the relay and the browser module read with) is proptested
//! (`tests/input_json.rs`) and fuzzed (`fuzz_targets/input_json.rs`) against. Built on serde_json's
//! `RawValue`, so every number keeps its literal text and members keep their order and
//! duplicates, as the hand-written reader does.

use serde_json::value::RawValue;

use super::checkout_json::MAX_JSON_DEPTH;
use crate::input::Input;

/// Parses JSON text into an [`Input`] with serde_json, numbers kept as their literal text.
/// Nesting deeper than [`MAX_JSON_DEPTH`] is refused: each level is re-parsed from its raw
/// text, so serde_json's own recursion limit does not apply across levels, and the limit also
/// bounds the re-parsing (at most this many passes over any byte of the text).
pub fn input_from_serde_json(text: &str) -> Result<Input, serde_json::Error> {
    let raw: &RawValue = serde_json::from_str(text)?;
    input_from_raw(raw, 0)
}

fn input_from_raw(raw: &RawValue, depth: usize) -> Result<Input, serde_json::Error> {
    let text = raw.get();
    let nested = matches!(text.as_bytes().first(), Some(b'{' | b'['));
    if nested && depth >= MAX_JSON_DEPTH {
        return Err(serde::de::Error::custom("JSON nested too deeply"));
    }
    Ok(match text.as_bytes().first() {
        Some(b'{') => {
            // Pairs, not a map: members keep their order and duplicates stay visible, so
            // validation can refuse an ambiguous checkout instead of silently picking one.
            let members: Vec<(String, &RawValue)> = serde_json::from_str::<MemberList<'_>>(text)?.0;
            Input::Object(
                members
                    .into_iter()
                    .map(|(k, v)| input_from_raw(v, depth + 1).map(|v| (k, v)))
                    .collect::<Result<_, _>>()?,
            )
        }
        Some(b'[') => {
            let elements: Vec<&RawValue> = serde_json::from_str(text)?;
            Input::Array(
                elements
                    .into_iter()
                    .map(|v| input_from_raw(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Some(b'"') => Input::String(serde_json::from_str(text)?),
        Some(b't' | b'f') => Input::Bool(serde_json::from_str(text)?),
        Some(b'n') => Input::Null,
        _ => Input::Number(text.to_owned()),
    })
}

/// Object members in document order, borrowing each value's raw text.
struct MemberList<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for MemberList<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = MemberList<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(MemberList(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}
