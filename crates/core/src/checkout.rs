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

/// The checkout's keys, as on the wire.
pub const CHECKOUT_FIELDS: [&str; 13] = [
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

/// A line item's keys, as on the wire.
pub const ITEM_FIELDS: [&str; 8] = [
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
        let mut values = read_fields(input, &CHECKOUT_KINDS, &CHECKOUT_FIELDS, None)?.into_iter();
        let mut next = || values.next().unwrap_or(Value::Absent);
        Ok(Checkout {
            order_id: next().into_text(),
            order_date: next().into_optional_text(),
            email: next().into_text(),
            country: next().into_text(),
            customer_guid: next().into_text(),
            customer_id: next().into_optional_text(),
            session_id: next().into_text(),
            total_spent: next().into_money(),
            taxes: next().into_money(),
            shipping_cost: next().into_money(),
            gift_code: next().into_optional_text(),
            discount_amount: next().into_optional_money(),
            items: items(input.get("items"), line_item)?,
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

fn items<T>(
    input: Option<&Input>,
    line_item: fn(usize, &Input) -> Result<T, ValidationError>,
) -> Result<Vec<T>, ValidationError> {
    let field = FieldPath::top("items");
    let list = match input {
        None | Some(Input::Null) => return Ok(Vec::new()),
        Some(Input::Array(list)) => list,
        Some(_) => return Err(ValidationError::new(field, Reason::NotAnArray)),
    };
    if list.len() > MAX_ITEMS {
        return Err(ValidationError::new(field, Reason::TooManyItems));
    }
    let mut items = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        items.push(line_item(index, item)?);
    }
    Ok(items)
}

fn line_item(index: usize, input: &Input) -> Result<LineItem, ValidationError> {
    let Input::Object(members) = input else {
        return Err(ValidationError::new(
            FieldPath::item(index, ""),
            Reason::NotAnObject,
        ));
    };
    refuse_unknown(members, &ITEM_FIELDS, &[], Some(index))?;
    let mut values = read_fields(input, &ITEM_KINDS, &ITEM_FIELDS, Some(index))?.into_iter();
    let mut next = || values.next().unwrap_or(Value::Absent);
    Ok(LineItem {
        gtin: next().into_text(),
        quantity: next().into_count(),
        regular_unit_price: next().into_money(),
        total_order_item_price_after_discounts: next().into_money(),
        citrus_discount_amount: next().into_optional_money(),
        substituted_for: next().into_optional_text(),
        seller_id: next().into_optional_text(),
        catalog_id: next().into_optional_text(),
    })
}

/// The part of a checkout the browser module reads: what the relay hand-off and the CitrusAd
/// third-o request are built from. The relay validates the whole checkout (and answers 400
/// naming the field); the browser validates only these fields, with the same field paths and
/// reasons as [`Checkout::from_input`] (`tests/frontend.rs` proves they agree), and hands a
/// checkout wrong only elsewhere to the relay, whose refusal the report names: the behaviour
/// the README documents and the browser's hostile-input suite pins case by case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendCheckout {
    pub order_id: String,
    pub order_date: Option<String>,
    pub customer_guid: String,
    pub customer_id: Option<String>,
    pub session_id: String,
    pub items: Vec<FrontendItem>,
}

/// The part of a line item the third-o request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendItem {
    pub gtin: String,
    pub quantity: u64,
    pub regular_unit_price: Money,
}

const FRONTEND_FIELDS: [&str; 5] = [
    "orderId",
    "orderDate",
    "customerGuid",
    "customerId",
    "sessionId",
];

/// `(kind, optional)` of each of [`FRONTEND_FIELDS`], as in [`CHECKOUT_KINDS`].
const FRONTEND_KINDS: [(Kind, bool); 5] = [
    (Kind::OrderId, false),
    (Kind::Timestamp, true),
    (Kind::Text, false),
    (Kind::Text, true),
    (Kind::Text, false),
];

const FRONTEND_ITEM_FIELDS: [&str; 3] = ["gtin", "quantity", "regularUnitPrice"];

/// `(kind, optional)` of each of [`FRONTEND_ITEM_FIELDS`], as in [`ITEM_KINDS`].
const FRONTEND_ITEM_KINDS: [(Kind, bool); 3] = [
    (Kind::Text, false),
    (Kind::Quantity, false),
    (Kind::Money, false),
];

impl FrontendCheckout {
    /// Validates the fields the browser reads, in the order [`Checkout::from_input`] does, so a
    /// checkout whose only faults are in these fields gets the same error; faults elsewhere
    /// (email, amounts, unknown keys, ...) are left to the relay.
    pub fn from_input(input: &Input) -> Result<FrontendCheckout, ValidationError> {
        if !matches!(input, Input::Object(_)) {
            return Err(ValidationError::new(
                FieldPath::top("checkout"),
                Reason::NotAnObject,
            ));
        }
        let mut values = read_fields(input, &FRONTEND_KINDS, &FRONTEND_FIELDS, None)?.into_iter();
        let mut next = || values.next().unwrap_or(Value::Absent);
        Ok(FrontendCheckout {
            order_id: next().into_text(),
            order_date: next().into_optional_text(),
            customer_guid: next().into_text(),
            customer_id: next().into_optional_text(),
            session_id: next().into_text(),
            items: items(input.get("items"), frontend_item)?,
        })
    }

    /// CitrusAd's customer id: `customerId` when given, else `customerGuid`.
    pub fn citrus_customer_id(&self) -> &str {
        self.customer_id.as_deref().unwrap_or(&self.customer_guid)
    }
}

fn frontend_item(index: usize, input: &Input) -> Result<FrontendItem, ValidationError> {
    if !matches!(input, Input::Object(_)) {
        return Err(ValidationError::new(
            FieldPath::item(index, ""),
            Reason::NotAnObject,
        ));
    }
    let fields = read_fields(
        input,
        &FRONTEND_ITEM_KINDS,
        &FRONTEND_ITEM_FIELDS,
        Some(index),
    )?;
    let mut values = fields.into_iter();
    let mut next = || values.next().unwrap_or(Value::Absent);
    Ok(FrontendItem {
        gtin: next().into_text(),
        quantity: next().into_count(),
        regular_unit_price: next().into_money(),
    })
}

/// What a field holds, and so how it is validated. The checkout and its line items are read
/// from these tables by one loop ([`read_fields`]) rather than a call per field: the browser
/// module links this code, and one loop is a fraction of the size of a dozen inlined calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string id (kept as given) or a JSON number that must be a safe whole number.
    OrderId,
    /// Text holding an RFC 3339 date-time.
    Timestamp,
    Email,
    /// A non-blank string of printable characters, at most [`MAX_TEXT_CHARS`] long.
    Text,
    Money,
    /// A whole number from 1 to [`MAX_QUANTITY`].
    Quantity,
}

/// `(kind, optional)` of each of [`CHECKOUT_FIELDS`] but `items`, in the same order.
const CHECKOUT_KINDS: [(Kind, bool); 12] = [
    (Kind::OrderId, false),
    (Kind::Timestamp, true),
    (Kind::Email, false),
    (Kind::Text, false),
    (Kind::Text, false),
    (Kind::Text, true),
    (Kind::Text, false),
    (Kind::Money, false),
    (Kind::Money, false),
    (Kind::Money, false),
    (Kind::Text, true),
    (Kind::Money, true),
];

/// `(kind, optional)` of each of [`ITEM_FIELDS`], in the same order.
const ITEM_KINDS: [(Kind, bool); 8] = [
    (Kind::Text, false),
    (Kind::Quantity, false),
    (Kind::Money, false),
    (Kind::Money, false),
    (Kind::Money, true),
    (Kind::Text, true),
    (Kind::Text, true),
    (Kind::Text, true),
];

/// A validated field value, before it moves into its typed place.
enum Value {
    Absent,
    Text(String),
    Money(Money),
    Count(u64),
}

impl Value {
    // The tables guarantee each field's variant; a mismatch (impossible) reads as empty rather
    // than panicking.
    fn into_optional_text(self) -> Option<String> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    fn into_text(self) -> String {
        self.into_optional_text().unwrap_or_default()
    }

    fn into_optional_money(self) -> Option<Money> {
        match self {
            Value::Money(money) => Some(money),
            _ => None,
        }
    }

    fn into_money(self) -> Money {
        self.into_optional_money().unwrap_or_default()
    }

    fn into_count(self) -> u64 {
        match self {
            Value::Count(count) => count,
            _ => 0,
        }
    }
}

/// Reads `names[i]` of `input` as `kinds[i]`, in order, stopping at the first refusal.
fn read_fields(
    input: &Input,
    kinds: &[(Kind, bool)],
    names: &[&'static str],
    item: Option<usize>,
) -> Result<Vec<Value>, ValidationError> {
    let mut values = Vec::with_capacity(kinds.len());
    for (&(kind, optional), &name) in kinds.iter().zip(names) {
        let field = FieldPath {
            item,
            name: std::borrow::Cow::Borrowed(name),
        };
        values.push(read_field(kind, optional, input.get(name), field)?);
    }
    Ok(values)
}

fn read_field(
    kind: Kind,
    optional: bool,
    input: Option<&Input>,
    field: FieldPath,
) -> Result<Value, ValidationError> {
    let value = match input {
        None | Some(Input::Null) if optional => return Ok(Value::Absent),
        None | Some(Input::Null) => return Err(ValidationError::new(field, Reason::Missing)),
        Some(value) => value,
    };
    let checked = match (kind, value) {
        (Kind::Money, _) => numeric_text(value).and_then(Money::parse).map(Value::Money),
        (Kind::Quantity, _) => numeric_text(value)
            .and_then(whole_number)
            .and_then(|n| match n {
                0 => Err(Reason::NotPositive),
                n if n > MAX_QUANTITY => Err(Reason::TooLarge),
                n => Ok(Value::Count(n)),
            }),
        (Kind::OrderId, Input::Number(literal)) => whole_number(literal).and_then(|n| {
            if n > MAX_SAFE_INTEGER {
                return Err(Reason::UnsafeInteger);
            }
            let mut out = String::new();
            crate::error::push_decimal(&mut out, n);
            Ok(Value::Text(out))
        }),
        (_, Input::String(s)) => check_text_reason(s)
            .and_then(|()| match kind {
                Kind::Email if !is_email(s) => Err(Reason::InvalidEmail),
                Kind::Timestamp if !is_rfc3339(s) => Err(Reason::InvalidTimestamp),
                _ => Ok(()),
            })
            .map(|()| Value::Text(s.clone())),
        _ => Err(Reason::NotAString),
    };
    checked.map_err(|reason| ValidationError::new(field, reason))
}

/// The checks every text field gets; shared with option strings elsewhere in the crate.
pub(crate) fn check_text(s: &str, field: &FieldPath) -> Result<(), ValidationError> {
    check_text_reason(s).map_err(|reason| ValidationError::new(field.clone(), reason))
}

fn check_text_reason(s: &str) -> Result<(), Reason> {
    // `trim().is_empty()`, and `chars().count()` as the count of UTF-8 leading bytes: the
    // same answers with less code.
    if s.chars().all(char::is_whitespace) {
        return Err(Reason::Empty);
    }
    if s.bytes().filter(|b| b & 0xc0 != 0x80).count() > MAX_TEXT_CHARS {
        return Err(Reason::TooLong);
    }
    if s.chars().any(char::is_control) {
        return Err(Reason::ControlCharacter);
    }
    Ok(())
}

/// One `@` with text on both sides, no whitespace. By byte positions, not `split_once` /
/// `contains`: those link `memchr` into the browser module (its size budget).
#[allow(clippy::manual_contains)] // `<[u8]>::contains` is the `memchr` this avoids
fn is_email(value: &str) -> bool {
    let bytes = value.as_bytes();
    match bytes.iter().position(|&b| b == b'@') {
        Some(at) => {
            at > 0
                && at + 1 < bytes.len()
                && !bytes[at + 1..].iter().any(|&b| b == b'@')
                && !value.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The text of a numeric field: a JSON number's literal, or a string holding one.
fn numeric_text(input: &Input) -> Result<&str, Reason> {
    match input {
        Input::Number(literal) => Ok(literal),
        Input::String(s) => Ok(s.trim()),
        _ => Err(Reason::NotANumber),
    }
}

/// A non-negative whole number given as a JSON number or a digit string.
fn whole_number(text: &str) -> Result<u64, Reason> {
    let decimal = Decimal::parse(text)?;
    if decimal.negative && decimal.mantissa != Some(0) {
        return Err(Reason::Negative);
    }
    decimal.scaled(0).map_err(|e| match e {
        crate::money::ScaleError::Fraction => Reason::NotAnInteger,
        crate::money::ScaleError::Overflow => Reason::TooLarge,
    })
}

#[cfg(test)]
mod email_tests {
    use super::is_email;
    use proptest::prelude::*;

    /// The former version, over `split_once` and `contains`.
    fn is_email_with_split(value: &str) -> bool {
        match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !value.chars().any(char::is_whitespace)
            }
            None => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn answers_as_the_split_version(value in "[a@. é\\t\\u{2028}]{0,8}") {
            prop_assert_eq!(is_email(&value), is_email_with_split(&value));
        }
    }

    #[test]
    fn reads_addresses() {
        assert!(is_email("ann@example.com"));
        for bad in ["", "@", "a@", "@b", "a@b@c", "a b@c", "abc"] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
