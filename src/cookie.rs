//! The `cibler_id` cookie CibleR's tag sets on the shop's domain.

use wasm_bindgen::JsValue;

/// The `cibler_id` cookie's value (URL-decoded, quotes and whitespace trimmed, by the core's
/// [`ordersync_core::cookie::cibler_id`]), or `None`: absent, empty, or no `document` (Node, a
/// worker). `document.cookie` is read with `Reflect.get` rather than web-sys's `HtmlDocument`
/// binding: a page may redefine it with a getter that throws or answers something that is not
/// a string, and both must read as "no cookie".
pub fn read_cibler_id() -> Option<String> {
    let document = web_sys::window()?.document()?;
    let cookie = js_sys::Reflect::get(&document, &JsValue::from_str("cookie")).ok()?;
    ordersync_core::cookie::cibler_id(&cookie.as_string()?)
}
