//! Hostile hand-offs against the real relay process: huge bodies (declared, undeclared and
//! chunked), deeply nested JSON, wrong JSON types in the envelope and in signed claims, invalid
//! UTF-8 (raw, in a JSON string, inside a correctly signed token) and 10,000 line items. Each
//! gets the right 4xx with an error body, none reaches a vendor, and the relay keeps serving.
//!
//! Some requests are written on a raw TCP socket: an HTTP client library refuses to send a
//! body that breaks its own rules, and the relay may answer 413 before it has read a huge body.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

/// A relay whose per-client limit stays out of the way: one client sends every case here.
fn hostile_relay(sandbox: &Sandbox, extra: &[(&str, &str)]) -> Relay {
    let mut options = RelayOptions::default()
        .flag("--rate-limit-per-minute", "100000")
        .flag("--rate-limit-burst", "10000");
    for (name, value) in extra {
        options = options.flag(name, value);
    }
    Relay::start(sandbox, options)
}

/// The status of the answer and its JSON body (`Null` when not JSON), read from a raw socket.
#[derive(Debug)]
struct RawReply {
    status: u16,
    body: Value,
    text: String,
}

/// Writes `head` then `body` (in 64 KiB pieces, stopping quietly if the relay hangs up after
/// answering early) while another thread reads the answer.
fn raw_exchange(address: &str, head: &[u8], body: &[u8]) -> RawReply {
    let stream = TcpStream::connect(address).expect("connect to the relay");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut reader = stream.try_clone().unwrap();
    let reading = std::thread::spawn(move || {
        let mut received = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    received.extend_from_slice(&buffer[..n]);
                    if complete_response(&received) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        received
    });
    let mut writer = stream;
    if writer.write_all(head).is_ok() {
        for piece in body.chunks(64 * 1024) {
            if writer.write_all(piece).is_err() {
                break;
            }
        }
    }
    let received = reading.join().unwrap();
    parse_response(&received)
}

/// True once the bytes hold a status line, headers and a body of the declared length.
fn complete_response(bytes: &[u8]) -> bool {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|n| bytes.len() >= end + 4 + n)
}

fn parse_response(bytes: &[u8]) -> RawReply {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer; received {text:?}"));
    let body_text = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    let body = serde_json::from_str(&body_text).unwrap_or(Value::Null);
    RawReply {
        status,
        body,
        text: body_text,
    }
}

fn post_head(address: &str, content_type: &str, length_header: &str) -> Vec<u8> {
    format!(
        "POST /v1/checkouts HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\n\
         {length_header}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

fn address_of(relay: &Relay) -> String {
    relay.url.trim_start_matches("http://").to_owned()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact HS256 JWS over `payload` exactly as given (it need not be JSON, nor UTF-8): what
/// a shop's server with a bug, or an attacker who holds the secret, could send.
fn sign_raw_payload(payload: &[u8]) -> String {
    use jsonwebtoken::crypto::sign;
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let signing_input = format!("{header}.{}", b64url(payload));
    let signature = sign(
        signing_input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(SIGNING_SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("HS256 signing");
    format!("{signing_input}.{signature}")
}

fn signed_envelope(claims: &Value) -> Vec<u8> {
    json!({"token": sign(claims, unix_now() + 600), "cookieId": null})
        .to_string()
        .into_bytes()
}

/// Asserts a 4xx with the wanted status and an error body; when `field` is given, the error
/// names it.
fn assert_refused(
    case: &str,
    status: u16,
    body: &Value,
    text: &str,
    wanted: u16,
    field: Option<&str>,
) {
    assert_eq!(
        status, wanted,
        "{case}: wanted {wanted}, got {status}: {text}"
    );
    let message = body["error"]["message"].as_str();
    assert!(
        message.is_some_and(|m| !m.is_empty()),
        "{case}: an error body with a message: {text}"
    );
    if let Some(field) = field {
        assert_eq!(
            body["error"]["field"].as_str(),
            Some(field),
            "{case}: the error names {field}: {text}"
        );
    }
    assert!(!text.contains(SIGNING_SECRET), "{case}: the secret leaked");
}

fn post(relay: &Relay, content_type: &str, body: &[u8]) -> Reply {
    post_raw(&relay.checkouts_url(), content_type, body)
}

/// The relay still answers, stored nothing, and sent nothing to either vendor.
fn assert_unharmed(relay: &Relay, sandbox: &Sandbox) {
    assert_eq!(get(&format!("{}/healthz", relay.url)).status, 200);
    let metrics = get(&format!("{}/metrics", relay.url)).text;
    let accepted = metrics
        .lines()
        .find(|l| l.starts_with("ordersync_checkouts_accepted_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok());
    assert_eq!(
        accepted,
        Some(0.0),
        "nothing hostile was accepted:\n{metrics}"
    );
    assert!(
        sandbox.requests().is_empty(),
        "nothing refused reaches a vendor"
    );
}

#[test]
fn huge_bodies_get_413_however_they_are_sent() {
    let sandbox = Sandbox::start(&[]);
    let relay = hostile_relay(&sandbox, &[]);
    let address = address_of(&relay);
    let eight_mib = vec![b' '; 8 * 1024 * 1024];

    // Declared: refused from the header, before the body is read.
    let head = post_head(
        &address,
        "application/json",
        &format!("Content-Length: {}\r\n", eight_mib.len()),
    );
    let declared = raw_exchange(&address, &head, &eight_mib);
    assert_refused(
        "declared 8 MiB",
        declared.status,
        &declared.body,
        &declared.text,
        413,
        None,
    );

    // A declared length far beyond anything, with hardly any body behind it.
    let head = post_head(
        &address,
        "application/json",
        "Content-Length: 1099511627776\r\n",
    );
    let lying = raw_exchange(&address, &head, b"{}");
    assert_refused(
        "declared 1 TiB",
        lying.status,
        &lying.body,
        &lying.text,
        413,
        None,
    );

    // Undeclared (chunked): refused once the limit is crossed while reading.
    let head = post_head(
        &address,
        "application/json",
        "Transfer-Encoding: chunked\r\n",
    );
    let mut chunked = Vec::new();
    for piece in eight_mib.chunks(256 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let streamed = raw_exchange(&address, &head, &chunked);
    assert_refused(
        "chunked 8 MiB",
        streamed.status,
        &streamed.body,
        &streamed.text,
        413,
        None,
    );

    // The same through sendBeacon's content type.
    let head = post_head(
        &address,
        "text/plain;charset=UTF-8",
        &format!("Content-Length: {}\r\n", eight_mib.len()),
    );
    let beacon = raw_exchange(&address, &head, &eight_mib);
    assert_refused(
        "text/plain 8 MiB",
        beacon.status,
        &beacon.body,
        &beacon.text,
        413,
        None,
    );

    // 10,000 line items in a signed checkout: well over the default 1 MiB limit.
    let mut many = checkout(970001);
    many["items"] = json!((0..10_000)
        .map(
            |n| json!({"gtin": format!("{n:013}"), "quantity": 1, "regularUnitPrice": "1.00",
            "totalOrderItemPriceAfterDiscounts": "1.00", "catalogId": "catalog-e2e"})
        )
        .collect::<Vec<_>>());
    let body = signed_envelope(&many);
    assert!(body.len() > 1024 * 1024);
    let head = post_head(
        &address,
        "application/json",
        &format!("Content-Length: {}\r\n", body.len()),
    );
    let reply = raw_exchange(&address, &head, &body);
    assert_refused(
        "10,000 items",
        reply.status,
        &reply.body,
        &reply.text,
        413,
        None,
    );

    assert_unharmed(&relay, &sandbox);
}

#[test]
fn ten_thousand_items_within_the_body_limit_are_refused_naming_items() {
    let sandbox = Sandbox::start(&[]);
    let relay = hostile_relay(&sandbox, &[("--max-body-bytes", "16777216")]);
    let mut many = checkout(970002);
    many["items"] = json!((0..10_000)
        .map(
            |n| json!({"gtin": format!("{n:013}"), "quantity": 1, "regularUnitPrice": "1.00",
            "totalOrderItemPriceAfterDiscounts": "1.00", "catalogId": "catalog-e2e"})
        )
        .collect::<Vec<_>>());
    let reply = post(&relay, "application/json", &signed_envelope(&many));
    assert_refused(
        "10,000 items",
        reply.status,
        &reply.body,
        &reply.text,
        400,
        Some("items"),
    );

    // Each of the 10,000 wrong, too: the count is refused before any item is judged.
    let mut many_bad = many.clone();
    for item in many_bad["items"].as_array_mut().unwrap() {
        item["quantity"] = json!("lots");
    }
    let reply = post(&relay, "application/json", &signed_envelope(&many_bad));
    assert_refused(
        "10,000 bad items",
        reply.status,
        &reply.body,
        &reply.text,
        400,
        Some("items"),
    );

    // 1,000 items is the most the core takes: accepted, so the limit is the count, not the size.
    let mut most = many.clone();
    most["items"].as_array_mut().unwrap().truncate(1000);
    let reply = post(&relay, "application/json", &signed_envelope(&most));
    assert_eq!(
        reply.status, 202,
        "1,000 items are accepted: {}",
        reply.text
    );
}

#[test]
fn deep_json_wrong_types_and_invalid_utf8_get_400_or_401() {
    let sandbox = Sandbox::start(&[]);
    let relay = hostile_relay(&sandbox, &[]);
    let address = address_of(&relay);

    // Deeply nested JSON: in the envelope, at the top, and inside signed claims.
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let deep_cases: Vec<(&str, Vec<u8>)> = vec![
        ("deep top level", nested.clone().into_bytes()),
        (
            "deep token value",
            format!(r#"{{"token": {nested}, "cookieId": null}}"#).into_bytes(),
        ),
        (
            "deep cookieId",
            format!(r#"{{"token": "a.b.c", "cookieId": {nested}}}"#).into_bytes(),
        ),
        ("deep object nesting", {
            let mut text = String::new();
            for _ in 0..depth {
                text.push_str(r#"{"a":"#);
            }
            text.push('1');
            text.push_str(&"}".repeat(depth));
            text.into_bytes()
        }),
    ];
    for (case, body) in &deep_cases {
        let reply = post(&relay, "application/json", body);
        assert_refused(case, reply.status, &reply.body, &reply.text, 400, None);
    }
    let mut deep_claims = checkout(970101);
    deep_claims["giftCode"] = (0..10).fold(json!("GIFT"), |inner, _| json!([inner]));
    let deeper_payload = {
        let mut claims = checkout(970102);
        claims["exp"] = json!(unix_now() + 600);
        let text = claims.to_string();
        // Past serde_json's recursion limit: the token itself cannot be built with a JSON
        // library, so its payload is written as text and signed as bytes.
        let nested_gift = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        text.replacen(
            r#""giftCode":null"#,
            &format!(r#""giftCode":{nested_gift}"#),
            1,
        )
    };
    assert!(deeper_payload.contains("[[[[["));
    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        (
            "giftCode nested 120 deep",
            signed_envelope(&deep_claims),
            400,
            Some("giftCode"),
        ),
        // A signed payload the relay cannot read at all is a bad token (401), like one whose
        // payload does not decode.
        (
            "claims nested 5,000 deep",
            json!({"token": sign_raw_payload(deeper_payload.as_bytes())})
                .to_string()
                .into_bytes(),
            401,
            None,
        ),
    ];
    for (case, body, wanted, field) in &cases {
        let reply = post(&relay, "application/json", body);
        assert_refused(
            case,
            reply.status,
            &reply.body,
            &reply.text,
            *wanted,
            *field,
        );
    }

    // Wrong JSON types in the envelope.
    let token = sign(&checkout(970201), unix_now() + 600);
    let envelope_cases: Vec<(&str, String, u16, Option<&str>)> = vec![
        ("body is an array", "[]".into(), 400, None),
        ("body is null", "null".into(), 400, None),
        ("body is a string", r#""token""#.into(), 400, None),
        ("body is a number", "42".into(), 400, None),
        ("body is empty", "".into(), 400, None),
        (
            "token is a number",
            r#"{"token": 42}"#.into(),
            400,
            Some("token"),
        ),
        (
            "token is an object",
            r#"{"token": {"alg": "none"}}"#.into(),
            400,
            Some("token"),
        ),
        (
            "token is an array",
            r#"{"token": ["a", "b", "c"]}"#.into(),
            400,
            Some("token"),
        ),
        (
            "token is not a JWS",
            r#"{"token": "not-a-jws"}"#.into(),
            401,
            None,
        ),
        (
            "no token at all",
            r#"{"cookieId": "CIB1.1.2"}"#.into(),
            401,
            None,
        ),
        (
            "cookieId is a number",
            json!({"token": token, "cookieId": 12}).to_string(),
            400,
            Some("cookieId"),
        ),
        (
            "cookieId is an object",
            json!({"token": token, "cookieId": {"v": 1}}).to_string(),
            400,
            Some("cookieId"),
        ),
        (
            "cookieId is 100 KB",
            json!({"token": token, "cookieId": "x".repeat(100_000)}).to_string(),
            400,
            Some("cookieId"),
        ),
        (
            "unsigned checkout on a signed-only relay",
            json!({"checkout": checkout(970202)}).to_string(),
            401,
            None,
        ),
    ];
    for (case, body, wanted, field) in &envelope_cases {
        let reply = post(&relay, "application/json", body.as_bytes());
        assert_refused(
            case,
            reply.status,
            &reply.body,
            &reply.text,
            *wanted,
            *field,
        );
    }

    // Wrong JSON types inside correctly signed claims: 400 naming the field.
    let claim_cases: Vec<(&str, &str, Value)> = vec![
        ("orderId", "orderId", json!(true)),
        ("orderId", "orderId", json!({"id": 1})),
        ("email", "email", json!(5)),
        ("items", "items", json!({"0": {}})),
        ("totalSpent", "totalSpent", json!([1])),
        ("totalSpent", "totalSpent", json!("NaN")),
        ("taxes", "taxes", json!("-1.00")),
        ("country", "country", json!(null)),
        ("sessionId", "sessionId", json!("")),
        ("customerGuid", "customerGuid", json!("x".repeat(10_000))),
    ];
    for (key, field, value) in &claim_cases {
        let mut claims = checkout(970301);
        claims[*key] = value.clone();
        let reply = post(&relay, "application/json", &signed_envelope(&claims));
        let case = format!("{key} = {value:.40}");
        assert_refused(
            &case,
            reply.status,
            &reply.body,
            &reply.text,
            400,
            Some(field),
        );
    }
    let item_cases: Vec<(&str, Value)> = vec![
        ("quantity", json!("two")),
        ("quantity", json!(2.5)),
        ("quantity", json!(-1)),
        ("gtin", json!(3017620422003u64)),
        ("regularUnitPrice", json!({"amount": 1})),
        ("catalogId", json!(["c"])),
    ];
    for (key, value) in &item_cases {
        let mut claims = checkout(970401);
        claims["items"][0][*key] = value.clone();
        let reply = post(&relay, "application/json", &signed_envelope(&claims));
        let field = format!("items[0].{key}");
        let case = format!("{field} = {value}");
        assert_refused(
            &case,
            reply.status,
            &reply.body,
            &reply.text,
            400,
            Some(&field),
        );
    }

    // Invalid UTF-8: raw bytes, a UTF-16 body, a lone surrogate, and a correctly signed token
    // whose payload is not UTF-8.
    let utf8_cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("raw 0xff 0xfe", b"{\"token\": \"\xff\xfe\"}".to_vec(), 400),
        (
            "overlong encoding",
            b"{\"token\": \"\xc0\xaf\"}".to_vec(),
            400,
        ),
        (
            "UTF-16 with a byte-order mark",
            [0xffu8, 0xfe]
                .into_iter()
                .chain(
                    "{\"token\":\"a\"}"
                        .encode_utf16()
                        .flat_map(u16::to_le_bytes),
                )
                .collect(),
            400,
        ),
        (
            "signed payload not UTF-8",
            json!({"token": sign_raw_payload(b"{\"orderId\": \"\xff\xff\", \"exp\": 9999999999}")})
                .to_string()
                .into_bytes(),
            401,
        ),
        (
            "signed payload not JSON",
            json!({"token": sign_raw_payload(b"orderId=1&exp=9999999999")})
                .to_string()
                .into_bytes(),
            401,
        ),
    ];
    for (case, body, wanted) in &utf8_cases {
        let reply = post(&relay, "application/json", body);
        assert_refused(case, reply.status, &reply.body, &reply.text, *wanted, None);
    }
    let mut surrogate = checkout(970501)
        .to_string()
        .replace("shopper@example.com", r"shop\ud800per@example.com");
    surrogate = {
        let mut claims: String = surrogate;
        claims.pop();
        format!("{claims},\"exp\":{}}}", unix_now() + 600)
    };
    let reply = post(
        &relay,
        "application/json",
        json!({"token": sign_raw_payload(surrogate.as_bytes())})
            .to_string()
            .as_bytes(),
    );
    // Not valid JSON text (RFC 8259 §8.2), so the payload is unreadable: 401, as above.
    assert_refused(
        "lone surrogate in a signed claim",
        reply.status,
        &reply.body,
        &reply.text,
        401,
        None,
    );
    let control = {
        let mut claims = checkout(970502);
        claims["email"] = json!("shop\u{0}per@example.com");
        claims
    };
    let reply = post(&relay, "application/json", &signed_envelope(&control));
    assert_refused(
        "NUL in email",
        reply.status,
        &reply.body,
        &reply.text,
        400,
        Some("email"),
    );

    // A header that is not UTF-8 does not confuse the body's handling.
    let head = [
        format!("POST /v1/checkouts HTTP/1.1\r\nHost: {address}\r\n").as_bytes(),
        b"Content-Type: application/json\r\nX-Shop: \xc3\x28\r\n",
        b"Content-Length: 2\r\nConnection: close\r\n\r\n",
    ]
    .concat();
    let odd = raw_exchange(&address, &head, b"{}");
    assert_refused(
        "{} with an odd header",
        odd.status,
        &odd.body,
        &odd.text,
        401,
        None,
    );

    assert_unharmed(&relay, &sandbox);

    // And it still takes a good checkout after all of that.
    let good = relay.hand_off(&checkout(970999), None);
    assert_eq!(good.status, 202, "{}", good.text);
}
