//! Property tests: aligned third-o arrays, exact money, and no panic on any input.

use ordersync_core::cookie::cibler_id;
use ordersync_core::third_o::{FrontendConfig, ThirdOQuery};
use ordersync_core::wire::{checkout_from_json, checkout_to_json};
use ordersync_core::{Checkout, Input, Money};
use proptest::prelude::*;

const NOW: &str = "2026-11-22T12:00:00Z";

fn money() -> impl Strategy<Value = Money> {
    (0..=Money::MAX_MINOR_UNITS).prop_map(|m| Money::from_minor_units(m).unwrap())
}

/// Printable text without control characters, including non-ASCII and URL-special characters.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 &=?#%+/.:ü€😀-]{1,24}".prop_filter("not blank", |s| !s.trim().is_empty())
}

fn item_input() -> impl Strategy<Value = Input> {
    (
        text(),
        1u64..=1_000_000,
        money(),
        money(),
        proptest::option::of(text()),
    )
        .prop_map(|(gtin, quantity, unit, total, seller)| {
            let mut members = vec![
                ("gtin", Input::String(gtin)),
                ("quantity", Input::Number(quantity.to_string())),
                ("regularUnitPrice", Input::String(unit.to_decimal_string())),
                (
                    "totalOrderItemPriceAfterDiscounts",
                    Input::Number(total.to_decimal_string()),
                ),
            ];
            if let Some(seller) = seller {
                members.push(("sellerId", Input::String(seller)));
            }
            Input::object(members)
        })
}

fn checkout_input() -> impl Strategy<Value = Input> {
    (
        text(),
        text(),
        money(),
        proptest::collection::vec(item_input(), 1..60),
    )
        .prop_map(|(order_id, session, total, items)| {
            Input::object([
                ("orderId", Input::String(order_id)),
                ("email", Input::str("a@b.c")),
                ("country", Input::str("FR")),
                ("customerGuid", Input::str("guid")),
                ("sessionId", Input::String(session)),
                ("totalSpent", Input::Number(total.to_decimal_string())),
                ("taxes", Input::num("0")),
                ("shippingCost", Input::num("0")),
                ("items", Input::Array(items)),
            ])
        })
}

fn config() -> FrontendConfig<'static> {
    FrontendConfig {
        base_url: "https://example.test",
        publishable_key: "pk",
        team_id: Some("t"),
        catalog_id: "c",
    }
}

/// Any JSON-like tree, with keys that are often real checkout fields.
fn any_input() -> impl Strategy<Value = Input> {
    let key = prop_oneof![
        Just("orderId".to_owned()),
        Just("items".to_owned()),
        Just("quantity".to_owned()),
        Just("totalSpent".to_owned()),
        Just("email".to_owned()),
        Just("gtin".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Input::Null),
        any::<bool>().prop_map(Input::Bool),
        "-?[0-9]{0,25}(\\.[0-9]{0,5})?([eE][+-]?[0-9]{1,4})?".prop_map(Input::Number),
        "NaN|Infinity|-Infinity|1e999".prop_map(Input::Number),
        ".{0,30}".prop_map(Input::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Input::Array),
            proptest::collection::vec((key.clone(), inner), 0..10).prop_map(Input::Object),
        ]
    })
}

proptest! {
    #[test]
    fn third_o_arrays_are_aligned_with_the_items(input in checkout_input()) {
        let checkout = Checkout::from_input(&input).unwrap();
        let query = ThirdOQuery::from_checkout(&checkout, &config(), NOW).unwrap();
        let n = checkout.items.len();
        prop_assert_eq!((query.procods.len(), query.pris.len(), query.quas.len()), (n, n, n));
        // What goes on the wire reads back to the same, still aligned, arrays.
        let parsed = ThirdOQuery::parse(&query.to_query_string()).unwrap();
        for (i, item) in checkout.items.iter().enumerate() {
            prop_assert_eq!(&parsed.procods[i], &item.gtin);
            prop_assert_eq!(&parsed.pris[i], &item.regular_unit_price.to_decimal_string());
            prop_assert_eq!(parsed.quas[i].parse::<u64>().unwrap(), item.quantity);
        }
    }

    #[test]
    fn money_round_trips_exactly(m in money()) {
        prop_assert_eq!(Money::parse(&m.to_decimal_string()), Ok(m));
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(&json, &m.to_decimal_string());
        // Through a JavaScript-style number (f64, shortest round-trip text) and back.
        let as_f64: f64 = json.parse().unwrap();
        prop_assert_eq!(Money::parse(&as_f64.to_string()), Ok(m));
    }

    #[test]
    fn checkouts_round_trip_through_canonical_json(input in checkout_input()) {
        let checkout = Checkout::from_input(&input).unwrap();
        prop_assert_eq!(checkout_from_json(&checkout_to_json(&checkout)).unwrap(), checkout);
    }

    #[test]
    fn any_input_validates_or_names_a_field(input in any_input()) {
        if let Err(e) = Checkout::from_input(&input) {
            prop_assert!(!e.field_path().is_empty());
            prop_assert!(!e.message().is_empty());
        }
    }

    #[test]
    fn any_text_parses_or_errors_without_panic(text in ".{0,200}") {
        let _ = checkout_from_json(&text);
        let _ = ThirdOQuery::parse(&text);
        let _ = cibler_id(&text);
        let _ = Money::parse(&text);
    }

    #[test]
    fn a_cookie_value_survives_encoding(value in "[ -~ü]{1,40}", before in "[a-z]{1,5}=[a-z0-9]{0,5}") {
        let encoded: String = percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC).collect();
        let header = format!("{before}; cibler_id={encoded}; z=1");
        let expected = value.trim();
        let found = cibler_id(&header);
        prop_assert_eq!(found.as_deref(), (!expected.is_empty()).then_some(expected));
    }
}
