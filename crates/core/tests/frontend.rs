//! The browser module's narrower reader ([`FrontendCheckout`]) against the full validation:
//! on every checkout `Checkout::from_input` accepts it accepts too, with the same values and the
//! same third-o query; and a checkout broken only in fields it reads gets the same field and
//! reason from both.

use ordersync_core::third_o::{FrontendConfig, ThirdOQuery};
use ordersync_core::{Checkout, FrontendCheckout, Input, Money};
use proptest::prelude::*;

const NOW: &str = "2026-11-22T12:00:00Z";

fn config() -> FrontendConfig<'static> {
    FrontendConfig {
        base_url: "https://example.test",
        publishable_key: "pk",
        team_id: Some("t"),
        catalog_id: "c",
    }
}

fn money_input() -> impl Strategy<Value = Input> {
    (0..=Money::MAX_MINOR_UNITS, any::<bool>()).prop_map(|(minor, as_number)| {
        let text = Money::from_minor_units(minor).unwrap().to_decimal_string();
        if as_number {
            Input::Number(text)
        } else {
            Input::String(text)
        }
    })
}

/// Printable text without control characters, including non-ASCII and URL-special characters.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 &=?#%+/.:ü€😀-]{1,24}".prop_filter("not blank", |s| !s.trim().is_empty())
}

fn item_input() -> impl Strategy<Value = Input> {
    (
        text(),
        prop_oneof![
            (1u64..=1_000_000).prop_map(|q| Input::Number(q.to_string())),
            (1u64..=1_000_000).prop_map(|q| Input::String(q.to_string())),
        ],
        money_input(),
        money_input(),
        proptest::option::of(money_input()),
        proptest::option::of(text()),
    )
        .prop_map(|(gtin, quantity, unit, total, discount, seller)| {
            let mut members = vec![
                ("gtin", Input::String(gtin)),
                ("quantity", quantity),
                ("regularUnitPrice", unit),
                ("totalOrderItemPriceAfterDiscounts", total),
            ];
            if let Some(discount) = discount {
                members.push(("citrusDiscountAmount", discount));
            }
            if let Some(seller) = seller {
                members.push(("sellerId", Input::String(seller)));
            }
            Input::object(members)
        })
}

/// Valid checkouts: string or numeric order ids, with and without order date, customer id and
/// items (an empty list, or none at all, is valid for the relay: bonus-code activations).
fn checkout_input() -> impl Strategy<Value = Input> {
    (
        prop_oneof![
            text().prop_map(Input::String),
            (0u64..=9_007_199_254_740_991).prop_map(|n| Input::Number(n.to_string())),
        ],
        proptest::option::of(prop_oneof![
            Just("2026-11-22T10:15:00Z"),
            Just("2026-01-02T03:04:05.678+01:00"),
        ]),
        text(),
        proptest::option::of(text()),
        text(),
        money_input(),
        proptest::option::of(proptest::collection::vec(item_input(), 0..40)),
        any::<bool>(),
    )
        .prop_map(
            |(order_id, date, guid, customer_id, session, total, items, with_claims)| {
                let mut members = vec![
                    ("orderId", order_id),
                    ("email", Input::str("a@b.c")),
                    ("country", Input::str("FR")),
                    ("customerGuid", Input::String(guid)),
                    ("sessionId", Input::String(session)),
                    ("totalSpent", total),
                    ("taxes", Input::num("0")),
                    ("shippingCost", Input::num("0")),
                ];
                if let Some(date) = date {
                    members.push(("orderDate", Input::str(date)));
                }
                if let Some(id) = customer_id {
                    members.push(("customerId", Input::String(id)));
                }
                if let Some(items) = items {
                    members.push(("items", Input::Array(items)));
                }
                if with_claims {
                    members.push(("exp", Input::num("1790000000")));
                }
                Input::object(members)
            },
        )
}

/// Any value a field could be replaced with (or `None`: the field is removed).
fn replacement() -> impl Strategy<Value = Option<Input>> {
    let leaf = prop_oneof![
        Just(Input::Null),
        any::<bool>().prop_map(Input::Bool),
        "-?[0-9]{0,22}(\\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?".prop_map(Input::Number),
        "NaN|Infinity|0|1000001|9007199254740993".prop_map(Input::Number),
        ".{0,12}".prop_map(Input::String),
        "( |\t|\n)*|2026-11-22T10:15:00Z|2026-13-01T00:00:00Z|[0-9]{1,8}(\\.[0-9]{1,3})?|-1"
            .prop_map(Input::String),
        Just(Input::Array(Vec::new())),
        Just(Input::object([("a", Input::Null)])),
    ];
    proptest::option::of(leaf)
}

fn set_member(members: &mut Vec<(String, Input)>, key: &str, value: Option<Input>) {
    members.retain(|(k, _)| k != key);
    if let Some(value) = value {
        members.push((key.to_owned(), value));
    }
}

/// `input` with one field the browser reads replaced: a top-level one (`pick` 0-4), or, when
/// there are items, `items[index].{gtin, quantity, regularUnitPrice}`.
fn mutate(input: &Input, pick: usize, index: usize, value: Option<Input>) -> Input {
    const TOP: [&str; 5] = [
        "orderId",
        "orderDate",
        "customerGuid",
        "customerId",
        "sessionId",
    ];
    const ITEM: [&str; 3] = ["gtin", "quantity", "regularUnitPrice"];
    let Input::Object(members) = input else {
        unreachable!("the generator builds objects")
    };
    let mut members = members.clone();
    let items_len = match input.get("items") {
        Some(Input::Array(items)) => items.len(),
        _ => 0,
    };
    if pick < TOP.len() || items_len == 0 {
        set_member(&mut members, TOP[pick % TOP.len()], value);
    } else {
        for (key, member) in &mut members {
            if key == "items" {
                let Input::Array(items) = member else {
                    unreachable!()
                };
                let Input::Object(item) = &mut items[index % items_len] else {
                    unreachable!()
                };
                set_member(item, ITEM[pick % ITEM.len()], value.clone());
            }
        }
    }
    Input::Object(members)
}

fn assert_agree(full: &Checkout, frontend: &FrontendCheckout) -> Result<(), TestCaseError> {
    prop_assert_eq!(&frontend.order_id, &full.order_id);
    prop_assert_eq!(&frontend.order_date, &full.order_date);
    prop_assert_eq!(&frontend.customer_guid, &full.customer_guid);
    prop_assert_eq!(&frontend.customer_id, &full.customer_id);
    prop_assert_eq!(&frontend.session_id, &full.session_id);
    prop_assert_eq!(frontend.items.len(), full.items.len());
    for (ours, theirs) in frontend.items.iter().zip(&full.items) {
        prop_assert_eq!(&ours.gtin, &theirs.gtin);
        prop_assert_eq!(ours.quantity, theirs.quantity);
        prop_assert_eq!(ours.regular_unit_price, theirs.regular_unit_price);
    }
    prop_assert_eq!(
        ThirdOQuery::from_frontend(frontend, &config(), NOW),
        ThirdOQuery::from_checkout(full, &config(), NOW)
    );
    assert_same_url(full, frontend, &config())
}

/// The URL the browser builds from its fields is the one the full path builds.
fn assert_same_url(
    full: &Checkout,
    frontend: &FrontendCheckout,
    config: &FrontendConfig<'_>,
) -> Result<(), TestCaseError> {
    let direct =
        ThirdOQuery::from_frontend(frontend, config, NOW).and_then(|q| q.to_url(config.base_url));
    let built =
        ThirdOQuery::from_checkout(full, config, NOW).and_then(|q| q.to_url(config.base_url));
    prop_assert_eq!(direct, built);
    Ok(())
}

/// Frontend configurations, good and bad in each field.
fn any_config() -> impl Strategy<Value = FrontendConfig<'static>> {
    (
        prop_oneof![
            Just("https://example.test"),
            Just("http://x.test/base/"),
            Just("ftp://x"),
            Just("https://"),
            Just("https://a.test?q"),
        ],
        prop_oneof![Just("pk"), Just("pk 1/ü"), Just(""), Just(" ")],
        prop_oneof![Just(None), Just(Some("t&1")), Just(Some(""))],
        prop_oneof![Just("c"), Just(""), Just("cat\u{7}")],
    )
        .prop_map(
            |(base_url, publishable_key, team_id, catalog_id)| FrontendConfig {
                base_url,
                publishable_key,
                team_id,
                catalog_id,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn accepts_every_checkout_the_full_validation_accepts_with_the_same_third_o(
        input in checkout_input(),
    ) {
        let full = Checkout::from_input(&input).expect("the generator builds valid checkouts");
        let frontend = FrontendCheckout::from_input(&input);
        prop_assert!(frontend.is_ok(), "{:?}", frontend);
        assert_agree(&full, &frontend.unwrap())?;
    }

    #[test]
    fn a_fault_in_a_field_it_reads_gets_the_same_field_and_reason(
        input in checkout_input(),
        pick in 0usize..8,
        index in 0usize..40,
        value in replacement(),
    ) {
        let mutated = mutate(&input, pick, index, value);
        match (Checkout::from_input(&mutated), FrontendCheckout::from_input(&mutated)) {
            (Ok(full), Ok(frontend)) => assert_agree(&full, &frontend)?,
            (Err(full), Err(frontend)) => {
                prop_assert_eq!(frontend.field_path(), full.field_path());
                prop_assert_eq!(frontend.reason, full.reason);
            }
            (full, frontend) => prop_assert!(false, "full {:?}, frontend {:?}", full, frontend),
        }
    }
}

proptest! {
    #[test]
    fn the_direct_url_equals_the_built_one_for_any_options(
        input in checkout_input(),
        config in any_config(),
        extra_items in 0usize..200,
    ) {
        let Input::Object(mut members) = input else { unreachable!() };
        // Sometimes long enough to pass the 8000-byte limit.
        let filler = Input::object([
            ("gtin", Input::str("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
            ("quantity", Input::num("1")),
            ("regularUnitPrice", Input::str("1.00")),
            ("totalOrderItemPriceAfterDiscounts", Input::str("1.00")),
        ]);
        for (key, member) in &mut members {
            if key == "items" {
                if let Input::Array(items) = member {
                    items.extend(std::iter::repeat_n(filler.clone(), extra_items));
                }
            }
        }
        let input = Input::Object(members);
        let full = Checkout::from_input(&input).expect("valid");
        let frontend = FrontendCheckout::from_input(&input).expect("valid");
        assert_same_url(&full, &frontend, &config)?;
    }
}

#[test]
fn refuses_what_is_not_an_object_as_the_full_validation_does() {
    for input in [Input::Null, Input::str("x"), Input::Array(Vec::new())] {
        let full = Checkout::from_input(&input).unwrap_err();
        let frontend = FrontendCheckout::from_input(&input).unwrap_err();
        assert_eq!(frontend, full);
    }
}

#[test]
fn leaves_the_fields_it_does_not_read_to_the_relay() {
    let input = Input::object([
        ("orderId", Input::str("A1")),
        ("email", Input::str("not an email")),
        ("customerGuid", Input::str("g")),
        ("sessionId", Input::str("s")),
        ("totalSpent", Input::num("-1")),
        ("typo", Input::Bool(true)),
        (
            "items",
            Input::Array(vec![Input::object([
                ("gtin", Input::str("123")),
                ("quantity", Input::num("2")),
                ("regularUnitPrice", Input::str("1.50")),
            ])]),
        ),
    ]);
    let full = Checkout::from_input(&input).unwrap_err();
    assert_eq!(full.field_path(), "typo");
    let frontend = FrontendCheckout::from_input(&input).expect("only unread fields are wrong");
    let query = ThirdOQuery::from_frontend(&frontend, &config(), NOW).unwrap();
    assert_eq!(query.procods, ["123"]);
    assert_eq!(query.pris, ["1.50"]);
    assert_eq!(query.quas, ["2"]);
    assert_eq!(query.cusid.as_deref(), Some("g"));
    assert_eq!(query.ordts, NOW);
}
