//! Checkout validation: every refusal names the field (with the item index) and the reason.

use ordersync_core::wire::{checkout_from_json, checkout_to_json, JsonCheckoutError};
use ordersync_core::{Checkout, Money, Reason};
use serde_json::{json, Value};

fn valid() -> Value {
    json!({
        "orderId": "1001",
        "orderDate": "2026-11-22T10:00:00+01:00",
        "email": "ada@example.com",
        "country": "FR",
        "customerGuid": "guid-1",
        "customerId": "cust-1",
        "sessionId": "sess-1",
        "totalSpent": "42.50",
        "taxes": 7.08,
        "shippingCost": 0,
        "giftCode": null,
        "discountAmount": null,
        "items": [
            {"gtin": "3017620422003", "quantity": 2, "regularUnitPrice": "10.00",
             "totalOrderItemPriceAfterDiscounts": "20.00"},
            {"gtin": "5000112548167", "quantity": "1", "regularUnitPrice": 22.5,
             "totalOrderItemPriceAfterDiscounts": 22.5, "sellerId": "s-9",
             "catalogId": "cat-2", "citrusDiscountAmount": 1, "substitutedFor": "5000112548168"}
        ]
    })
}

fn parse(value: &Value) -> Result<Checkout, (String, Reason)> {
    match checkout_from_json(&value.to_string()) {
        Ok(c) => Ok(c),
        Err(JsonCheckoutError::Invalid(e)) => Err((e.field_path(), e.reason)),
        Err(e) => panic!("unexpected JSON error {e}"),
    }
}

fn refused(mutate: impl FnOnce(&mut Value)) -> (String, Reason) {
    let mut value = valid();
    mutate(&mut value);
    parse(&value).expect_err("should be refused")
}

#[test]
fn a_valid_checkout_is_read_exactly() {
    let c = parse(&valid()).unwrap();
    assert_eq!(c.order_id, "1001");
    assert_eq!(c.total_spent, Money::from_minor_units(4250).unwrap());
    assert_eq!(c.taxes.minor_units(), 708);
    assert_eq!(c.items.len(), 2);
    assert_eq!(c.items[1].quantity, 1);
    assert_eq!(c.items[1].regular_unit_price.minor_units(), 2250);
    assert_eq!(c.items[1].seller_id.as_deref(), Some("s-9"));
    assert_eq!(c.citrus_customer_id(), "cust-1");
}

#[test]
fn numeric_order_ids_become_their_digits_and_unsafe_ones_are_refused() {
    let mut v = valid();
    v["orderId"] = json!(234567865);
    assert_eq!(parse(&v).unwrap().order_id, "234567865");
    let c = checkout_from_json(&valid().to_string().replace("\"1001\"", "9007199254740993"));
    assert_eq!(
        c.unwrap_err().to_string(),
        "orderId: is above 2^53 and cannot be exact as a JSON number: pass it as a string"
    );
    assert_eq!(
        refused(|v| v["orderId"] = json!(1.5)),
        ("orderId".into(), Reason::NotAnInteger)
    );
    assert_eq!(
        refused(|v| v["orderId"] = json!(true)),
        ("orderId".into(), Reason::NotAString)
    );
}

#[test]
fn missing_and_mistyped_top_level_fields_are_named() {
    for field in [
        "orderId",
        "email",
        "country",
        "customerGuid",
        "sessionId",
        "totalSpent",
        "taxes",
        "shippingCost",
    ] {
        assert_eq!(
            refused(|v| {
                v.as_object_mut().unwrap().remove(field);
            }),
            (field.into(), Reason::Missing),
            "{field}"
        );
        assert_eq!(
            refused(|v| v[field] = Value::Null),
            (field.into(), Reason::Missing),
            "{field}"
        );
    }
    assert_eq!(
        refused(|v| v["email"] = json!(12)),
        ("email".into(), Reason::NotAString)
    );
    assert_eq!(
        refused(|v| v["email"] = json!("no-at-sign")),
        ("email".into(), Reason::InvalidEmail)
    );
    assert_eq!(
        refused(|v| v["country"] = json!("   ")),
        ("country".into(), Reason::Empty)
    );
    assert_eq!(
        refused(|v| v["sessionId"] = json!("a\u{0}b")),
        ("sessionId".into(), Reason::ControlCharacter)
    );
    assert_eq!(
        refused(|v| v["sessionId"] = json!("x".repeat(257))),
        ("sessionId".into(), Reason::TooLong)
    );
    assert_eq!(
        refused(|v| v["orderDate"] = json!("2026-11-22 10:00")),
        ("orderDate".into(), Reason::InvalidTimestamp)
    );
    assert_eq!(
        refused(|v| v["items"] = json!({})),
        ("items".into(), Reason::NotAnArray)
    );
    assert_eq!(
        refused(|v| v["totalSpent"] = json!([1])),
        ("totalSpent".into(), Reason::NotANumber)
    );
}

#[test]
fn money_errors_name_the_field() {
    assert_eq!(
        refused(|v| v["totalSpent"] = json!("-1.00")),
        ("totalSpent".into(), Reason::Negative)
    );
    assert_eq!(
        refused(|v| v["taxes"] = json!("1.005")),
        ("taxes".into(), Reason::TooManyDecimals)
    );
    assert_eq!(
        refused(|v| v["discountAmount"] = json!("abc")),
        ("discountAmount".into(), Reason::NotANumber)
    );
    assert_eq!(
        refused(|v| v["shippingCost"] = json!("1e30")),
        ("shippingCost".into(), Reason::TooLarge)
    );
}

#[test]
fn money_is_read_from_the_literal_not_a_float() {
    // 0.1 + 0.2 style trouble cannot happen: the literal is parsed in decimal.
    let text = valid()
        .to_string()
        .replace("7.08", "7.080000000000000000000001");
    let err = checkout_from_json(&text).unwrap_err().to_string();
    assert_eq!(err, "taxes: has more than 2 decimals");
}

#[test]
fn a_bad_line_item_refuses_the_order_naming_index_and_field() {
    assert_eq!(
        refused(|v| {
            v["items"][1].as_object_mut().unwrap().remove("gtin");
        }),
        ("items[1].gtin".into(), Reason::Missing)
    );
    assert_eq!(
        refused(|v| v["items"][0]["quantity"] = json!(0)),
        ("items[0].quantity".into(), Reason::NotPositive)
    );
    assert_eq!(
        refused(|v| v["items"][0]["quantity"] = json!(2.5)),
        ("items[0].quantity".into(), Reason::NotAnInteger)
    );
    assert_eq!(
        refused(|v| v["items"][0]["quantity"] = json!(-3)),
        ("items[0].quantity".into(), Reason::Negative)
    );
    assert_eq!(
        refused(|v| v["items"][0]["quantity"] = json!("three")),
        ("items[0].quantity".into(), Reason::NotANumber)
    );
    assert_eq!(
        refused(|v| v["items"][0]["quantity"] = json!(1_000_001)),
        ("items[0].quantity".into(), Reason::TooLarge)
    );
    assert_eq!(
        refused(|v| v["items"][1]["regularUnitPrice"] = json!("1,50")),
        ("items[1].regularUnitPrice".into(), Reason::NotANumber)
    );
    assert_eq!(
        refused(|v| v["items"][1] = json!("item")),
        ("items[1]".into(), Reason::NotAnObject)
    );
}

#[test]
fn unknown_and_duplicated_keys_are_refused_but_jwt_claims_pass() {
    assert_eq!(
        refused(|v| v["totalSpend"] = json!(1)),
        ("totalSpend".into(), Reason::UnknownField)
    );
    assert_eq!(
        refused(|v| v["items"][0]["price"] = json!(1)),
        ("items[0].price".into(), Reason::UnknownField)
    );
    let mut v = valid();
    v["exp"] = json!(1_900_000_000);
    v["iat"] = json!(1_800_000_000);
    assert!(parse(&v).is_ok());
    let duplicated =
        valid()
            .to_string()
            .replacen("\"email\":", "\"email\":\"x@y.z\",\"email\":", 1);
    let err = checkout_from_json(&duplicated).unwrap_err().to_string();
    assert_eq!(err, "email: appears more than once");
}

#[test]
fn too_many_items_is_one_clear_error() {
    let item = valid()["items"][0].clone();
    let err = refused(|v| v["items"] = Value::Array(vec![item; 1001]));
    assert_eq!(err, ("items".into(), Reason::TooManyItems));
}

#[test]
fn an_order_without_items_is_valid_for_cibler() {
    let mut v = valid();
    v["items"] = json!([]);
    assert!(parse(&v).unwrap().items.is_empty());
    v.as_object_mut().unwrap().remove("items");
    assert!(parse(&v).unwrap().items.is_empty());
}

#[test]
fn canonical_json_round_trips() {
    let c = parse(&valid()).unwrap();
    let text = checkout_to_json(&c);
    assert!(text.contains("\"totalSpent\":42.50"), "{text}");
    assert_eq!(checkout_from_json(&text).unwrap(), c);
}

#[test]
fn not_json_is_a_syntax_error_not_a_panic() {
    for text in ["", "{", "[1,2", "nul", "{\"a\":}", "\u{feff}{}"] {
        assert!(
            matches!(checkout_from_json(text), Err(JsonCheckoutError::Syntax(_))),
            "{text:?}"
        );
    }
    let deep = "[".repeat(10_000);
    assert!(checkout_from_json(&deep).is_err());
    assert!(matches!(
        checkout_from_json("[]"),
        Err(JsonCheckoutError::Invalid(_))
    ));
}
