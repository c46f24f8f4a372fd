//! The seed documents' request examples and the checkouts that reproduce them: the one copy
//! of these fixtures, shared by the core's golden tests (`crates/core/tests/golden.rs`) and the
//! relay's end-to-end ones (`crates/relay/tests/e2e_seed_examples.rs`), which include this file
//! with `#[path]`.

#![allow(dead_code)] // Each test file uses the part it needs.

use serde_json::{json, Value};

/// "Body example for a 150CHF deposit with 30CHF bonus code" (CibleR).
pub const CIBLER_DEPOSIT: &str = include_str!("cibler-deposit-150chf.json");
/// "Body example for a 20CHF bonus code activation" (CibleR).
pub const CIBLER_ACTIVATION: &str = include_str!("cibler-bonus-activation-20chf.json");
pub const CITRUS_SINGLE_ITEM: &str = include_str!("citrus-single-item.json");
pub const CITRUS_MULTI_ITEM: &str = include_str!("citrus-multi-item.json");
pub const CITRUS_MULTIPLE_ORDERS: &str = include_str!("citrus-multiple-orders.json");
pub const CITRUS_MARKETPLACE: &str = include_str!("citrus-marketplace.json");

/// The `cibler_id` cookie of the CibleR examples.
pub const COOKIE: &str = "CIB1.395406195.1569857337";

/// The order id of the CitrusAd examples' first order.
pub const CITRUS_ORDER_ID: &str = "3h30e938-c158-4d78-a0af-b48bbwfrcss4";

/// A seed request example, exactly as this folder holds it.
pub fn seed_example(text: &str) -> Value {
    serde_json::from_str(text).expect("a seed example is valid JSON")
}

/// The checkout behind a CibleR example; the money is given as JSON text (`"150.0"`), so each
/// example's own literal is what the checkout carries.
pub fn cibler_checkout(order_id: u64, total_spent: &str, taxes: &str, discount: &str) -> Value {
    json!({
        "orderId": order_id,
        "email": "test@gmail.com",
        "country": "CH / FRA",
        "customerGuid": "bbc47c1f-020e-4885-a01d-53f5921a7210",
        "sessionId": "any-session",
        "totalSpent": serde_json::from_str::<Value>(total_spent).unwrap(),
        "taxes": serde_json::from_str::<Value>(taxes).unwrap(),
        "shippingCost": 0.00,
        "giftCode": "MANO66FZC4F4RTZ",
        "discountAmount": serde_json::from_str::<Value>(discount).unwrap(),
        "items": []
    })
}

/// The item every CitrusAd example uses, as printed.
pub fn seed_item() -> Value {
    json!({
        "gtin": "9891998566P",
        "quantity": 3,
        "regularUnitPrice": 1.00,
        "totalOrderItemPriceAfterDiscounts": 3.00,
        "catalogId": "6adb93d0-7he4-4d4e-9b47-e5d3714c976a",
        "citrusDiscountAmount": 0.0,
        "substitutedFor": null,
        "sellerId": "seller_id_601_64"
    })
}

/// The marketplace example's second item: the same, without a seller.
pub fn seed_item_without_seller() -> Value {
    let mut item = seed_item();
    item.as_object_mut().unwrap().remove("sellerId");
    item
}

/// The checkout behind a CitrusAd example's order.
pub fn citrus_checkout(customer_id: &str, session_id: &str, id: &str, items: Vec<Value>) -> Value {
    json!({
        "orderId": id,
        "orderDate": "2021-12-02T15:00:00Z",
        "email": "shopper@example.com",
        "country": "AU",
        "customerGuid": "guid-not-sent-to-citrusad",
        "customerId": customer_id,
        "sessionId": session_id,
        "totalSpent": 3.00,
        "taxes": 0,
        "shippingCost": 0,
        "items": items
    })
}
