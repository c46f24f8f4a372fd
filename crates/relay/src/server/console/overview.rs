//! `GET /console/api/overview`: everything the page shows, in one JSON answer it polls.
//!
//! One reading of the outbox serves every viewer: however many operators keep the page open,
//! the outbox is read at most once per [`FRESH_FOR`] for the queue depth, the latest orders and
//! the dead letters (each a few rows read through an index or a kept count), and once per
//! [`HISTORY_FRESH_FOR`] for the deliveries of the last hour and day and the chart, which read
//! every order held (about a second for a million orders on SQLite, 30 days of 33,000 orders a
//! day: see crates/relay/README.md). A search reads the outbox each time (typed, not polled),
//! and an action (retry, discard) makes the next reading fresh.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::Shared;
use crate::clock;
use crate::outbox::console::{minute_of, MINUTE_MS};
use crate::outbox::{
    DeadLetter, DeliveredRecently, DeliveryState, Destination, DestinationStatus, MinuteActivity,
    OrderStatus, StorageError,
};
use crate::server::error::ApiError;

/// How long one reading of the queue, the latest orders and the dead letters is shown to every
/// viewer.
pub const FRESH_FOR: Duration = Duration::from_secs(2);
/// How long one reading of the deliveries over the hour and the day, and of the chart, is.
pub const HISTORY_FRESH_FOR: Duration = Duration::from_secs(15);
/// The latest orders shown (and the most a search returns).
pub const LATEST_ORDERS: u32 = 50;
/// The dead letters shown, oldest first (the page says when there are more).
pub const DEAD_LETTERS: u32 = 100;
/// The longest search the console takes (an order id is at most 256 characters).
const MAX_SEARCH_CHARS: usize = 256;

/// One destination's line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView {
    destination: Destination,
    /// Whether this relay delivers to it (configured).
    enabled: bool,
    /// Whether its circuit is open in this relay (its vendor keeps failing).
    circuit_open: bool,
    pending: u64,
    retrying: u64,
    dead: u64,
    delivered_last_hour: u64,
    delivered_last_day: u64,
}

/// One order's line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    order_id: String,
    accepted_at_ms: i64,
    /// One word for the whole order ([`OrderStatus::overall`]).
    state: DeliveryState,
    destinations: Vec<DestinationStatus>,
}

impl From<OrderStatus> for OrderView {
    fn from(order: OrderStatus) -> Self {
        OrderView {
            state: order.overall(),
            order_id: order.order_id,
            accepted_at_ms: order.accepted_at_ms,
            destinations: order.destinations,
        }
    }
}

/// The chart: every minute of the last hour, oldest first, zeros included.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    minute_ms: i64,
    minutes: Vec<MinuteActivity>,
}

/// What the page shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    generated_at_ms: i64,
    /// When the deliveries over the hour and the day, and the chart, were read.
    history_read_at_ms: i64,
    refresh_ms: u64,
    destinations: Vec<DestinationView>,
    orders: Vec<OrderView>,
    /// The search the orders answer, if any.
    search: Option<String>,
    dead_letters: Vec<DeadLetter>,
    dead_letters_total: u64,
    activity: Activity,
}

/// The deliveries of the last hour and day per destination, and the chart: what reads every
/// order held.
#[derive(Debug)]
struct History {
    read_at_ms: i64,
    delivered: Vec<DeliveredRecently>,
    activity: Activity,
}

/// The last readings of the outbox, shared by every viewer while fresh.
#[derive(Default)]
pub struct Overviews {
    last: Mutex<Readings>,
    stale: AtomicBool,
}

#[derive(Default)]
struct Readings {
    overview: Option<(Instant, Arc<Overview>)>,
    history: Option<(Instant, Arc<History>)>,
}

impl Overviews {
    /// The next request reads the outbox again, all of it.
    pub fn invalidate(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    search: Option<String>,
}

pub async fn get_overview(
    State(state): State<Shared>,
    Query(query): Query<OverviewQuery>,
) -> Result<Json<Overview>, ApiError> {
    let search = query
        .search
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
    {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "must be at most 256 characters")
                .with_field("search"),
        );
    }
    let shared = fresh_overview(&state).await.map_err(|error| {
        tracing::warn!(error = %error, "console: storage unavailable");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").with_retry_after(5)
    })?;
    let Some(search) = search else {
        return Ok(Json(Overview::clone(&shared)));
    };
    let orders = state
        .outbox
        .latest_orders(LATEST_ORDERS, Some(&search))
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable"))?;
    let mut overview = Overview::clone(&shared);
    overview.orders = orders.into_iter().map(OrderView::from).collect();
    overview.search = Some(search);
    Ok(Json(overview))
}

/// The shared reading, read again when older than [`FRESH_FOR`] (its history part when older
/// than [`HISTORY_FRESH_FOR`]) or after an action. Viewers arriving while it is read wait for
/// that one reading.
async fn fresh_overview(state: &Shared) -> Result<Arc<Overview>, StorageError> {
    let mut readings = state.overviews.last.lock().await;
    let stale = state.overviews.stale.swap(false, Ordering::Relaxed);
    let fresh = |read_at: &Instant, fresh_for| !stale && read_at.elapsed() < fresh_for;
    if let Some((read_at, overview)) = &readings.overview {
        if fresh(read_at, FRESH_FOR) {
            return Ok(overview.clone());
        }
    }
    let history = match &readings.history {
        Some((read_at, history)) if fresh(read_at, HISTORY_FRESH_FOR) => history.clone(),
        _ => {
            let history = Arc::new(read_history(state).await?);
            readings.history = Some((Instant::now(), history.clone()));
            history
        }
    };
    let overview = Arc::new(read_overview(state, &history).await?);
    readings.overview = Some((Instant::now(), overview.clone()));
    Ok(overview)
}

async fn read_history(state: &Shared) -> Result<History, StorageError> {
    let now_ms = clock::now_ms();
    let delivered = state.outbox.delivered_recently(now_ms).await?;
    // The hour's sixty minutes, the current one last.
    let first = minute_of(now_ms) - 59 * MINUTE_MS;
    let counted = state.outbox.activity(first).await?;
    let minutes = (0..60)
        .map(|i| {
            let minute_ms = first + i * MINUTE_MS;
            counted
                .iter()
                .find(|m| m.minute_ms == minute_ms)
                .copied()
                .unwrap_or(MinuteActivity {
                    minute_ms,
                    accepted: 0,
                    delivered: 0,
                })
        })
        .collect();
    Ok(History {
        read_at_ms: now_ms,
        delivered,
        activity: Activity {
            minute_ms: MINUTE_MS,
            minutes,
        },
    })
}

async fn read_overview(state: &Shared, history: &History) -> Result<Overview, StorageError> {
    let outbox = &state.outbox;
    let depth = outbox.depth().await?;
    let count = |destination: Destination, state: DeliveryState| {
        depth
            .iter()
            .filter(|row| row.destination == destination && row.state == state)
            .map(|row| row.count)
            .sum::<u64>()
    };
    let destinations: Vec<DestinationView> = Destination::ALL
        .into_iter()
        .map(|destination| {
            let recent = history
                .delivered
                .iter()
                .find(|d| d.destination == destination);
            DestinationView {
                destination,
                enabled: state.enabled.contains(&destination),
                circuit_open: state.metrics.circuit_open(destination),
                pending: count(destination, DeliveryState::Pending),
                retrying: count(destination, DeliveryState::Retrying),
                dead: count(destination, DeliveryState::Dead),
                delivered_last_hour: recent.map_or(0, |r| r.last_hour),
                delivered_last_day: recent.map_or(0, |r| r.last_day),
            }
        })
        .collect();
    let dead_letters_total = destinations.iter().map(|d| d.dead).sum();
    let orders = outbox.latest_orders(LATEST_ORDERS, None).await?;
    let dead_letters = outbox.dead_letters(DEAD_LETTERS).await?;
    Ok(Overview {
        generated_at_ms: clock::now_ms(),
        history_read_at_ms: history.read_at_ms,
        refresh_ms: super::REFRESH.as_millis() as u64,
        destinations,
        orders: orders.into_iter().map(OrderView::from).collect(),
        search: None,
        dead_letters,
        dead_letters_total,
        activity: history.activity.clone(),
    })
}
