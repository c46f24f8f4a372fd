//! What the page passes as the checkout, read once into plain data, then into the core's
//! [`Input`] by serde-wasm-bindgen.
//!
//! serde-wasm-bindgen reads a JavaScript value as it stands: `Object.entries`, `Reflect.get`
//! and iteration, without `catch`, so a throwing getter or Proxy trap would escape, and a
//! Symbol or a function has no JSON meaning. So the page's value is first copied here, through
//! the catching reads of [`crate::page`], into a plain copy that only holds JSON-like data:
//! own enumerable properties only (`Object.keys`, never the prototype chain, so a polluted
//! `Object.prototype` or `Array.prototype` supplies nothing); arrays by index up to their own
//! `length` (holes are null); a getter run once; a value that cannot be read is absent. The
//! copy is then what serde-wasm-bindgen reads, into the same `Input` the relay reads from JSON
//! text, and what the hand-off sends (`JSON.stringify`), so the relay gets the same data.

use js_sys::{Array, BigInt};
use ordersync_core::input_serde::InputSeed;
use ordersync_core::Input;
use serde::de::DeserializeSeed;
use wasm_bindgen::{JsCast, JsValue};

use crate::page;

/// One entry more than the core takes (`MAX_ITEMS + 1`), so it can say "too many" rather than
/// the copy cutting an array silently; also the most keys read of one object.
const MAX_ENTRIES: u32 = ordersync_core::checkout::MAX_ITEMS as u32 + 1;

/// Deep enough for checkout -> items -> item -> value. A deeper container is the wrong type for
/// any field, so it is kept only as an empty shell of its kind (which also ends cycles).
const MAX_DEPTH: u32 = 3;

/// The plain copy of `value` (see the module docs). A Symbol, a function, NaN or an infinity
/// becomes `false`, which every field refuses as the wrong type (so the error names its own
/// place); a bigint becomes its decimal string (numeric fields take strings). Strings are kept
/// as they are; lone UTF-16 surrogates become U+FFFD as the text crosses into Rust.
pub fn snapshot(value: &JsValue) -> JsValue {
    copy(value, 0)
}

fn copy(value: &JsValue, depth: u32) -> JsValue {
    if value.is_string() || value.is_null() || value.as_bool().is_some() {
        return value.clone();
    }
    if value.is_undefined() {
        return JsValue::NULL;
    }
    if value.is_bigint() {
        let text = value.unchecked_ref::<BigInt>().to_string(10);
        return text.map_or(JsValue::FALSE, JsValue::from);
    }
    if let Some(number) = value.as_f64() {
        return if number.is_finite() {
            value.clone()
        } else {
            JsValue::FALSE
        };
    }
    if !value.is_object() {
        return JsValue::FALSE;
    }
    if page::is_array(value) {
        copy_array(value, depth).into()
    } else {
        copy_object(value, depth).into()
    }
}

fn copy_array(value: &JsValue, depth: u32) -> Array {
    let out = page::bare_array();
    if depth < MAX_DEPTH {
        let length = page::own_str(value, "length").as_f64().unwrap_or(0.0);
        // `as` saturates: NaN and negative lengths read as 0.
        let count = (length as u32).min(MAX_ENTRIES);
        for index in 0..count {
            let key = JsValue::from(index);
            out.set(index, copy(&page::own(value, &key), depth + 1));
        }
    }
    out
}

fn copy_object(value: &JsValue, depth: u32) -> js_sys::Object {
    let out = page::bare_object();
    if depth < MAX_DEPTH {
        for key in page::own_keys(value).iter().take(MAX_ENTRIES as usize) {
            let _ = js_sys::Reflect::set(&out, &key, &copy(&page::own(value, &key), depth + 1));
        }
    }
    out
}

/// The plain copy read into the core's [`Input`] by serde-wasm-bindgen; `Input::Null` if it
/// cannot be read (it always can: the copy holds only JSON-like data).
pub fn to_input(plain: &JsValue) -> Input {
    let seed = InputSeed {
        float_text: number_text,
    };
    seed.deserialize(serde_wasm_bindgen::Deserializer::from(plain.clone()))
        .unwrap_or(Input::Null)
}

/// A number's text as `JSON.stringify` writes it for the relay (the browser's own shortest
/// round-trip form, `1.5`, `1e+21`): the core's money and whole-number parsers read that text,
/// so the browser and the relay read the same value, and no float formatting is linked here.
fn number_text(value: f64) -> String {
    page::to_json(&JsValue::from_f64(value)).unwrap_or_default()
}
