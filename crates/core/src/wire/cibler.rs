//! CibleR's order tracking body: `POST [ENV]/api/campaignBehaviors/order/{customerId}`.

use serde::Serialize;

use crate::checkout::Checkout;
use crate::error::ValidationError;
use crate::money::Money;

/// The relay's CibleR settings (the key is a secret; it travels only in the body).
#[derive(Debug, Clone)]
pub struct CiblerConfig {
    pub key: String,
    /// `orderContext.environnement`, e.g. `Prod`.
    pub environment: String,
    pub site_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CiblerOrder<'a> {
    pub order_context: OrderContext<'a>,
    pub order_information: OrderInformation<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderContext<'a> {
    pub key: &'a str,
    pub email: &'a str,
    pub country: &'a str,
    pub environnement: &'a str,
    pub site_id: i64,
    pub customer_guid: &'a str,
    /// The `cibler_id` cookie; `""` when the shopper had none (the field is mandatory and
    /// typed String, so neither omitted nor null).
    pub cookie_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderInformation<'a> {
    pub order_id: i64,
    pub total_spent: Money,
    pub taxes: Money,
    /// Mandatory but nullable: always present, `null` when no code was used.
    pub gift_code: Option<&'a str>,
    pub shipping_cost: Money,
    pub discount_amount: Option<Money>,
}

impl<'a> CiblerOrder<'a> {
    /// Fails only when the order id is not a Long, which CibleR requires.
    pub fn new(
        checkout: &'a Checkout,
        config: &'a CiblerConfig,
        cookie_id: Option<&'a str>,
    ) -> Result<Self, ValidationError> {
        Ok(CiblerOrder {
            order_context: OrderContext {
                key: &config.key,
                email: &checkout.email,
                country: &checkout.country,
                environnement: &config.environment,
                site_id: config.site_id,
                customer_guid: &checkout.customer_guid,
                cookie_id: cookie_id.unwrap_or(""),
            },
            order_information: OrderInformation {
                order_id: checkout.order_id_as_long()?,
                total_spent: checkout.total_spent,
                taxes: checkout.taxes,
                gift_code: checkout.gift_code.as_deref(),
                shipping_cost: checkout.shipping_cost,
                discount_amount: checkout.discount_amount,
            },
        })
    }

    /// The request path for `customer_id`, percent-encoded as one path segment.
    pub fn path(customer_id: &str) -> String {
        let segment: String =
            percent_encoding::utf8_percent_encode(customer_id, crate::third_o::COMPONENT).collect();
        let mut path = String::from("/api/campaignBehaviors/order/");
        path.push_str(&segment);
        path
    }
}
