//! The few JavaScript operations the module needs, each one unable to throw into Rust.
//!
//! Every import that can throw in JavaScript (a getter, a Proxy trap, a storage quota, a
//! missing global) is declared with `catch`, so a hostile or broken page turns into an `Err`
//! here instead of an exception escaping through `reportOrder` into the shop's code.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = set)]
    fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> Result<bool, JsValue>;

    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn object_keys(value: &JsValue) -> Result<js_sys::Array, JsValue>;

    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn array_is_array(value: &JsValue) -> Result<bool, JsValue>;

    /// `String(value)`: for a number, the shortest decimal that round-trips
    /// (`Number.prototype.toString`), which is the literal the core parses.
    #[wasm_bindgen(catch, js_name = String)]
    fn js_string(value: &JsValue) -> Result<String, JsValue>;

    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    fn json_parse(text: &str) -> Result<JsValue, JsValue>;

    /// `globalThis` (every browser since 2019, Node 12+). One accessor, where
    /// `js_sys::global()` probes four names with a lazy cell each.
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL_THIS: JsValue;
}

#[wasm_bindgen(module = "/src/orchestrate.js")]
extern "C" {
    /// `target[key]` when `key` is the target's own property (a getter there still runs),
    /// else `undefined`; never throws.
    #[wasm_bindgen(js_name = osOwn)]
    fn own(target: &JsValue, key: &JsValue) -> JsValue;
}

/// The global object (`window`, `self` or Node's `globalThis`).
pub fn global() -> JsValue {
    GLOBAL_THIS.with(JsValue::clone)
}

/// `target[key]`; `undefined` when `target` is not an object or reading it throws.
pub fn get(target: &JsValue, key: &str) -> JsValue {
    if !target.is_object() && !target.is_function() {
        return JsValue::UNDEFINED;
    }
    reflect_get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `target[key]` when it is `target`'s own property, else `undefined` (also when `target` is
/// not an object or reading it throws). What the page passes (options, checkout, items) is
/// read this way, so a polluted `Object.prototype` cannot supply a relay URL, citrus options
/// or checkout fields the shop never gave.
pub fn get_own(target: &JsValue, key: &str) -> JsValue {
    if !target.is_object() && !target.is_function() {
        return JsValue::UNDEFINED;
    }
    own(target, &JsValue::from_str(key))
}

/// `target[index]` for arrays, own elements only (a hole stays `undefined` even when
/// `Array.prototype` has that index).
pub fn get_index(target: &JsValue, index: u32) -> JsValue {
    own(target, &JsValue::from(index))
}

/// `target[key]` as a string, when it is one.
pub fn get_string(target: &JsValue, key: &str) -> Option<String> {
    get(target, key).as_string()
}

/// `target[key] = value`, ignoring a refusal (frozen object, throwing setter).
pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = reflect_set(target, &JsValue::from_str(key), value);
}

/// A new plain object.
pub fn object() -> JsValue {
    js_sys::Object::new().into()
}

/// The own enumerable string keys of an object; empty when listing them throws.
pub fn keys(value: &JsValue) -> js_sys::Array {
    object_keys(value).unwrap_or_else(|_| js_sys::Array::new())
}

pub fn is_array(value: &JsValue) -> bool {
    array_is_array(value).unwrap_or(false)
}

/// The decimal text of a number or bigint.
pub fn number_text(value: &JsValue) -> String {
    js_string(value).unwrap_or_default()
}

pub fn parse_json(text: &str) -> Option<JsValue> {
    json_parse(text).ok()
}

/// Now as RFC 3339 in UTC with milliseconds (`2026-11-22T11:39:42.123Z`).
pub fn now_rfc3339() -> String {
    String::from(js_sys::Date::new_0().to_iso_string())
}
