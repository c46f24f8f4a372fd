//! The real binary as a process: the relay, and the vendor sandbox, over loopback HTTP, with injected faults,
//! until every order is delivered; then the operator commands, a graceful SIGTERM, and a scan
//! of the logs and `/metrics` for any configured secret.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ordersync_relay::signing::sign_json;
use ordersync_sandbox::embedded::EmbeddedSandbox;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_ordersync-relay");
const SECRET: &str = "smoke-signing-secret-0123456789abcdef-xyz";
const CIBLER_KEY: &str = "smoke-cibler-key-2468";
const CITRUS_KEY: &str = "smoke-citrus-key-1357";

/// Kills the process if a test ends early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the `... listening on http://ADDR` line the process prints first on stdout.
fn listening_address(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a first line");
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("an address")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    url
}

fn start_sandbox() -> (EmbeddedSandbox, String) {
    let sandbox = EmbeddedSandbox::from_flags(&[
        "--listen",
        "127.0.0.1:0",
        "--cibler-api-key",
        CIBLER_KEY,
        "--cibler-customer-id",
        "cust-7",
        "--citrus-api-key",
        CITRUS_KEY,
    ])
    .expect("start the sandbox");
    let url = sandbox.url.clone();
    (sandbox, url)
}

fn relay_command(sandbox: &str, database: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--database-url")
        .arg(format!("sqlite://{}", database.display()))
        .args([
            "--backoff-base",
            "50ms",
            "--backoff-cap",
            "500ms",
            "--batch-linger",
            "50ms",
        ])
        .args([
            "--poll-interval",
            "100ms",
            "--vendor-timeout",
            "2s",
            "--lease-duration",
            "10s",
        ])
        .env("ORDERSYNC_SIGNING_SECRET", SECRET)
        .env("ORDERSYNC_CIBLER_BASE_URL", sandbox)
        .env("ORDERSYNC_CIBLER_CUSTOMER_ID", "cust-7")
        .env("ORDERSYNC_CIBLER_API_KEY", CIBLER_KEY)
        .env("ORDERSYNC_CIBLER_SITE_ID", "13")
        .env("ORDERSYNC_CITRUS_BASE_URL", sandbox)
        .env("ORDERSYNC_CITRUS_API_KEY", CITRUS_KEY)
        .env(
            "ORDERSYNC_CITRUS_TEAM_ID",
            "9f48572c-0a5b-4997-9a0e-ed74f4d32dc6",
        )
        .env(
            "ORDERSYNC_CITRUS_CATALOG_ID",
            "6adb93d0-7he4-4d4e-9b47-e5d3714c976a",
        )
        .env("RUST_LOG", "info");
    command
}

fn checkout_token(order_id: u64, with_items: bool) -> String {
    let items = if with_items {
        r#"[{"gtin":"9891998566P","quantity":3,"regularUnitPrice":1.00,"totalOrderItemPriceAfterDiscounts":3.00,"citrusDiscountAmount":0.0,"substitutedFor":null,"sellerId":"seller_id_601_64"}]"#
    } else {
        "[]"
    };
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    let claims = format!(
        r#"{{"orderId":{order_id},"email":"test@gmail.com","country":"CH / FRA","customerGuid":"bbc47c1f","sessionId":"5cat7-9964-4f","orderDate":"2021-12-02T15:00:00Z","totalSpent":150.0,"taxes":20.00,"giftCode":"MANO66FZC4F4RTZ","shippingCost":0.00,"discountAmount":30.00,"items":{items},"exp":{exp}}}"#
    );
    sign_json(&claims, SECRET.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_reach_both_vendors_through_faults_and_no_secret_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let (_sandbox, sandbox_url) = start_sandbox();
    let http = ordersync_relay::vendors::http_client(Duration::from_secs(10)).unwrap();
    let faults = json!({"errorRate": 0.25, "rateLimitRate": 0.1, "bareRateLimitRate": 0.1,
                        "retryAfterSecs": 1, "dropRate": 0.1, "seed": 11});
    let put = http
        .put(format!("{sandbox_url}/__sandbox/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());

    let log_path = dir.path().join("relay.log");
    let mut relay = relay_command(&sandbox_url, &dir.path().join("relay.db"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start relay");
    let relay_url = listening_address(&mut relay);
    let mut relay = Running(relay);

    let orders: Vec<u64> = (900_000..900_020).collect();
    for &id in &orders {
        let body = json!({"token": checkout_token(id, id % 5 != 0), "cookieId": "CIB1.395406195.1569857337"});
        let answer = http
            .post(format!("{relay_url}/v1/checkouts"))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status().as_u16(),
            202,
            "{}",
            answer.text().await.unwrap()
        );
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    for &id in &orders {
        loop {
            let view: Value = http
                .get(format!("{relay_url}/v1/checkouts/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let states: Vec<&str> = view["destinations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["state"].as_str().unwrap())
                .collect();
            assert!(!states.contains(&"dead"), "{view}");
            if view["status"] == "delivered" {
                // Orders without items go to CibleR only.
                let expect_citrus = if id % 5 == 0 { "skipped" } else { "delivered" };
                assert_eq!(view["destinations"][1]["state"], expect_citrus, "{view}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "order {id} not delivered in time: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // What the vendors saw: each order answered 200 once per vendor, no contract violation.
    let journal: Vec<Value> = http
        .get(format!("{sandbox_url}/__sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut cibler_ok = Vec::new();
    let mut citrus_ok = Vec::new();
    for request in &journal {
        let violations = request["violations"].as_array().unwrap();
        assert!(violations.is_empty(), "{request}");
        if request["status"] != 200 {
            continue;
        }
        let path = request["path"].as_str().unwrap();
        // The customer id is one percent-encoded path segment.
        if path.starts_with("/api/campaignBehaviors/order/cust") {
            cibler_ok.push(
                request["body"]["orderInformation"]["orderId"]
                    .as_u64()
                    .unwrap(),
            );
        } else if path == "/v1/orders" {
            for order in request["body"]["orders"].as_array().unwrap() {
                citrus_ok.push(order["id"].as_str().unwrap().parse::<u64>().unwrap());
            }
        }
    }
    cibler_ok.sort();
    citrus_ok.sort();
    assert_eq!(cibler_ok, orders);
    let with_items: Vec<u64> = orders.iter().copied().filter(|id| id % 5 != 0).collect();
    assert_eq!(citrus_ok, with_items);

    let metrics = http
        .get(format!("{relay_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ordersync_checkouts_accepted_total 20"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"ordersync_deliveries_total{destination="cibler",outcome="delivered"} 20"#),
        "{metrics}"
    );

    // Operator commands against the same database (faults off: verify asks the sandbox too).
    let cleared = http
        .put(format!("{sandbox_url}/__sandbox/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
    let operator = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .arg("--database-url")
            .arg(format!(
                "sqlite://{}",
                dir.path().join("relay.db").display()
            ))
            .env("ORDERSYNC_CITRUS_BASE_URL", &sandbox_url)
            .env("ORDERSYNC_CITRUS_API_KEY", CITRUS_KEY)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(operator(&["dead-letters", "list"]).contains("no dead letters"));
    let verified = operator(&["verify", "900001"]);
    assert!(
        verified.contains("citrusad   delivered") || verified.contains("citrusad  delivered"),
        "{verified}"
    );
    assert!(verified.contains("HTTP 200"), "{verified}");
    assert!(!verified.contains(CITRUS_KEY), "{verified}");

    // Graceful stop.
    let pid = relay.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = relay.0.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let log = std::fs::read_to_string(&log_path).unwrap();
    let attempts: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "delivery attempt")
        .collect();
    assert!(
        attempts.len() >= 36,
        "one line per attempt: {}",
        attempts.len()
    );
    for line in &attempts {
        for field in [
            "order_id",
            "destination",
            "outcome",
            "latency_ms",
            "attempt",
        ] {
            assert!(line.get(field).is_some(), "{field} missing in {line}");
        }
    }
    assert!(
        attempts.iter().any(|l| l["outcome"] == "retry"),
        "faults were injected"
    );
    assert!(log.contains("relay stopped"));
    let base64_citrus = ordersync_relay::vendors::citrus::authorization_value(
        CITRUS_KEY,
        ordersync_relay::config::CitrusAuthScheme::Base64,
    );
    for secret in [
        SECRET,
        CIBLER_KEY,
        CITRUS_KEY,
        base64_citrus.trim_start_matches("Basic "),
    ] {
        assert!(!log.contains(secret), "a secret is in the logs");
        assert!(!metrics.contains(secret), "a secret is in /metrics");
    }
}

#[test]
fn misconfiguration_fails_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = relay_command("http://127.0.0.1:9", &dir.path().join("x.db"))
        .env("ORDERSYNC_CIBLER_SITE_ID", "thirteen")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ORDERSYNC_CIBLER_SITE_ID"), "{stderr}");
    assert!(!stderr.contains(SECRET) && !stderr.contains(CIBLER_KEY));
}

/// The console is off unless asked for (`/console` is then an unknown path), and the relay
/// refuses to start with it on but without a token, or with one too short to be a secret.
#[tokio::test]
async fn the_console_is_off_by_default_and_needs_a_long_token_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short-token");
    std::fs::write(&short, "console-token-too-short\n").unwrap();
    for (extra, expected) in [
        (vec!["--console"], "is required with --console"),
        (
            vec!["--console", "--console-token-file", short.to_str().unwrap()],
            "at least 32 bytes",
        ),
    ] {
        let output = relay_command("http://127.0.0.1:9", &dir.path().join("x.db"))
            .args(&extra)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--console-token-file / ORDERSYNC_CONSOLE_TOKEN_FILE"),
            "{stderr}"
        );
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("console-token-too-short"), "{stderr}");
    }
    let mut relay = Running(
        relay_command("http://127.0.0.1:9", &dir.path().join("off.db"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = listening_address(&mut relay.0);
    let http = ordersync_relay::vendors::http_client(Duration::from_secs(10)).unwrap();
    for path in ["/console", "/console/console.js", "/console/api/overview"] {
        let answer = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
}

/// Polls the relay's status of `order_id` until `done` says so, for at most 30 s.
async fn wait_for(
    http: &reqwest::Client,
    relay_url: &str,
    order_id: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view: Value = http
            .get(format!("{relay_url}/v1/checkouts/{order_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_retry_budget_makes_a_dead_letter_that_the_operator_can_retry() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("relay.db");
    let (_sandbox, sandbox_url) = start_sandbox();
    let http = ordersync_relay::vendors::http_client(Duration::from_secs(10)).unwrap();
    let set_faults = |faults: Value| {
        let http = http.clone();
        let url = format!("{sandbox_url}/__sandbox/faults");
        async move {
            let answer = http.put(url).json(&faults).send().await.unwrap();
            assert!(answer.status().is_success());
        }
    };
    set_faults(json!({"outage": true})).await;
    let mut relay = relay_command(&sandbox_url, &database)
        .args(["--retry-budget", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let relay_url = listening_address(&mut relay);
    let _relay = Running(relay);

    let body = json!({"token": checkout_token(777, true), "cookieId": null});
    let answer = http
        .post(format!("{relay_url}/v1/checkouts"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 202);

    let view = wait_for(&http, &relay_url, 777, |v| {
        v["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "dead")
    })
    .await;
    for destination in view["destinations"].as_array().unwrap() {
        assert!(destination["attempts"].as_u64().unwrap() >= 2, "{view}");
        let error = destination["lastError"].as_str().unwrap();
        assert!(error.starts_with("retry budget exhausted after"), "{error}");
        assert!(
            error.ends_with("HTTP 503"),
            "public view keeps no vendor body: {error}"
        );
    }

    let operator = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .arg("--database-url")
            .arg(format!("sqlite://{}", database.display()))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let listed: Vec<Value> =
        serde_json::from_str(&operator(&["dead-letters", "list", "--json"])).unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed
        .iter()
        .all(|d| d["orderId"] == "777" && d["vendorStatus"] == 503));
    // The error says what happened; the vendor's last answer (a retryable one) is kept apart.
    for dead in &listed {
        let error = dead["error"].as_str().unwrap();
        assert!(error.ends_with("; last: HTTP 503"), "{dead}");
        let answer = dead["vendorResponse"].as_str().unwrap_or_default();
        assert!(answer.contains("Service unavailable"), "{dead}");
    }

    // The outage ends; the operator queues the order again and the running relay delivers it.
    set_faults(json!({})).await;
    assert!(
        operator(&["dead-letters", "retry", "777"]).starts_with("2 dead deliveries queued again")
    );
    wait_for(&http, &relay_url, 777, |v| v["status"] == "delivered").await;
    assert!(operator(&["dead-letters", "list"]).contains("no dead letters"));
}
