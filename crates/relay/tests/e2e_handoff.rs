//! `POST /v1/checkouts` of the real relay process: signatures made by another language's
//! standard JWT library (PyJWT) accepted, forged and expired ones refused; duplicates; and
//! every 4xx path (400 naming the field, 401, 413, 415, 429). Nothing refused reaches a vendor.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn assert_error_body(reply: &Reply) {
    let message = reply.body["error"]["message"].as_str();
    assert!(
        message.is_some_and(|m| !m.is_empty()),
        "an error body {{\"error\": {{\"message\"}}}}: {}",
        reply.text
    );
    assert!(!reply.text.contains(SIGNING_SECRET));
}

#[test]
fn pyjwt_tokens_are_accepted_and_forged_or_expired_ones_refused() {
    let sandbox = Sandbox::start(&[]);
    let relay = Relay::start(&sandbox, RelayOptions::default());
    let url = relay.checkouts_url();

    let mut claims = checkout(900001);
    claims["exp"] = json!(unix_now() + 300);
    let token = sign_with_pyjwt(&claims, SIGNING_SECRET);
    let accepted = post_json(&url, &json!({"token": token, "cookieId": "CIB1.1.2"}));
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    assert_eq!(accepted.body["orderId"], "900001");
    assert_eq!(accepted.body["status"], "accepted");

    // Registered claims the shop's JWT library may add are tolerated.
    let mut with_registered = checkout(900002);
    with_registered["exp"] = json!(unix_now() + 300);
    with_registered["iat"] = json!(unix_now());
    with_registered["iss"] = json!("shop.example");
    let token = sign_with_pyjwt(&with_registered, SIGNING_SECRET);
    let accepted = post_json(&url, &json!({"token": token, "cookieId": null}));
    assert_eq!(accepted.status, 202, "{}", accepted.text);

    let mut refused_ids = Vec::new();
    let mut refuse = |name: &str, body: Value, order_id: &str| {
        let reply = post_json(&url, &body);
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
        assert_error_body(&reply);
        refused_ids.push(order_id.to_owned());
    };

    // Signed with another secret.
    let mut forged = checkout(900003);
    forged["exp"] = json!(unix_now() + 300);
    let token = sign_with_pyjwt(&forged, "not-the-shop-secret-but-32-bytes-long!!");
    refuse("wrong secret", json!({"token": token}), "900003");

    // A genuine token whose payload was edited afterwards (a bigger basket).
    let mut genuine = checkout(900004);
    genuine["exp"] = json!(unix_now() + 300);
    let token = sign_with_pyjwt(&genuine, SIGNING_SECRET);
    let parts: Vec<&str> = token.split('.').collect();
    let mut edited = genuine.clone();
    edited["totalSpent"] = json!("4250.00");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64url(edited.to_string().as_bytes()),
        parts[2]
    );
    refuse("tampered payload", json!({"token": tampered}), "900004");

    // `alg: none`, the classic downgrade.
    let mut unsigned = checkout(900005);
    unsigned["exp"] = json!(unix_now() + 300);
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(unsigned.to_string().as_bytes())
    );
    refuse("alg none", json!({"token": none}), "900005");

    // Expired a minute ago (signed correctly by PyJWT).
    let mut expired = checkout(900006);
    expired["exp"] = json!(unix_now() - 60);
    let token = sign_with_pyjwt(&expired, SIGNING_SECRET);
    refuse("expired", json!({"token": token}), "900006");

    // No `exp` at all: a token that never expires is not accepted.
    let no_exp = checkout(900007);
    let token = sign_with_pyjwt(&no_exp, SIGNING_SECRET);
    refuse("no exp", json!({"token": token}), "900007");

    // No token, and an unsigned checkout on a relay that does not accept those.
    refuse("no token", json!({"cookieId": "CIB1.1.2"}), "-");
    refuse(
        "unsigned",
        json!({"checkout": checkout(900008), "cookieId": null}),
        "900008",
    );
    refuse("garbage token", json!({"token": "a.b.c"}), "-");

    // The two accepted orders reach both vendors; none of the refused ones ever does.
    wait_for("both accepted orders at both vendors", DEADLINE, || {
        let cibler = sandbox.cibler_delivered();
        let citrus = sandbox.citrus_delivered();
        let all = ["900001", "900002"]
            .iter()
            .all(|id| cibler.contains(&id.to_string()) && citrus.contains(&id.to_string()));
        all.then_some(())
    });
    let seen = format!("{:?}", sandbox.requests());
    for id in refused_ids.iter().filter(|id| *id != "-") {
        assert!(
            !seen.contains(id.as_str()),
            "refused order {id} reached a vendor"
        );
        assert_eq!(
            relay.status(id).status,
            404,
            "refused order {id} was stored"
        );
    }
    assert_eq!(sandbox.violations(), Vec::<String>::new());
    relay.assert_no_secret_in_logs();
}

#[test]
fn unsigned_checkouts_are_accepted_only_when_the_relay_says_so() {
    let sandbox = Sandbox::start(&[]);
    let relay = Relay::start(
        &sandbox,
        RelayOptions {
            accept_unsigned: true,
            ..RelayOptions::default()
        },
    );
    let reply = post_json(
        &relay.checkouts_url(),
        &json!({"checkout": checkout(910001), "cookieId": null}),
    );
    assert_eq!(reply.status, 202, "{}", reply.text);
    // Signed ones still work, and a forged one is still refused.
    assert_eq!(relay.hand_off(&checkout(910002), None).status, 202);
    let forged = sign_with(
        &checkout(910003),
        unix_now() + 60,
        "another-secret-of-at-least-32-bytes!!",
    );
    let reply = post_json(&relay.checkouts_url(), &json!({"token": forged}));
    assert_eq!(reply.status, 401);
    wait_for("unsigned order delivered", DEADLINE, || {
        sandbox
            .cibler_delivered()
            .contains(&"910001".to_owned())
            .then_some(())
    });
}

#[test]
fn a_duplicate_is_answered_200_with_the_existing_status_and_delivered_once() {
    let sandbox = Sandbox::start(&[]);
    let relay = Relay::start(&sandbox, RelayOptions::default());
    let first = relay.hand_off(&checkout(920001), Some("CIB1.1.2"));
    assert_eq!(first.status, 202, "{}", first.text);
    let again = relay.hand_off(&checkout(920001), Some("CIB1.1.2"));
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["orderId"], "920001");
    assert!(again.body["status"].is_string(), "{}", again.text);
    relay.wait_state("920001", "cibler", "delivered");
    relay.wait_state("920001", "citrusad", "delivered");
    // A repeat after delivery is still a duplicate, and reports the delivered state.
    let late = relay.hand_off(&checkout(920001), Some("CIB1.1.2"));
    assert_eq!(late.status, 200, "{}", late.text);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sandbox.cibler_delivered(), vec!["920001".to_owned()]);
    assert_eq!(sandbox.citrus_delivered(), vec!["920001".to_owned()]);
}

#[test]
fn bad_checkouts_get_400_naming_the_field() {
    let sandbox = Sandbox::start(&[]);
    let relay = Relay::start(&sandbox, RelayOptions::default());
    let url = relay.checkouts_url();
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut c = checkout(930001);
                c["items"][0]["quantity"] = json!(0);
                c
            },
            "items[0].quantity",
        ),
        (
            {
                let mut c = checkout(930002);
                c.as_object_mut().unwrap().remove("email");
                c
            },
            "email",
        ),
        (
            {
                let mut c = checkout(930003);
                c["totalSpent"] = json!("12.345");
                c
            },
            "totalSpent",
        ),
        (
            {
                let mut c = checkout(930004);
                c["orderDate"] = json!("22/11/2026");
                c
            },
            "orderDate",
        ),
        (
            {
                let mut c = checkout(930005);
                c["colour"] = json!("blue");
                c
            },
            "colour",
        ),
        (
            // CibleR is enabled: an order id that is not a Long can never reach it.
            {
                let mut c = checkout(0);
                c["orderId"] = json!("ORD-abc");
                c
            },
            "orderId",
        ),
    ];
    for (bad, field) in cases {
        let reply = relay.hand_off(&bad, None);
        assert_eq!(reply.status, 400, "{field}: {}", reply.text);
        assert_eq!(reply.body["error"]["field"], field, "{}", reply.text);
        assert_error_body(&reply);
    }
    for (body, what) in [
        (&b"{not json"[..], "invalid JSON"),
        (&b"[1, 2]"[..], "not an object"),
        (&br#"{"token": 17}"#[..], "token not a string"),
    ] {
        let reply = post_raw(&url, "application/json", body);
        assert!(
            reply.status == 400 || reply.status == 401,
            "{what}: {} {}",
            reply.status,
            reply.text
        );
        assert_error_body(&reply);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sandbox.requests().is_empty(),
        "nothing refused reaches a vendor"
    );
}

#[test]
fn media_types_body_size_and_rate_limit() {
    let sandbox = Sandbox::start(&[]);
    let relay = Relay::start(
        &sandbox,
        RelayOptions::default()
            .flag("--max-body-bytes", "4096")
            .flag("--rate-limit-per-minute", "60")
            .flag("--rate-limit-burst", "6"),
    );
    let url = relay.checkouts_url();
    let token = sign(&checkout(940001), unix_now() + 300);
    let envelope = json!({"token": token, "cookieId": null}).to_string();

    // What navigator.sendBeacon sends without a CORS preflight: accepted.
    let beacon = post_raw(&url, "text/plain;charset=UTF-8", envelope.as_bytes());
    assert_eq!(beacon.status, 202, "{}", beacon.text);

    let xml = post_raw(&url, "application/xml", envelope.as_bytes());
    assert_eq!(xml.status, 415, "{}", xml.text);
    assert_error_body(&xml);

    let mut big = checkout(940002);
    big["items"] = json!((0..60)
        .map(|n| json!({"gtin": format!("gtin-{n:08}"), "quantity": 1,
            "regularUnitPrice": "1.00", "totalOrderItemPriceAfterDiscounts": "1.00",
            "catalogId": "catalog-e2e"}))
        .collect::<Vec<_>>());
    let big_token = sign(&big, unix_now() + 300);
    let big_body = json!({ "token": big_token }).to_string();
    assert!(big_body.len() > 4096);
    let too_large = post_raw(&url, "application/json", big_body.as_bytes());
    assert_eq!(too_large.status, 413, "{}", too_large.text);

    // The burst is 6 per client; we have used 3. Keep sending until refused.
    let limited = (0..20)
        .map(|_| post_raw(&url, "application/json", envelope.as_bytes()))
        .find(|r| r.status == 429)
        .expect("the per-client rate limit answers 429");
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("a 429 says when to come back")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_error_body(&limited);
}
