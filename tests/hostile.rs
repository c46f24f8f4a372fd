//! The module under hostile options, in real browsers (headless Chromium and Firefox, through
//! `scripts/test-browser.sh`): table-driven, over 150 malformed option objects and page
//! states fed to `reportOrder`, `thirdOUrl` and `flushQueue`.
//!
//! Each case builds its input in JavaScript (wrong types everywhere, missing / null / undefined
//! fields, throwing getters, Proxies, frozen objects, huge strings, cycles, Symbols, BigInt,
//! functions, polluted prototypes, tokens that are not JWS, relay URLs that are not URLs, a
//! replaced `fetch` or `localStorage`), calls the module through a JavaScript `try`/`await`
//! (so a throw, a trap or a rejection is caught and reported per case, not as the first
//! failure), and checks:
//! - `reportOrder` and `flushQueue` return a promise that resolves (never throw, never reject),
//!   `thirdOUrl` returns an object (never throws);
//! - the result has the documented shape, and where the input is an option or checkout
//!   problem, `error.field` (or `pixel.field`) names exactly that field, with a message;
//! - where the input is acceptable after all, the relay status is the one expected;
//! - the page saw no uncaught error and no unhandled rejection (`error` and
//!   `unhandledrejection` listeners on `window`), checked after every case and once more after
//!   a pause at the end.
//!
//! Every expectation is exact, so every case can fail. The cases run one after the other
//! against the local test server (`tests/support/test-server.mjs`); all traffic is loopback.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// What `reportOrder` must resolve to.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Refused before anything was sent: `error.field` is this, relay and pixel `skipped`.
    Refused(&'static str),
    /// Sent: no `error`, the relay status is this, the third-o URL could be built.
    Sent(&'static str),
    /// Sent, but the `citrus` options were refused: relay status, and `pixel.field`.
    PixelRefused(&'static str, &'static str),
    /// Sent, with no `citrus` options at all (`thirdOUrl` then refuses `citrus`).
    NoPixel(&'static str),
}

/// What `thirdOUrl` must return, derived from [`Want`] unless a case overrides it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum WantUrl {
    Url,
    Error(&'static str),
}

impl Want {
    fn third_o(self) -> WantUrl {
        match self {
            // The relay URL is not `thirdOUrl`'s business.
            Want::Refused("relayUrl") => WantUrl::Url,
            Want::Refused(field) => WantUrl::Error(field),
            Want::Sent(_) => WantUrl::Url,
            Want::PixelRefused(_, field) => WantUrl::Error(field),
            Want::NoPixel(_) => WantUrl::Error("citrus"),
        }
    }
}

struct Case {
    name: &'static str,
    /// A JavaScript function body returning the options; `id` is a fresh order id and `H`
    /// the helpers of [`PRELUDE`].
    options: &'static str,
    report: Want,
    third_o: WantUrl,
}

fn case(name: &'static str, options: &'static str, report: Want) -> Case {
    let report = report.in_the_browser();
    Case {
        name,
        options,
        report,
        third_o: report.third_o(),
    }
}

/// Checkout fields the browser module does not read (the relay validates them and answers 400
/// naming the field; the test server here accepts every hand-off). Plus, in effect, every key
/// the checkout does not have: unknown keys are the relay's to refuse too.
const LEFT_TO_THE_RELAY: [&str; 12] = [
    "email",
    "country",
    "totalSpent",
    "taxes",
    "shippingCost",
    "giftCode",
    "discountAmount",
    "totalOrderItemPriceAfterDiscounts",
    "citrusDiscountAmount",
    "substitutedFor",
    "sellerId",
    "catalogId",
];

/// Names the browser reads or refuses itself: the options, and the checkout fields the relay
/// hand-off and the third-o request are built from.
const READ_BY_THE_BROWSER: [&str; 14] = [
    "options",
    "token",
    "checkout",
    "relayUrl",
    "citrus",
    "orderId",
    "orderDate",
    "customerGuid",
    "customerId",
    "sessionId",
    "items",
    "gtin",
    "quantity",
    "regularUnitPrice",
];

impl Want {
    /// The browser validates only the fields it reads: a checkout refused for another field
    /// (or an unknown key) is handed to the relay instead, and this test server accepts it.
    fn in_the_browser(self) -> Want {
        let Want::Refused(field) = self else {
            return self;
        };
        let name = match field.split_once("].") {
            Some((_, name)) => name,
            None if field.starts_with("items[") => return self,
            None => field,
        };
        let name = name.split('.').next().unwrap_or(name);
        if LEFT_TO_THE_RELAY.contains(&name) || !READ_BY_THE_BROWSER.contains(&name) {
            Want::Sent("accepted")
        } else {
            self
        }
    }
}

/// Helpers the cases use, installed once on `window.__hostile`: valid options to start from,
/// a path setter, token building, the error listeners, and `probe`, which calls the module and
/// catches whatever comes out of it.
const PRELUDE: &str = r#"
if (window.__hostile) return window.__hostile;
const H = {};
H.errors = [];
window.addEventListener('error', (e) => H.errors.push('error: ' + (e.message || e.error)));
window.addEventListener('unhandledrejection', (e) => H.errors.push('unhandledrejection: ' + String(e.reason)));
H.checkout = (id) => ({
  orderId: id, orderDate: '2026-11-22T10:00:00Z', email: 'ann@example.com', country: 'FR',
  customerGuid: 'guid-1', sessionId: 'sess-1', totalSpent: '10.00', taxes: '2.00', shippingCost: 0,
  items: [
    { gtin: 'G0', quantity: 1, regularUnitPrice: '1.50', totalOrderItemPriceAfterDiscounts: '1.50' },
    { gtin: 'G1', quantity: 2, regularUnitPrice: '2.50', totalOrderItemPriceAfterDiscounts: 5 },
  ],
});
H.citrus = () => ({ baseUrl: H.server + '/citrus', publishableKey: 'pk', teamId: 't', catalogId: 'c', frontend: 'never' });
H.opts = (id) => ({ relayUrl: H.relay, checkout: H.checkout(id), citrus: H.citrus() });
// Sets (or, with H.DELETE, deletes) `path` ("checkout.items.0.quantity") in `o`; returns `o`.
H.DELETE = Symbol('delete');
H.set = (o, path, value) => {
  const keys = path.split('.');
  const last = keys.pop();
  const parent = keys.reduce((v, k) => v[k], o);
  if (value === H.DELETE) delete parent[last]; else parent[last] = value;
  return o;
};
H.b64 = (text) => btoa(unescape(encodeURIComponent(text))).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
H.header = H.b64('{"alg":"HS256","typ":"JWT"}');
H.token = (payloadText) => H.header + '.' + H.b64(payloadText) + '.c2lnbmF0dXJl';
H.claims = (id) => JSON.stringify(Object.assign({ exp: 4102444800 }, H.checkout(id)));
H.withToken = (id, token) => ({ relayUrl: H.relay, token, citrus: H.citrus() });
H.tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms || 0));
H.probe = async (call, options, isPromise) => {
  let value;
  try {
    value = call(options);
  } catch (e) {
    return { threw: String(e) };
  }
  if (!isPromise) return { ok: value };
  if (!(value instanceof Promise)) return { notPromise: String(value) };
  // The module gives up on a request after 10 s; a promise still pending after 15 s never
  // resolves as far as the page is concerned.
  const late = H.tick(15000).then(() => ({ neverResolved: 'still pending after 15 s' }));
  return Promise.race([value.then((ok) => ({ ok }), (e) => ({ rejected: String(e) })), late]);
};
window.__hostile = H;
return H;
"#;

fn harness() -> JsValue {
    let helpers = run_js(PRELUDE);
    js_sys::Reflect::set(&helpers, &"server".into(), &server().into()).unwrap();
    js_sys::Reflect::set(&helpers, &"relay".into(), &relay("ok").into()).unwrap();
    js_sys::Reflect::set(&helpers, &"down".into(), &DOWN_RELAY.into()).unwrap();
    helpers
}

/// Builds a case's input: runs its body with `id` and `H` in scope.
fn build(source: &str, id: &str, helpers: &JsValue) -> Result<JsValue, String> {
    let function = js_sys::Function::new_with_args("id, H", source);
    function
        .call2(&JsValue::UNDEFINED, &JsValue::from_str(id), helpers)
        .map_err(|e| format!("building the input threw: {}", describe(&e)))
}

fn describe(value: &JsValue) -> String {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .filter(|s| s != "{}")
        .or_else(|| value.dyn_ref::<js_sys::JsString>().map(String::from))
        .unwrap_or_else(|| format!("{value:?}"))
}

/// The module's three entry points as JavaScript functions, so `probe` can catch a throw.
fn entry_points() -> (JsValue, JsValue, JsValue) {
    let report = Closure::<dyn Fn(JsValue) -> JsValue>::new(|options| {
        JsValue::from(ordersync::report_order(options))
    });
    let third_o = Closure::<dyn Fn(JsValue) -> JsValue>::new(ordersync::third_o_url);
    let flush =
        Closure::<dyn Fn(JsValue) -> JsValue>::new(|_| JsValue::from(ordersync::flush_queue()));
    (
        report.into_js_value(),
        third_o.into_js_value(),
        flush.into_js_value(),
    )
}

/// Calls `entry` with `input` through `H.probe`: `Ok(value)`, or `Err` saying how it escaped.
async fn probe(
    helpers: &JsValue,
    entry: &JsValue,
    input: &JsValue,
    is_promise: bool,
) -> Result<JsValue, String> {
    let probe: js_sys::Function = at(helpers, "probe").into();
    let promise = probe
        .call3(helpers, entry, input, &JsValue::from(is_promise))
        .map_err(|e| format!("probe threw: {}", describe(&e)))?;
    let outcome = JsFuture::from(js_sys::Promise::from(promise))
        .await
        .map_err(|e| format!("probe rejected: {}", describe(&e)))?;
    for escape in ["threw", "rejected", "notPromise", "neverResolved"] {
        let value = at(&outcome, escape);
        if !value.is_undefined() {
            return Err(format!("{escape}: {}", describe(&value)));
        }
    }
    Ok(at(&outcome, "ok"))
}

/// Uncaught errors and unhandled rejections since the last call (and forgets them).
async fn uncaught(helpers: &JsValue, wait_ms: u32) -> Vec<String> {
    let tick: js_sys::Function = at(helpers, "tick").into();
    let pause = tick.call1(helpers, &JsValue::from(wait_ms)).unwrap();
    JsFuture::from(js_sys::Promise::from(pause)).await.unwrap();
    let errors = js_sys::Array::from(&at(helpers, "errors"));
    let seen = errors.iter().map(|e| describe(&e)).collect();
    errors.set_length(0);
    seen
}

fn check_field_error(value: &JsValue, path: &str, field: &str) -> Result<(), String> {
    let got = text(value, &format!("{path}.field"));
    if got != field {
        return Err(format!("{path}.field is {got:?}, want {field:?}"));
    }
    let message = text(value, &format!("{path}.message"));
    if message.is_empty() || message == "<undefined>" {
        return Err(format!("{path}.message is missing"));
    }
    Ok(())
}

fn check_report(report: &JsValue, want: Want) -> Result<(), String> {
    if !report.is_object() {
        return Err(format!("not an object: {}", describe(report)));
    }
    for channel in ["relay", "pixel"] {
        if !at(report, &format!("{channel}.status")).is_string() {
            return Err(format!("{channel}.status is not a string"));
        }
    }
    let relay = text(report, "relay.status");
    let pixel = text(report, "pixel.status");
    let pixel_field = text(report, "pixel.field");
    let has_error = !at(report, "error").is_undefined();
    match want {
        Want::Refused(field) => {
            check_field_error(report, "error", field)?;
            if relay != "skipped" || pixel != "skipped" {
                return Err(format!("relay {relay:?} / pixel {pixel:?}, want skipped"));
            }
        }
        Want::Sent(status) | Want::PixelRefused(status, _) | Want::NoPixel(status) => {
            if has_error {
                return Err(format!(
                    "unexpected error {}",
                    describe(&at(report, "error"))
                ));
            }
            if relay != status {
                return Err(format!(
                    "relay.status {relay:?} ({}), want {status:?}",
                    text(report, "relay.reason")
                ));
            }
            let want_pixel_field = match want {
                Want::PixelRefused(_, field) => field,
                _ => "<undefined>",
            };
            if pixel_field != want_pixel_field {
                return Err(format!(
                    "pixel.field {pixel_field:?} ({}), want {want_pixel_field:?}",
                    text(report, "pixel.reason")
                ));
            }
            if let Want::NoPixel(_) = want {
                if !at(report, "pixel.url").is_undefined() {
                    return Err(format!(
                        "a pixel was built without citrus options: {}",
                        describe(report)
                    ));
                }
            }
            if let Want::Sent(_) = want {
                // Policy "never": built, not sent.
                if !text(report, "pixel.url").contains("/v1/resource/third-o?") {
                    return Err(format!("no pixel.url: {}", describe(report)));
                }
            }
        }
    }
    Ok(())
}

fn check_third_o(result: &JsValue, want: WantUrl) -> Result<(), String> {
    if !result.is_object() {
        return Err(format!("not an object: {}", describe(result)));
    }
    match want {
        WantUrl::Url => {
            let url = text(result, "url");
            if !url.contains("/citrus/v1/resource/third-o?") || !at(result, "error").is_undefined()
            {
                return Err(format!("want a url, got {}", describe(result)));
            }
            Ok(())
        }
        WantUrl::Error(field) => {
            if !at(result, "url").is_undefined() {
                return Err(format!("want error {field:?}, got {}", describe(result)));
            }
            check_field_error(result, "error", field)
        }
    }
}

/// Runs every case through `reportOrder` and `thirdOUrl`; returns one line per failure.
async fn run_options_cases(cases: &[Case]) -> Vec<String> {
    let helpers = harness();
    let (report_order, third_o_url, _) = entry_points();
    let mut failures = Vec::new();
    uncaught(&helpers, 0).await;
    for (index, case) in cases.iter().enumerate() {
        run_js("localStorage.clear();");
        let id = order_id(&"h".repeat(index % 7 + 1));
        let mut fail = |what: &str, why: String| {
            failures.push(format!("#{index} {} [{what}]: {why}", case.name))
        };

        match build(case.options, &id, &helpers) {
            Err(why) => fail("setup", why),
            Ok(options) => match probe(&helpers, &report_order, &options, true).await {
                Err(why) => fail("reportOrder", why),
                Ok(report) => {
                    if let Err(why) = check_report(&report, case.report) {
                        fail("reportOrder", format!("{why}; report {}", show(&report)));
                    }
                }
            },
        }
        match build(case.options, &id, &helpers) {
            Err(why) => fail("setup", why),
            Ok(options) => match probe(&helpers, &third_o_url, &options, false).await {
                Err(why) => fail("thirdOUrl", why),
                Ok(result) => {
                    if let Err(why) = check_third_o(&result, case.third_o) {
                        fail("thirdOUrl", why);
                    }
                }
            },
        }
        for error in uncaught(&helpers, 0).await {
            fail("page", format!("uncaught: {error}"));
        }
    }
    for error in uncaught(&helpers, 500).await {
        failures.push(format!("after all cases, uncaught: {error}"));
    }
    run_js("localStorage.clear();");
    failures
}

fn assert_no_failures(total: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failures over {total} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The options object itself: wrong types, proxies, getters, frozen or null-prototype objects.
fn options_cases() -> Vec<Case> {
    use Want::*;
    vec![
        case("options undefined", "return undefined;", Refused("options")),
        case("options null", "return null;", Refused("options")),
        case("options number", "return 42;", Refused("options")),
        case("options NaN", "return NaN;", Refused("options")),
        case("options string", "return 'relayUrl=/x';", Refused("options")),
        case("options JSON text", "return JSON.stringify(H.opts(id));", Refused("options")),
        case("options boolean", "return true;", Refused("options")),
        case("options Symbol", "return Symbol('options');", Refused("options")),
        case("options BigInt", "return 10n;", Refused("options")),
        case("options function", "return function () {};", Refused("options")),
        case("options class", "return class Options {};", Refused("options")),
        case("options empty array", "return [];", Refused("checkout")),
        case("options empty object", "return {};", Refused("checkout")),
        case("options a Date", "return new Date();", Refused("checkout")),
        case("options a Map of the fields", "return new Map(Object.entries(H.opts(id)));", Refused("checkout")),
        case("options a Promise of them", "return Promise.resolve(H.opts(id));", Refused("checkout")),
        case("options with a null prototype", "return Object.assign(Object.create(null), H.opts(id));", Sent("accepted")),
        case("options frozen deep", "const o = H.opts(id); Object.freeze(o.checkout.items[0]); Object.freeze(o.checkout.items); Object.freeze(o.checkout); Object.freeze(o.citrus); return Object.freeze(o);", Sent("accepted")),
        case("options sealed", "return Object.seal(H.opts(id));", Sent("accepted")),
        case("options non-extensible", "return Object.preventExtensions(H.opts(id));", Sent("accepted")),
        case("options with unknown extra keys", "return Object.assign(H.opts(id), { debug: true, onError() { throw 1; } });", Sent("accepted")),
        // Own properties only (a polluted Object.prototype must not supply options).
        case("options inherited from a prototype", "return Object.create(H.opts(id));", Refused("checkout")),
        case("options Proxy whose get throws", "return new Proxy(H.opts(id), { get() { throw new Error('get trap'); } });", Refused("checkout")),
        case("options Proxy with every trap throwing", "const t = () => { throw new Error('trap'); }; return new Proxy({}, { get: t, has: t, ownKeys: t, getOwnPropertyDescriptor: t, getPrototypeOf: t });", Refused("checkout")),
        case("options revoked Proxy", "const p = Proxy.revocable(H.opts(id), {}); p.revoke(); return p.proxy;", Refused("checkout")),
        case("options transparent Proxy", "return new Proxy(H.opts(id), {});", Sent("accepted")),
        case("options getter for checkout throws", "const o = H.opts(id); Object.defineProperty(o, 'checkout', { get() { throw new TypeError('nope'); } }); return o;", Refused("checkout")),
        case("options getter for relayUrl throws", "const o = H.opts(id); Object.defineProperty(o, 'relayUrl', { get() { throw new Error('nope'); } }); return o;", Refused("relayUrl")),
        case("options getter for citrus throws", "const o = H.opts(id); Object.defineProperty(o, 'citrus', { get() { throw new Error('nope'); } }); return o;", NoPixel("accepted")),
        case("options getter for token throws (checkout given)", "const o = H.opts(id); Object.defineProperty(o, 'token', { get() { throw new Error('nope'); } }); return o;", Sent("accepted")),
    ]
}

/// The signed checkout: tokens that are not JWS, and JWS with garbage payloads.
fn token_cases() -> Vec<Case> {
    use Want::*;
    vec![
        case("token valid", "return H.withToken(id, H.token(H.claims(id)));", Sent("accepted")),
        case("token number", "return H.withToken(id, 7);", Refused("token")),
        case("token boolean", "return H.withToken(id, true);", Refused("token")),
        case("token object", "return H.withToken(id, { toString() { return H.token(H.claims(id)); } });", Refused("token")),
        case("token String object", "return H.withToken(id, new String(H.token(H.claims(id))));", Refused("token")),
        case("token Symbol", "return H.withToken(id, Symbol('t'));", Refused("token")),
        case("token BigInt", "return H.withToken(id, 12345678901234567890n);", Refused("token")),
        case("token array of segments", "return H.withToken(id, H.token(H.claims(id)).split('.'));", Refused("token")),
        case("token empty string", "return H.withToken(id, '');", Refused("token")),
        case("token not a JWS", "return H.withToken(id, 'not-a-jws');", Refused("token")),
        case("token two segments", "return H.withToken(id, H.header + '.' + H.b64(H.claims(id)));", Refused("token")),
        case("token four segments", "return H.withToken(id, H.token(H.claims(id)) + '.x');", Refused("token")),
        case("token empty header", "return H.withToken(id, '.' + H.b64(H.claims(id)) + '.sig');", Refused("token")),
        case("token padded base64", "return H.withToken(id, H.header + '.' + btoa(H.claims(id)) + '.sig');", Refused("token")),
        case("token standard-alphabet base64", "return H.withToken(id, H.header + '.' + H.b64(H.claims(id)).replace(/-/g, '+').replace(/_/g, '/') + '+/.sig');", Refused("token")),
        case("token whitespace inside", "const t = H.token(H.claims(id)); return H.withToken(id, t.slice(0, 40) + ' ' + t.slice(40));", Refused("token")),
        case("token payload not JSON", "return H.withToken(id, H.token('orderId=1'));", Refused("token")),
        case("token payload truncated JSON", "return H.withToken(id, H.token(H.claims(id).slice(0, -1)));", Refused("token")),
        case("token payload invalid UTF-8", "return H.withToken(id, H.header + '._w.sig');", Refused("token")),
        case("token payload a JSON array", "return H.withToken(id, H.token('[1,2]'));", Refused("checkout")),
        case("token payload a JSON string", "return H.withToken(id, H.token('\"checkout\"'));", Refused("checkout")),
        case("token payload JSON null", "return H.withToken(id, H.token('null'));", Refused("checkout")),
        case("token payload empty object", "return H.withToken(id, H.token('{}'));", Refused("orderId")),
        case("token payload with __proto__ key", "return H.withToken(id, H.token(H.claims(id).replace('{', '{\"__proto__\":{\"relayUrl\":\"x\"},')));", Refused("__proto__")),
        case("token payload with a duplicated key", "return H.withToken(id, H.token(H.claims(id).replace('{', '{\"email\":\"eve@example.com\",')));", Sent("accepted")),
        // The payload is read by the core's JSON reader, with the relay's limit (32 levels), so
        // a token the relay would refuse as invalid JSON is refused here, naming the token.
        case("token payload 2,000 levels deep", "return H.withToken(id, H.token(H.claims(id).replace('\"country\":\"FR\"', '\"country\":' + '['.repeat(2000) + ']'.repeat(2000))));", Refused("token")),
        case("token payload with an unknown claim", "return H.withToken(id, H.token(H.claims(id).replace('{', '{\"admin\":true,')));", Refused("admin")),
        case("token 4 MB", "return H.withToken(id, H.header + '.' + 'A'.repeat(4 << 20) + '.sig');", Refused("token")),
        case("token and checkout both", "return Object.assign(H.opts(id), { token: H.token(H.claims(id)) });", Refused("token")),
        case("token null, checkout given", "return Object.assign(H.opts(id), { token: null });", Sent("accepted")),
    ]
}

/// The plain checkout and its line items: every field with the wrong type or value.
fn checkout_cases() -> Vec<Case> {
    use Want::*;
    vec![
        case("checkout number", "return H.set(H.opts(id), 'checkout', 5);", Refused("checkout")),
        case("checkout string", "return H.set(H.opts(id), 'checkout', JSON.stringify(H.checkout(id)));", Refused("checkout")),
        case("checkout array", "return H.set(H.opts(id), 'checkout', [H.checkout(id)]);", Refused("checkout")),
        case("checkout boolean", "return H.set(H.opts(id), 'checkout', true);", Refused("checkout")),
        case("checkout BigInt", "return H.set(H.opts(id), 'checkout', 5n);", Refused("checkout")),
        // A function is no JSON value: the snapshot makes it `false`, the wrong type for the
        // checkout (it used to be read as an object without fields, refused for its orderId).
        case("checkout function", "return H.set(H.opts(id), 'checkout', () => H.checkout(id));", Refused("checkout")),
        case("checkout with a null prototype", "return H.set(H.opts(id), 'checkout', Object.assign(Object.create(null), H.checkout(id)));", Sent("accepted")),
        case("checkout fields only on its prototype", "return H.set(H.opts(id), 'checkout', Object.create(H.checkout(id)));", Refused("orderId")),
        case("checkout class instance", "class C { constructor() { Object.assign(this, H.checkout(id)); } get total() { throw 1; } } return H.set(H.opts(id), 'checkout', new C());", Sent("accepted")),
        case("checkout Proxy whose ownKeys throws", "return H.set(H.opts(id), 'checkout', new Proxy(H.checkout(id), { ownKeys() { throw new Error('trap'); } }));", Refused("orderId")),
        case("checkout Proxy whose get throws", "return H.set(H.opts(id), 'checkout', new Proxy(H.checkout(id), { get() { throw new Error('trap'); } }));", Refused("orderId")),
        case("checkout revoked Proxy", "const p = Proxy.revocable(H.checkout(id), {}); p.revoke(); return H.set(H.opts(id), 'checkout', p.proxy);", Refused("orderId")),
        case("checkout getter for email throws", "const o = H.opts(id); Object.defineProperty(o.checkout, 'email', { enumerable: true, get() { throw new Error('nope'); } }); return o;", Refused("email")),
        case("checkout cyclic through a new key", "const o = H.opts(id); o.checkout.self = o.checkout; return o;", Refused("self")),
        case("checkout cyclic through an item", "const o = H.opts(id); o.checkout.items[1] = o.checkout; return o;", Refused("items[1].gtin")),
        case("checkout items containing themselves", "const o = H.opts(id); o.checkout.items.push(o.checkout.items); return o;", Refused("items[2]")),
        case("checkout polluted key via JSON.parse", "return H.set(H.opts(id), 'checkout', JSON.parse(JSON.stringify(H.checkout(id)).replace('{', '{\"__proto__\":{\"x\":1},')));", Refused("__proto__")),
        case("checkout symbol-keyed extra", "const o = H.opts(id); o.checkout[Symbol('x')] = 1; return o;", Sent("accepted")),
        case("checkout non-enumerable orderId", "const o = H.opts(id); Object.defineProperty(o.checkout, 'orderId', { value: id, enumerable: false }); return o;", Refused("orderId")),
        case("orderId missing", "return H.set(H.opts(id), 'checkout.orderId', H.DELETE);", Refused("orderId")),
        case("orderId undefined", "return H.set(H.opts(id), 'checkout.orderId', undefined);", Refused("orderId")),
        case("orderId null", "return H.set(H.opts(id), 'checkout.orderId', null);", Refused("orderId")),
        case("orderId boolean", "return H.set(H.opts(id), 'checkout.orderId', true);", Refused("orderId")),
        case("orderId object", "return H.set(H.opts(id), 'checkout.orderId', { id });", Refused("orderId")),
        case("orderId array", "return H.set(H.opts(id), 'checkout.orderId', [id]);", Refused("orderId")),
        case("orderId Symbol", "return H.set(H.opts(id), 'checkout.orderId', Symbol(id));", Refused("orderId")),
        // A Symbol is neither an object nor "absent": named as the value that is the wrong type.
        case("checkout Symbol", "return H.set(H.opts(id), 'checkout', Symbol('c'));", Refused("checkout")),
        case("item a Symbol", "return H.set(H.opts(id), 'checkout.items.0', Symbol('i'));", Refused("items[0]")),
        case("orderId function", "return H.set(H.opts(id), 'checkout.orderId', () => id);", Refused("orderId")),
        case("orderId NaN", "return H.set(H.opts(id), 'checkout.orderId', NaN);", Refused("orderId")),
        case("orderId Infinity", "return H.set(H.opts(id), 'checkout.orderId', Infinity);", Refused("orderId")),
        case("orderId negative", "return H.set(H.opts(id), 'checkout.orderId', -5);", Refused("orderId")),
        case("orderId fractional", "return H.set(H.opts(id), 'checkout.orderId', 1.5);", Refused("orderId")),
        case("orderId past 2^53", "return H.set(H.opts(id), 'checkout.orderId', 2 ** 60);", Refused("orderId")),
        // A bigint is read as its decimal string (exact, and every numeric field takes strings),
        // so this order id is the string "18446744073709551616", as if the page had passed it
        // so (it used to be read as a JSON number past 2^53 and refused).
        case("orderId BigInt past 2^53", "return H.set(H.opts(id), 'checkout.orderId', 2n ** 64n);", Sent("accepted")),
        case("orderId BigInt", "return H.set(H.opts(id), 'checkout.orderId', BigInt(id.slice(-12)));", Sent("accepted")),
        case("orderId number", "return H.set(H.opts(id), 'checkout.orderId', Number(id.slice(-12)));", Sent("accepted")),
        case("orderId empty", "return H.set(H.opts(id), 'checkout.orderId', '');", Refused("orderId")),
        case("orderId blank", "return H.set(H.opts(id), 'checkout.orderId', ' \\t ');", Refused("orderId")),
        case("orderId 1 MB", "return H.set(H.opts(id), 'checkout.orderId', '9'.repeat(1 << 20));", Refused("orderId")),
        case("orderId with a NUL", "return H.set(H.opts(id), 'checkout.orderId', id + '\\u0000');", Refused("orderId")),
        case("orderId with a newline", "return H.set(H.opts(id), 'checkout.orderId', id + '\\n1');", Refused("orderId")),
        case("orderId lone surrogate", "return H.set(H.opts(id), 'checkout.orderId', id + '\\ud800');", Sent("accepted")),
        case("orderDate not RFC 3339", "return H.set(H.opts(id), 'checkout.orderDate', '22/11/2026');", Refused("orderDate")),
        case("orderDate a Date object", "return H.set(H.opts(id), 'checkout.orderDate', new Date());", Refused("orderDate")),
        case("orderDate a number", "return H.set(H.opts(id), 'checkout.orderDate', Date.now());", Refused("orderDate")),
        case("orderDate without offset", "return H.set(H.opts(id), 'checkout.orderDate', '2026-11-22T10:00:00');", Refused("orderDate")),
        case("orderDate null (defaults to now)", "return H.set(H.opts(id), 'checkout.orderDate', null);", Sent("accepted")),
        case("email number", "return H.set(H.opts(id), 'checkout.email', 5);", Refused("email")),
        case("email without @", "return H.set(H.opts(id), 'checkout.email', 'ann.example.com');", Refused("email")),
        case("email with two @", "return H.set(H.opts(id), 'checkout.email', 'a@b@c');", Refused("email")),
        case("email with a space", "return H.set(H.opts(id), 'checkout.email', 'ann @example.com');", Refused("email")),
        case("email 5 MB", "return H.set(H.opts(id), 'checkout.email', 'a'.repeat(5 << 20) + '@example.com');", Refused("email")),
        case("email array", "return H.set(H.opts(id), 'checkout.email', ['ann@example.com']);", Refused("email")),
        case("country missing", "return H.set(H.opts(id), 'checkout.country', H.DELETE);", Refused("country")),
        case("country object", "return H.set(H.opts(id), 'checkout.country', { code: 'FR' });", Refused("country")),
        case("customerGuid null", "return H.set(H.opts(id), 'checkout.customerGuid', null);", Refused("customerGuid")),
        case("customerGuid number", "return H.set(H.opts(id), 'checkout.customerGuid', 7);", Refused("customerGuid")),
        case("customerId number", "return H.set(H.opts(id), 'checkout.customerId', 7);", Refused("customerId")),
        case("customerId undefined (optional)", "return H.set(H.opts(id), 'checkout.customerId', undefined);", Sent("accepted")),
        case("sessionId boolean", "return H.set(H.opts(id), 'checkout.sessionId', false);", Refused("sessionId")),
        case("sessionId control character", "return H.set(H.opts(id), 'checkout.sessionId', 's\\u0007');", Refused("sessionId")),
        case("totalSpent NaN", "return H.set(H.opts(id), 'checkout.totalSpent', NaN);", Refused("totalSpent")),
        case("totalSpent Infinity", "return H.set(H.opts(id), 'checkout.totalSpent', Infinity);", Refused("totalSpent")),
        case("totalSpent -Infinity", "return H.set(H.opts(id), 'checkout.totalSpent', -Infinity);", Refused("totalSpent")),
        case("totalSpent negative", "return H.set(H.opts(id), 'checkout.totalSpent', -1);", Refused("totalSpent")),
        case("totalSpent three decimals", "return H.set(H.opts(id), 'checkout.totalSpent', '10.001');", Refused("totalSpent")),
        case("totalSpent float noise", "return H.set(H.opts(id), 'checkout.totalSpent', 0.1 + 0.2);", Refused("totalSpent")),
        case("totalSpent 1e21", "return H.set(H.opts(id), 'checkout.totalSpent', 1e21);", Refused("totalSpent")),
        case("totalSpent hex string", "return H.set(H.opts(id), 'checkout.totalSpent', '0x10');", Refused("totalSpent")),
        case("totalSpent comma decimal", "return H.set(H.opts(id), 'checkout.totalSpent', '10,00');", Refused("totalSpent")),
        case("totalSpent object with valueOf", "return H.set(H.opts(id), 'checkout.totalSpent', { valueOf() { return 10; } });", Refused("totalSpent")),
        case("totalSpent throwing toPrimitive", "return H.set(H.opts(id), 'checkout.totalSpent', { [Symbol.toPrimitive]() { throw new Error('no'); } });", Refused("totalSpent")),
        case("totalSpent Number object", "return H.set(H.opts(id), 'checkout.totalSpent', new Number(10));", Refused("totalSpent")),
        case("totalSpent BigInt", "return H.set(H.opts(id), 'checkout.totalSpent', 10n);", Sent("accepted")),
        case("taxes missing", "return H.set(H.opts(id), 'checkout.taxes', H.DELETE);", Refused("taxes")),
        case("taxes empty string", "return H.set(H.opts(id), 'checkout.taxes', '');", Refused("taxes")),
        case("shippingCost boolean", "return H.set(H.opts(id), 'checkout.shippingCost', false);", Refused("shippingCost")),
        case("shippingCost array", "return H.set(H.opts(id), 'checkout.shippingCost', [0]);", Refused("shippingCost")),
        case("discountAmount string word", "return H.set(H.opts(id), 'checkout.discountAmount', 'ten');", Refused("discountAmount")),
        case("giftCode number", "return H.set(H.opts(id), 'checkout.giftCode', 1234);", Refused("giftCode")),
        case("giftCode 300 characters", "return H.set(H.opts(id), 'checkout.giftCode', 'G'.repeat(300));", Refused("giftCode")),
        case("items an object", "return H.set(H.opts(id), 'checkout.items', { 0: H.checkout(id).items[0], length: 1 });", Refused("items")),
        case("items a string", "return H.set(H.opts(id), 'checkout.items', 'G0,G1');", Refused("items")),
        case("items a number", "return H.set(H.opts(id), 'checkout.items', 2);", Refused("items")),
        case("items a typed array", "return H.set(H.opts(id), 'checkout.items', new Uint8Array(3));", Refused("items")),
        // Valid for CibleR (a bonus-code activation), not for CitrusAd.
        case("items empty", "return H.set(H.opts(id), 'checkout.items', []);", PixelRefused("accepted", "items")),
        case("items 10,000 entries", "const o = H.opts(id); o.checkout.items = Array.from({ length: 10000 }, () => o.checkout.items[0]); return o;", Refused("items")),
        case("items length 2^32-1, sparse", "const o = H.opts(id); o.checkout.items.length = 2 ** 32 - 1; return o;", Refused("items")),
        case("items with a hole", "const o = H.opts(id); o.checkout.items = [, o.checkout.items[0]]; return o;", Refused("items[0]")),
        case("item null", "return H.set(H.opts(id), 'checkout.items.1', null);", Refused("items[1]")),
        case("item a string", "return H.set(H.opts(id), 'checkout.items.1', 'G1');", Refused("items[1]")),
        case("item an array", "return H.set(H.opts(id), 'checkout.items.0', ['G0', 1]);", Refused("items[0]")),
        case("item Proxy whose get throws", "const o = H.opts(id); o.checkout.items[1] = new Proxy(o.checkout.items[1], { get() { throw 1; } }); return o;", Refused("items[1].gtin")),
        case("item getter for quantity throws", "const o = H.opts(id); Object.defineProperty(o.checkout.items[1], 'quantity', { enumerable: true, get() { throw 1; } }); return o;", Refused("items[1].quantity")),
        case("item unknown key", "return H.set(H.opts(id), 'checkout.items.1.price', 2.5);", Refused("items[1].price")),
        case("item gtin missing", "return H.set(H.opts(id), 'checkout.items.1.gtin', H.DELETE);", Refused("items[1].gtin")),
        case("item gtin number", "return H.set(H.opts(id), 'checkout.items.0.gtin', 3017620422003);", Refused("items[0].gtin")),
        case("item quantity zero", "return H.set(H.opts(id), 'checkout.items.1.quantity', 0);", Refused("items[1].quantity")),
        case("item quantity minus zero", "return H.set(H.opts(id), 'checkout.items.1.quantity', -0);", Refused("items[1].quantity")),
        case("item quantity negative", "return H.set(H.opts(id), 'checkout.items.1.quantity', -2);", Refused("items[1].quantity")),
        case("item quantity fractional", "return H.set(H.opts(id), 'checkout.items.1.quantity', 1.5);", Refused("items[1].quantity")),
        case("item quantity NaN", "return H.set(H.opts(id), 'checkout.items.1.quantity', NaN);", Refused("items[1].quantity")),
        case("item quantity huge", "return H.set(H.opts(id), 'checkout.items.1.quantity', 1e300);", Refused("items[1].quantity")),
        case("item quantity boolean", "return H.set(H.opts(id), 'checkout.items.1.quantity', true);", Refused("items[1].quantity")),
        case("item quantity digit string (valid)", "return H.set(H.opts(id), 'checkout.items.1.quantity', '2');", Sent("accepted")),
        case("item regularUnitPrice null", "return H.set(H.opts(id), 'checkout.items.0.regularUnitPrice', null);", Refused("items[0].regularUnitPrice")),
        case("item regularUnitPrice object", "return H.set(H.opts(id), 'checkout.items.0.regularUnitPrice', { amount: 1.5 });", Refused("items[0].regularUnitPrice")),
        case("item total negative", "return H.set(H.opts(id), 'checkout.items.1.totalOrderItemPriceAfterDiscounts', '-5');", Refused("items[1].totalOrderItemPriceAfterDiscounts")),
        case("item citrusDiscountAmount word", "return H.set(H.opts(id), 'checkout.items.1.citrusDiscountAmount', 'free');", Refused("items[1].citrusDiscountAmount")),
        case("item sellerId number", "return H.set(H.opts(id), 'checkout.items.1.sellerId', 42);", Refused("items[1].sellerId")),
        case("item catalogId blank", "return H.set(H.opts(id), 'checkout.items.1.catalogId', '   ');", Refused("items[1].catalogId")),
        case("item substitutedFor array", "return H.set(H.opts(id), 'checkout.items.1.substitutedFor', ['G0']);", Refused("items[1].substitutedFor")),
    ]
}

/// `relayUrl`: missing, wrong types, and strings that are not URLs.
fn relay_url_cases() -> Vec<Case> {
    use Want::*;
    vec![
        case(
            "relayUrl missing",
            "return H.set(H.opts(id), 'relayUrl', H.DELETE);",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl null",
            "return H.set(H.opts(id), 'relayUrl', null);",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl number",
            "return H.set(H.opts(id), 'relayUrl', 8080);",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl URL object",
            "return H.set(H.opts(id), 'relayUrl', new URL(H.relay));",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl object with toString",
            "return H.set(H.opts(id), 'relayUrl', { toString() { return H.relay; } });",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl Symbol",
            "return H.set(H.opts(id), 'relayUrl', Symbol('url'));",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl empty",
            "return H.set(H.opts(id), 'relayUrl', '');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl a word",
            "return H.set(H.opts(id), 'relayUrl', 'relay');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl javascript:",
            "return H.set(H.opts(id), 'relayUrl', 'javascript:alert(1)');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl data:",
            "return H.set(H.opts(id), 'relayUrl', 'data:text/plain,x');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl ftp:",
            "return H.set(H.opts(id), 'relayUrl', 'ftp://127.0.0.1/r');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl with a query",
            "return H.set(H.opts(id), 'relayUrl', H.relay + '?x=1');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl with a fragment",
            "return H.set(H.opts(id), 'relayUrl', H.relay + '#x');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl with a space",
            "return H.set(H.opts(id), 'relayUrl', H.relay + ' x');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl leading whitespace",
            "return H.set(H.opts(id), 'relayUrl', ' ' + H.relay);",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl with a NUL",
            "return H.set(H.opts(id), 'relayUrl', H.relay + '\\u0000');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl trailing slashes (valid)",
            "return H.set(H.opts(id), 'relayUrl', H.relay + '///');",
            Sent("accepted"),
        ),
        case(
            "relayUrl nobody listens (valid, queued)",
            "return H.set(H.opts(id), 'relayUrl', H.down);",
            Sent("queued"),
        ),
        case(
            "relayUrl answers 404 (valid, rejected)",
            "return H.set(H.opts(id), 'relayUrl', H.server + '/nowhere');",
            Sent("rejected"),
        ),
        // Protocol-relative and backslash forms start with "/" but name another host.
        case(
            "relayUrl protocol-relative",
            "return H.set(H.opts(id), 'relayUrl', '//127.0.0.1:9/r');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl backslash host",
            "return H.set(H.opts(id), 'relayUrl', '/\\\\127.0.0.1:9/r');",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl backslash in an absolute URL's path",
            "return H.set(H.opts(id), 'relayUrl', H.relay + '\\\\x');",
            Refused("relayUrl"),
        ),
        // A base URL longer than 2,048 bytes is refused at once rather than queued and
        // retried for 7 days (Node's HTTP server drops a request line over 16 KB unanswered).
        case(
            "relayUrl 100 KB path",
            "return H.set(H.opts(id), 'relayUrl', H.server + '/' + 'p'.repeat(100000));",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl 2,049 bytes",
            "const u = H.server + '/r/'; return H.set(H.opts(id), 'relayUrl', u + 'p'.repeat(2049 - u.length));",
            Refused("relayUrl"),
        ),
        case(
            "relayUrl 2,048 bytes (valid)",
            "const u = H.server + '/r/'; return H.set(H.opts(id), 'relayUrl', u + 'p'.repeat(2048 - u.length));",
            Sent("accepted"),
        ),
    ]
}

/// `citrus`: wrong types, missing and invalid fields. `reportOrder` still hands the order to
/// the relay and names the refused option in `pixel.field`; `thirdOUrl` refuses it.
fn citrus_cases() -> Vec<Case> {
    use Want::*;
    vec![
        case("citrus a string", "return H.set(H.opts(id), 'citrus', 'yes');", PixelRefused("accepted", "citrus")),
        case("citrus a number", "return H.set(H.opts(id), 'citrus', 1);", PixelRefused("accepted", "citrus")),
        case("citrus true", "return H.set(H.opts(id), 'citrus', true);", PixelRefused("accepted", "citrus")),
        case("citrus absent", "return H.set(H.opts(id), 'citrus', H.DELETE);", NoPixel("accepted")),
        case("citrus null", "return H.set(H.opts(id), 'citrus', null);", NoPixel("accepted")),
        case("citrus empty object", "return H.set(H.opts(id), 'citrus', {});", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus an array", "return H.set(H.opts(id), 'citrus', [H.citrus()]);", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus Proxy whose get throws", "return H.set(H.opts(id), 'citrus', new Proxy(H.citrus(), { get() { throw 1; } }));", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus.baseUrl missing", "return H.set(H.opts(id), 'citrus.baseUrl', H.DELETE);", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus.baseUrl number", "return H.set(H.opts(id), 'citrus.baseUrl', 443);", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus.baseUrl not a URL", "return H.set(H.opts(id), 'citrus.baseUrl', 'citrus');", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus.baseUrl javascript:", "return H.set(H.opts(id), 'citrus.baseUrl', 'javascript:alert(1)//');", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus.baseUrl without host", "return H.set(H.opts(id), 'citrus.baseUrl', 'https:///v1');", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus.baseUrl with a query", "return H.set(H.opts(id), 'citrus.baseUrl', H.server + '/citrus?x');", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus.baseUrl getter throws", "const o = H.opts(id); Object.defineProperty(o.citrus, 'baseUrl', { get() { throw 1; } }); return o;", PixelRefused("accepted", "citrus.baseUrl")),
        case("citrus.publishableKey missing", "return H.set(H.opts(id), 'citrus.publishableKey', H.DELETE);", PixelRefused("accepted", "citrus.publishableKey")),
        case("citrus.publishableKey object", "return H.set(H.opts(id), 'citrus.publishableKey', { key: 'pk' });", PixelRefused("accepted", "citrus.publishableKey")),
        case("citrus.publishableKey 20 KB (URL too long)", "return H.set(H.opts(id), 'citrus.publishableKey', 'k'.repeat(20000));", PixelRefused("accepted", "citrus.publishableKey")),
        case("citrus.catalogId missing", "return H.set(H.opts(id), 'citrus.catalogId', H.DELETE);", PixelRefused("accepted", "citrus.catalogId")),
        case("citrus.catalogId number", "return H.set(H.opts(id), 'citrus.catalogId', 9);", PixelRefused("accepted", "citrus.catalogId")),
        case("citrus.teamId number", "return H.set(H.opts(id), 'citrus.teamId', 9);", PixelRefused("accepted", "citrus.teamId")),
        case("citrus.teamId null (optional)", "return H.set(H.opts(id), 'citrus.teamId', null);", Sent("accepted")),
        case("citrus.frontend unknown word", "return H.set(H.opts(id), 'citrus.frontend', 'sometimes');", PixelRefused("accepted", "citrus.frontend")),
        case("citrus.frontend upper case", "return H.set(H.opts(id), 'citrus.frontend', 'NEVER');", PixelRefused("accepted", "citrus.frontend")),
        case("citrus.frontend boolean", "return H.set(H.opts(id), 'citrus.frontend', false);", PixelRefused("accepted", "citrus.frontend")),
        case("citrus.frontend Symbol", "return H.set(H.opts(id), 'citrus.frontend', Symbol('never'));", PixelRefused("accepted", "citrus.frontend")),
    ]
}

/// A hostile page around valid options: `fetch`, `sendBeacon`, `localStorage`, cookies and
/// timers replaced, missing or throwing. `setup` runs before the call, `teardown` after it,
/// whatever happened.
struct EnvCase {
    name: &'static str,
    setup: &'static str,
    teardown: &'static str,
    options: &'static str,
    report: Want,
}

/// Restores what the environment cases replace (kept on `H.saved` by [`SAVE`]).
const RESTORE: &str = "H.restore();";
const SAVE: &str = r#"
H.saved = {
  fetch: Object.getOwnPropertyDescriptor(window, 'fetch'),
  sendBeacon: Navigator.prototype.sendBeacon,
  localStorage: Object.getOwnPropertyDescriptor(window, 'localStorage'),
  getItem: Storage.prototype.getItem,
  setItem: Storage.prototype.setItem,
  timeout: AbortSignal.timeout,
};
H.restore = () => {
  const s = H.saved;
  if (s.fetch) Object.defineProperty(window, 'fetch', s.fetch); else delete window.fetch;
  Navigator.prototype.sendBeacon = s.sendBeacon;
  delete navigator.sendBeacon;
  if (s.localStorage) Object.defineProperty(window, 'localStorage', s.localStorage); else delete window.localStorage;
  Storage.prototype.getItem = s.getItem;
  Storage.prototype.setItem = s.setItem;
  AbortSignal.timeout = s.timeout;
  delete document.cookie;
};
H.fake = (value) => { Object.defineProperty(window, 'fetch', { configurable: true, writable: true, value }); };
H.noStorage = () => { Object.defineProperty(window, 'localStorage', { configurable: true, get() { throw new DOMException('denied', 'SecurityError'); } }); };
"#;

fn env_cases() -> Vec<EnvCase> {
    use Want::*;
    let env = |name, setup, options, report| EnvCase {
        name,
        setup,
        teardown: RESTORE,
        options,
        report,
    };
    const OPTS: &str = "return H.opts(id);";
    const DOWN: &str = "return H.set(H.opts(id), 'relayUrl', H.down);";
    const ALWAYS: &str = "return H.set(H.opts(id), 'citrus.frontend', 'always');";
    vec![
        env("fetch undefined", "H.fake(undefined);", OPTS, Sent("beacon")),
        env("fetch null", "H.fake(null);", OPTS, Sent("beacon")),
        env("fetch a string", "H.fake('fetch');", OPTS, Sent("beacon")),
        env("fetch throws at once", "H.fake(() => { throw new TypeError('blocked'); });", OPTS, Sent("beacon")),
        env("fetch throws at once, pixel always", "H.fake(() => { throw new TypeError('blocked'); });", ALWAYS, Sent("beacon")),
        env("fetch returns a number", "H.fake(() => 42);", OPTS, Sent("beacon")),
        env("fetch returns a thenable whose then throws", "H.fake(() => ({ then() { throw new Error('then'); } }));", OPTS, Sent("beacon")),
        env("fetch rejects", "H.fake(() => Promise.reject(new TypeError('Failed to fetch')));", OPTS, Sent("queued")),
        env("fetch rejects, pixel always", "H.fake(() => Promise.reject(new TypeError('Failed to fetch')));", ALWAYS, Sent("queued")),
        env("fetch rejects with undefined", "H.fake(() => Promise.reject());", OPTS, Sent("queued")),
        env("fetch resolves undefined", "H.fake(() => Promise.resolve());", OPTS, Sent("queued")),
        env("fetch resolves a bare 202", "H.fake(() => Promise.resolve({ status: 202 }));", OPTS, Sent("accepted")),
        env("fetch resolves a bare 400", "H.fake(() => Promise.resolve({ status: 400 }));", OPTS, Sent("rejected")),
        env("fetch resolves a bare 503", "H.fake(() => Promise.resolve({ status: 503 }));", OPTS, Sent("queued")),
        env("fetch resolves a status string", "H.fake(() => Promise.resolve({ status: '202' }));", OPTS, Sent("queued")),
        env("fetch resolves a throwing status getter", "H.fake(() => Promise.resolve({ get status() { throw new Error('status'); } }));", OPTS, Sent("queued")),
        env("fetch resolves a body whose cancel throws", "H.fake(() => Promise.resolve({ status: 202, body: { cancel() { throw new Error('cancel'); } } }));", OPTS, Sent("accepted")),
        env("fetch a transparent Proxy of the real one", "H.fake(new Proxy(window.fetch, {}));", OPTS, Sent("accepted")),
        env("fetch and sendBeacon missing", "H.fake(undefined); Navigator.prototype.sendBeacon = undefined;", OPTS, Sent("queued")),
        env("fetch missing, sendBeacon throws", "H.fake(undefined); Navigator.prototype.sendBeacon = () => { throw new TypeError('beacon'); };", OPTS, Sent("queued")),
        env("fetch missing, sendBeacon refuses", "H.fake(undefined); Navigator.prototype.sendBeacon = () => false;", OPTS, Sent("queued")),
        env("fetch missing, sendBeacon answers a truthy string", "H.fake(undefined); Navigator.prototype.sendBeacon = () => 'true';", OPTS, Sent("queued")),
        env("fetch and sendBeacon missing, no storage", "H.fake(undefined); Navigator.prototype.sendBeacon = undefined; H.noStorage();", OPTS, Sent("failed")),
        env("localStorage getter throws", "H.noStorage();", OPTS, Sent("accepted")),
        env("localStorage getter throws, relay down", "H.noStorage();", DOWN, Sent("failed")),
        env("localStorage a Proxy throwing everywhere, relay down", "const t = () => { throw new Error('storage'); }; Object.defineProperty(window, 'localStorage', { configurable: true, value: new Proxy({}, { get: t, has: t, set: t }) });", DOWN, Sent("failed")),
        env("localStorage null", "Object.defineProperty(window, 'localStorage', { configurable: true, value: null });", DOWN, Sent("failed")),
        env("setItem over quota, relay down", "Storage.prototype.setItem = () => { throw new DOMException('full', 'QuotaExceededError'); };", DOWN, Sent("failed")),
        env("getItem answers a number", "Storage.prototype.getItem = () => 5;", OPTS, Sent("accepted")),
        env("localStorage holds 4 MB of garbage", "localStorage.setItem('ordersync.pending', '\\t\\n'.repeat(1 << 20)); localStorage.setItem('ordersync.reported', 'x'.repeat(1 << 20));", OPTS, Sent("accepted")),
        env("document.cookie throws", "Object.defineProperty(document, 'cookie', { configurable: true, get() { throw new DOMException('denied', 'SecurityError'); } });", OPTS, Sent("accepted")),
        env("document.cookie 1 MB", "Object.defineProperty(document, 'cookie', { configurable: true, get() { return 'a=' + 'x'.repeat(1 << 20) + '; cibler_id=CIB1.1.2'; } });", OPTS, Sent("accepted")),
        env("document.cookie not a string", "Object.defineProperty(document, 'cookie', { configurable: true, get() { return 7; } });", OPTS, Sent("accepted")),
        env("AbortSignal.timeout missing", "AbortSignal.timeout = undefined;", OPTS, Sent("accepted")),
        env("AbortSignal.timeout throws", "AbortSignal.timeout = () => { throw new Error('timeout'); };", OPTS, Sent("accepted")),
        // A corrupt "already reported" entry (expiry far beyond the 30-day TTL) is dropped,
        // not taken to mean the order was reported until the year 292 million.
        env("reported entry expiring in 2^63 ms", "localStorage.setItem('ordersync.reported', '9223372036854775807\\t' + id + '\\n');", OPTS, Sent("accepted")),
        env("reported entry expiring in 2^64-1 ms", "localStorage.setItem('ordersync.reported', '18446744073709551615\\t' + id + '\\n');", OPTS, Sent("accepted")),
        // Own properties only: a polluted Object.prototype supplies neither a relay URL nor
        // citrus options the shop never gave.
        EnvCase {
            name: "Object.prototype.relayUrl polluted",
            setup: "Object.prototype.relayUrl = H.down;",
            teardown: "delete Object.prototype.relayUrl; H.restore();",
            options: "return H.set(H.opts(id), 'relayUrl', H.DELETE);",
            report: Refused("relayUrl"),
        },
        EnvCase {
            name: "Object.prototype.citrus polluted",
            setup: "Object.prototype.citrus = Object.assign(H.citrus(), { baseUrl: 'http://127.0.0.1:9' });",
            teardown: "delete Object.prototype.citrus; H.restore();",
            options: "return H.set(H.opts(id), 'citrus', H.DELETE);",
            report: NoPixel("accepted"),
        },
        EnvCase {
            name: "Object.prototype.checkout polluted",
            setup: "Object.prototype.checkout = H.checkout('polluted');",
            teardown: "delete Object.prototype.checkout; H.restore();",
            options: "return H.set(H.opts(id), 'checkout', H.DELETE);",
            report: Refused("checkout"),
        },
        EnvCase {
            name: "Object.prototype.customerId polluted",
            setup: "Object.prototype.customerId = { not: 'a string' };",
            teardown: "delete Object.prototype.customerId; H.restore();",
            options: OPTS,
            report: Sent("accepted"),
        },
        EnvCase {
            name: "Array.prototype[0] polluted, items empty",
            setup: "Array.prototype[0] = H.checkout(id).items[0];",
            teardown: "delete Array.prototype[0]; H.restore();",
            options: "const o = H.opts(id); o.checkout.items = new Array(1); return o;",
            report: Refused("items[0]"),
        },
        // A fetch that ignores the abort signal and never settles: the report still resolves
        // (after the module's 10 s), and the hand-off stays queued for a later retry.
        EnvCase {
            name: "fetch never settles",
            // Only the relay's requests hang: the test runner reports through fetch too. The
            // module calls `fetch` with a `Request`, the runner with a URL.
            setup: "const real = H.saved.fetch.value; H.fake((input, init) => String(input.url ?? input).includes('/r/ok/') ? new Promise(() => {}) : real(input, init));",
            teardown: "H.restore(); if (!String(localStorage.getItem('ordersync.pending')).includes('\\t' + id + '\\t')) throw new Error('the hand-off is not queued');",
            options: "return H.opts(id);",
            report: Sent("queued"),
        },
    ]
}

/// Runs a table of hostile environments through `reportOrder`.
async fn run_env_cases(cases: &[EnvCase]) -> Vec<String> {
    let helpers = harness();
    run_js(&format!("const H = window.__hostile; {SAVE}"));
    let (report_order, _, _) = entry_points();
    let mut failures = Vec::new();
    uncaught(&helpers, 0).await;
    for (index, case) in cases.iter().enumerate() {
        run_js("localStorage.clear();");
        let id = order_id(&"e".repeat(index % 7 + 1));
        let mut fail = |what: &str, why: String| {
            failures.push(format!("#{index} {} [{what}]: {why}", case.name))
        };
        let outcome = match build(case.options, &id, &helpers) {
            Err(why) => Err(why),
            Ok(options) => match build(case.setup, &id, &helpers) {
                Err(why) => Err(why),
                Ok(_) => probe(&helpers, &report_order, &options, true).await,
            },
        };
        if let Err(why) = build(case.teardown, &id, &helpers) {
            fail("teardown", why);
        }
        match outcome {
            Err(why) => fail("reportOrder", why),
            Ok(report) => {
                if let Err(why) = check_report(&report, case.report) {
                    fail("reportOrder", format!("{why}; report {}", show(&report)));
                }
            }
        }
        for error in uncaught(&helpers, 0).await {
            fail("page", format!("uncaught: {error}"));
        }
    }
    for error in uncaught(&helpers, 500).await {
        failures.push(format!("after all cases, uncaught: {error}"));
    }
    run_js("localStorage.clear();");
    failures
}

/// What `flushQueue` must resolve to: `{ delivered, rejected, remaining }`.
struct FlushCase {
    name: &'static str,
    /// Fills `localStorage` (and may replace `fetch` & co.); may return a promise.
    setup: &'static str,
    want: (u32, u32, u32),
}

/// `H.entry(url, orderId, body, createdMs)`: one queued hand-off line as the module stores it.
const FLUSH_HELPERS: &str = r#"
H.entry = (url, orderId, body, created) =>
  [created === undefined ? Date.now() : created, url, orderId, body === undefined ? '{"checkout":{"orderId":"' + orderId + '"},"cookieId":null}' : body].join('\t') + '\n';
H.queue = (text) => localStorage.setItem('ordersync.pending', text);
H.ok = () => H.relay + '/v1/checkouts';
H.status = (name, code) => fetch(H.server + '/__status/' + name + '/' + code, { method: 'PUT' });
"#;

fn flush_cases() -> Vec<FlushCase> {
    let flush = |name, setup, want| FlushCase { name, setup, want };
    vec![
        flush("nothing queued", "localStorage.removeItem('ordersync.pending');", (0, 0, 0)),
        flush("garbage text", "H.queue('garbage');", (0, 0, 0)),
        flush("1 MB of newlines", "H.queue('\\n'.repeat(1 << 20));", (0, 0, 0)),
        flush("tabs only", "H.queue('\\t\\t\\t\\n\\t\\t\\t\\t\\n');", (0, 0, 0)),
        flush("too few fields", "H.queue(Date.now() + '\\t' + H.ok() + '\\t' + id + '\\n');", (0, 0, 0)),
        flush("timestamp not a number", "H.queue(H.entry(H.ok(), id, undefined, 'soon'));", (0, 0, 0)),
        flush("timestamp negative", "H.queue(H.entry(H.ok(), id, undefined, -1));", (0, 0, 0)),
        flush("timestamp with a sign", "H.queue(H.entry(H.ok(), id, undefined, '+' + Date.now()));", (0, 0, 0)),
        flush("timestamp overflowing 64 bits", "H.queue(H.entry(H.ok(), id, undefined, '99999999999999999999'));", (0, 0, 0)),
        flush("timestamp 2^64-1", "H.queue(H.entry(H.ok(), id, undefined, '18446744073709551615'));", (0, 0, 0)),
        flush("timestamp 2^63 (far future)", "H.queue(H.entry(H.ok(), id, undefined, '9223372036854775807'));", (0, 0, 0)),
        flush("timestamp two days ahead (corrupt)", "H.queue(H.entry(H.ok(), id, undefined, Date.now() + 2 * 86400000));", (0, 0, 0)),
        flush("timestamp Infinity", "H.queue(H.entry(H.ok(), id, undefined, Infinity));", (0, 0, 0)),
        flush("timestamp 1e400 digits", "H.queue(H.entry(H.ok(), id, undefined, '1' + '0'.repeat(400)));", (0, 0, 0)),
        flush("older than 7 days", "H.queue(H.entry(H.ok(), id, undefined, Date.now() - 8 * 86400000));", (0, 0, 0)),
        flush("one valid entry", "H.queue(H.entry(H.ok(), id));", (1, 0, 0)),
        flush("valid entry among garbage lines", "H.queue('x\\n\\t\\n' + H.entry(H.ok(), id) + 'y\\tz\\n');", (1, 0, 0)),
        flush("the same order queued twice", "H.queue(H.entry(H.ok(), id) + H.entry(H.ok(), id));", (1, 0, 0)),
        flush("a body that is not JSON", "H.queue(H.entry(H.ok(), id, 'not json ' + id));", (1, 0, 0)),
        flush("a 2 MB body", "H.queue(H.entry(H.ok(), id, JSON.stringify({ checkout: { orderId: id, pad: 'p'.repeat(2 << 20) }, cookieId: null })));", (1, 0, 0)),
        flush("25 entries (more than the module keeps)", "let t = ''; for (let i = 0; i < 25; i++) t += H.entry(H.ok(), id + 'n' + i); H.queue(t);", (25, 0, 0)),
        flush("relay refuses (400)", "H.queue(H.entry(H.relay.replace('/r/ok', '/r/no' + id) + '/v1/checkouts', id)); return H.status('no' + id, 400);", (0, 1, 0)),
        flush("relay busy (429)", "H.queue(H.entry(H.relay.replace('/r/ok', '/r/busy' + id) + '/v1/checkouts', id)); return H.status('busy' + id, 429);", (0, 0, 1)),
        flush("relay down", "H.queue(H.entry(H.down + '/v1/checkouts', id));", (0, 0, 1)),
        flush("URL javascript:", "H.queue(H.entry('javascript:alert(1)', id));", (0, 0, 1)),
        flush("URL not parseable", "H.queue(H.entry('http://[::1', id));", (0, 0, 1)),
        flush("URL ftp:", "H.queue(H.entry('ftp://127.0.0.1:9/x', id));", (0, 0, 1)),
        flush("getItem throws", "H.queue(H.entry(H.ok(), id)); Storage.prototype.getItem = () => { throw new DOMException('denied', 'SecurityError'); };", (0, 0, 0)),
        flush("localStorage getter throws", "H.queue(H.entry(H.ok(), id)); H.noStorage();", (0, 0, 0)),
        flush("setItem throws after delivery", "H.queue(H.entry(H.ok(), id)); Storage.prototype.setItem = () => { throw new DOMException('full', 'QuotaExceededError'); };", (1, 0, 1)),
        flush("fetch throws: sent by sendBeacon", "H.queue(H.entry(H.ok(), id)); H.fake(() => { throw new TypeError('blocked'); });", (1, 0, 0)),
        flush("fetch and sendBeacon missing", "H.queue(H.entry(H.ok(), id)); H.fake(undefined); Navigator.prototype.sendBeacon = undefined;", (0, 0, 1)),
        flush("fetch resolves a bare 202", "H.queue(H.entry(H.ok(), id)); H.fake(() => Promise.resolve({ status: 202 }));", (1, 0, 0)),
    ]
}

async fn run_flush_cases(cases: &[FlushCase]) -> Vec<String> {
    let helpers = harness();
    run_js(&format!(
        "const H = window.__hostile; {SAVE} {FLUSH_HELPERS}"
    ));
    let (_, _, flush_queue) = entry_points();
    let mut failures = Vec::new();
    uncaught(&helpers, 0).await;
    for (index, case) in cases.iter().enumerate() {
        run_js("localStorage.clear();");
        let id = order_id(&"f".repeat(index % 7 + 1));
        let mut fail = |what: &str, why: String| {
            failures.push(format!("#{index} {} [{what}]: {why}", case.name))
        };
        let outcome = match build_async(case.setup, &id, &helpers).await {
            Err(why) => Err(why),
            Ok(_) => probe(&helpers, &flush_queue, &JsValue::UNDEFINED, true).await,
        };
        if let Err(why) = build(RESTORE, &id, &helpers) {
            fail("teardown", why);
        }
        match outcome {
            Err(why) => fail("flushQueue", why),
            Ok(result) => {
                let count = |name: &str| number(&result, name);
                let got = (count("delivered"), count("rejected"), count("remaining"));
                let (d, r, q) = case.want;
                if got != (f64::from(d), f64::from(r), f64::from(q)) {
                    fail(
                        "flushQueue",
                        format!("got {}, want {:?}", show(&result), case.want),
                    );
                }
            }
        }
        for error in uncaught(&helpers, 0).await {
            fail("page", format!("uncaught: {error}"));
        }
    }
    for error in uncaught(&helpers, 500).await {
        failures.push(format!("after all cases, uncaught: {error}"));
    }
    run_js("localStorage.clear();");
    failures
}

/// [`build`], awaiting the result when it is a promise.
async fn build_async(source: &str, id: &str, helpers: &JsValue) -> Result<JsValue, String> {
    let value = build(source, id, helpers)?;
    if value.is_instance_of::<js_sys::Promise>() {
        return JsFuture::from(js_sys::Promise::from(value))
            .await
            .map_err(|e| format!("setup rejected: {}", describe(&e)));
    }
    Ok(value)
}

#[wasm_bindgen_test]
async fn hostile_pages_around_report_order() {
    let cases = env_cases();
    let total = cases.len();
    assert_no_failures(total, run_env_cases(&cases).await);
}

#[wasm_bindgen_test]
async fn hostile_queues_for_flush_queue() {
    let cases = flush_cases();
    let total = cases.len();
    assert_no_failures(total, run_flush_cases(&cases).await);
}

#[wasm_bindgen_test]
async fn hostile_options_objects() {
    let cases = options_cases();
    let total = cases.len();
    assert_no_failures(total, run_options_cases(&cases).await);
}

#[wasm_bindgen_test]
async fn hostile_tokens() {
    let cases = token_cases();
    let total = cases.len();
    assert_no_failures(total, run_options_cases(&cases).await);
}

#[wasm_bindgen_test]
async fn hostile_checkouts() {
    let cases = checkout_cases();
    let total = cases.len();
    assert_no_failures(total, run_options_cases(&cases).await);
}

#[wasm_bindgen_test]
async fn hostile_relay_urls() {
    let cases = relay_url_cases();
    let total = cases.len();
    assert_no_failures(total, run_options_cases(&cases).await);
}

#[wasm_bindgen_test]
async fn hostile_citrus_options() {
    let cases = citrus_cases();
    let total = cases.len();
    assert_no_failures(total, run_options_cases(&cases).await);
}

#[wasm_bindgen_test]
fn the_tables_hold_over_a_hundred_distinct_cases() {
    let all: Vec<Case> = [
        options_cases(),
        token_cases(),
        checkout_cases(),
        relay_url_cases(),
        citrus_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut sources: Vec<&str> = all.iter().map(|c| c.options).collect();
    sources.sort_unstable();
    sources.dedup();
    assert_eq!(
        sources.len(),
        all.len(),
        "every case builds a different input"
    );
    assert!(all.len() >= 100, "only {} option cases", all.len());
}
