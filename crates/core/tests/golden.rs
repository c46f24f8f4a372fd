//! Every JSON example in the two seed documents, reproduced from an equivalent checkout and
//! compared as JSON values, field by field.
//!
//! The expected bodies are the files in `seed_examples/`, the one copy of each seed request
//! example (two CitrusAd examples are not valid JSON as printed and are held there in their
//! minimally repaired form; see `seed_examples/README.md`).

use ordersync_core::wire::checkout_from_json;
use ordersync_core::wire::{CiblerConfig, CiblerOrder, CitrusConfig, CitrusOrder, CitrusOrders};
use ordersync_core::Checkout;
use serde_json::{json, Value};

#[path = "seed_examples/checkouts.rs"]
mod seed;
use seed::*;

fn checkout(value: Value) -> Checkout {
    checkout_from_json(&value.to_string()).expect("the example checkout validates")
}

fn assert_same_json(actual: &impl serde::Serialize, expected: Value) {
    let actual = serde_json::to_value(actual).unwrap();
    assert_eq!(
        actual, expected,
        "\nactual:   {actual:#}\nexpected: {expected:#}"
    );
    // Field by field as well, so a failure names the first differing member.
    compare(&actual, &expected, "$");
}

fn compare(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let mut keys: Vec<_> = a.keys().chain(e.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let here = format!("{path}.{key}");
                match (a.get(key), e.get(key)) {
                    (Some(x), Some(y)) => compare(x, y, &here),
                    (x, y) => panic!("{here}: actual {x:?}, expected {y:?}"),
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: array lengths");
            for (i, (x, y)) in a.iter().zip(e).enumerate() {
                compare(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            assert_eq!(a.as_f64(), e.as_f64(), "{path}");
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

fn cibler_config() -> CiblerConfig {
    CiblerConfig {
        key: "xxxx-xxxx-xxxx-xxxx-xxxx".into(),
        environment: "Prod".into(),
        site_id: 13,
    }
}

#[test]
fn cibler_150chf_deposit_with_30chf_bonus_code() {
    let c = checkout(cibler_checkout(234567865, "150.0", "20.00", "30.00"));
    let config = cibler_config();
    let body = CiblerOrder::new(&c, &config, Some(COOKIE)).unwrap();
    assert_same_json(&body, seed_example(CIBLER_DEPOSIT));
}

#[test]
fn cibler_20chf_bonus_code_activation() {
    let c = checkout(cibler_checkout(234567866, "0.0", "0.00", "20.00"));
    let config = cibler_config();
    let body = CiblerOrder::new(&c, &config, Some(COOKIE)).unwrap();
    assert_same_json(&body, seed_example(CIBLER_ACTIVATION));
}

#[test]
fn cibler_money_is_written_with_two_decimals() {
    let c = checkout(cibler_checkout(234567865, "150.0", "20.00", "30.00"));
    let config = cibler_config();
    let body = CiblerOrder::new(&c, &config, Some(COOKIE)).unwrap();
    let text = serde_json::to_string(&body).unwrap();
    assert!(text.contains(r#""totalSpent":150.00"#), "{text}");
    assert!(text.contains(r#""shippingCost":0.00"#), "{text}");
}

fn citrus_config(team_id: &str) -> CitrusConfig {
    CitrusConfig {
        team_id: Some(team_id.into()),
        catalog_id: None,
    }
}

const TEAM: &str = "9f48572c-0a5b-4997-9a0e-ed74f4d32dc6";

/// The checkout behind the seed's first order (customer `npc-s243-ir`), with these items.
fn single_order_checkout(items: Vec<Value>) -> Checkout {
    checkout(citrus_checkout(
        "npc-s243-ir",
        "5cat7-9964-4f",
        CITRUS_ORDER_ID,
        items,
    ))
}

fn body_for(checkouts: &[(Checkout, CitrusConfig)]) -> CitrusOrders<'_> {
    CitrusOrders {
        orders: checkouts
            .iter()
            .map(|(c, config)| CitrusOrder::new(c, config, "2000-01-01T00:00:00Z").unwrap())
            .collect(),
    }
}

#[test]
fn citrus_single_item_order() {
    let c = single_order_checkout(vec![seed_item()]);
    assert_same_json(
        &body_for(&[(c, citrus_config(TEAM))]),
        seed_example(CITRUS_SINGLE_ITEM),
    );
}

#[test]
fn citrus_multi_item_order() {
    let c = single_order_checkout(vec![seed_item(), seed_item()]);
    assert_same_json(
        &body_for(&[(c, citrus_config(TEAM))]),
        seed_example(CITRUS_MULTI_ITEM),
    );
}

#[test]
fn citrus_marketplace_order_omits_absent_seller_id() {
    let c = single_order_checkout(vec![seed_item(), seed_item_without_seller()]);
    let checkouts = [(c, citrus_config(TEAM))];
    let body = body_for(&checkouts);
    assert_same_json(&body, seed_example(CITRUS_MARKETPLACE));
    let text = serde_json::to_string(&body).unwrap();
    assert_eq!(text.matches("sellerId").count(), 1, "{text}");
}

#[test]
fn citrus_multiple_orders_in_one_batch() {
    let second_team = "a7e5cat7-9964-4ff3-bbb1-94bf9b53a366";
    let second_id = "i32dm3e4-c158-43d78-43ww32x-m2ide3e3";
    let checkouts = [
        (
            single_order_checkout(vec![seed_item()]),
            citrus_config(TEAM),
        ),
        (
            checkout(citrus_checkout(
                "rw3-v3ag-ol0",
                "2m342-2dfe-0f",
                second_id,
                vec![seed_item()],
            )),
            citrus_config(second_team),
        ),
    ];
    assert_same_json(&body_for(&checkouts), seed_example(CITRUS_MULTIPLE_ORDERS));
}

#[test]
fn citrus_money_is_written_with_two_decimals() {
    let c = single_order_checkout(vec![seed_item()]);
    let checkouts = [(c, citrus_config(TEAM))];
    let text = serde_json::to_string(&body_for(&checkouts)).unwrap();
    assert!(text.contains(r#""regularUnitPrice":1.00"#), "{text}");
    assert!(text.contains(r#""citrusDiscountAmount":0.00"#), "{text}");
}

#[test]
fn citrus_customer_id_defaults_to_customer_guid_and_catalog_to_config() {
    let c = checkout(json!({
        "orderId": 17, "email": "a@b.c", "country": "FR", "customerGuid": "guid-1",
        "sessionId": "s", "totalSpent": "3.00", "taxes": "0", "shippingCost": "0",
        "items": [{"gtin": "g", "quantity": 1, "regularUnitPrice": "3", "totalOrderItemPriceAfterDiscounts": "3"}]
    }));
    let config = CitrusConfig {
        team_id: None,
        catalog_id: Some("cat-default".into()),
    };
    let order = CitrusOrder::new(&c, &config, "2026-11-22T12:00:00Z").unwrap();
    assert_same_json(
        &order,
        json!({
            "customerId": "guid-1", "sessionId": "s", "orderDate": "2026-11-22T12:00:00Z", "id": "17",
            "orderItems": [{"gtin": "g", "quantity": 1, "regularUnitPrice": 3.00,
                "totalOrderItemPriceAfterDiscounts": 3.00, "catalogId": "cat-default",
                "citrusDiscountAmount": null, "substitutedFor": null}]
        }),
    );
    let no_catalog = CitrusConfig {
        team_id: None,
        catalog_id: None,
    };
    let err = CitrusOrder::new(&c, &no_catalog, "2026-11-22T12:00:00Z").unwrap_err();
    assert_eq!(err.field_path(), "items[0].catalogId");
}

#[test]
fn cibler_refuses_an_order_id_that_is_not_a_long() {
    let c = single_order_checkout(vec![seed_item()]);
    let err = CiblerOrder::new(&c, &cibler_config(), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "orderId: must be a whole number that fits a 64-bit integer (CibleR Long)"
    );
}

#[test]
fn cibler_sends_an_empty_cookie_id_when_the_shopper_had_none() {
    let c = checkout(cibler_checkout(1, "1", "0", "0"));
    let config = cibler_config();
    let body = serde_json::to_value(CiblerOrder::new(&c, &config, None).unwrap()).unwrap();
    assert_eq!(body["orderContext"]["cookieId"], json!(""));
}

#[test]
fn cibler_path_encodes_the_customer_id() {
    assert_eq!(
        CiblerOrder::path("acme"),
        "/api/campaignBehaviors/order/acme"
    );
    assert_eq!(
        CiblerOrder::path("a/b c"),
        "/api/campaignBehaviors/order/a%2Fb%20c"
    );
}
