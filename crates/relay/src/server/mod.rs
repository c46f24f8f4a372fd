//! The public HTTP API: the hand-off, order status, health, metrics and the OpenAPI document.

pub mod checkout_schema;
pub mod checkouts;
pub mod client;
pub mod console;
pub mod error;
pub mod handoff_body;
pub mod rate_limit;

use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;

use crate::acceptance::Acceptance;
use crate::client_address::ClientAddressPolicy;
use crate::config::AllowedOrigins;
use crate::delivery::Wakers;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use error::{ApiError, ErrorBody};
use rate_limit::ClientRateLimit;

/// What every handler shares. The router holds it behind one `Arc` ([`SharedState`]): axum
/// clones the router's state for each request (the `State` extractor) and the hand-off clones
/// it again for its storing task, and one reference count costs one atomic operation where
/// a clone of each field cost one per `Arc` (on cache lines both cores write).
pub struct AppState {
    pub acceptance: Arc<Acceptance>,
    pub outbox: Arc<dyn Outbox>,
    pub metrics: Arc<Metrics>,
    pub wakers: Wakers,
    pub max_body_bytes: usize,
}

/// The state as handlers receive it.
pub type SharedState = Arc<AppState>;

/// HTTP settings the router needs beyond the state.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub allowed_origins: AllowedOrigins,
    pub rate_limit_per_minute: NonZeroU32,
    pub rate_limit_burst: NonZeroU32,
    pub client_addresses: ClientAddressPolicy,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ordersync relay",
        description = "Takes signed checkouts from the ordersync browser module and delivers them to CibleR and CitrusAd."
    ),
    paths(
        checkouts::post_checkout,
        checkouts::get_checkout,
        healthz,
        readyz,
        metrics,
    ),
    components(schemas(
        ErrorBody,
        error::ErrorDetail,
        checkout_schema::HandoffBody,
        checkout_schema::SignedHandoff,
        checkout_schema::UnsignedHandoff,
        checkout_schema::Checkout,
        checkout_schema::LineItem,
        checkout_schema::Text,
        checkout_schema::Amount,
        checkouts::HandoffAnswer,
        checkouts::StatusAnswer,
        checkouts::DestinationView,
        checkouts::PrunedView,
        Health
    ))
)]
pub struct ApiDoc;

/// The relay's router, with CORS and the per-client rate limit on `/v1/*`, and the operators'
/// console beside it when it is on (outside the CORS layer); every request's client is
/// identified first ([`client::identify`]).
pub fn router(
    state: AppState,
    policy: &HttpPolicy,
    console: Option<console::ConsoleState>,
) -> Router {
    let limiter = Arc::new(ClientRateLimit::new(
        policy.rate_limit_per_minute,
        policy.rate_limit_burst,
        state.metrics.clone(),
    ));
    limiter.spawn_pruning();
    let api = Router::new()
        .route("/v1/checkouts", post(checkouts::post_checkout))
        .route("/v1/checkouts/{order_id}", get(checkouts::get_checkout))
        .route_layer(axum::middleware::from_fn_with_state(
            limiter,
            rate_limit::limit,
        ));
    let router = Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .with_state(SharedState::new(state));
    let mut router = match cors_layer(&policy.allowed_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    if let Some(console) = console {
        router = router.merge(console::router(console));
    }
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(policy.client_addresses.clone()),
        client::identify,
    ))
}

/// CORS for the allowed origins; `None` when no origin is allowed (same-origin only).
fn cors_layer(origins: &AllowedOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        AllowedOrigins::None => return None,
        AllowedOrigins::Any => AllowOrigin::any(),
        AllowedOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the outbox answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody))
)]
pub async fn readyz(State(state): State<SharedState>) -> Result<Json<Health>, ApiError> {
    state.outbox.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
    })?;
    Ok(Json(Health { status: "ready" }))
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String))
)]
pub async fn metrics(State(state): State<SharedState>) -> Response {
    match state.outbox.depth().await {
        Ok(rows) => state.metrics.set_depth(&rows),
        Err(e) => tracing::warn!(error = %e, "queue depth unavailable for /metrics"),
    }
    match state.outbox.size_on_disk().await {
        Ok(bytes) => state.metrics.set_outbox_size(bytes),
        Err(e) => tracing::warn!(error = %e, "outbox size unavailable for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string_pretty(&openapi_document())
            .expect("the OpenAPI document always serializes")
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// The OpenAPI document as `/openapi.json` serves it.
fn openapi_document() -> serde_json::Value {
    let mut document =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document always serializes");
    link_hand_off_to_status(&mut document);
    document
}

/// Links a hand-off's answer to its order's status (`orderId` from the answer), so that a
/// client, or a tool generating requests from the document, can follow an order it stored.
/// Written into the JSON rather than with utoipa's `links(...)`: utoipa 5.5 serializes a link's
/// `operationId` as `operation_id`, which OpenAPI readers do not know.
fn link_hand_off_to_status(document: &mut serde_json::Value) {
    let links = serde_json::json!({
        "status": {
            "operationId": "get_checkout",
            "parameters": {"orderId": "$response.body#/orderId"},
            "description": "The order's delivery status",
        }
    });
    for status in ["200", "202"] {
        let answer = format!("/paths/~1v1~1checkouts/post/responses/{status}");
        if let Some(response) = document.pointer_mut(&answer) {
            response["links"] = links.clone();
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}
