//! The module in Node (no `window`, no `document`, no `localStorage`): it must still resolve
//! every call to a report, use the global `fetch` for real requests, and never throw.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
fn there_is_no_window_here() {
    assert!(
        run_js("return typeof window === 'undefined' && typeof document === 'undefined';")
            .as_bool()
            .unwrap()
    );
    assert_eq!(ordersync::read_cibler_id(), None);
}

#[wasm_bindgen_test]
async fn reports_to_the_relay_without_a_window() {
    let id = order_id("node");
    let report = report(options(&relay("ok"), &id, 3, "always")).await;
    assert_eq!(text(&report, "orderId"), id);
    assert!(at(&report, "cookieId").is_null());
    assert_eq!(text(&report, "relay.status"), "accepted");
    assert_eq!(text(&report, "pixel.status"), "sent");
    let requests = requests_for(&id).await;
    assert_eq!(relay_posts(&requests).len(), 1);
    assert_eq!(pixel_gets(&requests).len(), 1);
}

#[wasm_bindgen_test]
async fn without_storage_an_unreachable_relay_is_reported_lost_not_thrown() {
    let report = report(options(DOWN_RELAY, &order_id("lost"), 1, "fallback")).await;
    assert_eq!(text(&report, "relay.status"), "failed");
    assert_eq!(text(&report, "pixel.status"), "sent");
    let flushed = flush().await;
    assert_eq!(number(&flushed, "remaining"), 0.0);
}

#[wasm_bindgen_test]
async fn garbage_resolves_to_reports() {
    for options in [
        JsValue::NULL,
        JsValue::from_str("options"),
        parse("[]"),
        parse(r#"{"relayUrl":"https://relay.example","checkout":{"orderId":[1]}}"#),
        parse(r#"{"relayUrl":"nope","checkout":{}}"#),
    ] {
        let report = report(options).await;
        assert_eq!(text(&report, "relay.status"), "skipped");
        assert!(at(&report, "error.field").is_string());
    }
}

#[wasm_bindgen_test]
fn third_o_url_works_without_a_window() {
    let id = order_id("n3o");
    let result = ordersync::third_o_url(parse(&format!(
        r#"{{"checkout":{},"citrus":{}}}"#,
        checkout_json(&id, 2),
        citrus_json("never")
    )));
    let url = text(&result, "url");
    assert!(
        url.ends_with("&procods=G0&pris=1.50&quas=1&procods=G1&pris=2.50&quas=2"),
        "{url}"
    );
}
