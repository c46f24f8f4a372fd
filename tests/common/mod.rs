//! Helpers shared by the wasm-bindgen-test suites: the local test server (started by
//! `scripts/test-browser.sh`, its URL compiled in), checkouts, and reading reports.
#![allow(dead_code)]

use js_sys::{Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The test server's base URL, e.g. `http://127.0.0.1:40123`.
pub fn server() -> &'static str {
    match option_env!("ORDERSYNC_TEST_SERVER") {
        Some(url) => url,
        None => panic!(
            "ORDERSYNC_TEST_SERVER is unset: run these suites through scripts/test-browser.sh"
        ),
    }
}

/// A relay base URL on the test server; its status is set with [`set_status`].
pub fn relay(name: &str) -> String {
    format!("{}/r/{name}", server())
}

/// A relay nobody listens on (port 9 on loopback: connection refused at once).
pub const DOWN_RELAY: &str = "http://127.0.0.1:9/r/down";

/// A unique order id per call, so tests never see each other's requests or storage.
pub fn order_id(tag: &str) -> String {
    let now = js_sys::Date::now() as u64;
    let random = (js_sys::Math::random() * 1e9) as u64;
    format!("{}{:09}{}", now, random, tag.len())
}

pub fn parse(json: &str) -> JsValue {
    JSON::parse(json).unwrap_or_else(|e| panic!("bad test JSON {json}: {e:?}"))
}

/// A valid checkout with `items` line items (gtins "G0", "G1", ...), as JSON text.
pub fn checkout_json(order_id: &str, items: usize) -> String {
    let lines: Vec<String> = (0..items)
        .map(|i| {
            format!(
                r#"{{"gtin":"G{i}","quantity":{q},"regularUnitPrice":"{p}.50","totalOrderItemPriceAfterDiscounts":{t}}}"#,
                q = i + 1,
                p = i + 1,
                t = (i + 1) * 2
            )
        })
        .collect();
    format!(
        r#"{{"orderId":"{order_id}","orderDate":"2026-11-22T10:00:00Z","email":"ann@example.com","country":"FR","customerGuid":"guid-1","sessionId":"sess-1","totalSpent":150.0,"taxes":"20.00","shippingCost":0,"items":[{}]}}"#,
        lines.join(",")
    )
}

pub fn citrus_json(frontend: &str) -> String {
    format!(
        r#"{{"baseUrl":"{}/citrus","publishableKey":"pk test","teamId":"team-1","catalogId":"cat-1","frontend":"{frontend}"}}"#,
        server()
    )
}

/// `reportOrder` options as JSON: plain checkout, relay, citrus policy.
pub fn options(relay_url: &str, order_id: &str, items: usize, frontend: &str) -> JsValue {
    parse(&format!(
        r#"{{"relayUrl":"{relay_url}","checkout":{},"citrus":{}}}"#,
        checkout_json(order_id, items),
        citrus_json(frontend)
    ))
}

pub async fn report(options: JsValue) -> JsValue {
    let promise = ordersync::report_order(options);
    JsFuture::from(promise)
        .await
        .expect("reportOrder must never reject")
}

pub async fn flush() -> JsValue {
    JsFuture::from(ordersync::flush_queue())
        .await
        .expect("flushQueue must never reject")
}

/// `value.a.b.c` as a JsValue (undefined when missing).
pub fn at(value: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(value.clone(), |v, key| {
        Reflect::get(&v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    })
}

/// `value.a.b` as a string, "<undefined>" when absent or not a string.
pub fn text(value: &JsValue, path: &str) -> String {
    at(value, path)
        .as_string()
        .unwrap_or_else(|| "<undefined>".into())
}

pub fn number(value: &JsValue, path: &str) -> f64 {
    at(value, path).as_f64().unwrap_or(f64::NAN)
}

async fn fetch(url: &str, method: &str) -> JsValue {
    let fetch = Reflect::get(&js_sys::global(), &"fetch".into()).unwrap();
    let init = parse(&format!(r#"{{"method":"{method}"}}"#));
    let promise = fetch
        .unchecked_ref::<js_sys::Function>()
        .call2(&JsValue::UNDEFINED, &url.into(), &init)
        .unwrap();
    let response = JsFuture::from(js_sys::Promise::from(promise))
        .await
        .unwrap();
    let json = Reflect::get(&response, &"json".into()).unwrap();
    let body = json
        .unchecked_ref::<js_sys::Function>()
        .call0(&response)
        .unwrap();
    JsFuture::from(js_sys::Promise::from(body)).await.unwrap()
}

pub async fn set_status(name: &str, status: u16) {
    fetch(&format!("{}/__status/{name}/{status}", server()), "PUT").await;
}

/// Like [`set_status`], with an error body naming `field` (as the relay's 400 does).
pub async fn set_status_naming(name: &str, status: u16, field: &str) {
    let url = format!("{}/__status/{name}/{status}?field={field}", server());
    fetch(&url, "PUT").await;
}

/// Every request the server recorded whose body or query mentions `order_id`.
pub async fn requests_for(order_id: &str) -> Vec<JsValue> {
    let all = fetch(&format!("{}/__requests", server()), "GET").await;
    js_sys::Array::from(&all)
        .iter()
        .filter(|r| {
            let body = JSON::stringify(&at(r, "body"))
                .map(String::from)
                .unwrap_or_default();
            body.contains(order_id) || text(r, "query").contains(order_id)
        })
        .collect()
}

pub fn relay_posts(requests: &[JsValue]) -> Vec<JsValue> {
    requests
        .iter()
        .filter(|r| text(r, "method") == "POST" && text(r, "path").ends_with("/v1/checkouts"))
        .cloned()
        .collect()
}

pub fn pixel_gets(requests: &[JsValue]) -> Vec<JsValue> {
    requests
        .iter()
        .filter(|r| text(r, "method") == "GET" && text(r, "path").ends_with("/v1/resource/third-o"))
        .cloned()
        .collect()
}

/// Runs `source` as a JavaScript function body (test set-up only: cookies, storage stubs).
pub fn run_js(source: &str) -> JsValue {
    js_sys::Function::new_no_args(source)
        .call0(&JsValue::UNDEFINED)
        .unwrap_or_else(|e| panic!("test JS failed: {source}: {e:?}"))
}

/// A compact JWS whose payload is `claims` (the signature is not checked by the module).
pub fn token_for(claims: &str) -> String {
    let encode = |s: &str| -> String {
        let b64: String = run_js(&format!(
            "return btoa(unescape(encodeURIComponent({})));",
            JSON::stringify(&JsValue::from_str(s))
                .map(String::from)
                .unwrap()
        ))
        .as_string()
        .unwrap();
        b64.trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_")
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        encode(claims)
    )
}

/// The report as JSON text, for assertion messages.
pub fn show(value: &JsValue) -> String {
    JSON::stringify(value).map(String::from).unwrap_or_default()
}
