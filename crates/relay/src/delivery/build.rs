//! The *build* stage: a vendor's request body from the checkout stored with a claimed row.
//!
//! A checkout that cannot be built is not sent: it ends as [`Attempt::NotSent`] and goes dead
//! with its reason. Only a hand-edited database holds a checkout that no longer reads, and
//! acceptance refuses those a vendor cannot take, so only a changed configuration gets one.

use ordersync_core::wire::{checkout_from_json, CiblerOrder, CitrusOrder};
use ordersync_core::Checkout;

use super::classify::{Attempt, NotSent};
use crate::config::{CiblerSettings, CitrusSettings};
use crate::outbox::ClaimedDelivery;

/// The checkout stored with a claimed row, read back.
pub fn checkout(claimed: &ClaimedDelivery) -> Result<Checkout, Attempt> {
    checkout_from_json(&claimed.checkout_json).map_err(|e| Attempt::NotSent {
        reason: NotSent::Unreadable(e.to_string()),
    })
}

/// CibleR's body for one order.
pub fn cibler_order<'a>(
    checkout: &'a Checkout,
    settings: &'a CiblerSettings,
    cookie_id: Option<&'a str>,
) -> Result<CiblerOrder<'a>, Attempt> {
    CiblerOrder::new(checkout, &settings.order, cookie_id).map_err(not_sent)
}

/// A claimed row whose CitrusAd order builds.
pub struct Ready {
    pub claimed: ClaimedDelivery,
    pub checkout: Checkout,
}

/// Splits claimed rows into a batch CitrusAd can be sent and the rows that cannot be built
/// (each with its [`Attempt::NotSent`]). `now` is the batch's order date fallback.
pub fn citrus_batch(
    claimed: Vec<ClaimedDelivery>,
    settings: &CitrusSettings,
    now: &str,
) -> (Vec<Ready>, Vec<(ClaimedDelivery, Attempt)>) {
    let mut ready = Vec::with_capacity(claimed.len());
    let mut not_sent = Vec::new();
    for row in claimed {
        let built = checkout(&row).and_then(|checkout| {
            citrus_order(&checkout, settings, now)?;
            Ok(checkout)
        });
        match built {
            Ok(checkout) => ready.push(Ready {
                claimed: row,
                checkout,
            }),
            Err(attempt) => not_sent.push((row, attempt)),
        }
    }
    (ready, not_sent)
}

/// The CitrusAd orders of a batch [`citrus_batch`] built: each of them builds.
pub fn citrus_orders<'a>(
    batch: &'a [Ready],
    settings: &'a CitrusSettings,
    now: &'a str,
) -> Vec<CitrusOrder<'a>> {
    batch
        .iter()
        .filter_map(|ready| citrus_order(&ready.checkout, settings, now).ok())
        .collect()
}

fn citrus_order<'a>(
    checkout: &'a Checkout,
    settings: &'a CitrusSettings,
    now: &'a str,
) -> Result<CitrusOrder<'a>, Attempt> {
    CitrusOrder::new(checkout, &settings.order, now).map_err(not_sent)
}

fn not_sent(e: impl std::fmt::Display) -> Attempt {
    Attempt::NotSent {
        reason: NotSent::Unbuildable(e.to_string()),
    }
}
