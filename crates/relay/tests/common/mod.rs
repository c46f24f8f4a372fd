//! Shared harness of the end-to-end tests: the real `ordersync-relay` binary run as processes
//! (a sandbox playing both vendors, and a relay pointed at it), talked to over real HTTP.
//!
//! Everything listens on loopback only. Every wait polls with a deadline (the machine may be
//! loaded), and every process is killed when its handle is dropped, even when a test fails.

#![allow(dead_code)] // each e2e_*.rs file uses a different part of the harness

pub mod postgres;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub const BINARY: &str = env!("CARGO_BIN_EXE_ordersync-relay");

/// The shop's signing secret in these tests (HS256 wants at least 32 bytes).
pub const SIGNING_SECRET: &str = "e2e-signing-secret-0123456789abcdef-XYZ";
/// The CibleR key and CitrusAd key the relay holds; the sandbox checks them exactly.
pub const CIBLER_KEY: &str = "xxxx-xxxx-xxxx-xxxx-xxxx";
pub const CIBLER_CUSTOMER: &str = "cust-4242";
pub const CITRUS_KEY: &str = "citrus-secret-key-e2e-5150";
pub const CITRUS_TEAM: &str = "9f48572c-0a5b-4997-9a0e-ed74f4d32dc6";

/// How long any single wait may take before the test fails (generous: 2 shared cores).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `probe` until it returns `Some`, or panics with `what` after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// SIGTERM, then waits (up to `DEADLINE`) for the process to exit. A graceful exit also
/// writes every log line still waiting in the log thread, which a SIGKILL would lose.
pub fn stop_gracefully(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "kill -TERM {pid}");
    wait_for("the process to exit after SIGTERM", DEADLINE, || {
        child.try_wait().ok().flatten()
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A blocking HTTP client (ureq), errors and 4xx/5xx both returned as responses.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Status and parsed JSON body (`Value::Null` when empty or not JSON) and headers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = response.expect("the server answered");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        body,
        text,
        headers,
    }
}

pub fn get(url: &str) -> Reply {
    reply(agent().get(url).call())
}

pub fn post_json(url: &str, body: &Value) -> Reply {
    post_raw(url, "application/json", body.to_string().as_bytes())
}

pub fn post_raw(url: &str, content_type: &str, body: &[u8]) -> Reply {
    reply(
        agent()
            .post(url)
            .header("content-type", content_type)
            .send(body),
    )
}

pub fn put_json(url: &str, body: &Value) -> Reply {
    reply(
        agent()
            .put(url)
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes()),
    )
}

pub fn delete(url: &str) -> Reply {
    reply(agent().delete(url).call())
}

/// A child process killed (SIGKILL) and reaped when dropped.
struct Process {
    child: Child,
}

impl Process {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The vendor sandbox (`ordersync-sandbox`), on a free port, served inside the test process
/// (real HTTP on loopback); stopped when dropped.
pub struct Sandbox {
    _running: ordersync_sandbox::embedded::EmbeddedSandbox,
    pub url: String,
}

impl Sandbox {
    /// Starts a sandbox that checks both vendors' credentials exactly, plus `extra` flags
    /// (the command line of `ordersync-sandbox`).
    pub fn start(extra: &[&str]) -> Sandbox {
        let mut flags = vec!["--listen", "127.0.0.1:0"];
        flags.extend(["--cibler-api-key", CIBLER_KEY]);
        flags.extend(["--cibler-customer-id", CIBLER_CUSTOMER]);
        flags.extend(["--citrus-api-key", CITRUS_KEY]);
        flags.extend_from_slice(extra);
        let running = ordersync_sandbox::embedded::EmbeddedSandbox::from_flags(&flags)
            .expect("the sandbox starts");
        let url = running.url.clone();
        Sandbox {
            _running: running,
            url,
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        let reply = get(&format!("{}/__sandbox/requests", self.url));
        assert_eq!(reply.status, 200);
        reply.body.as_array().cloned().unwrap_or_default()
    }

    /// Requests to `path_prefix` (completed ones only: with a status or dropped).
    pub fn requests_to(&self, path_prefix: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["path"].as_str().unwrap_or("").starts_with(path_prefix))
            .filter(|r| !r["status"].is_null() || !r["fault"].is_null())
            .collect()
    }

    pub fn clear(&self) {
        assert_eq!(
            delete(&format!("{}/__sandbox/requests", self.url)).status,
            204
        );
    }

    pub fn set_faults(&self, settings: Value) {
        let reply = put_json(&format!("{}/__sandbox/faults", self.url), &settings);
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    /// Order ids CibleR answered 200 for (each successful `POST` body's `orderId`).
    pub fn cibler_delivered(&self) -> Vec<String> {
        self.requests_to("/api/campaignBehaviors/order/")
            .iter()
            .filter(|r| r["status"] == 200)
            .map(|r| r["body"]["orderInformation"]["orderId"].to_string())
            .collect()
    }

    /// Order ids CitrusAd answered 200 for (every order of each successful batch).
    pub fn citrus_delivered(&self) -> Vec<String> {
        self.requests_to("/v1/orders")
            .iter()
            .filter(|r| r["method"] == "POST" && r["status"] == 200)
            .flat_map(|r| r["body"]["orders"].as_array().cloned().unwrap_or_default())
            .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every violation recorded so far, with the request's path.
    pub fn violations(&self) -> Vec<String> {
        self.requests()
            .iter()
            .flat_map(|r| {
                let path = r["path"].as_str().unwrap_or("").to_owned();
                r["violations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |v| format!("{path}: {}", v.as_str().unwrap_or("")))
            })
            .collect()
    }

    /// Waits until each of `order_ids` has reached both vendors.
    pub fn wait_delivered_to_both(&self, order_ids: impl IntoIterator<Item = u64>) {
        let wanted: Vec<String> = order_ids.into_iter().map(|id| id.to_string()).collect();
        wait_for("every accepted order at both vendors", DEADLINE, || {
            let cibler = self.cibler_delivered();
            let citrus = self.citrus_delivered();
            wanted
                .iter()
                .all(|id| cibler.contains(id) && citrus.contains(id))
                .then_some(())
        });
    }
}

/// Which vendors a relay delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendors {
    Cibler,
    Citrus,
    Both,
}

/// How to start a relay.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub vendors: Vendors,
    pub accept_unsigned: bool,
    /// Extra `--flag value` pairs and switches, appended last.
    pub extra: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// The outbox; `None`: a SQLite file in the relay's own temp dir.
    pub database_url: Option<String>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            vendors: Vendors::Both,
            accept_unsigned: false,
            extra: Vec::new(),
            env: Vec::new(),
            database_url: None,
        }
    }
}

impl RelayOptions {
    pub fn vendors(vendors: Vendors) -> Self {
        RelayOptions {
            vendors,
            ..RelayOptions::default()
        }
    }

    pub fn flag(mut self, name: &str, value: &str) -> Self {
        self.extra.push(name.to_owned());
        self.extra.push(value.to_owned());
        self
    }
}

/// `ordersync-relay serve`, on a free port, with its SQLite file in a temp dir that outlives
/// restarts of the process (so a kill -9 and a restart find the same outbox).
pub struct Relay {
    process: Option<Process>,
    pub url: String,
    listen: SocketAddr,
    dir: tempfile::TempDir,
    sandbox_url: String,
    options: RelayOptions,
    starts: u32,
}

impl Relay {
    pub fn start(sandbox: &Sandbox, options: RelayOptions) -> Relay {
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut relay = Relay {
            process: None,
            url: format!("http://{listen}"),
            listen,
            dir: tempfile::tempdir().expect("a temp dir"),
            sandbox_url: sandbox.url.clone(),
            options,
            starts: 0,
        };
        relay.spawn();
        relay
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("outbox.db")
    }

    /// The outbox this relay runs on: the options' database URL, else its own SQLite file.
    pub fn database_url(&self) -> String {
        self.options
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.database_path().display()))
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.dir.path().join(format!("relay-{start}.log"))
    }

    /// Everything every run of this relay printed (stdout and stderr).
    pub fn logs(&self) -> String {
        (0..self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.log_path(self.starts)).expect("a log file");
        self.starts += 1;
        let mut command = Command::new(BINARY);
        command
            .arg("serve")
            .args(["--listen", &self.listen.to_string()])
            .args(["--database-url", &self.database_url()])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("ORDERSYNC_SIGNING_SECRET", SIGNING_SECRET)
            // Short timings so retries and recovery happen within a test's time.
            .env("ORDERSYNC_RETRY_BUDGET", "120s")
            .env("ORDERSYNC_BACKOFF_BASE", "50ms")
            .env("ORDERSYNC_BACKOFF_CAP", "400ms")
            .env("ORDERSYNC_BATCH_LINGER", "100ms")
            .env("ORDERSYNC_POLL_INTERVAL", "100ms")
            .env("ORDERSYNC_LEASE_DURATION", "4s")
            .env("ORDERSYNC_VENDOR_TIMEOUT", "1s")
            .env("ORDERSYNC_CIRCUIT_PROBE_MAX", "400ms")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        if matches!(self.options.vendors, Vendors::Cibler | Vendors::Both) {
            command
                .env("ORDERSYNC_CIBLER_BASE_URL", &self.sandbox_url)
                .env("ORDERSYNC_CIBLER_CUSTOMER_ID", CIBLER_CUSTOMER)
                .env("ORDERSYNC_CIBLER_API_KEY", CIBLER_KEY)
                .env("ORDERSYNC_CIBLER_SITE_ID", "13")
                .env("ORDERSYNC_CIBLER_ENVIRONMENT", "Prod");
        }
        if matches!(self.options.vendors, Vendors::Citrus | Vendors::Both) {
            command
                .env("ORDERSYNC_CITRUS_BASE_URL", &self.sandbox_url)
                .env("ORDERSYNC_CITRUS_API_KEY", CITRUS_KEY)
                .env("ORDERSYNC_CITRUS_TEAM_ID", CITRUS_TEAM);
        }
        if self.options.accept_unsigned {
            command.arg("--accept-unsigned");
        }
        command.args(&self.options.extra);
        for (name, value) in &self.options.env {
            command.env(name, value);
        }
        let child = command.spawn().expect("spawn the relay");
        self.process = Some(Process { child });
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let url = format!("{}/healthz", self.url);
        let logs_so_far = |relay: &Relay| relay.logs();
        wait_for("the relay to answer /healthz", DEADLINE, || {
            if let Some(process) = self.process.as_mut() {
                if let Ok(Some(status)) = process.child.try_wait() {
                    panic!(
                        "the relay exited ({status}) before it was ready:\n{}",
                        logs_so_far(self)
                    );
                }
            }
            let probe = agent().get(&url).call().ok()?;
            (probe.status().as_u16() == 200).then_some(())
        });
    }

    /// SIGKILL: no graceful shutdown, no flush; the outbox file stays as the crash left it.
    pub fn kill9(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// SIGTERM, then waits (up to `DEADLINE`) for the graceful exit; returns its success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut process) = self.process.take() else {
            return false;
        };
        stop_gracefully(&mut process.child).success()
    }

    /// Whether the relay process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    /// Starts the relay again on the same address and outbox.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Starts the relay again on the same address and outbox, with other options (an
    /// operator fixing a setting).
    pub fn restart_with(&mut self, options: RelayOptions) {
        self.kill9();
        self.options = options;
        self.spawn();
    }

    /// Runs `ordersync-relay ARGS… --database-url <this relay's outbox>` (an operator
    /// command) with `env`, and returns its exit success, stdout and stderr.
    pub fn operator(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let output = Command::new(BINARY)
            .args(args)
            .args(["--database-url", &self.database_url()])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run an operator command");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub fn checkouts_url(&self) -> String {
        format!("{}/v1/checkouts", self.url)
    }

    /// `POST /v1/checkouts` with a signed checkout.
    pub fn hand_off(&self, checkout: &Value, cookie_id: Option<&str>) -> Reply {
        let token = sign(checkout, unix_now() + 600);
        post_json(
            &self.checkouts_url(),
            &json!({"token": token, "cookieId": cookie_id}),
        )
    }

    /// `GET /v1/checkouts/{orderId}`.
    pub fn status(&self, order_id: &str) -> Reply {
        get(&format!("{}/v1/checkouts/{order_id}", self.url))
    }

    /// The delivery state of `order_id` at `destination` (`cibler` or `citrusad`), read from
    /// `GET /v1/checkouts/{orderId}` whichever of the two natural shapes it takes: a map
    /// keyed by destination, or a list of entries naming their destination.
    pub fn state(&self, order_id: &str, destination: &str) -> Option<String> {
        let reply = self.status(order_id);
        if reply.status != 200 {
            return None;
        }
        destination_entry(&reply.body, destination)
            .and_then(|entry| entry["state"].as_str().map(str::to_owned))
    }

    pub fn wait_state(&self, order_id: &str, destination: &str, wanted: &str) {
        wait_for(
            &format!("{order_id} to be {wanted} at {destination}"),
            DEADLINE,
            || (self.state(order_id, destination).as_deref() == Some(wanted)).then_some(()),
        );
    }

    /// Fails the test if any secret the relay holds appears in what it printed.
    pub fn assert_no_secret_in_logs(&self) {
        let logs = self.logs();
        for secret in [SIGNING_SECRET, CIBLER_KEY, CITRUS_KEY] {
            assert!(
                !logs.contains(secret),
                "a secret appears in the relay's logs"
            );
        }
    }
}

/// The entry of `destination` in a `GET /v1/checkouts/{id}` body.
pub fn destination_entry<'a>(body: &'a Value, destination: &str) -> Option<&'a Value> {
    let destinations = body.get("destinations").unwrap_or(body);
    match destinations {
        Value::Object(map) => map.get(destination),
        Value::Array(list) => list.iter().find(|e| e["destination"] == destination),
        _ => None,
    }
}

/// Signs `claims` plus `exp` as an HS256 compact JWS with the test secret (jsonwebtoken).
pub fn sign(checkout: &Value, exp: u64) -> String {
    sign_with(checkout, exp, SIGNING_SECRET)
}

pub fn sign_with(checkout: &Value, exp: u64, secret: &str) -> String {
    let mut claims = checkout.clone();
    claims["exp"] = json!(exp);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing")
}

/// The Python interpreter that has PyJWT: `ORDERSYNC_E2E_PYTHON`, else the virtual
/// environment `scripts/setup.sh` makes at `target/e2e-venv`.
pub fn pyjwt_python() -> PathBuf {
    if let Some(path) = std::env::var_os("ORDERSYNC_E2E_PYTHON") {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-venv/bin/python")
}

/// Signs `claims` (already holding `exp`) with PyJWT, `jwt.encode(claims, secret, "HS256")`.
pub fn sign_with_pyjwt(claims: &Value, secret: &str) -> String {
    let python = pyjwt_python();
    let script = "import json, sys, jwt\n\
                  claims = json.loads(sys.stdin.read())\n\
                  secret = sys.argv[1]\n\
                  token = jwt.encode(claims, secret, algorithm='HS256')\n\
                  print(token if isinstance(token, str) else token.decode())";
    let mut child = Command::new(&python)
        .args(["-c", script, secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run `bash scripts/setup.sh all` (it installs PyJWT from \
                 crates/relay/tests/requirements.txt) or set ORDERSYNC_E2E_PYTHON",
                python.display()
            )
        });
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(claims.to_string().as_bytes()).unwrap();
    }
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "PyJWT failed: {err}");
    out.trim().to_owned()
}

/// A checkout CibleR and CitrusAd both take, with a numeric order id.
pub fn checkout(order_id: u64) -> Value {
    json!({
        "orderId": order_id,
        "orderDate": "2026-11-22T10:00:00Z",
        "email": "shopper@example.com",
        "country": "FR",
        "customerGuid": "guid-e2e-1",
        "sessionId": "session-e2e-1",
        "totalSpent": "42.50",
        "taxes": "7.08",
        "shippingCost": "4.90",
        "giftCode": null,
        "discountAmount": null,
        "items": [{
            "gtin": "3017620422003",
            "quantity": 2,
            "regularUnitPrice": "18.80",
            "totalOrderItemPriceAfterDiscounts": "37.60",
            "catalogId": "catalog-e2e"
        }]
    })
}

/// Turns a SQLite outbox written by this relay into a file as the relay before retention wrote
/// it, as far as its space goes: without auto-vacuum, so the file kept its free pages (how the
/// tables of earlier versions are brought up to date is tested with a file of theirs,
/// `tests/fixtures/outbox-v1.sqlite`). Call it with no relay on the file.
pub fn as_written_before_retention(database: &Path) {
    let connection = rusqlite::Connection::open(database).expect("open the outbox file");
    connection
        .busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    connection
        .execute_batch(
            "PRAGMA auto_vacuum = NONE; VACUUM; \
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .expect("rewrite the file as before retention");
    let auto_vacuum: i64 = connection
        .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
        .unwrap();
    assert_eq!(auto_vacuum, 0, "no auto-vacuum, as before retention");
}

/// A PRAGMA's value in the SQLite file at `database`, read on a connection of its own (WAL lets
/// it read beside a relay serving the file).
pub fn sqlite_pragma(database: &Path, pragma: &str) -> i64 {
    let connection = rusqlite::Connection::open(database).expect("open the outbox file");
    connection
        .query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))
        .expect("read the pragma")
}
