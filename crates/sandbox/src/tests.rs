//! The sandbox served for real on a loopback port, exercised over HTTP: routing, recording,
//! CORS, fault injection (including connections dropped without a response).

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{router, serve, Sandbox, SandboxArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SandboxArgs,
}

/// Starts a sandbox with `flags` on a free port; it stops when the test's runtime ends.
async fn start(flags: &[&str]) -> String {
    let mut argv = vec!["sandbox", "--listen", "127.0.0.1:0"];
    argv.extend_from_slice(flags);
    let args = Cli::try_parse_from(argv).expect("flags parse").args;
    let listener = TcpListener::bind(args.listen).await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let app = router(Arc::new(Sandbox::new(&args)));
    tokio::spawn(serve(listener, app, std::future::pending()));
    format!("http://{address}")
}

fn client() -> reqwest::Client {
    // Built with the whole workspace, reqwest has the relay's `rustls-no-provider` feature too,
    // and then wants a crypto provider even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

const CIBLER_BODY: &str = r#"{"orderContext":{"key":"k","email":"test@gmail.com","country":"CH",
  "environnement":"Prod","siteId":13,"customerGuid":"g","cookieId":"CIB1.1.2"},
  "orderInformation":{"orderId":234567865,"totalSpent":150.00,"taxes":20.00,"giftCode":null,
  "shippingCost":0.00,"discountAmount":null}}"#;

fn citrus_body() -> Value {
    json!({"orders": [{
        "customerId": "c", "sessionId": "s", "orderDate": "2021-12-02T15:00:00Z", "id": "o-1",
        "orderItems": [{"gtin": "g", "quantity": 1, "regularUnitPrice": 1.00,
            "totalOrderItemPriceAfterDiscounts": 1.00, "catalogId": "cat",
            "citrusDiscountAmount": null, "substitutedFor": null}]
    }]})
}

async fn requests(base: &str) -> Vec<Value> {
    let list: Value = client()
        .get(format!("{base}/__sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn vendor_requests_are_judged_recorded_in_order_and_cleared() {
    let base = start(&["--cibler-customer-id", "42"]).await;
    let http = client();
    let ok = http
        .post(format!("{base}/api/campaignBehaviors/order/42"))
        .header("content-type", "application/json")
        .body(CIBLER_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["orderId"], 234567865);

    let refused = http
        .post(format!("{base}/v1/orders"))
        .header("authorization", "Basic k")
        .json(&json!({"orders": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["additionalInfo"][0]["message"],
        "orders: must hold at least one order"
    );

    let stored = http
        .post(format!("{base}/v1/orders"))
        .header("authorization", "Basic k")
        .json(&citrus_body())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    let got: Value = http
        .get(format!("{base}/v1/orders/o-1"))
        .header("authorization", "Basic k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, citrus_body()["orders"][0]);

    let unknown = http.get(format!("{base}/v1/ordres")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    let log = requests(&base).await;
    let summary: Vec<(String, String, u64)> = log
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["path"].as_str().unwrap().to_owned(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("POST".into(), "/api/campaignBehaviors/order/42".into(), 200),
            ("POST".into(), "/v1/orders".into(), 400),
            ("POST".into(), "/v1/orders".into(), 200),
            ("GET".into(), "/v1/orders/o-1".into(), 200),
            ("GET".into(), "/v1/ordres".into(), 404),
        ]
    );
    assert_eq!(log[0]["body"]["orderContext"]["siteId"], 13);
    assert_eq!(log[0]["headers"]["content-type"], "application/json");
    assert_eq!(log[0]["violations"], json!([]));
    assert_eq!(
        log[1]["violations"],
        json!(["orders: must hold at least one order"])
    );
    assert_eq!(log[2]["headers"]["authorization"], "Basic k");
    assert_eq!(
        log[4]["violations"],
        json!(["endpoint: neither vendor serves GET /v1/ordres"])
    );

    let cleared = http
        .delete(format!("{base}/__sandbox/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(requests(&base).await.is_empty());
}

#[tokio::test]
async fn third_o_allows_any_origin() {
    let base = start(&[]).await;
    let http = client();
    let query = "key=pk&catid=c&ordid=1&ordts=2021-12-02T15%3A00%3A00Z&sesid=s\
                 &procods=a&pris=1.00&quas=3";
    let ok = http
        .get(format!("{base}/v1/resource/third-o?{query}"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], "*");
    let preflight = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/v1/resource/third-o"),
        )
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let bad = http
        .get(format!("{base}/v1/resource/third-o?key=pk"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["message"], "query.catid: is required");
    let log = requests(&base).await;
    assert_eq!(log[0]["query"], query);
}

#[tokio::test]
async fn an_outage_is_switched_on_and_off_at_run_time() {
    let base = start(&[]).await;
    let http = client();
    let put = |settings: Value| {
        let http = http.clone();
        let url = format!("{base}/__sandbox/faults");
        async move { http.put(url).json(&settings).send().await.unwrap() }
    };
    assert_eq!(
        put(json!({"outage": true, "faultsOn": "citrus"}))
            .await
            .status(),
        200
    );
    let during = http
        .post(format!("{base}/v1/orders"))
        .header("authorization", "Basic k")
        .json(&citrus_body())
        .send()
        .await
        .unwrap();
    assert_eq!(during.status(), 503);
    let cibler_meanwhile = http
        .post(format!("{base}/api/campaignBehaviors/order/1"))
        .header("content-type", "application/json")
        .body(CIBLER_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(cibler_meanwhile.status(), 200);
    assert_eq!(put(json!({})).await.status(), 200);
    let after = http
        .post(format!("{base}/v1/orders"))
        .header("authorization", "Basic k")
        .json(&citrus_body())
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    let refused = put(json!({"errorRate": 2})).await;
    assert_eq!(refused.status(), 400);
    let log = requests(&base).await;
    assert_eq!(log[0]["fault"], "outage");
    assert_eq!(log[0]["status"], 503);
    assert_eq!(log[1]["fault"], Value::Null);
}

#[tokio::test]
async fn rate_limits_carry_retry_after_only_when_asked() {
    let base = start(&["--rate-limit-rate", "1", "--retry-after-secs", "7"]).await;
    let http = client();
    let limited = http
        .post(format!("{base}/v1/orders"))
        .json(&citrus_body())
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    let base = start(&["--bare-rate-limit-rate", "1"]).await;
    let bare = http
        .post(format!("{base}/v1/orders"))
        .json(&citrus_body())
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 429);
    assert!(bare.headers().get("retry-after").is_none());
    let base = start(&["--error-rate", "1", "--faults-on", "cibler"]).await;
    let untouched = http
        .get(format!("{base}/v1/orders/none"))
        .header("authorization", "Basic k")
        .send()
        .await
        .unwrap();
    assert_eq!(untouched.status(), 404);
}

#[tokio::test]
async fn a_dropped_connection_gets_no_http_response_at_all() {
    let base = start(&["--drop-rate", "1"]).await;
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = "GET /v1/orders/x HTTP/1.1\r\nhost: sandbox\r\nauthorization: Basic k\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut received),
    )
    .await
    .expect("the sandbox closes the connection promptly");
    // Closed (EOF or reset) with not a byte of HTTP written.
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    let _ = read;
    let log = requests(&base).await;
    assert_eq!(log[0]["fault"], "dropped");
    assert_eq!(log[0]["status"], Value::Null);
}

#[tokio::test]
async fn latency_is_added_before_answering() {
    let base = start(&["--latency-ms", "300"]).await;
    let http = client();
    let started = std::time::Instant::now();
    let answer = http
        .get(format!("{base}/v1/orders/x"))
        .header("authorization", "Basic k")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let base = start(&[]).await;
    let huge = vec![b' '; super::MAX_BODY_BYTES + 1];
    let answer = client()
        .post(format!("{base}/v1/orders"))
        .header("authorization", "Basic k")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
}
