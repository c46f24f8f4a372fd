//! The hand-off body and the checkout as the OpenAPI document describes them, for the shop
//! developers who read `/openapi.json` and for the tools that generate requests from it
//! (schemathesis, in `bench/`).
//!
//! Documentation only: the relay reads a hand-off without these types, in one pass
//! ([`crate::acceptance`], [`ordersync_core::Checkout::from_input`]), and refuses what they do
//! not describe with a 400 naming the field. Tests keep their field names equal to the core's
//! ([`ordersync_core::checkout::CHECKOUT_FIELDS`], `ITEM_FIELDS`), and the bounds that utoipa
//! takes only as literals equal to the constants they restate.
//!
//! The limits are the core's: text at most 256 characters, not blank, no control characters;
//! amounts not negative, at most two decimals, at most 999,999,999,999.99, as a JSON number or a
//! decimal string; quantities whole, 1 to 1,000,000; at most 1,000 line items.
#![allow(dead_code)]

use ordersync_core::checkout::MAX_TEXT_CHARS;
use ordersync_core::Money;
use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A string schema with its description and pattern.
fn string(description: &str, pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
}

/// A text field of the checkout (the pattern keeps out blanks and control characters).
pub struct Text;

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        string(
            "Text: not blank, at most 256 characters, no control characters.",
            r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        )
        .max_length(Some(MAX_TEXT_CHARS))
        .into()
    }
}

impl ToSchema for Text {}

/// Integer digits of the largest amount the core takes, so the amount pattern follows
/// [`Money::MAX_MINOR_UNITS`] rather than restating it.
const AMOUNT_INTEGER_DIGITS: u32 = (Money::MAX_MINOR_UNITS / 100).ilog10() + 1;

/// Digits, then at most two decimals: the decimal strings the core reads as amounts, up to its
/// limit. The core also takes exponents (`1.5e2`); the document keeps to the plain form.
fn amount_pattern() -> String {
    format!(r"^[0-9]{{1,{AMOUNT_INTEGER_DIGITS}}}(\.[0-9]{{1,2}})?$")
}

/// An amount of money.
pub struct Amount;

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        let largest = Money::MAX_MINOR_UNITS;
        string(
            &format!(
                "An amount: not negative, at most two decimals, at most {}.{:02}; a JSON number \
                 is accepted too.",
                largest / 100,
                largest % 100
            ),
            &amount_pattern(),
        )
        .examples(["49.90"])
        .into()
    }
}

impl ToSchema for Amount {}

/// The hand-off: a signed checkout, or with `--accept-unsigned` the checkout itself; never
/// both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant, reason = "documentation only: never built")]
pub enum HandoffBody {
    Signed(SignedHandoff),
    Unsigned(UnsignedHandoff),
}

/// The checkout signed by the shop's server.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedHandoff {
    /// A compact JWS (HS256) whose claims are the checkout's fields plus `exp`.
    #[schema(min_length = 1)]
    token: String,
    /// The shopper's `cibler_id` cookie value, or null.
    #[schema(max_length = 256)]
    cookie_id: Option<String>,
}

/// The checkout itself, accepted only when the relay runs with `--accept-unsigned`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnsignedHandoff {
    checkout: Checkout,
    /// The shopper's `cibler_id` cookie value, or null.
    #[schema(max_length = 256)]
    cookie_id: Option<String>,
}

/// One order, for both vendors.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkout {
    /// The shop's order id, the idempotency key end to end. CibleR needs a Long, so while
    /// CibleR is configured it is digits (or a JSON integer up to 2^53 - 1).
    #[schema(pattern = r"^[0-9]{1,18}$", example = "1234567")]
    order_id: String,
    /// RFC 3339; absent means "when the relay stored it".
    #[schema(format = DateTime)]
    order_date: Option<String>,
    #[schema(format = Email, max_length = 256)]
    email: String,
    #[schema(value_type = Text)]
    country: String,
    #[schema(value_type = Text)]
    customer_guid: String,
    /// CitrusAd's customer id; `customerGuid` when absent.
    #[schema(value_type = Option<Text>)]
    customer_id: Option<String>,
    /// The session id the shop sends in its CitrusAd ad requests.
    #[schema(value_type = Text)]
    session_id: String,
    #[schema(value_type = Amount)]
    total_spent: String,
    #[schema(value_type = Amount)]
    taxes: String,
    #[schema(value_type = Amount)]
    shipping_cost: String,
    #[schema(value_type = Option<Text>)]
    gift_code: Option<String>,
    #[schema(value_type = Option<Amount>)]
    discount_amount: Option<String>,
    /// CitrusAd needs at least one; an order without items goes to CibleR only.
    #[schema(max_items = 1000)]
    items: Option<Vec<LineItem>>,
}

/// One line of the order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineItem {
    #[schema(value_type = Text)]
    gtin: String,
    #[schema(minimum = 1, maximum = 1_000_000)]
    quantity: u32,
    #[schema(value_type = Amount)]
    regular_unit_price: String,
    #[schema(value_type = Amount)]
    total_order_item_price_after_discounts: String,
    #[schema(value_type = Option<Amount>)]
    citrus_discount_amount: Option<String>,
    #[schema(value_type = Option<Text>)]
    substituted_for: Option<String>,
    #[schema(value_type = Option<Text>)]
    seller_id: Option<String>,
    /// CitrusAd's catalog; the relay's configured default when absent.
    #[schema(value_type = Option<Text>)]
    catalog_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use ordersync_core::checkout::{CHECKOUT_FIELDS, ITEM_FIELDS};
    use serde_json::Value;

    use super::*;

    fn properties<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        let Value::Object(properties) = &schema["properties"] else {
            panic!("no properties in {schema}");
        };
        let mut names: Vec<String> = properties.keys().cloned().collect();
        names.sort();
        names
    }

    fn sorted(fields: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        names.sort();
        names
    }

    /// The document describes exactly the fields the core reads: a field added to the
    /// checkout without its description here (or the other way round) fails this.
    #[test]
    fn the_documented_fields_are_the_ones_the_core_reads() {
        assert_eq!(properties::<Checkout>(), sorted(&CHECKOUT_FIELDS));
        assert_eq!(properties::<LineItem>(), sorted(&ITEM_FIELDS));
    }

    /// A hand-off carries a token or a checkout, never both, and nothing else.
    /// utoipa takes a bound only as a literal: each one restated here is the constant the
    /// relay checks.
    #[test]
    fn the_documented_bounds_are_the_ones_checked() {
        use crate::acceptance::MAX_COOKIE_ID_CHARS;
        use ordersync_core::checkout::{MAX_ITEMS, MAX_QUANTITY};

        let checkout = serde_json::to_value(<Checkout as PartialSchema>::schema()).unwrap();
        assert_eq!(checkout["properties"]["items"]["maxItems"], MAX_ITEMS);
        assert_eq!(checkout["properties"]["email"]["maxLength"], MAX_TEXT_CHARS);
        let item = serde_json::to_value(<LineItem as PartialSchema>::schema()).unwrap();
        assert_eq!(item["properties"]["quantity"]["minimum"], 1);
        assert_eq!(item["properties"]["quantity"]["maximum"], MAX_QUANTITY);
        for shape in [
            <SignedHandoff as PartialSchema>::schema(),
            <UnsignedHandoff as PartialSchema>::schema(),
        ] {
            let shape = serde_json::to_value(shape).unwrap();
            assert_eq!(
                shape["properties"]["cookieId"]["maxLength"],
                MAX_COOKIE_ID_CHARS
            );
        }
    }

    /// The `N` of a pattern that reads `{prefix}N{suffix}`. The relay has no regex engine, so
    /// the tests check the pattern's shape as text and take its bound from it.
    fn bound_in(pattern: &Value, prefix: &str, suffix: &str) -> usize {
        let text = pattern
            .as_str()
            .unwrap_or_else(|| panic!("no pattern: {pattern}"));
        text.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .and_then(|bound| bound.parse().ok())
            .unwrap_or_else(|| panic!("{text:?} does not read {prefix}N{suffix}"))
    }

    fn nines(digits: usize) -> String {
        "9".repeat(digits)
    }

    /// The largest amount the pattern admits is the core's largest, and the core refuses every
    /// amount with one integer digit more (from the smallest of them, 1 and zeros, up).
    #[test]
    fn the_amount_pattern_admits_what_the_core_parses() {
        use ordersync_core::Reason;

        let amount = serde_json::to_value(<Amount as PartialSchema>::schema()).unwrap();
        let digits = bound_in(&amount["pattern"], r"^[0-9]{1,", r"}(\.[0-9]{1,2})?$");
        let largest = format!("{}.99", nines(digits));
        assert_eq!(
            Money::parse(&largest).map(Money::minor_units),
            Ok(Money::MAX_MINOR_UNITS),
            "{largest}"
        );
        for beyond in [format!("1{}", "0".repeat(digits)), nines(digits + 1)] {
            assert_eq!(Money::parse(&beyond), Err(Reason::TooLarge), "{beyond}");
        }
    }

    /// A checkout of the core with this order id and nothing else of note.
    fn with_order_id(order_id: &str) -> ordersync_core::Checkout {
        let text = || "x".to_owned();
        ordersync_core::Checkout {
            order_id: order_id.to_owned(),
            order_date: None,
            email: "shopper@example.com".to_owned(),
            country: text(),
            customer_guid: text(),
            customer_id: None,
            session_id: text(),
            total_spent: Money::ZERO,
            taxes: Money::ZERO,
            shipping_cost: Money::ZERO,
            gift_code: None,
            discount_amount: None,
            items: Vec::new(),
        }
    }

    /// Every id the order id pattern admits is a Long to the core: all nines is the largest id
    /// of each length. 19 digits are left out because not every 19-digit number fits an i64
    /// (i64::MAX is 9223372036854775807); the relay's own validation stays the judge and
    /// answers 400 naming `orderId`.
    #[test]
    fn the_order_id_pattern_admits_only_longs() {
        let checkout = serde_json::to_value(<Checkout as PartialSchema>::schema()).unwrap();
        let digits = bound_in(
            &checkout["properties"]["orderId"]["pattern"],
            r"^[0-9]{1,",
            "}$",
        );
        for length in 1..=digits {
            let id = nines(length);
            let long = with_order_id(&id).order_id_as_long();
            assert_eq!(long.map(|long| long.to_string()), Ok(id.clone()), "{id}");
        }
        // The bound is the widest that holds: one digit more and some ids are not Longs.
        assert!(with_order_id(&nines(digits + 1))
            .order_id_as_long()
            .is_err());
    }

    #[test]
    fn a_hand_off_is_one_of_two_closed_shapes() {
        let schema = serde_json::to_value(<HandoffBody as PartialSchema>::schema()).unwrap();
        let shapes = schema["oneOf"].as_array().expect("oneOf");
        assert_eq!(shapes.len(), 2, "{schema}");
        assert_eq!(properties::<SignedHandoff>(), ["cookieId", "token"]);
        assert_eq!(properties::<UnsignedHandoff>(), ["checkout", "cookieId"]);
        for shape in [
            <SignedHandoff as PartialSchema>::schema(),
            <UnsignedHandoff as PartialSchema>::schema(),
        ] {
            let shape = serde_json::to_value(shape).unwrap();
            assert_eq!(shape["additionalProperties"], Value::Bool(false), "{shape}");
        }
    }
}
