//! A checkout to and from JSON text, keeping every number's literal (no float in between).

use serde::Serialize;
use serde_json::value::RawValue;

use crate::checkout::{Checkout, LineItem};
use crate::error::ValidationError;
use crate::input::Input;
use crate::money::Money;

/// Why JSON text did not become a checkout.
#[derive(Debug, thiserror::Error)]
pub enum JsonCheckoutError {
    /// Not JSON at all (or nested deeper than serde_json's recursion limit).
    #[error("invalid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// Deepest nesting [`input_from_json`] reads. A checkout is four levels deep (envelope,
/// checkout, items, item); the limit is far above that and keeps hostile input such as
/// `[[[[…]]]]` from recursing once per level until the thread's stack overflows (each level is
/// re-parsed from its raw text, so serde_json's own recursion limit does not apply across them).
/// It also bounds that re-parsing: at most this many passes over any byte of the text.
pub const MAX_JSON_DEPTH: usize = 32;

/// Parses JSON text into an [`Input`], numbers kept as their literal text. Nesting deeper than
/// [`MAX_JSON_DEPTH`] is refused as invalid JSON.
pub fn input_from_json(text: &str) -> Result<Input, serde_json::Error> {
    let raw: &RawValue = serde_json::from_str(text)?;
    input_from_raw(raw, 0)
}

fn input_from_raw(raw: &RawValue, depth: usize) -> Result<Input, serde_json::Error> {
    let text = raw.get();
    let nested = matches!(text.as_bytes().first(), Some(b'{' | b'['));
    if nested && depth >= MAX_JSON_DEPTH {
        return Err(serde::de::Error::custom("JSON nested too deeply"));
    }
    Ok(match text.as_bytes().first() {
        Some(b'{') => {
            // Pairs, not a map: members keep their order and duplicates stay visible, so
            // validation can refuse an ambiguous checkout instead of silently picking one.
            let members: Vec<(String, &RawValue)> = serde_json::from_str::<MemberList<'_>>(text)?.0;
            Input::Object(
                members
                    .into_iter()
                    .map(|(k, v)| input_from_raw(v, depth + 1).map(|v| (k, v)))
                    .collect::<Result<_, _>>()?,
            )
        }
        Some(b'[') => {
            let elements: Vec<&RawValue> = serde_json::from_str(text)?;
            Input::Array(
                elements
                    .into_iter()
                    .map(|v| input_from_raw(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Some(b'"') => Input::String(serde_json::from_str(text)?),
        Some(b't' | b'f') => Input::Bool(serde_json::from_str(text)?),
        Some(b'n') => Input::Null,
        _ => Input::Number(text.to_owned()),
    })
}

/// Object members in document order, borrowing each value's raw text.
struct MemberList<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for MemberList<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = MemberList<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(MemberList(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

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

#[cfg(test)]
mod depth_tests {
    use super::{input_from_json, MAX_JSON_DEPTH};

    #[test]
    fn nesting_is_read_up_to_the_limit_and_refused_beyond_it_without_recursing_further() {
        let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        assert!(input_from_json(&nested(MAX_JSON_DEPTH)).is_ok());
        assert!(input_from_json(&nested(MAX_JSON_DEPTH + 1)).is_err());
        // Deep enough to overflow any thread's stack if each level recursed.
        let hostile = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert!(input_from_json(&hostile).is_err());
        let objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        assert!(input_from_json(&objects).is_err());
    }
}
