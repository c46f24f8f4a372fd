//! `POST /v1/checkouts` (the hand-off) and `GET /v1/checkouts/{orderId}` (its status).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::Serialize;

use super::client::Client;
use super::error::{ApiError, ErrorBody};
use super::handoff_body::{BodyRefused, HandoffText};
use super::SharedState;
use crate::clock;
use crate::outbox::{
    DeliveryState, Destination, DestinationStatus, InitialState, InsertOutcome, NewCheckout,
    OrderStatus, PrunedOrder, StorageError,
};

/// The answer to a hand-off.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandoffAnswer {
    pub order_id: String,
    /// `accepted` for a new order; for a repeat, the order's overall state (`pending`,
    /// `retrying`, `delivered`, `dead`; `delivered` or `skipped` for a pruned order).
    pub status: String,
    /// Each destination's state; empty for a pruned order.
    pub destinations: BTreeMap<Destination, DeliveryState>,
    /// Present only for an order delivered and pruned earlier (`--retention`) whose id the
    /// relay still remembers (`--order-id-memory`): a known, already-delivered order, not
    /// stored and not sent again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<PrunedView>,
}

/// An order's delivery status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusAnswer {
    pub order_id: String,
    pub status: DeliveryState,
    /// RFC 3339.
    pub accepted_at: String,
    /// Each destination's delivery; empty once the order was pruned (see `pruned`).
    pub destinations: Vec<DestinationView>,
    /// Present only once the order was pruned at the retention: every destination had it
    /// (`status` `delivered`), or had been skipped or discarded (`skipped`); the details of
    /// each are gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<PrunedView>,
}

/// What the relay remembers of an order it pruned at the retention.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrunedView {
    /// RFC 3339: when the order's details were removed.
    pub pruned_at: String,
    /// RFC 3339: its last delivery; null when no destination delivered it (skipped or
    /// discarded at each).
    pub delivered_at: Option<String>,
}

impl PrunedView {
    fn of(order: &PrunedOrder) -> Self {
        PrunedView {
            pruned_at: clock::ms_to_rfc3339(order.pruned_at_ms),
            delivered_at: order.delivered_at_ms.map(clock::ms_to_rfc3339),
        }
    }
}

/// The overall state of a pruned order: pruning takes only finished orders.
fn pruned_state(order: &PrunedOrder) -> DeliveryState {
    if order.delivered_at_ms.is_some() {
        DeliveryState::Delivered
    } else {
        DeliveryState::Skipped
    }
}

/// One destination of an order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView {
    pub destination: Destination,
    pub state: DeliveryState,
    pub attempts: u32,
    /// The last failure: what happened (`HTTP 400`, `timeout`, ...), never the vendor's answer
    /// body, which the outbox keeps apart (the operator sees it with `ordersync-relay
    /// dead-letters list` and in the console).
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub delivered_at: Option<String>,
    pub next_attempt_at: Option<String>,
}

impl From<&DestinationStatus> for DestinationView {
    fn from(d: &DestinationStatus) -> Self {
        DestinationView {
            destination: d.destination,
            state: d.state,
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            created_at: clock::ms_to_rfc3339(d.created_at_ms),
            updated_at: clock::ms_to_rfc3339(d.updated_at_ms),
            delivered_at: d.delivered_at_ms.map(clock::ms_to_rfc3339),
            next_attempt_at: d.next_attempt_at_ms.map(clock::ms_to_rfc3339),
        }
    }
}

/// Hand a checkout to the relay.
#[utoipa::path(
    post,
    path = "/v1/checkouts",
    tag = "checkouts",
    request_body(
        content(
            (super::checkout_schema::HandoffBody = "application/json"),
            (super::checkout_schema::HandoffBody = "text/plain"),
        ),
        description = "`{\"token\": \"<compact JWS>\", \"cookieId\": ...}`, or with `--accept-unsigned` `{\"checkout\": {...}, \"cookieId\": ...}`; `text/plain` bodies are JSON too (sendBeacon)."
    ),
    responses(
        (status = 202, description = "Stored durably; delivery follows", body = HandoffAnswer),
        (status = 200, description = "This order was stored before; its current state. For an order delivered and pruned since (`--retention`) whose id the relay remembers (`--order-id-memory`), `pruned` says so: nothing is stored or sent again", body = HandoffAnswer),
        (status = 400, description = "Bad checkout or body; names the field", body = ErrorBody),
        (status = 401, description = "Missing, forged or expired signature", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Content-Type is neither application/json nor text/plain", body = ErrorBody),
        (status = 429, description = "Too many requests from this client; see Retry-After", body = ErrorBody),
        (status = 503, description = "Storage unavailable; retry later", body = ErrorBody),
    )
)]
pub async fn post_checkout(
    State(state): State<SharedState>,
    Extension(client): Extension<Client>,
    body: Result<HandoffText, BodyRefused>,
) -> Result<Response, ApiError> {
    let result = match body {
        Ok(HandoffText(text)) => accept(&state, client, &text).await,
        Err(BodyRefused { reason, error }) => Err((reason, error)),
    };
    if let Err((reason, error)) = &result {
        state.metrics.rejected(reason);
        tracing::info!(
            client = %client.0,
            reason,
            status = error.status.as_u16(),
            "hand-off refused"
        );
    }
    result.map_err(|(_, e)| e)
}

async fn accept(
    state: &SharedState,
    client: Client,
    text: &str,
) -> Result<Response, (&'static str, ApiError)> {
    let accepted = state
        .acceptance
        .accept(text, &clock::now_rfc3339())
        .map_err(|e| (e.reason(), ApiError::from(e)))?;
    let order_id = accepted.new_checkout.order_id.clone();
    let planned: BTreeMap<Destination, DeliveryState> = accepted
        .new_checkout
        .destinations
        .iter()
        .map(|(d, s)| {
            let state = match s {
                InitialState::Pending => DeliveryState::Pending,
                InitialState::Skipped { .. } => DeliveryState::Skipped,
            };
            (*d, state)
        })
        .collect();
    let stored = store(state, client, accepted.new_checkout)
        .await
        .map_err(|()| {
            (
                "storage_unavailable",
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage unavailable; retry later",
                )
                .with_retry_after(5),
            )
        })?;
    Ok(match stored {
        InsertOutcome::Inserted => {
            let answer = HandoffAnswer {
                order_id,
                status: "accepted".into(),
                destinations: planned,
                pruned: None,
            };
            (StatusCode::ACCEPTED, Json(answer)).into_response()
        }
        InsertOutcome::Existing(existing) => {
            (StatusCode::OK, Json(existing_answer(&existing))).into_response()
        }
        InsertOutcome::Pruned(pruned) => {
            let answer = HandoffAnswer {
                order_id,
                status: pruned_state(&pruned).as_str().to_owned(),
                destinations: BTreeMap::new(),
                pruned: Some(PrunedView::of(&pruned)),
            };
            (StatusCode::OK, Json(answer)).into_response()
        }
    })
}

/// Stores the checkout, then counts it and wakes the delivery workers, in a task of its own:
/// when a client hangs up while its checkout is being committed, axum drops the handler's
/// future, but an order that reaches the disk must still be counted and delivered promptly.
async fn store(
    state: &SharedState,
    client: Client,
    checkout: NewCheckout,
) -> Result<InsertOutcome, ()> {
    let state = SharedState::clone(state);
    let client = client.0;
    let task = tokio::spawn(async move {
        let order_id = checkout.order_id.clone();
        let stored = state.outbox.insert(checkout, clock::now_ms()).await;
        match &stored {
            Ok(InsertOutcome::Inserted) => {
                state.metrics.accepted();
                state.wakers.wake_all();
                tracing::info!(order_id = order_id.as_str(), client = %client, "checkout accepted");
            }
            Ok(InsertOutcome::Existing(_)) => {
                state.metrics.duplicate();
                tracing::info!(order_id = order_id.as_str(), client = %client, "checkout already stored");
            }
            Ok(InsertOutcome::Pruned(_)) => {
                state.metrics.duplicate();
                state.metrics.remembered();
                tracing::info!(
                    order_id = order_id.as_str(),
                    "checkout delivered and pruned earlier; its order id is remembered, not sent again"
                );
            }
            Err(e) => {
                tracing::error!(order_id = order_id.as_str(), client = %client, error = %e, "storing a checkout failed");
            }
        }
        stored.map_err(|_| ())
    });
    task.await.unwrap_or(Err(()))
}

fn existing_answer(status: &OrderStatus) -> HandoffAnswer {
    HandoffAnswer {
        order_id: status.order_id.clone(),
        status: status.overall().as_str().to_owned(),
        destinations: status
            .destinations
            .iter()
            .map(|d| (d.destination, d.state))
            .collect(),
        pruned: None,
    }
}

/// An order's delivery status, per destination.
#[utoipa::path(
    get,
    path = "/v1/checkouts/{orderId}",
    tag = "checkouts",
    params(("orderId" = String, Path, description = "The shop's order id")),
    responses(
        (status = 200, description = "Per-destination state; for an order pruned at the retention, `status` (`delivered`, or `skipped` if every destination was skipped or discarded), `pruned` and no destinations", body = StatusAnswer),
        (status = 404, description = "No checkout with this order id (never accepted, or pruned and forgotten after the order id memory)", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    )
)]
pub async fn get_checkout(
    State(state): State<SharedState>,
    Path(order_id): Path<String>,
) -> Result<Json<StatusAnswer>, ApiError> {
    let unavailable = |e: StorageError| {
        tracing::error!(error = %e, "reading a status failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage unavailable; retry later",
        )
        .with_retry_after(5)
    };
    let status = state.outbox.status(&order_id).await.map_err(unavailable)?;
    let Some(status) = status else {
        let pruned = state.outbox.pruned(&order_id).await.map_err(unavailable)?;
        return pruned
            .map(|pruned| Json(pruned_answer(&pruned)))
            .ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "no checkout with this orderId")
                    .with_field("orderId")
            });
    };
    Ok(Json(StatusAnswer {
        order_id: status.order_id.clone(),
        status: status.overall(),
        accepted_at: clock::ms_to_rfc3339(status.accepted_at_ms),
        destinations: status
            .destinations
            .iter()
            .map(DestinationView::from)
            .collect(),
        pruned: None,
    }))
}

fn pruned_answer(pruned: &PrunedOrder) -> StatusAnswer {
    StatusAnswer {
        order_id: pruned.order_id.clone(),
        status: pruned_state(pruned),
        accepted_at: clock::ms_to_rfc3339(pruned.accepted_at_ms),
        destinations: Vec::new(),
        pruned: Some(PrunedView::of(pruned)),
    }
}
