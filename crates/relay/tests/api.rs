//! The relay's HTTP API in process, over real HTTP on loopback, against a real SQLite file.
//! Delivery workers are not started here: these tests are about what the API answers.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use ordersync_core::wire::{CiblerConfig, CitrusConfig};
use ordersync_relay::acceptance::{Acceptance, Destinations};
use ordersync_relay::config::{AllowedOrigins, CiblerSettings, CitrusAuthScheme, CitrusSettings};
use ordersync_relay::delivery::Wakers;
use ordersync_relay::metrics::Metrics;
use ordersync_relay::outbox::SqliteOutbox;
use ordersync_relay::server::{router, AppState, HttpPolicy};
use ordersync_relay::signing::{sign_json, Verifier};
use serde_json::Value;

const SECRET: &str = "api-test-signing-secret-0123456789abcdef";
const CIBLER_KEY: &str = "cibler-key-api-test-1234";
const CITRUS_KEY: &str = "citrus-key-api-test-5678";
const ORIGIN: &str = "https://shop.example";

struct Relay {
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start(burst: u32) -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("relay.db").display());
    let outbox = Arc::new(SqliteOutbox::open(&url).await.unwrap());
    let state = AppState {
        acceptance: Arc::new(Acceptance {
            verifier: Some(Verifier::new(SECRET.as_bytes(), Duration::ZERO)),
            accept_unsigned: false,
            destinations: Destinations {
                cibler: Some(CiblerSettings {
                    base_url: "http://127.0.0.1:9".parse().unwrap(),
                    customer_id: "cust".into(),
                    order: CiblerConfig {
                        key: CIBLER_KEY.into(),
                        environment: "Prod".into(),
                        site_id: 13,
                    },
                }),
                citrus: Some(CitrusSettings {
                    base_url: "http://127.0.0.1:9".parse().unwrap(),
                    api_key: CITRUS_KEY.into(),
                    auth_scheme: CitrusAuthScheme::Raw,
                    order: CitrusConfig {
                        team_id: Some("team".into()),
                        catalog_id: Some("catalog".into()),
                    },
                }),
            },
        }),
        outbox,
        metrics: Arc::new(Metrics::new()),
        wakers: Wakers::default(),
        max_body_bytes: 64 * 1024,
    };
    let policy = HttpPolicy {
        allowed_origins: AllowedOrigins::List(vec![ORIGIN.into()]),
        rate_limit_per_minute: NonZeroU32::new(60).unwrap(),
        rate_limit_burst: NonZeroU32::new(burst).unwrap(),
        client_addresses: Default::default(),
    };
    let app =
        router(state, &policy, None).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Relay {
        base,
        http: ordersync_relay::vendors::http_client(Duration::from_secs(10)).unwrap(),
        _dir: dir,
    }
}

fn checkout(order_id: &str, extra: &str) -> String {
    format!(
        r#"{{"orderId":"{order_id}","email":"test@gmail.com","country":"CH","customerGuid":"g-1",
        "sessionId":"s-1","totalSpent":150.0,"taxes":20.00,"shippingCost":0.00,"giftCode":null,
        "discountAmount":30.00,"items":[{{"gtin":"9891998566P","quantity":3,"regularUnitPrice":1.00,
        "totalOrderItemPriceAfterDiscounts":3.00}}]{extra}}}"#
    )
}

fn token_for(checkout_json: &str, exp_offset_secs: i64) -> String {
    let exp = jsonwebtoken::get_current_timestamp() as i64 + exp_offset_secs;
    let claims = format!(
        "{},\"exp\":{exp}}}",
        checkout_json.trim_end().trim_end_matches('}')
    );
    sign_json(&claims, SECRET.as_bytes())
}

fn handoff(order_id: &str) -> String {
    format!(
        r#"{{"token":"{}","cookieId":"CIB1.395406195.1569857337"}}"#,
        token_for(&checkout(order_id, ""), 600)
    )
}

impl Relay {
    async fn post(
        &self,
        content_type: &str,
        body: String,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let response = self
            .http
            .post(format!("{}/v1/checkouts", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json, headers)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

#[tokio::test]
async fn a_signed_checkout_is_accepted_once_then_answered_with_its_state() {
    let relay = start(100).await;
    let (status, body, _) = relay.post("application/json", handoff("234567865")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["orderId"], "234567865");
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["destinations"]["cibler"], "pending");
    // What navigator.sendBeacon sends: text/plain, still JSON.
    let (status, body, _) = relay
        .post("text/plain;charset=UTF-8", handoff("234567865"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pending");

    let (status, text) = relay.get("/v1/checkouts/234567865").await;
    assert_eq!(status, 200);
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["destinations"].as_array().unwrap().len(), 2);
    assert_eq!(view["destinations"][0]["state"], "pending");
    assert_eq!(view["destinations"][0]["attempts"], 0);
    let (status, text) = relay.get("/v1/checkouts/nope").await;
    assert_eq!(status, 404);
    assert!(text.contains(r#""field":"orderId""#), "{text}");
}

#[tokio::test]
async fn every_client_mistake_gets_its_4xx_with_field_and_reason() {
    let relay = start(100).await;
    let cases: Vec<(&str, String, u16, Option<&str>)> = vec![
        ("application/x-www-form-urlencoded", handoff("1"), 415, None),
        ("application/json", "not json".into(), 400, None),
        (
            "application/json",
            r#"{"token":"a","extra":1}"#.into(),
            400,
            Some("extra"),
        ),
        (
            "application/json",
            format!(
                r#"{{"token":"{}"}}"#,
                token_for(&checkout("1", r#","colour":"red""#), 600)
            ),
            400,
            Some("colour"),
        ),
        (
            "application/json",
            format!(r#"{{"token":"{}"}}"#, token_for(&checkout("A-1", ""), 600)),
            400,
            Some("orderId"),
        ),
        ("application/json", "{}".into(), 401, None),
        (
            "application/json",
            format!(r#"{{"checkout":{}}}"#, checkout("1", "")),
            401,
            None,
        ),
        (
            "application/json",
            format!(r#"{{"token":"{}"}}"#, token_for(&checkout("1", ""), -60)),
            401,
            None,
        ),
        (
            "application/json",
            format!(
                r#"{{"token":"{}"}}"#,
                sign_json(
                    &checkout("1", r#","exp":99999999999"#),
                    b"not-the-secret-not-the-secret-xx"
                )
            ),
            401,
            None,
        ),
        (
            "application/json",
            format!(r#"{{"token":"{}"}}"#, "x".repeat(70_000)),
            413,
            None,
        ),
    ];
    for (content_type, body, expected, field) in cases {
        let (status, answer, _) = relay.post(content_type, body).await;
        assert_eq!(status, expected, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{answer}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{answer}");
        let text = answer.to_string();
        for secret in [SECRET, CIBLER_KEY, CITRUS_KEY] {
            assert!(!text.contains(secret), "secret leaked in {text}");
        }
    }
}

#[tokio::test]
async fn cors_answers_the_preflight_of_allowed_origins_only() {
    let relay = start(100).await;
    let preflight = |origin: &'static str| {
        relay
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/checkouts", relay.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight(ORIGIN).await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        ORIGIN
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let relay = start(3).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..5 {
        let (status, _, headers) = relay
            .post("application/json", handoff(&format!("{}", 500 + i)))
            .await;
        statuses.push(status);
        if status == 429 {
            retry_after = headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
        }
    }
    assert_eq!(&statuses[..3], &[202, 202, 202]);
    assert_eq!(statuses[3], 429);
    let seconds: u64 = retry_after.expect("Retry-After on 429").parse().unwrap();
    assert!(seconds >= 1);
    // Health checks are not rate limited.
    assert_eq!(relay.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn operations_endpoints_answer_and_hold_no_secret() {
    let relay = start(100).await;
    relay.post("application/json", handoff("42")).await;
    relay.post("application/json", handoff("42")).await;
    relay.post("application/json", "{}".into()).await;
    assert_eq!(relay.get("/healthz").await.0, 200);
    assert_eq!(relay.get("/readyz").await.0, 200);
    let (status, metrics) = relay.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("ordersync_checkouts_accepted_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ordersync_checkouts_duplicate_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ordersync_checkouts_rejected_total{reason="missing_signature"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ordersync_queue_depth{destination="cibler",state="pending"} 1"#),
        "{metrics}"
    );
    for secret in [SECRET, CIBLER_KEY, CITRUS_KEY] {
        assert!(!metrics.contains(secret));
    }
    let (status, doc) = relay.get("/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/checkouts",
        "/v1/checkouts/{orderId}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }
    let responses = &doc["paths"]["/v1/checkouts"]["post"]["responses"];
    for code in ["200", "202", "400", "401", "413", "415", "429"] {
        assert!(responses.get(code).is_some(), "missing {code}");
    }
    // A hand-off's answer links to its order's status, by an operation the document has.
    let status_operation = &doc["paths"]["/v1/checkouts/{orderId}"]["get"]["operationId"];
    for code in ["200", "202"] {
        let link = &responses[code]["links"]["status"];
        assert_eq!(&link["operationId"], status_operation, "{link}");
        assert_eq!(link["parameters"]["orderId"], "$response.body#/orderId");
    }
    // The hand-off's two shapes, and the checkout's fields with their limits.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["HandoffBody"]["oneOf"].as_array().unwrap().len(), 2);
    let checkout = &schemas["Checkout"];
    assert_eq!(checkout["additionalProperties"], false);
    assert_eq!(checkout["properties"]["items"]["maxItems"], 1000);
    assert_eq!(schemas["Text"]["maxLength"], 256);
}

/// Clients that hang up right after sending (hyper then drops their handlers): a commit that
/// had started is not cancelled with the connection (before the fix none completed here), and
/// what is on disk and what `/metrics` counts agree. Hand-offs whose connection was gone
/// before their commit began are not stored, which the client learns by getting no 202.
#[tokio::test]
async fn a_client_hanging_up_does_not_cancel_a_started_commit_or_its_count() {
    use tokio::io::AsyncWriteExt;

    let relay = start(1000).await;
    let address = relay.base.trim_start_matches("http://").to_owned();
    let orders: Vec<String> = (0..100).map(|i| format!("{}", 7_000 + i)).collect();
    let mut sends = Vec::new();
    for order in &orders {
        let body = handoff(order);
        let request = format!(
            "POST /v1/checkouts HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let address = address.clone();
        sends.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            // Hang up without reading the answer.
            stream.shutdown().await.unwrap();
        }));
    }
    for send in sends {
        send.await.unwrap();
    }
    // Let every commit that started finish, then compare the disk with the counter.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut stored;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stored = 0;
        for order in &orders {
            if relay.get(&format!("/v1/checkouts/{order}")).await.0 == 200 {
                stored += 1;
            }
        }
        let (_, metrics) = relay.get("/metrics").await;
        let line = format!("ordersync_checkouts_accepted_total {stored}\n");
        if metrics.contains(&line) || std::time::Instant::now() > deadline {
            assert!(metrics.contains(&line), "{stored} stored, but: {metrics}");
            break;
        }
    }
    assert!(stored > 0, "no started commit completed");
}
