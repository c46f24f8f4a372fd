//! A checkout to and from JSON text, keeping every number's literal (no float in between).

use serde::Serialize;

use crate::checkout::{Checkout, LineItem};
use crate::error::ValidationError;
use crate::input::Input;
use crate::money::Money;

/// Why JSON text did not become a checkout.
#[derive(Debug, thiserror::Error)]
pub enum JsonCheckoutError {
    /// Not JSON at all (or nested deeper than [`MAX_JSON_DEPTH`]).
    #[error("invalid JSON: {0}")]
    Syntax(#[from] InvalidJson),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// Parses JSON text into an [`Input`], numbers kept as their literal text: strict JSON, at
/// most [`MAX_JSON_DEPTH`] containers deep.
///
/// The hand-written reader the browser module uses ([`crate::input_json`]): one pass over the
/// text. The serde_json reader the relay used before ([`super::serde_input`]) re-scans each
/// nesting level's text, and a hand-off is read three levels deep twice (the envelope, then the
/// token's claims) and once more per destination at delivery; in the relay's profile that was
/// most of a token's verification. The two readers are proptested and fuzzed against each
/// other, so the relay reads exactly what it read before.
pub fn input_from_json(text: &str) -> Result<Input, InvalidJson> {
    crate::input_json::parse_json(text).map_err(|_| InvalidJson)
}

/// The text is not strict JSON, or is nested deeper than [`MAX_JSON_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not strict JSON, or nested deeper than {MAX_JSON_DEPTH} levels")]
pub struct InvalidJson;

/// Deepest nesting read: far above a checkout's four levels (envelope, checkout, items, item),
/// and low enough that hostile input such as `[[[[…]]]]` cannot exhaust a thread's stack.
pub const MAX_JSON_DEPTH: usize = crate::input_json::MAX_DEPTH;

/// Parses and validates a checkout from JSON text.
pub fn checkout_from_json(text: &str) -> Result<Checkout, JsonCheckoutError> {
    let input = input_from_json(text)?;
    Ok(Checkout::from_input(&input)?)
}

/// The canonical JSON form of a checkout (camelCase, money with two decimals, absent optional
/// fields left out). [`checkout_from_json`] reads it back to an equal checkout.
pub fn checkout_to_json(checkout: &Checkout) -> String {
    serde_json::to_string(&CheckoutJson::from(checkout))
        .expect("a checkout always serializes: strings, integers and two-decimal money")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckoutJson<'a> {
    order_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_date: Option<&'a str>,
    email: &'a str,
    country: &'a str,
    customer_guid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    session_id: &'a str,
    total_spent: Money,
    taxes: Money,
    shipping_cost: Money,
    gift_code: Option<&'a str>,
    discount_amount: Option<Money>,
    items: Vec<LineItemJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineItemJson<'a> {
    gtin: &'a str,
    quantity: u64,
    regular_unit_price: Money,
    total_order_item_price_after_discounts: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    citrus_discount_amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    substituted_for: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seller_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_id: Option<&'a str>,
}

impl<'a> From<&'a Checkout> for CheckoutJson<'a> {
    fn from(c: &'a Checkout) -> Self {
        CheckoutJson {
            order_id: &c.order_id,
            order_date: c.order_date.as_deref(),
            email: &c.email,
            country: &c.country,
            customer_guid: &c.customer_guid,
            customer_id: c.customer_id.as_deref(),
            session_id: &c.session_id,
            total_spent: c.total_spent,
            taxes: c.taxes,
            shipping_cost: c.shipping_cost,
            gift_code: c.gift_code.as_deref(),
            discount_amount: c.discount_amount,
            items: c.items.iter().map(LineItemJson::from).collect(),
        }
    }
}

impl<'a> From<&'a LineItem> for LineItemJson<'a> {
    fn from(i: &'a LineItem) -> Self {
        LineItemJson {
            gtin: &i.gtin,
            quantity: i.quantity,
            regular_unit_price: i.regular_unit_price,
            total_order_item_price_after_discounts: i.total_order_item_price_after_discounts,
            citrus_discount_amount: i.citrus_discount_amount,
            substituted_for: i.substituted_for.as_deref(),
            seller_id: i.seller_id.as_deref(),
            catalog_id: i.catalog_id.as_deref(),
        }
    }
}
