//! CitrusAd's backend order sync: `POST $BASE_URL/v1/orders` with up to 100 orders.

use serde::Serialize;

use crate::checkout::Checkout;
use crate::error::{FieldPath, Reason, ValidationError};
use crate::money::Money;

/// CitrusAd takes at most this many orders in one `POST /v1/orders`.
pub const MAX_ORDERS_PER_BATCH: usize = 100;

/// The relay's CitrusAd settings that shape each order (the API key goes in a header).
#[derive(Debug, Clone)]
pub struct CitrusConfig {
    pub team_id: Option<String>,
    /// Used for items that carry no `catalogId` of their own.
    pub catalog_id: Option<String>,
}

/// The request body: `{"orders": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CitrusOrders<'a> {
    pub orders: Vec<CitrusOrder<'a>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CitrusOrder<'a> {
    pub customer_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<&'a str>,
    pub session_id: &'a str,
    pub order_date: &'a str,
    /// Our own order id, always: it makes a re-sent order the same order.
    pub id: &'a str,
    pub order_items: Vec<CitrusOrderItem<'a>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CitrusOrderItem<'a> {
    pub gtin: &'a str,
    pub quantity: u64,
    pub regular_unit_price: Money,
    pub total_order_item_price_after_discounts: Money,
    pub catalog_id: &'a str,
    pub citrus_discount_amount: Option<Money>,
    pub substituted_for: Option<&'a str>,
    /// Omitted for items that are not sold by a marketplace seller, as the seed allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<&'a str>,
}

impl<'a> CitrusOrder<'a> {
    /// `now` (RFC 3339) stands in for a missing order date. Fails when the checkout has no
    /// items, or an item has no catalog id and the configuration gives no default.
    pub fn new(
        checkout: &'a Checkout,
        config: &'a CitrusConfig,
        now: &'a str,
    ) -> Result<Self, ValidationError> {
        if checkout.items.is_empty() {
            return Err(ValidationError::new(
                FieldPath::top("items"),
                Reason::NoItems,
            ));
        }
        let order_items = checkout
            .items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let catalog_id = item
                    .catalog_id
                    .as_deref()
                    .or(config.catalog_id.as_deref())
                    .ok_or_else(|| {
                        ValidationError::new(FieldPath::item(index, "catalogId"), Reason::Missing)
                    })?;
                Ok(CitrusOrderItem {
                    gtin: &item.gtin,
                    quantity: item.quantity,
                    regular_unit_price: item.regular_unit_price,
                    total_order_item_price_after_discounts: item
                        .total_order_item_price_after_discounts,
                    catalog_id,
                    citrus_discount_amount: item.citrus_discount_amount,
                    substituted_for: item.substituted_for.as_deref(),
                    seller_id: item.seller_id.as_deref(),
                })
            })
            .collect::<Result<_, ValidationError>>()?;
        Ok(CitrusOrder {
            customer_id: checkout.citrus_customer_id(),
            team_id: config.team_id.as_deref(),
            session_id: &checkout.session_id,
            order_date: checkout.order_date_or(now),
            id: &checkout.order_id,
            order_items,
        })
    }
}
