//! A local stand-in for both vendors (CibleR and CitrusAd), as strict as the seed documents.
//! Never part of the relay a shop runs: the tests, the demo and the benchmarks deliver to it.
//!
//! `ordersync-sandbox --listen ADDR` serves:
//! - CibleR `POST /api/campaignBehaviors/order/{customerId}` ([`cibler`]);
//! - CitrusAd `POST /v1/orders`, `GET /v1/orders/{id}` and `GET /v1/resource/third-o`
//!   (the last with permissive CORS, since a shop's page calls it) ([`citrus`]);
//! - `GET /__sandbox/requests` (every request received, in order) and
//!   `DELETE /__sandbox/requests`;
//! - `GET /__sandbox/faults` and `PUT /__sandbox/faults` to read and change fault injection
//!   at run time ([`faults`]).
//!
//! A request that breaks a vendor's contract gets that vendor's 400 (401 for credentials) and
//! its violations are recorded with it. On start it prints
//! `ordersync sandbox listening on http://ADDR` to stdout (with the real port when ADDR asks
//! for port 0), which is how tests and scripts find it.

pub mod checks;
pub mod cibler;
pub mod citrus;
pub mod embedded;
pub mod faults;
pub mod journal;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use axum::body::{to_bytes, Body};
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower_http::cors::CorsLayer;

use self::cibler::CiblerExpectations;
use self::citrus::{AuthForm, CitrusExpectations, OrderStore};
use self::faults::{Fault, FaultSettings, Faults, Vendor};
use self::journal::{Journal, Outcome};

/// Request bodies above this size are refused with 413 (a full CitrusAd batch is far below).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Options of `ordersync-sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(
        long,
        env = "ORDERSYNC_SANDBOX_LISTEN",
        default_value = "127.0.0.1:8788"
    )]
    pub listen: SocketAddr,
    /// When given, `orderContext.key` must be exactly this (else 401).
    #[arg(long, env = "ORDERSYNC_SANDBOX_CIBLER_API_KEY", hide_env_values = true)]
    pub cibler_api_key: Option<String>,
    /// When given, the `{customerId}` path segment must be exactly this (else 400).
    #[arg(long, env = "ORDERSYNC_SANDBOX_CIBLER_CUSTOMER_ID")]
    pub cibler_customer_id: Option<String>,
    /// When given, `Authorization: Basic …` must carry exactly this key (else 401).
    #[arg(long, env = "ORDERSYNC_SANDBOX_CITRUS_API_KEY", hide_env_values = true)]
    pub citrus_api_key: Option<String>,
    /// Which form of the CitrusAd key is accepted: `raw` (`Basic <key>`, as documented),
    /// `base64` (`Basic base64(<key>:)`) or `either`.
    #[arg(long, env = "ORDERSYNC_SANDBOX_CITRUS_AUTH", value_enum, default_value_t = AuthForm::Raw)]
    pub citrus_auth: AuthForm,
    #[command(flatten)]
    pub faults: FaultSettings,
}

/// Binds, prints the address, and serves until Ctrl-C or SIGTERM.
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let (listener, sandbox) = bind(&args).await?;
    let address = listener.local_addr()?;
    println!("ordersync sandbox listening on http://{address}");
    tracing::info!(%address, "sandbox started: CibleR and CitrusAd stand-ins");
    serve(listener, router(sandbox), shutdown_signal()).await;
    tracing::info!("sandbox stopped");
    Ok(())
}

/// Checks the settings and binds the listening socket.
async fn bind(args: &SandboxArgs) -> anyhow::Result<(TcpListener, Arc<Sandbox>)> {
    args.faults
        .validate()
        .context("invalid fault injection settings")?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", args.listen))?;
    Ok((listener, Arc::new(Sandbox::new(args))))
}

/// The sandbox's shared state.
#[derive(Debug)]
pub struct Sandbox {
    cibler: CiblerExpectations,
    citrus: CitrusExpectations,
    journal: Mutex<Journal>,
    faults: Mutex<Faults>,
    citrus_orders: Mutex<OrderStore>,
}

impl Sandbox {
    pub fn new(args: &SandboxArgs) -> Self {
        Sandbox {
            cibler: CiblerExpectations {
                api_key: args.cibler_api_key.clone(),
                customer_id: args.cibler_customer_id.clone(),
            },
            citrus: CitrusExpectations {
                api_key: args.citrus_api_key.clone(),
                auth_form: args.citrus_auth,
            },
            journal: Mutex::default(),
            faults: Mutex::new(Faults::new(args.faults.clone())),
            citrus_orders: Mutex::default(),
        }
    }
}

/// A poisoned lock only means another request panicked mid-update; the data is still usable
/// for a test tool, and refusing every later request would hide the first failure.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// All routes, with recording and fault injection around the vendor endpoints.
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route(
            "/api/campaignBehaviors/order/{customer_id}",
            post(cibler_order),
        )
        .route("/v1/orders", post(citrus_post_orders))
        .route("/v1/orders/{id}", get(citrus_get_order))
        .route(
            "/v1/resource/third-o",
            // The explicit `options` route keeps the preflight inside the CORS layer (the
            // router-wide method-not-allowed fallback would otherwise answer it with 405).
            get(citrus_third_o)
                .options(|| async { StatusCode::NO_CONTENT })
                .layer(CorsLayer::permissive()),
        )
        .route(
            "/__sandbox/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/__sandbox/faults", get(get_faults).put(put_faults))
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            sandbox.clone(),
            record_and_inject_faults,
        ))
        .with_state(sandbox)
}

/// The request body, parsed as JSON when it is JSON (handlers judge it; `None` otherwise).
#[derive(Debug, Clone)]
struct JsonBody(Option<Value>);

/// The violations a handler found, carried on its response to the recording middleware.
#[derive(Debug, Clone)]
struct FoundViolations(Vec<String>);

/// A vendor's answer: status, JSON body (as text, to keep member order) and the violations
/// behind it.
struct Answer {
    status: StatusCode,
    body: Box<RawValue>,
    violations: Vec<String>,
}

fn raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("a JSON value always serializes")
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        response
            .extensions_mut()
            .insert(FoundViolations(self.violations));
        response
    }
}

impl From<cibler::Verdict> for Answer {
    fn from(v: cibler::Verdict) -> Self {
        Answer {
            status: v.status,
            body: raw(&v.body),
            violations: v.violations.into_vec(),
        }
    }
}

impl From<citrus::Verdict> for Answer {
    fn from(v: citrus::Verdict) -> Self {
        Answer {
            status: v.status,
            body: v.body,
            violations: v.violations.into_vec(),
        }
    }
}

/// True when `Content-Type` is `application/json`, parameters (charset) allowed.
pub fn content_type_is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

async fn cibler_order(
    State(sandbox): State<Arc<Sandbox>>,
    Path(customer_id): Path<String>,
    Extension(JsonBody(body)): Extension<JsonBody>,
    headers: HeaderMap,
) -> Answer {
    cibler::judge_order(&sandbox.cibler, &customer_id, &headers, body.as_ref()).into()
}

async fn citrus_post_orders(
    State(sandbox): State<Arc<Sandbox>>,
    Extension(JsonBody(body)): Extension<JsonBody>,
    headers: HeaderMap,
) -> Answer {
    let refused = lock(&sandbox.faults)
        .settings()
        .refuse_citrus_orders
        .clone();
    if let Some(refusal) = citrus::refuse_listed_orders(body.as_ref(), &refused) {
        return refusal.into();
    }
    let mut store = lock(&sandbox.citrus_orders);
    citrus::judge_post_orders(&sandbox.citrus, &mut store, &headers, body.as_ref()).into()
}

async fn citrus_get_order(
    State(sandbox): State<Arc<Sandbox>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let store = lock(&sandbox.citrus_orders);
    citrus::judge_get_order(&sandbox.citrus, &store, &headers, &id).into()
}

async fn citrus_third_o(uri: Uri) -> Answer {
    citrus::judge_third_o(uri.query().unwrap_or("")).into()
}

async fn list_requests(State(sandbox): State<Arc<Sandbox>>) -> Response {
    Json(lock(&sandbox.journal).entries()).into_response()
}

async fn clear_requests(State(sandbox): State<Arc<Sandbox>>) -> StatusCode {
    lock(&sandbox.journal).clear();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(sandbox): State<Arc<Sandbox>>) -> Json<FaultSettings> {
    Json(lock(&sandbox.faults).settings().clone())
}

async fn put_faults(State(sandbox): State<Arc<Sandbox>>, body: axum::body::Bytes) -> Response {
    let settings: FaultSettings = match serde_json::from_slice(&body) {
        Ok(settings) => settings,
        Err(e) => return sandbox_error(&format!("invalid fault settings: {e}")),
    };
    match lock(&sandbox.faults).replace(settings.clone()) {
        Ok(()) => {
            tracing::info!(?settings, "fault injection changed");
            Json(settings).into_response()
        }
        Err(e) => sandbox_error(&e.to_string()),
    }
}

fn sandbox_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"message": message}})),
    )
        .into_response()
}

async fn no_such_endpoint(request: Request) -> Answer {
    wrong_endpoint(StatusCode::NOT_FOUND, &request)
}

async fn method_not_allowed(request: Request) -> Answer {
    wrong_endpoint(StatusCode::METHOD_NOT_ALLOWED, &request)
}

fn wrong_endpoint(status: StatusCode, request: &Request) -> Answer {
    let violation = format!(
        "endpoint: neither vendor serves {} {}",
        request.method(),
        request.uri().path()
    );
    Answer {
        status,
        body: raw(&json!({"message": violation, "additionalInfo": []})),
        violations: vec![violation],
    }
}

/// Records every request that is not addressed to the sandbox itself, and injects faults
/// into those addressed to a vendor in scope.
async fn record_and_inject_faults(
    State(sandbox): State<Arc<Sandbox>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/__sandbox/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let vendor = Vendor::of_path(parts.uri.path());
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        let seq = lock(&sandbox.journal).begin(&parts, Value::Null);
        let violation = "body: is larger than the sandbox accepts (8 MiB)".to_owned();
        return finish(&sandbox, seq, too_large(vendor, violation));
    };
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    let recorded = parsed
        .clone()
        .unwrap_or_else(|| journal::recorded_body(&bytes));
    let seq = lock(&sandbox.journal).begin(&parts, recorded);
    tracing::info!(seq, method = %parts.method, path = parts.uri.path(), "request");

    if let Some(vendor) = vendor {
        let (latency, fault) = {
            let mut faults = lock(&sandbox.faults);
            let (latency, fault) = faults.decide(vendor);
            (
                latency + faults.slow_order_delay(vendor, parsed.as_ref()),
                fault,
            )
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(fault) = fault {
            if fault == Fault::Dropped {
                if let Some(hangup) = parts.extensions.get::<Hangup>() {
                    record(&sandbox, seq, None, Vec::new(), Some(fault.name()));
                    hangup.now().await;
                }
            }
            let response = fault_response(vendor, fault);
            let status = response.status().as_u16();
            record(&sandbox, seq, Some(status), Vec::new(), Some(fault.name()));
            return response;
        }
    }

    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(JsonBody(parsed));
    let response = next.run(request).await;
    finish(&sandbox, seq, response)
}

fn finish(sandbox: &Sandbox, seq: u64, response: Response) -> Response {
    let violations = response
        .extensions()
        .get::<FoundViolations>()
        .map(|found| found.0.clone())
        .unwrap_or_default();
    let status = response.status().as_u16();
    tracing::info!(seq, status, violations = violations.len(), "answered");
    record(sandbox, seq, Some(status), violations, None);
    response
}

fn record(
    sandbox: &Sandbox,
    seq: u64,
    status: Option<u16>,
    violations: Vec<String>,
    fault: Option<&'static str>,
) {
    lock(&sandbox.journal).finish(
        seq,
        Outcome {
            status,
            violations,
            fault,
        },
    );
}

fn too_large(vendor: Option<Vendor>, violation: String) -> Response {
    let body = match vendor {
        Some(Vendor::Cibler) => {
            let mut v = checks::Violations::new();
            v.push("body", "is too large");
            cibler::error_body(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large", &v)
        }
        _ => citrus::error_body("Payload too large", &[(&violation, "PAYLOAD_TOO_LARGE")]),
    };
    Answer {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        body: raw(&body),
        violations: vec![violation],
    }
    .into_response()
}

/// The vendor-style answer to an injected fault (a dropped connection never gets here when
/// the connection can be dropped; otherwise it degrades to a 502 so the test still sees a
/// failure).
fn fault_response(vendor: Vendor, fault: Fault) -> Response {
    let (status, message) = match fault {
        Fault::Outage => (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        Fault::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
        Fault::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        Fault::Dropped => (StatusCode::BAD_GATEWAY, "Connection could not be dropped"),
    };
    let body = match vendor {
        Vendor::Cibler => cibler::error_body(status, message, &checks::Violations::new()),
        Vendor::Citrus => citrus::error_body(message, &[]),
    };
    let mut response = (status, Json(body)).into_response();
    if let Fault::RateLimited {
        retry_after_secs: Some(seconds),
    } = fault
    {
        response
            .headers_mut()
            .insert(RETRY_AFTER, seconds.to_string().parse().expect("digits"));
    }
    response
}

/// Lets a handler close its own TCP connection without answering (an injected drop).
#[derive(Debug, Clone)]
struct Hangup(Arc<Notify>);

impl Hangup {
    /// Asks the connection task to close the socket, then waits to be dropped with it.
    async fn now(&self) {
        self.0.notify_one();
        std::future::pending::<()>().await;
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves. Each connection is served by
/// hyper directly (not `axum::serve`) so that a request can close its connection without any
/// response, which `axum::serve` cannot do.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, app.clone()));
            }
            Err(error) => {
                // Out of file descriptors and the like: pause instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, app: Router) {
    let hangup = Hangup(Arc::new(Notify::new()));
    let signal = hangup.0.clone();
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(hangup.clone());
        let mut app = app.clone();
        async move { tower::Service::call(&mut app, request.map(Body::new)).await }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        // Dropping the connection future closes the socket with nothing written.
        () = signal.notified() => {}
    }
}

/// Resolves on Ctrl-C or SIGTERM (the sandbox runs where the project's tests do: Unix).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
