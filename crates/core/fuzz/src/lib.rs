//! What the fuzz targets share: the properties every accepted checkout must have, and a
//! structure-aware generator of checkout-shaped [`Input`] values.
//!
//! A panic anywhere (in the core, or in an `assert!` here) is a crash libFuzzer reports and
//! saves under `artifacts/`.

use arbitrary::{Arbitrary, Unstructured};
use ordersync_core::checkout::{CHECKOUT_FIELDS, ITEM_FIELDS, JWT_CLAIMS};
use ordersync_core::third_o::{FrontendConfig, ThirdOQuery};
use ordersync_core::wire::{
    checkout_from_json, checkout_to_json, CiblerConfig, CiblerOrder, CitrusConfig, CitrusOrder,
};
use ordersync_core::{Checkout, Input, Money, ValidationError};

const NOW: &str = "2026-11-22T10:00:00Z";

/// Properties of a checkout the core accepted: its canonical JSON reads back to an equal
/// checkout, and every wire format either builds or fails with a named field (never a panic).
pub fn check_accepted(checkout: &Checkout) {
    let canonical = checkout_to_json(checkout);
    let again = checkout_from_json(&canonical)
        .unwrap_or_else(|e| panic!("canonical JSON {canonical} refused: {e}"));
    assert_eq!(&again, checkout, "canonical JSON did not read back equal");
    assert_eq!(
        checkout_to_json(&again),
        canonical,
        "canonical JSON is not stable"
    );

    let cibler = CiblerConfig {
        key: "key".into(),
        environment: "Prod".into(),
        site_id: 13,
    };
    match CiblerOrder::new(checkout, &cibler, Some("CIB1.1.2")) {
        Ok(order) => {
            serde_json::to_string(&order).expect("a CibleR body serializes");
        }
        Err(e) => check_error(&e),
    }
    let citrus = CitrusConfig {
        team_id: Some("team".into()),
        catalog_id: None,
    };
    match CitrusOrder::new(checkout, &citrus, NOW) {
        Ok(order) => {
            serde_json::to_string(&order).expect("a CitrusAd order serializes");
        }
        Err(e) => check_error(&e),
    }
    let frontend = FrontendConfig {
        base_url: "https://citrus.example",
        publishable_key: "pk",
        team_id: Some("team"),
        catalog_id: "catalog",
    };
    match ThirdOQuery::from_checkout(checkout, &frontend, NOW) {
        Ok(query) => {
            let text = query.to_query_string();
            let parsed = ThirdOQuery::parse(&text)
                .unwrap_or_else(|e| panic!("our own third-o query {text} refused: {e}"));
            assert_eq!(parsed, query, "third-o query did not read back equal");
            let _ = query.to_url(frontend.base_url);
        }
        Err(e) => check_error(&e),
    }
}

/// A refusal must name a field and give a reason, so the shop can fix its integration (an
/// unknown key that is itself empty is named `""`).
pub fn check_error(error: &ValidationError) {
    assert!(
        !error.field_path().is_empty(),
        "error without a field: {error:?}"
    );
    assert!(
        !error.message().is_empty(),
        "error without a message: {error:?}"
    );
    let shown = error.to_string();
    assert!(
        shown.contains(&error.field_path()),
        "Display hides the field: {shown}"
    );
}

/// Accepted money is within bounds and survives its own two-decimal text.
pub fn check_money(text: &str) {
    if let Ok(money) = Money::parse(text) {
        assert!(money.minor_units() <= Money::MAX_MINOR_UNITS);
        let decimal = money.to_decimal_string();
        assert_eq!(Money::parse(&decimal), Ok(money), "{text:?} -> {decimal:?}");
    }
}

/// The keys a checkout and its items know (and the JWT claims a checkout tolerates), so
/// generated objects reach deep validation instead of stopping at the first unknown key.
fn known_key(index: usize) -> &'static str {
    let all = || {
        CHECKOUT_FIELDS
            .iter()
            .chain(&ITEM_FIELDS)
            .chain(&JWT_CLAIMS)
    };
    all()
        .nth(index % all().count())
        .copied()
        .unwrap_or("orderId")
}

/// Number literals near the edges of what the core must judge.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "0.5",
    "1.005",
    "42.50",
    "1e2",
    "1E-2",
    "-0",
    "999999999999.99",
    "1000000000000",
    "18446744073709551616",
    "9223372036854775807",
    "1e400",
    "0.000",
    "12345678901234567890123456789",
    "3.",
    ".5",
    "NaN",
    "Infinity",
    "00",
    "1_0",
    "2e",
    "",
];

/// A JSON-like tree the fuzzer shapes directly (its bytes decide every choice).
#[derive(Debug, Arbitrary)]
pub enum Tree {
    Null,
    Bool(bool),
    KnownNumber(u8),
    Number(String),
    Integer(i64),
    String(String),
    Array(Vec<Tree>),
    Object(Vec<(Key, Tree)>),
}

#[derive(Debug, Arbitrary)]
pub enum Key {
    Known(u8),
    Other(String),
}

impl Tree {
    /// The core's boundary value, depth-limited (the fuzzer's input bounds the breadth).
    pub fn to_input(&self, depth: u32) -> Input {
        if depth > 8 {
            return Input::Null;
        }
        match self {
            Tree::Null => Input::Null,
            Tree::Bool(b) => Input::Bool(*b),
            Tree::KnownNumber(i) => Input::num(NUMBERS[*i as usize % NUMBERS.len()]),
            Tree::Number(text) => Input::Number(text.clone()),
            Tree::Integer(n) => Input::Number(n.to_string()),
            Tree::String(text) => Input::String(text.clone()),
            Tree::Array(items) => {
                Input::Array(items.iter().map(|t| t.to_input(depth + 1)).collect())
            }
            Tree::Object(members) => Input::Object(
                members
                    .iter()
                    .map(|(key, value)| (key.name(), value.to_input(depth + 1)))
                    .collect(),
            ),
        }
    }
}

impl Key {
    fn name(&self) -> String {
        match self {
            Key::Known(i) => known_key(*i as usize).to_owned(),
            Key::Other(name) => name.clone(),
        }
    }
}

/// A checkout-shaped object: every known top-level key present, with fuzzer-chosen values,
/// plus fuzzer-chosen extra members; it reaches the deepest checks often.
pub fn checkout_shaped(u: &mut Unstructured<'_>) -> arbitrary::Result<Input> {
    let mut members: Vec<(String, Input)> = Vec::new();
    for key in CHECKOUT_FIELDS.iter().filter(|key| **key != "items") {
        if u.ratio(9u8, 10u8)? {
            members.push(((*key).to_owned(), Tree::arbitrary(u)?.to_input(1)));
        }
    }
    let item_count = u.int_in_range(0..=4u8)?;
    let mut items = Vec::new();
    for _ in 0..item_count {
        let mut item = Vec::new();
        for key in &ITEM_FIELDS {
            if u.ratio(8u8, 10u8)? {
                item.push(((*key).to_owned(), Tree::arbitrary(u)?.to_input(2)));
            }
        }
        items.push(Input::Object(item));
    }
    members.push(("items".to_owned(), Input::Array(items)));
    let extra: Vec<(Key, Tree)> = Arbitrary::arbitrary(u)?;
    members.extend(extra.iter().map(|(k, v)| (k.name(), v.to_input(1))));
    Ok(Input::Object(members))
}
