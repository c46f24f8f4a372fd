//! The module in a real browser (headless Chromium and Firefox, through
//! `scripts/test-browser.sh`): real cookies, real localStorage, real requests to the local test
//! server in `tests/support/test-server.mjs`.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn set_cookie(cookie: &str) {
    run_js(&format!("document.cookie = {:?};", cookie));
}

fn clear_cookie(name: &str) {
    set_cookie(&format!(
        "{name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/"
    ));
}

#[wasm_bindgen_test]
fn cibler_cookie_absent_plain_among_others_quoted_and_encoded() {
    clear_cookie("cibler_id");
    assert_eq!(ordersync::read_cibler_id(), None);

    set_cookie("_ga=GA1.2.3; path=/");
    set_cookie("cibler_id=CIB1.395406195.1569857337; path=/");
    set_cookie("theme=dark; path=/");
    assert_eq!(
        ordersync::read_cibler_id().as_deref(),
        Some("CIB1.395406195.1569857337")
    );

    set_cookie("cibler_id=\"CIB1.1.2\"; path=/");
    assert_eq!(ordersync::read_cibler_id().as_deref(), Some("CIB1.1.2"));

    set_cookie("cibler_id=CIB1%2E7%2E8%20x; path=/");
    assert_eq!(ordersync::read_cibler_id().as_deref(), Some("CIB1.7.8 x"));

    set_cookie("cibler_id=; path=/");
    assert_eq!(ordersync::read_cibler_id(), None);
    clear_cookie("cibler_id");
    clear_cookie("_ga");
    clear_cookie("theme");
}

#[wasm_bindgen_test]
async fn report_posts_the_checkout_and_cookie_to_the_relay() {
    set_cookie("cibler_id=CIB1.42.1700000000; path=/");
    let id = order_id("post");
    let report = report(options(&relay("ok"), &id, 2, "fallback")).await;
    clear_cookie("cibler_id");

    assert_eq!(text(&report, "orderId"), id);
    assert_eq!(text(&report, "cookieId"), "CIB1.42.1700000000");
    assert_eq!(text(&report, "relay.status"), "accepted");
    assert_eq!(number(&report, "relay.httpStatus"), 202.0);
    assert_eq!(
        text(&report, "pixel.status"),
        "skipped",
        "fallback: relay reached"
    );
    assert!(text(&report, "pixel.url").contains("/citrus/v1/resource/third-o?"));

    let requests = requests_for(&id).await;
    let posts = relay_posts(&requests);
    assert_eq!(posts.len(), 1);
    assert_eq!(pixel_gets(&requests).len(), 0);
    let post = &posts[0];
    assert_eq!(text(post, "path"), "/r/ok/v1/checkouts");
    assert_eq!(
        text(post, "headers.content-type"),
        "text/plain;charset=UTF-8",
        "a simple request: no CORS preflight, keepalive-safe"
    );
    assert_eq!(text(post, "body.cookieId"), "CIB1.42.1700000000");
    assert_eq!(text(post, "body.checkout.orderId"), id);
    assert_eq!(number(post, "body.checkout.totalSpent"), 150.0);
    assert_eq!(text(post, "body.checkout.items.1.gtin"), "G1");
}

#[wasm_bindgen_test]
async fn a_signed_token_is_passed_through_untouched() {
    clear_cookie("cibler_id");
    let id = order_id("token");
    let claims = checkout_json(&id, 1).replacen('{', r#"{"exp":4102444800,"#, 1);
    let token = token_for(&claims);
    let options = parse(&format!(
        r#"{{"relayUrl":"{}","token":"{token}","citrus":{}}}"#,
        relay("ok"),
        citrus_json("always")
    ));
    let report = report(options).await;
    assert_eq!(text(&report, "relay.status"), "accepted");
    assert_eq!(text(&report, "cookieId"), "<undefined>", "null cookie");
    assert!(at(&report, "cookieId").is_null());
    assert_eq!(text(&report, "pixel.status"), "sent", "{}", show(&report));

    let requests = requests_for(&id).await;
    let posts = relay_posts(&requests);
    assert_eq!(posts.len(), 0, "the body holds the token, not the order id");
    let all = requests_for(&token).await;
    let posts = relay_posts(&all);
    assert_eq!(posts.len(), 1);
    assert_eq!(text(&posts[0], "body.token"), token);
    assert!(at(&posts[0], "body.cookieId").is_null());
    assert!(at(&posts[0], "body.checkout").is_undefined());
    assert_eq!(pixel_gets(&requests).len(), 1, "the pixel carries ordid");
}

#[wasm_bindgen_test]
fn third_o_url_is_aligned_and_encoded() {
    let id = order_id("thirdo");
    let checkout = checkout_json(&id, 3).replace("\"G1\"", "\"A&B=C ü/é\"");
    let result = ordersync::third_o_url(parse(&format!(
        r#"{{"checkout":{checkout},"citrus":{}}}"#,
        citrus_json("never")
    )));
    let url = text(&result, "url");
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, format!("{}/citrus/v1/resource/third-o", server()));
    assert_eq!(
        query,
        format!(
            "key=pk%20test&teaid=team-1&catid=cat-1&ordid={id}&ordts=2026-11-22T10%3A00%3A00Z\
             &sesid=sess-1&cusid=guid-1\
             &procods=G0&pris=1.50&quas=1\
             &procods=A%26B%3DC%20%C3%BC%2F%C3%A9&pris=2.50&quas=2\
             &procods=G2&pris=3.50&quas=3"
        )
    );
    // The browser's own parser reads back three aligned entries.
    let params = run_js(&format!(
        "const p = new URLSearchParams({:?}); return [p.getAll('procods').length, p.getAll('pris').length, p.getAll('quas').length, p.getAll('procods')[1]].join('|');",
        query
    ));
    assert_eq!(params.as_string().unwrap(), "3|3|3|A&B=C ü/é");
}

#[wasm_bindgen_test]
fn third_o_errors_name_the_item_and_field() {
    let id = order_id("bad");
    let cases = [
        (
            r#""quantity":2"#,
            r#""quantity":0"#,
            "items[1].quantity",
            "must be greater than zero",
        ),
        (
            r#""quantity":3"#,
            r#""quantity":1.5"#,
            "items[2].quantity",
            "must be a whole number",
        ),
        (r#""gtin":"G1","#, "", "items[1].gtin", "is required"),
        (
            r#""regularUnitPrice":"1.50""#,
            r#""regularUnitPrice":"1.505""#,
            "items[0].regularUnitPrice",
            "has more than 2 decimals",
        ),
        (
            r#""orderDate":"2026-11-22T10:00:00Z""#,
            r#""orderDate":"2026-11-22 10:00""#,
            "orderDate",
            "must be an RFC 3339 date-time with Z or +HH:MM, e.g. 2021-12-02T15:00:00Z",
        ),
        (r#""sessionId":"sess-1","#, "", "sessionId", "is required"),
    ];
    for (from, to, field, message) in cases {
        let checkout = checkout_json(&id, 3).replacen(from, to, 1);
        let result = ordersync::third_o_url(parse(&format!(
            r#"{{"checkout":{checkout},"citrus":{}}}"#,
            citrus_json("fallback")
        )));
        assert!(at(&result, "url").is_undefined(), "{field}");
        assert_eq!(text(&result, "error.field"), field);
        assert_eq!(text(&result, "error.message"), message);
    }
    let no_citrus = ordersync::third_o_url(parse(&format!(
        r#"{{"checkout":{}}}"#,
        checkout_json(&id, 1)
    )));
    assert_eq!(text(&no_citrus, "error.field"), "citrus");
    let bad_base = ordersync::third_o_url(parse(&format!(
        r#"{{"checkout":{},"citrus":{{"baseUrl":"ftp://x","publishableKey":"k","catalogId":"c"}}}}"#,
        checkout_json(&id, 1)
    )));
    assert_eq!(text(&bad_base, "error.field"), "citrus.baseUrl");
}

/// The browser validates only the fields it reads (order id and date, customer and session ids,
/// each item's code, quantity and unit price); the relay validates the whole checkout and its
/// 400 names the field, which the report passes on.
#[wasm_bindgen_test]
async fn a_checkout_wrong_only_where_the_browser_does_not_read_is_left_to_the_relay() {
    run_js("localStorage.clear();");
    let id = order_id("unread");
    let checkout = checkout_json(&id, 2)
        .replacen(r#""totalSpent":150.0"#, r#""totalSpent":"abc""#, 1)
        .replacen(r#""email":"ann@example.com""#, r#""email":"nobody""#, 1);
    let url = ordersync::third_o_url(parse(&format!(
        r#"{{"checkout":{checkout},"citrus":{}}}"#,
        citrus_json("fallback")
    )));
    assert!(text(&url, "url").contains("procods=G0&pris=1.50&quas=1&procods=G1"));

    let name = format!("unread{}", order_id("u"));
    set_status_naming(&name, 400, "totalSpent").await;
    let report = report(parse(&format!(
        r#"{{"relayUrl":"{}","checkout":{checkout},"citrus":{}}}"#,
        relay(&name),
        citrus_json("fallback")
    )))
    .await;
    assert!(at(&report, "error").is_undefined());
    assert_eq!(text(&report, "relay.status"), "rejected");
    assert_eq!(number(&report, "relay.httpStatus"), 400.0);
    assert_eq!(text(&report, "relay.field"), "totalSpent");
    assert_eq!(text(&report, "pixel.status"), "skipped");
    let posts = relay_posts(&requests_for(&id).await);
    assert_eq!(posts.len(), 1);
    assert_eq!(text(&posts[0], "body.checkout.totalSpent"), "abc");
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn a_too_long_query_is_skipped_not_truncated() {
    let id = order_id("long");
    // 400 items of 20-character codes: far past the 8000-byte URL limit.
    let checkout = checkout_json(&id, 400).replace("\"G", "\"ABCDEFGHIJKLMNOPQRS");
    let options = parse(&format!(
        r#"{{"relayUrl":"{}","checkout":{checkout},"citrus":{}}}"#,
        DOWN_RELAY,
        citrus_json("always")
    ));
    let report = report(options).await;
    assert_eq!(text(&report, "pixel.status"), "skipped");
    assert_eq!(text(&report, "pixel.field"), "items");
    assert_eq!(
        text(&report, "pixel.reason"),
        "makes a URL longer than a GET request can safely carry"
    );
    assert!(at(&report, "pixel.url").is_undefined());
    assert_eq!(text(&report, "relay.status"), "queued");
    assert_eq!(pixel_gets(&requests_for(&id).await).len(), 0);
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn policy_always_sends_the_pixel_beside_the_relay() {
    let id = order_id("always");
    let report = report(options(&relay("ok"), &id, 2, "always")).await;
    assert_eq!(text(&report, "relay.status"), "accepted");
    assert_eq!(text(&report, "pixel.status"), "sent", "{}", show(&report));
    let requests = requests_for(&id).await;
    let gets = pixel_gets(&requests);
    assert_eq!(gets.len(), 1);
    assert_eq!(text(&gets[0], "path"), "/citrus/v1/resource/third-o");
    assert!(text(&gets[0], "query").contains("&procods=G0&pris=1.50&quas=1&procods=G1"));
    assert_eq!(relay_posts(&requests).len(), 1);
}

/// What the module hands the page's `fetch`: `Request`s (gloo-net's), the hand-off a keepalive
/// POST, the third-o GET a keepalive `no-cors` request, both with an abort signal.
#[wasm_bindgen_test]
async fn requests_reach_fetch_as_keepalive_requests() {
    let id = order_id("keepalive");
    run_js(
        "window.__seen = []; window.__fetch = window.fetch;
         window.fetch = (input, init) => {
           window.__seen.push(input instanceof Request
             ? { path: new URL(input.url).pathname, method: input.method, mode: input.mode,
                 keepalive: input.keepalive, signal: input.signal instanceof AbortSignal }
             : { notARequest: String(input) });
           return window.__fetch(input, init);
         };",
    );
    let report = report(options(&relay("ok"), &id, 1, "always")).await;
    let seen = run_js("window.fetch = window.__fetch; return window.__seen;");
    assert_eq!(text(&report, "relay.status"), "accepted");
    assert_eq!(text(&report, "pixel.status"), "sent", "{}", show(&report));
    let flag = |path: &str| at(&seen, path).as_bool();
    assert_eq!(number(&seen, "length"), 2.0, "{}", show(&seen));
    assert_eq!(
        text(&seen, "0.path"),
        "/r/ok/v1/checkouts",
        "{}",
        show(&seen)
    );
    assert_eq!(text(&seen, "0.method"), "POST");
    assert_eq!(flag("0.keepalive"), Some(true), "0.keepalive");
    assert_eq!(flag("0.signal"), Some(true), "0.signal");
    assert_eq!(text(&seen, "1.path"), "/citrus/v1/resource/third-o");
    assert_eq!(text(&seen, "1.method"), "GET");
    assert_eq!(text(&seen, "1.mode"), "no-cors");
    assert_eq!(flag("1.keepalive"), Some(true), "1.keepalive");
    assert_eq!(flag("1.signal"), Some(true), "1.signal");
}

#[wasm_bindgen_test]
async fn policy_fallback_sends_the_pixel_only_when_the_relay_is_unreachable() {
    run_js("localStorage.clear();");
    let id = order_id("fallback");
    let report = report(options(DOWN_RELAY, &id, 1, "fallback")).await;
    assert_eq!(text(&report, "relay.status"), "queued");
    assert!(
        at(&report, "relay.httpStatus").is_undefined(),
        "network error"
    );
    assert_eq!(text(&report, "pixel.status"), "sent", "{}", show(&report));
    assert_eq!(pixel_gets(&requests_for(&id).await).len(), 1);
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn policy_never_sends_no_pixel_even_when_the_relay_is_down() {
    run_js("localStorage.clear();");
    let id = order_id("never");
    let report = report(options(DOWN_RELAY, &id, 1, "never")).await;
    assert_eq!(text(&report, "relay.status"), "queued");
    assert_eq!(text(&report, "pixel.status"), "skipped");
    assert_eq!(
        text(&report, "pixel.reason"),
        "citrus.frontend is \"never\""
    );
    assert!(text(&report, "pixel.url").contains("ordid="));
    assert_eq!(pixel_gets(&requests_for(&id).await).len(), 0);
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn a_reload_reports_duplicate_and_sends_nothing_again() {
    let id = order_id("dup");
    let first = report(options(&relay("ok"), &id, 1, "always")).await;
    assert_eq!(text(&first, "relay.status"), "accepted");
    let stored = run_js("return localStorage.getItem('ordersync.reported');");
    assert!(
        stored.as_string().unwrap().contains(&id),
        "remembered in localStorage"
    );

    let again = report(options(&relay("ok"), &id, 1, "always")).await;
    assert_eq!(text(&again, "relay.status"), "duplicate");
    assert_eq!(text(&again, "pixel.status"), "skipped");
    let requests = requests_for(&id).await;
    assert_eq!(relay_posts(&requests).len(), 1);
    assert_eq!(pixel_gets(&requests).len(), 1);
}

#[wasm_bindgen_test]
async fn a_relay_that_is_down_gets_the_hand_off_later() {
    run_js("localStorage.clear();");
    let name = format!("flaky{}", order_id("q"));
    set_status(&name, 503).await;
    let id = order_id("queue");
    let report = report(options(&relay(&name), &id, 1, "never")).await;
    assert_eq!(text(&report, "relay.status"), "queued");
    assert_eq!(number(&report, "relay.httpStatus"), 503.0);
    let pending = run_js("return localStorage.getItem('ordersync.pending');");
    assert!(pending.as_string().unwrap().contains(&id));

    // Still down: the entry stays.
    let still = flush().await;
    assert_eq!(number(&still, "delivered"), 0.0);
    assert_eq!(number(&still, "remaining"), 1.0);

    set_status(&name, 202).await;
    let flushed = flush().await;
    assert_eq!(number(&flushed, "delivered"), 1.0);
    assert_eq!(number(&flushed, "remaining"), 0.0);
    let posts = relay_posts(&requests_for(&id).await);
    assert_eq!(posts.len(), 3, "first try, retry while down, delivery");
    assert_eq!(text(&posts[2], "body.checkout.orderId"), id);
    let pending = run_js("return localStorage.getItem('ordersync.pending');");
    assert!(!pending.as_string().unwrap_or_default().contains(&id));
}

#[wasm_bindgen_test]
async fn a_429_is_queued_and_a_4xx_is_rejected_for_good() {
    run_js("localStorage.clear();");
    let busy = format!("busy{}", order_id("b"));
    set_status(&busy, 429).await;
    let report_busy = report(options(&relay(&busy), &order_id("busy"), 1, "never")).await;
    assert_eq!(text(&report_busy, "relay.status"), "queued");
    assert_eq!(number(&report_busy, "relay.httpStatus"), 429.0);
    run_js("localStorage.clear();");

    let refusing = format!("refuse{}", order_id("r"));
    set_status(&refusing, 400).await;
    let id = order_id("reject");
    let report = report(options(&relay(&refusing), &id, 1, "fallback")).await;
    assert_eq!(text(&report, "relay.status"), "rejected");
    assert_eq!(number(&report, "relay.httpStatus"), 400.0);
    assert_eq!(
        text(&report, "pixel.status"),
        "skipped",
        "a 4xx means the relay was reached"
    );
    let flushed = flush().await;
    assert_eq!(
        number(&flushed, "remaining"),
        0.0,
        "a rejection is not retried"
    );
    assert_eq!(relay_posts(&requests_for(&id).await).len(), 1);
    assert_eq!(pixel_gets(&requests_for(&id).await).len(), 0);
}

#[wasm_bindgen_test]
async fn hostile_options_resolve_to_reports() {
    let cases: Vec<(JsValue, &str)> = vec![
        (JsValue::UNDEFINED, "options"),
        (JsValue::from(42), "options"),
        (parse("{}"), "checkout"),
        (parse(r#"{"checkout": 5, "relayUrl": "/x"}"#), "checkout"),
        (parse(r#"{"token": "not-a-jws", "relayUrl": "/x"}"#), "token"),
        (parse(r#"{"token": 7, "relayUrl": "/x"}"#), "token"),
        (
            run_js(&format!(
                "const c = {}; c.sessionId = NaN; return {{ relayUrl: '/x', checkout: c }};",
                checkout_json("1", 1)
            )),
            "sessionId",
        ),
        (
            run_js(&format!(
                "const c = {}; c.items[0].quantity = Infinity; return {{ relayUrl: '/x', checkout: c }};",
                checkout_json("1", 1)
            )),
            "items[0].quantity",
        ),
        (
            run_js(&format!(
                "const c = {}; return {{ relayUrl: {{ toString() {{ throw 1; }} }}, checkout: c }};",
                checkout_json("1", 1)
            )),
            "relayUrl",
        ),
        (
            run_js("return { relayUrl: '/x', get checkout() { throw new Error('getter'); } };"),
            "checkout",
        ),
        (
            run_js("return { relayUrl: '/x', checkout: new Proxy({}, { ownKeys() { throw new Error('trap'); } }) };"),
            "orderId",
        ),
        (
            run_js(&format!(
                "const c = {}; c.items[0].self = c; return {{ relayUrl: '/x', checkout: c }};",
                checkout_json("1", 1)
            )),
            // An unknown key (even a cycle) is the relay's to refuse: the browser hands it on.
            "",
        ),
        (
            run_js(&format!(
                "const c = {}; return {{ relayUrl: '/x', checkout: c, citrus: 'yes' }};",
                checkout_json(&order_id("citrus"), 1)
            )),
            "",
        ),
    ];
    for (options, field) in cases {
        let report = report(options).await;
        assert!(report.is_object());
        if field.is_empty() {
            assert!(at(&report, "relay.status").is_string());
        } else {
            assert_eq!(text(&report, "error.field"), field);
            assert!(at(&report, "error.message").is_string());
            assert_eq!(text(&report, "relay.status"), "skipped");
            assert_eq!(text(&report, "pixel.status"), "skipped");
        }
    }
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn throwing_storage_still_reports() {
    run_js(
        "window.__saved = [Storage.prototype.getItem, Storage.prototype.setItem];
         Storage.prototype.getItem = function () { throw new DOMException('denied', 'SecurityError'); };
         Storage.prototype.setItem = function () { throw new DOMException('full', 'QuotaExceededError'); };",
    );
    let id = order_id("nostore");
    let accepted = report(options(&relay("ok"), &id, 1, "fallback")).await;
    let down = report(options(DOWN_RELAY, &order_id("nostore2"), 1, "fallback")).await;
    let flushed = flush().await;
    run_js("[Storage.prototype.getItem, Storage.prototype.setItem] = window.__saved;");

    assert_eq!(text(&accepted, "relay.status"), "accepted");
    assert_eq!(text(&down, "relay.status"), "failed");
    assert_eq!(
        text(&down, "relay.reason"),
        "the relay could not be reached and localStorage is unavailable, so nothing was queued"
    );
    assert_eq!(
        text(&down, "pixel.status"),
        "sent",
        "fallback still reaches CitrusAd"
    );
    assert_eq!(number(&flushed, "remaining"), 0.0);
}

#[wasm_bindgen_test]
async fn without_fetch_the_hand_off_goes_by_send_beacon() {
    run_js("window.__fetch = window.fetch; window.fetch = undefined;");
    let id = order_id("beacon");
    let report = report(options(&relay("ok"), &id, 1, "always")).await;
    run_js("window.fetch = window.__fetch;");
    assert_eq!(text(&report, "relay.status"), "beacon");
    assert_eq!(text(&report, "pixel.status"), "failed");
    // The beacon is delivered by the browser on its own schedule: wait for it.
    let mut posts = Vec::new();
    for _ in 0..50 {
        posts = relay_posts(&requests_for(&id).await);
        if !posts.is_empty() {
            break;
        }
        sleep(100).await;
    }
    assert_eq!(posts.len(), 1);
    assert_eq!(
        text(&posts[0], "headers.content-type"),
        "text/plain;charset=UTF-8"
    );
    assert_eq!(text(&posts[0], "body.checkout.orderId"), id);
}

async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into()).unwrap();
        js_sys::Function::from(set_timeout)
            .call2(&global, &resolve, &JsValue::from(ms))
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn many_large_hand_offs_in_a_row_are_all_accepted() {
    // 60 keepalive hand-offs of ~6 KB each, one after the other: far more than the 64 KiB of
    // keepalive bodies a page may have in flight. Chromium counts a request until its response
    // body is consumed, so this fails (intermittently, as garbage collection frees some) when
    // the module leaves response bodies unread.
    run_js("localStorage.clear();");
    for _ in 0..60 {
        let report = report(options(&relay("ok"), &order_id("many"), 50, "never")).await;
        assert_eq!(
            text(&report, "relay.status"),
            "accepted",
            "{}",
            show(&report)
        );
    }
}

fn pending_text() -> String {
    run_js("return localStorage.getItem('ordersync.pending') || '';")
        .as_string()
        .unwrap_or_default()
}

async fn wait_for_posts(order_id: &str, count: usize) -> Vec<JsValue> {
    let mut posts = Vec::new();
    for _ in 0..50 {
        posts = relay_posts(&requests_for(order_id).await);
        if posts.len() >= count {
            break;
        }
        sleep(100).await;
    }
    posts
}

#[wasm_bindgen_test]
async fn the_next_report_and_the_online_event_retry_the_queue() {
    run_js("localStorage.clear();");
    let name = format!("later{}", order_id("l"));
    set_status(&name, 503).await;
    let first = order_id("first");
    let second = order_id("second");
    assert_eq!(
        text(
            &report(options(&relay(&name), &first, 1, "never")).await,
            "relay.status"
        ),
        "queued"
    );
    set_status(&name, 202).await;

    // The next reportOrder (another order) retries the queued one too.
    let next = report(options(&relay(&name), &second, 1, "never")).await;
    assert_eq!(text(&next, "relay.status"), "accepted");
    assert_eq!(wait_for_posts(&first, 2).await.len(), 2);
    for _ in 0..50 {
        if !pending_text().contains(&first) {
            break;
        }
        sleep(100).await;
    }
    assert!(!pending_text().contains(&first), "delivered, so dequeued");

    // Queued again while down; the browser's `online` event retries it. (`init()` runs
    // `start`, which listens for it; the test runner does not run start functions, so the
    // test does. A second call does nothing.)
    ordersync::start();
    ordersync::start();
    set_status(&name, 503).await;
    let third = order_id("third");
    report(options(&relay(&name), &third, 1, "never")).await;
    set_status(&name, 202).await;
    run_js("window.dispatchEvent(new Event('online'));");
    let posts = wait_for_posts(&third, 2).await;
    assert_eq!(
        posts.len(),
        2,
        "one retry per online event, not two listeners"
    );
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn the_queue_is_bounded_in_count_and_age() {
    run_js("localStorage.clear();");
    let ids: Vec<String> = (0..25).map(|i| order_id(&"c".repeat(i + 1))).collect();
    for id in &ids {
        report(options(DOWN_RELAY, id, 1, "never")).await;
    }
    let pending = pending_text();
    assert_eq!(pending.lines().count(), 20, "at most 20 hand-offs kept");
    assert!(!pending.contains(&ids[0]), "the oldest are dropped first");
    assert!(pending.contains(&ids[24]));

    // An entry older than 7 days is dropped, never sent.
    let stale = order_id("stale");
    let eight_days_ago = js_sys::Date::now() as u64 - 8 * 24 * 3600 * 1000;
    run_js(&format!(
        "localStorage.setItem('ordersync.pending', '{eight_days_ago}\\t{}/v1/checkouts\\t{stale}\\t{{}}\\n');",
        relay("ok")
    ));
    let flushed = flush().await;
    assert_eq!(number(&flushed, "remaining"), 0.0);
    assert_eq!(number(&flushed, "delivered"), 0.0);
    assert_eq!(text(&flushed, "dropped.0.orderId"), stale);
    assert_eq!(text(&flushed, "dropped.0.cause"), "too-old");
    assert!(relay_posts(&requests_for(&stale).await).is_empty());
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn the_duplicate_guard_expires() {
    run_js("localStorage.clear();");
    let id = order_id("expired");
    let yesterday = js_sys::Date::now() as u64 - 24 * 3600 * 1000;
    run_js(&format!(
        "localStorage.setItem('ordersync.reported', '{yesterday}\\t{id}\\n');"
    ));
    let report = report(options(&relay("ok"), &id, 1, "never")).await;
    assert_eq!(
        text(&report, "relay.status"),
        "accepted",
        "an expired entry is forgotten"
    );
    run_js("localStorage.clear();");
}

/// `options` with `consent` added (a JSON object text).
fn with_consent(options: JsValue, consent: &str) -> JsValue {
    js_sys::Reflect::set(&options, &"consent".into(), &parse(consent)).unwrap();
    options
}

#[wasm_bindgen_test]
async fn without_marketing_consent_no_cookie_is_read_and_no_third_o_is_sent() {
    run_js("localStorage.clear();");
    set_cookie("cibler_id=CIB1.77.1700000000; path=/");
    let id = order_id("noconsent");
    let options = with_consent(
        options(&relay("ok"), &id, 2, "always"),
        r#"{"marketing":false}"#,
    );
    let report = report(options).await;
    let down = order_id("noconsentdown");
    let unreachable = report_down_without_consent(&down).await;
    clear_cookie("cibler_id");

    assert!(at(&report, "cookieId").is_null(), "{}", show(&report));
    assert_eq!(text(&report, "relay.status"), "accepted");
    assert_eq!(text(&report, "pixel.status"), "skipped");
    assert_eq!(
        text(&report, "pixel.reason"),
        "no marketing consent (consent.marketing is false)"
    );
    let requests = requests_for(&id).await;
    let posts = relay_posts(&requests);
    assert_eq!(
        posts.len(),
        1,
        "the hand-off to the shop's relay still goes"
    );
    assert!(at(&posts[0], "body.cookieId").is_null());
    assert_eq!(
        pixel_gets(&requests).len(),
        0,
        "policy always, but no consent"
    );

    // The relay down under the fallback policy: still no third-o request.
    assert_eq!(text(&unreachable, "relay.status"), "queued");
    assert_eq!(text(&unreachable, "pixel.status"), "skipped");
    assert_eq!(pixel_gets(&requests_for(&down).await).len(), 0);
    run_js("localStorage.clear();");
}

async fn report_down_without_consent(id: &str) -> JsValue {
    let options = with_consent(
        options(DOWN_RELAY, id, 1, "fallback"),
        r#"{"marketing":false}"#,
    );
    report(options).await
}

#[wasm_bindgen_test]
async fn consent_granted_reads_the_cookie_and_a_malformed_consent_is_refused() {
    run_js("localStorage.clear();");
    set_cookie("cibler_id=CIB1.78.1700000000; path=/");
    let granted = report(with_consent(
        options(&relay("ok"), &order_id("consent"), 1, "always"),
        r#"{"marketing":true}"#,
    ))
    .await;
    let mut refused = Vec::new();
    for consent in [r#""yes""#, "{}", r#"{"marketing":"false"}"#] {
        let options = with_consent(
            options(&relay("ok"), &order_id("badconsent"), 1, "always"),
            consent,
        );
        refused.push(report(options).await);
    }
    clear_cookie("cibler_id");

    assert_eq!(text(&granted, "cookieId"), "CIB1.78.1700000000");
    assert_eq!(text(&granted, "pixel.status"), "sent", "{}", show(&granted));
    for (report, field) in refused
        .iter()
        .zip(["consent", "consent.marketing", "consent.marketing"])
    {
        assert_eq!(text(report, "error.field"), field, "{}", show(report));
        assert_eq!(text(report, "relay.status"), "skipped");
        assert!(
            at(report, "cookieId").is_null(),
            "not read without a consent answer"
        );
    }
    run_js("localStorage.clear();");
}

/// A queued hand-off line as the module writes it, for a signed checkout whose token expires
/// at `exp` (seconds); and the token (the body names the order only inside it).
fn queued_token_line(order_id: &str, created_ms: u64, exp: u64) -> (String, String) {
    let claims = checkout_json(order_id, 1).replacen('{', &format!(r#"{{"exp":{exp},"#), 1);
    let token = token_for(&claims);
    let body = format!(r#"{{"token":"{token}","cookieId":null}}"#);
    let line = format!(
        "{created_ms}\\t{}/v1/checkouts\\t{order_id}\\t{body}\\n",
        relay("ok")
    );
    (line, token)
}

#[wasm_bindgen_test]
async fn a_queued_hand_off_outlives_a_long_outage_but_never_its_token() {
    run_js("localStorage.clear();");
    let now = js_sys::Date::now() as u64;
    let day = 24 * 3600 * 1000;
    // Queued two days ago (an outage far longer than 15 minutes), its token valid 5 more days.
    let kept = order_id("kept");
    // Queued an hour ago, but its token expired a minute ago.
    let expired = order_id("expired");
    let (kept_line, kept_token) = queued_token_line(&kept, now - 2 * day, (now + 5 * day) / 1000);
    let (expired_line, expired_token) =
        queued_token_line(&expired, now - 3600 * 1000, now / 1000 - 60);
    let lines = [kept_line, expired_line].concat();
    run_js(&format!(
        "localStorage.setItem('ordersync.pending', '{lines}');"
    ));

    let flushed = flush().await;
    assert_eq!(number(&flushed, "delivered"), 1.0, "{}", show(&flushed));
    assert_eq!(number(&flushed, "remaining"), 0.0);
    assert_eq!(text(&flushed, "dropped.0.orderId"), expired);
    assert_eq!(text(&flushed, "dropped.0.cause"), "token-expired");
    assert!(text(&flushed, "dropped.0.reason").contains("expired"));
    assert!(at(&flushed, "dropped.1").is_undefined());
    assert_eq!(relay_posts(&requests_for(&kept_token).await).len(), 1);
    assert!(
        relay_posts(&requests_for(&expired_token).await).is_empty(),
        "never sent"
    );
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn the_next_report_tells_which_queued_hand_offs_it_dropped() {
    run_js("localStorage.clear();");
    let now = js_sys::Date::now() as u64;
    let stale = order_id("stale");
    let eight_days_ago = now - 8 * 24 * 3600 * 1000;
    // A plain checkout queued 8 days ago: past the queue's 7 days.
    run_js(&format!(
        "localStorage.setItem('ordersync.pending', '{eight_days_ago}\\t{}/v1/checkouts\\t{stale}\\t{{}}\\n');",
        relay("ok")
    ));
    let report = report(options(&relay("ok"), &order_id("next"), 1, "never")).await;
    assert_eq!(text(&report, "relay.status"), "accepted");
    assert_eq!(
        text(&report, "dropped.0.orderId"),
        stale,
        "{}",
        show(&report)
    );
    assert_eq!(text(&report, "dropped.0.cause"), "too-old");
    assert!(relay_posts(&requests_for(&stale).await).is_empty());
    let flushed = flush().await;
    assert!(at(&flushed, "dropped.0").is_undefined(), "told once");
    run_js("localStorage.clear();");
}

#[wasm_bindgen_test]
async fn pagehide_sends_an_in_flight_hand_off_by_beacon() {
    run_js("localStorage.clear();");
    // `init()` runs `start`, which listens for `pagehide` (the test runner does not run it).
    ordersync::start();
    let id = order_id("hidden");
    let now = js_sys::Date::now() as u64;
    let body = format!(r#"{{"checkout":{{"orderId":"{id}"}},"cookieId":null}}"#);
    run_js(&format!(
        "localStorage.setItem('ordersync.pending', '{now}\\t{}/v1/checkouts\\t{id}\\t{body}\\n');",
        relay("ok")
    ));
    // The queue's retry (no keepalive) hangs, as on a slow network, when the page is left.
    run_js(
        "window.__fetch = window.fetch;
         window.fetch = (input, init) => String(input.url ?? input).includes('/r/ok/') ? new Promise(() => {}) : window.__fetch(input, init);",
    );
    let flushing = ordersync::flush_queue();
    run_js("window.dispatchEvent(new Event('pagehide'));");
    let posts = wait_for_posts(&id, 1).await;
    run_js("window.fetch = window.__fetch;");
    assert_eq!(posts.len(), 1, "sent by sendBeacon while fetch hangs");
    assert_eq!(
        text(&posts[0], "headers.content-type"),
        "text/plain;charset=UTF-8"
    );
    // The hanging retry still ends (the module's timeout), and the hand-off stays queued: the
    // relay takes an order once, however often it arrives.
    let flushed = wasm_bindgen_futures::JsFuture::from(flushing)
        .await
        .unwrap();
    assert_eq!(number(&flushed, "remaining"), 1.0, "{}", show(&flushed));
    run_js("localStorage.clear();");
}
