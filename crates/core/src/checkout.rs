//! The checkout: one model for both vendors, and its validation from loosely typed input.
//!
//! Field names are camelCase on every wire. Every refusal names the field (with the item index
//! for line items) and the reason; a bad line item refuses the whole checkout rather than being
//! dropped, so the arrays built from the items can never silently lose one.

use crate::error::{FieldPath, Reason, ValidationError};
use crate::input::Input;
use crate::money::{Decimal, Money};
use crate::timestamp::is_rfc3339;

/// Longest accepted text field, in characters.
pub const MAX_TEXT_CHARS: usize = 256;
/// Most line items one checkout may carry.
pub const MAX_ITEMS: usize = 1000;
/// Largest quantity of one line item.
pub const MAX_QUANTITY: u64 = 1_000_000;
/// 2^53 - 1: larger integers given as JSON numbers are not exact in JavaScript.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Top-level keys that may ride along in a signed checkout (the registered JWT claims) and are
/// not part of the checkout itself.
pub const JWT_CLAIMS: [&str; 7] = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The shop's order id, the idempotency key end to end. Kept as text: CitrusAd takes any
    /// string, CibleR needs a Long (see [`Checkout::order_id_as_long`]).
    pub order_id: String,
    /// RFC 3339; `None` means "now", filled in by whoever first stores or sends the checkout.
    pub order_date: Option<String>,
    pub email: String,
    pub country: String,
    pub customer_guid: String,
    /// CitrusAd's customer id; defaults to `customer_guid`.
    pub customer_id: Option<String>,
    /// Must equal the session id the shop sends in its CitrusAd ad requests.
    pub session_id: String,
    pub total_spent: Money,
    pub taxes: Money,
    pub shipping_cost: Money,
    pub gift_code: Option<String>,
    pub discount_amount: Option<Money>,
    pub items: Vec<LineItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub gtin: String,
    pub quantity: u64,
    pub regular_unit_price: Money,
    pub total_order_item_price_after_discounts: Money,
    pub citrus_discount_amount: Option<Money>,
    pub substituted_for: Option<String>,
    pub seller_id: Option<String>,
    pub catalog_id: Option<String>,
}

const CHECKOUT_FIELDS: [&str; 13] = [
    "orderId",
    "orderDate",
    "email",
    "country",
    "customerGuid",
    "customerId",
    "sessionId",
    "totalSpent",
    "taxes",
    "shippingCost",
    "giftCode",
    "discountAmount",
    "items",
];

const ITEM_FIELDS: [&str; 8] = [
    "gtin",
    "quantity",
    "regularUnitPrice",
    "totalOrderItemPriceAfterDiscounts",
    "citrusDiscountAmount",
    "substitutedFor",
    "sellerId",
    "catalogId",
];

impl Checkout {
    /// Validates a checkout object. Unknown keys are refused (they are usually typos of a real
    /// field), except the registered JWT claims a signed checkout carries.
    pub fn from_input(input: &Input) -> Result<Checkout, ValidationError> {
        let Input::Object(members) = input else {
            return Err(ValidationError::new(
                FieldPath::top("checkout"),
                Reason::NotAnObject,
            ));
        };
        refuse_unknown(members, &CHECKOUT_FIELDS, &JWT_CLAIMS, None)?;
        let field = FieldPath::top;
        let get = |name: &str| input.get(name);
        Ok(Checkout {
            order_id: order_id(get("orderId"), &field("orderId"))?,
            order_date: optional_timestamp(get("orderDate"), &field("orderDate"))?,
            email: email(get("email"), &field("email"))?,
            country: text(get("country"), &field("country"))?,
            customer_guid: text(get("customerGuid"), &field("customerGuid"))?,
            customer_id: optional_text(get("customerId"), &field("customerId"))?,
            session_id: text(get("sessionId"), &field("sessionId"))?,
            total_spent: money(get("totalSpent"), &field("totalSpent"))?,
            taxes: money(get("taxes"), &field("taxes"))?,
            shipping_cost: money(get("shippingCost"), &field("shippingCost"))?,
            gift_code: optional_text(get("giftCode"), &field("giftCode"))?,
            discount_amount: optional_money(get("discountAmount"), &field("discountAmount"))?,
            items: items(get("items"))?,
        })
    }

    /// The order id as CibleR's `orderInformation.orderId` (a Long), when it is one.
    pub fn order_id_as_long(&self) -> Result<i64, ValidationError> {
        let refuse = || ValidationError::new(FieldPath::top("orderId"), Reason::NotALong);
        if self.order_id.is_empty() || !self.order_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        self.order_id.parse::<i64>().map_err(|_| refuse())
    }

    /// CitrusAd's customer id: `customerId` when given, else `customerGuid`.
    pub fn citrus_customer_id(&self) -> &str {
        self.customer_id.as_deref().unwrap_or(&self.customer_guid)
    }

    /// The order date, or `now` (an RFC 3339 timestamp the caller supplies) when none was given.
    pub fn order_date_or<'a>(&'a self, now: &'a str) -> &'a str {
        self.order_date.as_deref().unwrap_or(now)
    }
}

/// Refuses keys we do not know (usually typos of a real field) and keys given twice.
fn refuse_unknown(
    members: &[(String, Input)],
    known: &[&str],
    tolerated: &[&str],
    item: Option<usize>,
) -> Result<(), ValidationError> {
    for (position, (key, _)) in members.iter().enumerate() {
        if members[..position]
            .iter()
            .any(|(earlier, _)| earlier == key)
        {
            return Err(ValidationError::new(
                FieldPath::unknown(item, key),
                Reason::DuplicateField,
            ));
        }
        if !known.contains(&key.as_str()) && !tolerated.contains(&key.as_str()) {
            return Err(ValidationError::new(
                FieldPath::unknown(item, key),
                Reason::UnknownField,
            ));
        }
    }
    Ok(())
}

fn items(input: Option<&Input>) -> Result<Vec<LineItem>, ValidationError> {
    let field = FieldPath::top("items");
    let list = match input {
        None | Some(Input::Null) => return Ok(Vec::new()),
        Some(Input::Array(list)) => list,
        Some(_) => return Err(ValidationError::new(field.clone(), Reason::NotAnArray)),
    };
    if list.len() > MAX_ITEMS {
        return Err(ValidationError::new(field.clone(), Reason::TooManyItems));
    }
    list.iter()
        .enumerate()
        .map(|(index, item)| line_item(index, item))
        .collect()
}

fn line_item(index: usize, input: &Input) -> Result<LineItem, ValidationError> {
    let Input::Object(members) = input else {
        return Err(ValidationError::new(
            FieldPath::item(index, ""),
            Reason::NotAnObject,
        ));
    };
    refuse_unknown(members, &ITEM_FIELDS, &[], Some(index))?;
    let field = |name: &'static str| FieldPath::item(index, name);
    let get = |name: &str| input.get(name);
    Ok(LineItem {
        gtin: text(get("gtin"), &field("gtin"))?,
        quantity: quantity(get("quantity"), &field("quantity"))?,
        regular_unit_price: money(get("regularUnitPrice"), &field("regularUnitPrice"))?,
        total_order_item_price_after_discounts: money(
            get("totalOrderItemPriceAfterDiscounts"),
            &field("totalOrderItemPriceAfterDiscounts"),
        )?,
        citrus_discount_amount: optional_money(
            get("citrusDiscountAmount"),
            &field("citrusDiscountAmount"),
        )?,
        substituted_for: optional_text(get("substitutedFor"), &field("substitutedFor"))?,
        seller_id: optional_text(get("sellerId"), &field("sellerId"))?,
        catalog_id: optional_text(get("catalogId"), &field("catalogId"))?,
    })
}

fn present(input: Option<&Input>) -> Option<&Input> {
    input.filter(|value| !matches!(value, Input::Null))
}

fn require<'a>(input: Option<&'a Input>, field: &FieldPath) -> Result<&'a Input, ValidationError> {
    present(input).ok_or_else(|| ValidationError::new(field.clone(), Reason::Missing))
}

/// A required, non-blank string of printable characters, at most [`MAX_TEXT_CHARS`] long.
pub(crate) fn text(input: Option<&Input>, field: &FieldPath) -> Result<String, ValidationError> {
    match require(input, field)? {
        Input::String(s) => check_text(s, field).map(|()| s.clone()),
        _ => Err(ValidationError::new(field.clone(), Reason::NotAString)),
    }
}

fn optional_text(
    input: Option<&Input>,
    field: &FieldPath,
) -> Result<Option<String>, ValidationError> {
    present(input).map(|_| text(input, field)).transpose()
}

/// The checks every text field gets; shared with option strings elsewhere in the crate.
pub(crate) fn check_text(s: &str, field: &FieldPath) -> Result<(), ValidationError> {
    let refuse = |reason| Err(ValidationError::new(field.clone(), reason));
    if s.trim().is_empty() {
        return refuse(Reason::Empty);
    }
    if s.chars().count() > MAX_TEXT_CHARS {
        return refuse(Reason::TooLong);
    }
    if s.chars().any(char::is_control) {
        return refuse(Reason::ControlCharacter);
    }
    Ok(())
}

fn email(input: Option<&Input>, field: &FieldPath) -> Result<String, ValidationError> {
    let value = text(input, field)?;
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !value.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(value)
    } else {
        Err(ValidationError::new(field.clone(), Reason::InvalidEmail))
    }
}

fn optional_timestamp(
    input: Option<&Input>,
    field: &FieldPath,
) -> Result<Option<String>, ValidationError> {
    let Some(value) = optional_text(input, field)? else {
        return Ok(None);
    };
    if is_rfc3339(&value) {
        Ok(Some(value))
    } else {
        Err(ValidationError::new(
            field.clone(),
            Reason::InvalidTimestamp,
        ))
    }
}

/// The text of a numeric field: a JSON number's literal, or a string holding one.
fn numeric_text<'a>(
    input: Option<&'a Input>,
    field: &FieldPath,
) -> Result<&'a str, ValidationError> {
    match require(input, field)? {
        Input::Number(literal) => Ok(literal),
        Input::String(s) => Ok(s.trim()),
        _ => Err(ValidationError::new(field.clone(), Reason::NotANumber)),
    }
}

fn money(input: Option<&Input>, field: &FieldPath) -> Result<Money, ValidationError> {
    let text = numeric_text(input, field)?;
    Money::parse(text).map_err(|reason| ValidationError::new(field.clone(), reason))
}

fn optional_money(
    input: Option<&Input>,
    field: &FieldPath,
) -> Result<Option<Money>, ValidationError> {
    present(input).map(|_| money(input, field)).transpose()
}

/// A non-negative whole number given as a JSON number or a digit string.
fn whole_number(input: Option<&Input>, field: &FieldPath) -> Result<u64, ValidationError> {
    let refuse = |reason| ValidationError::new(field.clone(), reason);
    let decimal = Decimal::parse(numeric_text(input, field)?).map_err(refuse)?;
    if decimal.negative && decimal.mantissa != 0 {
        return Err(refuse(Reason::Negative));
    }
    decimal.scaled(0).map_err(|e| match e {
        crate::money::ScaleError::Fraction => refuse(Reason::NotAnInteger),
        crate::money::ScaleError::Overflow => refuse(Reason::TooLarge),
    })
}

fn quantity(input: Option<&Input>, field: &FieldPath) -> Result<u64, ValidationError> {
    match whole_number(input, field)? {
        0 => Err(ValidationError::new(field.clone(), Reason::NotPositive)),
        n if n > MAX_QUANTITY => Err(ValidationError::new(field.clone(), Reason::TooLarge)),
        n => Ok(n),
    }
}

/// A string id (kept as given) or a JSON number that must be a safe whole number.
fn order_id(input: Option<&Input>, field: &FieldPath) -> Result<String, ValidationError> {
    match require(input, field)? {
        Input::String(_) => text(input, field),
        Input::Number(_) => {
            let n = whole_number(input, field)?;
            if n > MAX_SAFE_INTEGER {
                return Err(ValidationError::new(field.clone(), Reason::UnsafeInteger));
            }
            let mut out = String::new();
            crate::error::push_decimal(&mut out, n);
            Ok(out)
        }
        _ => Err(ValidationError::new(field.clone(), Reason::NotAString)),
    }
}
