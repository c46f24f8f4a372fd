//! The page's globals the module calls, each behind a binding that catches.
//!
//! A page may replace `fetch`, `setTimeout`, `localStorage`, or hand in Proxies whose traps
//! throw; a JavaScript exception thrown into Rust without `catch` would escape to the page and
//! leave the module's futures half run. web-sys and js-sys bind most calls with `catch` (these
//! are used as they are); the few they bind without it are bound here with it. All are looked up
//! when called, so a page's replacement is what runs, as it would for the page's own code.

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// `fetch(request)`: the page's current `fetch` (gloo-net binds the same global, without
    /// `catch`).
    #[wasm_bindgen(catch, js_name = fetch)]
    fn fetch_global(request: &web_sys::Request) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, js_name = setTimeout)]
    fn set_timeout_global(
        handler: &Function,
        ms: f64,
        argument: &JsValue,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, js_name = clearTimeout)]
    fn clear_timeout_global(id: &JsValue) -> Result<JsValue, JsValue>;

    /// `Object.keys`: js-sys binds it without `catch` (a Proxy's `ownKeys` trap may throw).
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn object_keys(value: &JsValue) -> Result<Array, JsValue>;

    /// `Array.isArray`: throws on a revoked Proxy.
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn array_is_array(value: &JsValue) -> Result<bool, JsValue>;
}

/// `fetch(request)`'s promise; `None` when there is no `fetch`, it throws at once, or it
/// returns something that is not a `Promise`.
pub fn fetch(request: &web_sys::Request) -> Option<js_sys::Promise> {
    fetch_global(request).ok()?.dyn_into().ok()
}

/// Calls `handler(argument)` after `ms`; the timer's id, `None` when `setTimeout` fails.
pub fn set_timeout(handler: &Function, ms: f64, argument: &JsValue) -> Option<JsValue> {
    set_timeout_global(handler, ms, argument).ok()
}

pub fn clear_timeout(id: &JsValue) {
    // Nothing to do when it fails: the timer then fires into a settled promise.
    let _ = clear_timeout_global(id);
}

/// The own enumerable string keys of `value`; empty when they cannot be read.
pub fn own_keys(value: &JsValue) -> Array {
    object_keys(value).unwrap_or_default()
}

pub fn is_array(value: &JsValue) -> bool {
    array_is_array(value).unwrap_or(false)
}

/// `value[key]` when `key` is `value`'s own property (so a getter there runs, once, and a
/// polluted `Object.prototype` supplies nothing), else undefined; undefined too when a getter
/// or a Proxy trap throws, or `value` is not an object.
pub fn own(value: &JsValue, key: &JsValue) -> JsValue {
    if !value.is_object() {
        return JsValue::UNDEFINED;
    }
    match Reflect::get_own_property_descriptor(value.unchecked_ref::<Object>(), key) {
        Ok(descriptor) if !descriptor.is_undefined() => {
            Reflect::get(value, key).unwrap_or(JsValue::UNDEFINED)
        }
        _ => JsValue::UNDEFINED,
    }
}

/// [`own`] with a string key.
pub fn own_str(value: &JsValue, key: &str) -> JsValue {
    own(value, &JsValue::from_str(key))
}

/// `globalThis[name]`, undefined when reading it throws.
pub fn global(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `target[key] = value`, ignoring a failure (only used on objects the module made).
pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// Calls `target[name]()` when it is a function; `None` when it is not, or throws.
pub fn call_method(target: &JsValue, name: &str) -> Option<JsValue> {
    let method = Reflect::get(target, &JsValue::from_str(name)).ok()?;
    method.dyn_ref::<Function>()?.call0(target).ok()
}

/// An object with no prototype: a page's `Object.prototype.toJSON` or polluted keys have no
/// say in what the module builds from it.
pub fn bare_object() -> Object {
    Object::create(JsValue::NULL.unchecked_ref())
}

/// An array with no prototype (`JSON.stringify` still writes it as an array).
pub fn bare_array() -> Array {
    let array = Array::new();
    Object::set_prototype_of(&array, JsValue::NULL.unchecked_ref());
    array
}

/// `JSON.stringify(value)`, `None` when it throws.
pub fn to_json(value: &JsValue) -> Option<String> {
    js_sys::JSON::stringify(value).ok()?.as_string()
}

/// Milliseconds since the epoch, as the page's clock says.
pub fn now_ms() -> u64 {
    // `as` saturates: a clock before 1970 reads as 0.
    js_sys::Date::now() as u64
}

/// The time now as RFC 3339 in UTC with milliseconds (`Date#toISOString`).
pub fn now_iso() -> String {
    js_sys::Date::new_0().to_iso_string().into()
}
