//! The hand-offs the relay has not taken yet: queued in `localStorage` ([`crate::storage`]),
//! retried when the module starts (`init()`), on every `reportOrder`, on the browser's
//! `online` event and by `flushQueue`; and, when the page is hidden or left (`pagehide`), any
//! hand-off still in flight without `keepalive` goes out by `navigator.sendBeacon`. The module
//! listens for no `unload` or `beforeunload`: they keep a page out of the back/forward cache.
//!
//! # How long a queued hand-off is kept
//!
//! Three lifetimes make one design (README, "Signing checkouts"):
//! - the shop's server signs each checkout for **7 days** (`exp`);
//! - the browser keeps a queued hand-off for **at most 7 days and never past its token's
//!   `exp`** ([`MAX_AGE_MS`], [`deadline_ms`]): past either, it is dropped unsent (the relay
//!   would refuse an expired token), and the call that drops it says so in its result;
//! - the relay remembers every order id it delivered for **400 days**, longer than both, so a
//!   hand-off retried late (or sent twice, by a beacon and a fetch) is never delivered twice.

use std::cell::RefCell;
use std::future::Future;

use ordersync_core::input_json::parse_json;
use ordersync_core::Input;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::page;
use crate::report::{DropCause, Dropped, FlushResult};
use crate::storage::{Pending, Storage, DAY_MS, SKEW_MS};
use crate::token;
use crate::transport::{self, Sending, Verdict};

/// The longest a hand-off stays queued (see the module docs): the lifetime of the shop's
/// signed tokens, which a queued hand-off never outlives anyway.
pub const MAX_AGE_MS: u64 = 7 * DAY_MS;

/// A hand-off on the wire.
pub struct InFlight {
    pub order_id: String,
    pub url: String,
    pub body: String,
    /// Sent with `keepalive` (it survives the page going away by itself).
    pub keepalive: bool,
}

thread_local! {
    /// The hand-offs on the wire, so a concurrent flush does not send one twice, and
    /// `pagehide` can send the ones without `keepalive` by beacon.
    static IN_FLIGHT: RefCell<Vec<InFlight>> = const { RefCell::new(Vec::new()) };
    /// Hand-offs dropped by a flush no caller waits for (at start-up, on `online`): told in the
    /// result of the next `reportOrder` or `flushQueue`.
    static UNTOLD_DROPS: RefCell<Vec<Dropped>> = const { RefCell::new(Vec::new()) };
    static STARTED: RefCell<bool> = const { RefCell::new(false) };
}

/// Starts sending a hand-off and marks it in flight (until [`release`]).
pub fn send_tracked(hand_off: InFlight) -> Sending {
    let sending = transport::post(&hand_off.url, &hand_off.body, hand_off.keepalive);
    IN_FLIGHT.with(|in_flight| in_flight.borrow_mut().push(hand_off));
    sending
}

fn is_in_flight(order_id: &str) -> bool {
    IN_FLIGHT.with(|in_flight| in_flight.borrow().iter().any(|h| h.order_id == order_id))
}

/// The hand-off of `order_id` is no longer on the wire.
pub fn release(order_id: &str) {
    IN_FLIGHT.with(|in_flight| {
        let mut in_flight = in_flight.borrow_mut();
        if let Some(position) = in_flight.iter().position(|h| h.order_id == order_id) {
            in_flight.swap_remove(position);
        }
    });
}

/// Queues `row` (replacing an older one of the same order); false when storage refused it.
pub fn add(storage: &Storage, row: Pending, now_ms: u64) -> bool {
    let mut rows = storage.pending();
    rows.retain(|kept| kept.order_id != row.order_id && !is_corrupt(kept, now_ms));
    rows.push(row);
    storage.save_pending(&rows)
}

/// Removes the hand-off of `order_id` from the queue (the relay has it, or refused it).
pub fn remove(storage: &Storage, order_id: &str) {
    let mut rows = storage.pending();
    let before = rows.len();
    rows.retain(|row| row.order_id != order_id);
    if rows.len() != before {
        storage.save_pending(&rows);
    }
}

/// A stored creation time further ahead than the clock skew allows: not written by this code.
fn is_corrupt(row: &Pending, now_ms: u64) -> bool {
    row.created_ms > now_ms.saturating_add(SKEW_MS)
}

/// When `row` stops being worth sending, and why: 7 days after it was queued, or its token's
/// `exp`, whichever comes first.
pub fn deadline_ms(row: &Pending) -> (u64, DropCause) {
    let too_old = row.created_ms.saturating_add(MAX_AGE_MS);
    match token_expiry_ms(&row.body) {
        Some(expiry) if expiry < too_old => (expiry, DropCause::TokenExpired),
        _ => (too_old, DropCause::TooOld),
    }
}

/// The `exp` of the token a hand-off body carries (`{"token": ...}`), in milliseconds.
fn token_expiry_ms(body: &str) -> Option<u64> {
    let envelope = parse_json(body).ok()?;
    let Some(Input::String(token)) = envelope.get("token") else {
        return None;
    };
    token::expiry_ms(&token::claims(token)?)
}

/// The queue split into the hand-offs still to send and those dropped now (expired); corrupt
/// entries are left out of both. The queue is rewritten without the dropped and the corrupt.
fn sort_out(storage: &Storage, now_ms: u64) -> (Vec<Pending>, Vec<Dropped>) {
    let rows = storage.pending();
    let total = rows.len();
    let mut live = Vec::new();
    let mut dropped = Vec::new();
    for row in rows {
        if is_corrupt(&row, now_ms) {
            continue;
        }
        match deadline_ms(&row) {
            (deadline, cause) if deadline <= now_ms => {
                dropped.push(Dropped::new(row.order_id, cause));
            }
            _ => live.push(row),
        }
    }
    if live.len() != total {
        storage.save_pending(&live);
    }
    (live, dropped)
}

/// The drops no result has told yet, and forgets them.
pub fn untold_drops() -> Vec<Dropped> {
    UNTOLD_DROPS.with(|drops| std::mem::take(&mut *drops.borrow_mut()))
}

/// Starts retrying every queued hand-off not already on the wire (without `keepalive`: a flush
/// runs at load, on `online` or beside a report, not at unload). Returns the hand-offs dropped
/// now (expired), and the future of the result.
pub fn flush() -> (Vec<Dropped>, impl Future<Output = FlushResult>) {
    let Some(storage) = Storage::open() else {
        return (
            Vec::new(),
            Box::pin(async { FlushResult::default() }) as Flushing,
        );
    };
    let (live, dropped) = sort_out(&storage, page::now_ms());
    let mut sending = Vec::new();
    for row in live {
        if is_in_flight(&row.order_id) {
            continue;
        }
        let request = send_tracked(InFlight {
            order_id: row.order_id.clone(),
            url: row.url,
            body: row.body,
            keepalive: false,
        });
        sending.push((row.order_id, request));
    }
    (dropped, Box::pin(finish_flush(sending)) as Flushing)
}

type Flushing = std::pin::Pin<Box<dyn Future<Output = FlushResult>>>;

async fn finish_flush(sending: Vec<(String, Sending)>) -> FlushResult {
    let mut result = FlushResult::default();
    let mut settled = Vec::new();
    for (order_id, request) in sending {
        let outcome = request.outcome().await;
        release(&order_id);
        settled.push((order_id, transport::verdict(&outcome, false)));
    }
    let storage = Storage::open();
    for (order_id, verdict) in settled {
        match verdict {
            Verdict::Refused(_) => result.rejected += 1,
            Verdict::Delivered(_) | Verdict::Beacon => result.delivered += 1,
            Verdict::Retry(_) | Verdict::Late | Verdict::NoTransport => continue,
        }
        if let Some(storage) = &storage {
            remove(storage, &order_id);
        }
    }
    if let Some(storage) = &storage {
        let now = page::now_ms();
        let rows = storage.pending();
        let still = rows
            .iter()
            .filter(|row| !is_corrupt(row, now) && deadline_ms(row).0 > now);
        result.remaining = u32::try_from(still.count()).unwrap_or(u32::MAX);
    }
    result
}

/// A flush no caller waits for: its drops are kept for the next result that can tell them.
pub fn flush_in_background() {
    let (dropped, flushing) = flush();
    UNTOLD_DROPS.with(|drops| drops.borrow_mut().extend(dropped));
    wasm_bindgen_futures::spawn_local(async move {
        flushing.await;
    });
}

/// Run once per page (by `init()`): retries what earlier pages left queued, listens for
/// `online` (retry) and `pagehide` (beacon what is in flight). Calling it again does nothing.
pub fn start() {
    let first = STARTED.with(|started| !started.replace(true));
    if !first {
        return;
    }
    if let Some(window) = web_sys::window() {
        listen(&window, "online", flush_in_background);
        listen(&window, "pagehide", beacon_in_flight);
    }
    flush_in_background();
}

/// Calls `handler` on every `event` of the window, for the page's lifetime.
fn listen(window: &web_sys::Window, event: &str, handler: fn()) {
    let closure = Closure::<dyn FnMut()>::new(handler);
    let _ = window.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    // The listener lives as long as the page: the closure is never freed.
    closure.forget();
}

/// On `pagehide`: the hand-offs on the wire without `keepalive` (queue retries, bodies over
/// the keepalive limit) would be cancelled with the page, so each is handed to
/// `navigator.sendBeacon`, which the browser delivers after the page is gone. They stay queued:
/// if both the fetch and the beacon arrive, the relay takes the order once (its order id is the
/// idempotency key) and answers the repeat with 200.
fn beacon_in_flight() {
    IN_FLIGHT.with(|in_flight| {
        for hand_off in in_flight.borrow_mut().iter_mut().filter(|h| !h.keepalive) {
            transport::beacon(&hand_off.url, &hand_off.body);
            // Once is enough, even if the page is shown and hidden again.
            hand_off.keepalive = true;
        }
    });
}
