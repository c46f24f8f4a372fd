//! The operators' console at `/console`: a page served by the relay itself (its HTML, CSS and
//! script are compiled into the binary from `crates/relay/console/`), and the JSON it polls.
//!
//! Off unless `--console` is given with a token ([`crate::config::ConsoleArgs`]). Every path
//! under `/console` needs the token ([`auth`]); without it the answer is 401 and nothing of the
//! console: the page's own URL answers with the sign-in form (which holds no data and loads
//! nothing), everything else with a bare 401. The console is same-origin only: its routes sit
//! outside the relay's CORS layer, and every answer carries a Content-Security-Policy that
//! lets the page load and call nothing but the relay.

pub mod auth;
mod overview;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::delivery::Wakers;
use crate::metrics::Metrics;
use crate::outbox::{DeadLetterAction, Destination, Outbox};
use auth::{ConsoleAuth, Proof};
use overview::Overviews;

use super::client::Client;
use super::error::ApiError;

/// The page and its assets, compiled in: nothing is read from disk or fetched from elsewhere.
const PAGE: &str = include_str!("../../../console/console.html");
const SCRIPT: &str = include_str!("../../../console/console.js");
const STYLE: &str = include_str!("../../../console/console.css");
const ICON: &str = include_str!("../../../console/icon.svg");
const SIGN_IN: &str = include_str!("../../../console/sign-in.html");

/// What the page may load and call: its own script and stylesheet, and the relay's JSON.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The sign-in form loads nothing: its only style is inline, allowed by its hash.
static SIGN_IN_POLICY: LazyLock<String> = LazyLock::new(|| {
    let style = inline_style(SIGN_IN);
    let hash = STANDARD.encode(Sha256::digest(style.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

/// What the console needs of the relay.
pub struct ConsoleState {
    pub auth: ConsoleAuth,
    pub outbox: Arc<dyn Outbox>,
    pub metrics: Arc<Metrics>,
    pub wakers: Wakers,
    /// The destinations this relay delivers to (the others show as off).
    pub enabled: Vec<Destination>,
    overviews: Overviews,
}

impl ConsoleState {
    pub fn new(
        token: &str,
        outbox: Arc<dyn Outbox>,
        metrics: Arc<Metrics>,
        wakers: Wakers,
        enabled: Vec<Destination>,
    ) -> Self {
        Self {
            auth: ConsoleAuth::new(token),
            outbox,
            metrics,
            wakers,
            enabled,
            overviews: Overviews::default(),
        }
    }
}

type Shared = Arc<ConsoleState>;

/// The console's routes, to merge beside the relay's API (outside its CORS layer; the
/// relay's router identifies each request's client for them, [`super::client::identify`]).
pub fn router(state: ConsoleState) -> Router {
    let state = Shared::new(state);
    let guarded = Router::new()
        .route("/console", get(page))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(style))
        .route("/console/icon.svg", get(icon))
        .route("/console/api/overview", get(overview::get_overview))
        .route("/console/api/dead-letters/retry", post(retry))
        .route("/console/api/dead-letters/discard", post(discard))
        .route("/console/logout", post(sign_out))
        .route("/console/{*rest}", get(no_such_page).post(no_such_page))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/console/login", post(sign_in))
        // The page's links are relative to `/console`; a trailing slash would break them.
        .route("/console/", get(to_the_page))
        .merge(guarded)
        .with_state(state)
        .layer(axum::middleware::from_fn(harden))
}

/// Lets through only requests that hold the token; for a POST authenticated by the session
/// cookie, only those the console's own script sent ([`auth::CSRF_HEADER`]).
async fn require_token(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let is_post = request.method() == Method::POST;
    match state.auth.proof(headers, now_s()) {
        None if request.method() == Method::GET && is_the_page(request.uri().path()) => {
            sign_in_form(StatusCode::UNAUTHORIZED, None)
        }
        None => unauthorized(),
        Some(_) if is_post && auth::from_another_site(headers) => forbidden(),
        Some(Proof::Session) if is_post && !auth::has_csrf_header(headers) => forbidden(),
        Some(_) => next.run(request).await,
    }
}

fn is_the_page(path: &str) -> bool {
    path == "/console"
}

async fn to_the_page() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, "../console")],
    )
        .into_response()
}

/// Headers every console answer carries: a strict policy (unless the answer set its own), no
/// sniffing, no caching (the data is live and behind a token), no framing, no referrer.
async fn harden(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(PAGE_POLICY));
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"ordersync console\"",
            ),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "401 Unauthorized\n",
    )
        .into_response()
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "403 Forbidden: a change to the console must come from the console's own page\n",
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

async fn no_such_page() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such console page")
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The sign-in form, with a message after a failed attempt. The message is one of ours,
/// never text from the request.
fn sign_in_form(status: StatusCode, problem: Option<&'static str>) -> Response {
    let body = SIGN_IN.replace("<!--problem-->", problem.unwrap_or(""));
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"ordersync console\"",
            ),
        ],
        [(header::CONTENT_SECURITY_POLICY, SIGN_IN_POLICY.as_str())],
        body,
    )
        .into_response()
}

/// The text of a page's one `<style>` element.
fn inline_style(page: &str) -> &str {
    let start = page.find("<style>").map_or(0, |i| i + "<style>".len());
    let end = page[start..].find("</style>").map_or(start, |i| start + i);
    &page[start..end]
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// The sign-in form's POST: the token once, for a session cookie; then back to the page.
async fn sign_in(
    State(state): State<Shared>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    form: Result<Form<SignIn>, FormRejection>,
) -> Response {
    if auth::from_another_site(&headers) {
        return forbidden();
    }
    let token = form.ok().map(|Form(form)| form.token);
    if !token.is_some_and(|token| state.auth.is_token(&token)) {
        tracing::warn!(client = %client.0, "console: sign-in with a wrong token");
        return sign_in_form(
            StatusCode::UNAUTHORIZED,
            Some("That is not the console's token."),
        );
    }
    tracing::info!(client = %client.0, "console: signed in");
    let session = state.auth.new_session(now_s());
    (
        StatusCode::SEE_OTHER,
        [
            // Relative, so it holds wherever a reverse proxy mounts the relay.
            (header::LOCATION, HeaderValue::from_static("../console")),
            (
                header::SET_COOKIE,
                auth::set_session_cookie(&session, wants_secure_cookie(client)),
            ),
        ],
    )
        .into_response()
}

async fn sign_out(Extension(client): Extension<Client>) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            auth::clear_session_cookie(wants_secure_cookie(client)),
        )],
    )
        .into_response()
}

/// The cookie is `Secure` except for a browser on the relay's own machine, which reaches it
/// over plain HTTP on loopback (directly, or through an SSH tunnel).
fn wants_secure_cookie(client: Client) -> bool {
    !client.0.is_loopback()
}

/// Which dead letter an operator acts on.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeadLetterTarget {
    order_id: String,
    destination: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionDone {
    order_id: String,
    destination: Destination,
    changed: u64,
}

async fn retry(State(state): State<Shared>, body: Bytes) -> Result<Json<ActionDone>, ApiError> {
    act_on_dead_letter(&state, DeadLetterAction::Retry, &body).await
}

async fn discard(State(state): State<Shared>, body: Bytes) -> Result<Json<ActionDone>, ApiError> {
    act_on_dead_letter(&state, DeadLetterAction::Discard, &body).await
}

/// Retries or discards one dead (order, destination), as `dead-letters retry|discard` does;
/// 404 when there is no such dead letter (already retried or discarded, say by another
/// operator).
async fn act_on_dead_letter(
    state: &ConsoleState,
    act: DeadLetterAction,
    body: &[u8],
) -> Result<Json<ActionDone>, ApiError> {
    let (order_id, destination) = dead_letter_action(body)?;
    let changed = act
        .apply(
            state.outbox.as_ref(),
            Some(order_id.as_str()),
            Some(destination),
            clock::now_ms(),
        )
        .await
        .map_err(storage_unavailable)?;
    if changed == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("order {order_id} has no dead letter for {destination}"),
        ));
    }
    tracing::info!(
        order_id = order_id.as_str(),
        destination = destination.as_str(),
        action = act.command(),
        "console: dead letter acted on"
    );
    state.overviews.invalidate();
    state.wakers.wake_all();
    Ok(Json(ActionDone {
        order_id,
        destination,
        changed,
    }))
}

/// The longest order id the actions take (as the hand-off's schema allows).
const MAX_ORDER_ID_CHARS: usize = 256;

fn dead_letter_action(body: &[u8]) -> Result<(String, Destination), ApiError> {
    let action: DeadLetterTarget = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("expected {{\"orderId\": \"...\", \"destination\": \"cibler\" or \"citrusad\"}}: {e}"),
        )
    })?;
    let order_id = action.order_id.trim();
    if order_id.is_empty() || order_id.chars().count() > MAX_ORDER_ID_CHARS {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "must be 1 to 256 characters")
                .with_field("orderId"),
        );
    }
    let destination = action.destination.parse::<Destination>().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "must be cibler or citrusad")
            .with_field("destination")
    })?;
    Ok((order_id.to_owned(), destination))
}

fn storage_unavailable(error: crate::outbox::StorageError) -> ApiError {
    tracing::warn!(error = %error, "console: storage unavailable");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").with_retry_after(5)
}

fn now_s() -> u64 {
    u64::try_from(clock::now_ms() / 1_000).unwrap_or(0)
}

/// How often the page asks for a new overview.
pub const REFRESH: Duration = Duration::from_secs(3);
