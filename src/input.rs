//! JavaScript values to the core's loosely typed [`Input`], and [`Input`] back to JSON text.
//!
//! Numbers become their JavaScript string form (the shortest decimal that round-trips), so the
//! core parses money from text and never through a float of ours; `NaN` and `Infinity` become
//! literals the core refuses with a field-named error.

use ordersync_core::checkout::MAX_ITEMS;
use ordersync_core::Input;
use wasm_bindgen::JsValue;

use crate::js;

/// Deep enough for checkout → items → item → value. Anything deeper is the wrong type for any
/// field, so it is kept only as an empty shell of its kind (which also stops reference cycles).
const MAX_DEPTH: u8 = 3;

/// One more entry than the core accepts, so that it can say "too many" rather than us
/// silently cutting an array.
const MAX_ENTRIES: u32 = MAX_ITEMS as u32 + 1;

/// Converts any JavaScript value; never throws, whatever getters or proxies it holds.
pub fn from_js(value: &JsValue) -> Input {
    convert(value, 0)
}

fn convert(value: &JsValue, depth: u8) -> Input {
    if let Some(text) = value.as_string() {
        return Input::String(text);
    }
    if let Some(flag) = value.as_bool() {
        return Input::Bool(flag);
    }
    if value.is_null() || value.is_undefined() {
        return Input::Null;
    }
    if value.as_f64().is_some() || value.is_bigint() {
        return Input::Number(js::number_text(value));
    }
    if value.is_symbol() {
        // Neither absent nor an object: `false` is refused by every field as the wrong type,
        // so the error names the Symbol's own place ("checkout", "items[0]").
        return Input::Bool(false);
    }
    let array = js::is_array(value);
    if depth >= MAX_DEPTH || !(value.is_object() || value.is_function()) {
        // A container too deep to be any checkout field: keep its kind only.
        return if array {
            Input::Array(Vec::new())
        } else {
            Input::Object(Vec::new())
        };
    }
    if array {
        let length = js::get_own(value, "length").as_f64().unwrap_or(0.0);
        let count = (length.max(0.0) as u32).min(MAX_ENTRIES);
        let entries = (0..count)
            .map(|index| convert(&js::get_index(value, index), depth + 1))
            .collect();
        return Input::Array(entries);
    }
    let keys = js::keys(value);
    let count = keys.length().min(MAX_ENTRIES);
    let members = (0..count)
        .filter_map(|index| keys.get(index).as_string())
        .map(|key| {
            let member = convert(&js::get_own(value, &key), depth + 1);
            (key, member)
        })
        .collect();
    Input::Object(members)
}

/// Appends `value` as JSON. Number literals are written as given when they are JSON numbers;
/// anything else (`NaN`, `Infinity`) becomes `null`, which keeps the text valid JSON.
pub fn push_json(out: &mut String, value: &Input) {
    match value {
        Input::Null => out.push_str("null"),
        Input::Bool(true) => out.push_str("true"),
        Input::Bool(false) => out.push_str("false"),
        Input::Number(literal) if is_json_number(literal) => out.push_str(literal),
        Input::Number(_) => out.push_str("null"),
        Input::String(text) => push_json_string(out, text),
        Input::Array(entries) => {
            out.push('[');
            for (position, entry) in entries.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                push_json(out, entry);
            }
            out.push(']');
        }
        Input::Object(members) => {
            out.push('{');
            for (position, (key, member)) in members.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                push_json_string(out, key);
                out.push(':');
                push_json(out, member);
            }
            out.push('}');
        }
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped, so the text
/// holds no raw tab or newline (the storage format relies on that).
pub fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let code = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((code >> shift) & 0xf) as usize] as char);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `-?digits(.digits)?([eE][+-]?digits)?`, loosely: the forms `String(number)` produces.
fn is_json_number(literal: &str) -> bool {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: &Input) -> String {
        let mut out = String::new();
        push_json(&mut out, value);
        out
    }

    #[test]
    fn writes_json_that_round_trips_literals() {
        let value = Input::object([
            ("orderId", Input::num("42")),
            ("totalSpent", Input::num("1e+21")),
            ("bad", Input::num("NaN")),
            ("text", Input::str("a\"b\\c\td\u{1}\u{2028}é")),
            ("list", Input::Array(vec![Input::Null, Input::Bool(true)])),
        ]);
        assert_eq!(
            json(&value),
            r#"{"orderId":42,"totalSpent":1e+21,"bad":null,"text":"a\"b\\c\u0009d\u0001\u2028é","list":[null,true]}"#
        );
    }

    #[test]
    fn refuses_non_numbers_as_numbers() {
        for bad in ["NaN", "Infinity", "-Infinity", "", "-", "e5"] {
            assert!(!is_json_number(bad), "{bad}");
        }
        for good in ["0", "-1.5", "1e-7", "123456789012345680000"] {
            assert!(is_json_number(good), "{good}");
        }
    }
}
