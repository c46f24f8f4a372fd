//! CitrusAd's order sync: `POST /v1/orders`, `GET /v1/orders/{id}` and the front-end
//! `GET /v1/resource/third-o`, as the seed describes them.
//!
//! `POST /v1/orders`: `Authorization: Basic <key>` present (its exact value checked when the
//! sandbox knows the key), `content-type: application/json`, a body `{"orders": [...]}` with 1
//! to 100 orders, each order and item with the fields the seed's examples show, typed as they
//! show them. A conforming batch is stored by order id (a re-posted id overwrites, as the 2017
//! specification's "Creates or Updates" says) and echoed back, orders in the order they were
//! sent, each order's members in the order of the seed's response examples. Errors take
//! CitrusAd's documented shape `{"message", "additionalInfo": [{"message", "code"}]}`.
//!
//! `GET /v1/orders/{id}` answers the stored order object as the POST echoed it (the seed says
//! only "all information related to the order"), or 404.

use std::collections::HashMap;

use axum::http::{header::AUTHORIZATION, HeaderMap, StatusCode};
use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use ordersync_core::third_o::ThirdOQuery;
use ordersync_core::wire::citrus::MAX_ORDERS_PER_BATCH;

use super::checks::{check_object, Field, Kind, Violations};
use super::content_type_is_json;

const BATCH: &[Field] = &[Field::required("orders", Kind::Array)];

const ORDER: &[Field] = &[
    Field::required("customerId", Kind::NonEmptyString),
    Field::optional("teamId", Kind::NonEmptyString),
    Field::required("sessionId", Kind::NonEmptyString),
    Field::required("orderDate", Kind::Rfc3339),
    Field::required("id", Kind::NonEmptyString),
    Field::required("orderItems", Kind::Array),
];

const ORDER_ITEM: &[Field] = &[
    Field::required("gtin", Kind::NonEmptyString),
    Field::required("quantity", Kind::PositiveInteger),
    Field::required("regularUnitPrice", Kind::Number),
    Field::required("totalOrderItemPriceAfterDiscounts", Kind::Number),
    Field::required("catalogId", Kind::NonEmptyString),
    Field::nullable("citrusDiscountAmount", Kind::Number),
    Field::nullable("substitutedFor", Kind::String),
    Field::optional("sellerId", Kind::NonEmptyString),
];

/// Which `Authorization: Basic` forms the sandbox accepts for the configured key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthForm {
    /// `Basic <key>`, as CitrusAd's documentation and Magento module send it.
    #[default]
    Raw,
    /// `Basic base64(<key>:)`, as some third-party descriptions say.
    Base64,
    /// Either of the two.
    Either,
}

/// What the sandbox was told to expect of CitrusAd's callers.
#[derive(Debug, Clone, Default)]
pub struct CitrusExpectations {
    pub api_key: Option<String>,
    pub auth_form: AuthForm,
}

/// The verdict on one CitrusAd request. The body is kept as JSON text so the echoed orders
/// keep the member order of the seed's response examples (a `Value` would sort them).
#[derive(Debug)]
pub struct Verdict {
    pub status: StatusCode,
    pub body: Box<RawValue>,
    pub violations: Violations,
}

impl Verdict {
    fn new(status: StatusCode, body: &impl Serialize, violations: Violations) -> Self {
        Verdict {
            status,
            body: to_raw(body),
            violations,
        }
    }

    /// The body as a JSON value (member order lost), for checks.
    pub fn body_value(&self) -> Value {
        serde_json::from_str(self.body.get()).unwrap_or(Value::Null)
    }
}

fn to_raw(body: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(body).expect("JSON values and echoes always serialize")
}

/// Orders received so far, by id, as echoed.
#[derive(Debug, Default)]
pub struct OrderStore {
    orders: HashMap<String, Box<RawValue>>,
}

impl OrderStore {
    pub fn get(&self, id: &str) -> Option<&RawValue> {
        self.orders.get(id).map(|order| &**order)
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    pub fn clear(&mut self) {
        self.orders.clear();
    }
}

/// Checks a `POST /v1/orders` and, when it conforms, stores its orders and echoes them.
pub fn judge_post_orders(
    expect: &CitrusExpectations,
    store: &mut OrderStore,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Verdict {
    if let Some(refusal) = check_authorization(expect, headers) {
        return refusal;
    }
    let mut violations = Violations::new();
    if !content_type_is_json(headers) {
        violations.push("header.content-type", "must be application/json");
    }
    match body {
        Some(body) => check_batch(body, &mut violations),
        None => violations.push("body", "must be a JSON object"),
    }
    if !violations.is_empty() {
        return refused(StatusCode::BAD_REQUEST, "Invalid request", violations);
    }
    let orders = body
        .and_then(|b| b["orders"].as_array())
        .map_or(&[][..], Vec::as_slice);
    let echoed: Vec<Box<RawValue>> = orders.iter().map(|o| to_raw(&echo_order(o))).collect();
    for (order, echo) in orders.iter().zip(&echoed) {
        if let Some(id) = order["id"].as_str() {
            store.orders.insert(id.to_owned(), echo.clone());
        }
    }
    // A struct, not `json!`: `json!` would turn the raw echoes back into sorted values.
    #[derive(Serialize)]
    struct Echo {
        orders: Vec<Box<RawValue>>,
    }
    Verdict::new(StatusCode::OK, &Echo { orders: echoed }, violations)
}

/// The `id` of each order in a `POST /v1/orders` body (none when it has no `orders` array).
pub fn order_ids(body: &Value) -> impl Iterator<Item = &str> {
    body.get("orders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|order| order.get("id")?.as_str())
}

/// CitrusAd's refusal of a batch holding an order it cannot take (the sandbox's
/// `refuseCitrusOrders` fault), naming the first such order; `None` when `body` holds none of
/// `refused`. Not a violation: the request itself may be well formed.
pub fn refuse_listed_orders(body: Option<&Value>, refused: &[String]) -> Option<Verdict> {
    if refused.is_empty() {
        return None;
    }
    let id = order_ids(body?).find(|id| refused.iter().any(|listed| listed == id))?;
    let reason = format!("order {id} cannot be accepted");
    Some(Verdict::new(
        StatusCode::BAD_REQUEST,
        &error_body("Invalid request", &[(&reason, "INVALID_ORDER")]),
        Violations::new(),
    ))
}

/// Answers `GET /v1/orders/{id}` from the store.
pub fn judge_get_order(
    expect: &CitrusExpectations,
    store: &OrderStore,
    headers: &HeaderMap,
    id: &str,
) -> Verdict {
    if let Some(refusal) = check_authorization(expect, headers) {
        return refusal;
    }
    match store.get(id) {
        Some(order) => Verdict::new(StatusCode::OK, &order, Violations::new()),
        None => Verdict::new(
            StatusCode::NOT_FOUND,
            &error_body("Order not found", &[("order not found", "NOT_FOUND")]),
            Violations::new(),
        ),
    }
}

/// Answers the front-end `GET /v1/resource/third-o?…`, parsed strictly by the core.
pub fn judge_third_o(query: &str) -> Verdict {
    match ThirdOQuery::parse(query) {
        Ok(_) => Verdict::new(StatusCode::OK, &json!({}), Violations::new()),
        Err(error) => {
            let mut violations = Violations::new();
            violations.push(&format!("query.{}", error.field_path()), error.message());
            let body = json!({"error": {"message": violations.as_slice()[0]}});
            Verdict::new(StatusCode::BAD_REQUEST, &body, violations)
        }
    }
}

/// The body's shape alone: `{"orders": [...]}` with 1..=100 conforming orders.
pub fn check_batch(body: &Value, violations: &mut Violations) {
    let Some(batch) = check_object(body, "", BATCH, violations) else {
        return;
    };
    let Some(orders) = batch.get("orders").and_then(Value::as_array) else {
        return;
    };
    if orders.is_empty() {
        violations.push("orders", "must hold at least one order");
    }
    if orders.len() > MAX_ORDERS_PER_BATCH {
        violations.push("orders", "must hold at most 100 orders");
    }
    for (index, order) in orders.iter().enumerate() {
        check_order(order, &format!("orders[{index}]"), violations);
    }
}

fn check_order(order: &Value, path: &str, violations: &mut Violations) {
    let Some(order) = check_object(order, path, ORDER, violations) else {
        return;
    };
    let Some(items) = order.get("orderItems").and_then(Value::as_array) else {
        return;
    };
    if items.is_empty() {
        violations.push(&format!("{path}.orderItems"), "must hold at least one item");
    }
    for (index, item) in items.iter().enumerate() {
        check_object(
            item,
            &format!("{path}.orderItems[{index}]"),
            ORDER_ITEM,
            violations,
        );
    }
}

/// `None` when the `Authorization` header is acceptable, else the 401 to answer.
fn check_authorization(expect: &CitrusExpectations, headers: &HeaderMap) -> Option<Verdict> {
    let credentials = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let problem = match (credentials, &expect.api_key) {
        (None, _) => "must be `Basic <API key>`",
        (Some(given), Some(key))
            if !accepted_credentials(key, expect.auth_form).contains(&given.to_owned()) =>
        {
            "does not carry the configured API key in the accepted form"
        }
        _ => return None,
    };
    let mut violations = Violations::new();
    violations.push("header.authorization", problem);
    Some(refused(
        StatusCode::UNAUTHORIZED,
        "Invalid credentials",
        violations,
    ))
}

fn accepted_credentials(key: &str, form: AuthForm) -> Vec<String> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    match form {
        AuthForm::Raw => vec![key.to_owned()],
        AuthForm::Base64 => vec![encoded],
        AuthForm::Either => vec![key.to_owned(), encoded],
    }
}

fn refused(status: StatusCode, message: &str, violations: Violations) -> Verdict {
    let code = if status == StatusCode::UNAUTHORIZED {
        "UNAUTHORIZED"
    } else {
        "INVALID_REQUEST"
    };
    let info: Vec<(&str, &str)> = violations
        .as_slice()
        .iter()
        .map(|v| (v.as_str(), code))
        .collect();
    Verdict::new(status, &error_body(message, &info), violations)
}

/// CitrusAd's error shape: `{"message", "additionalInfo": [{"message", "code"}]}`.
pub fn error_body(message: &str, info: &[(&str, &str)]) -> Value {
    let additional: Vec<Value> = info
        .iter()
        .map(|(message, code)| json!({"message": message, "code": code}))
        .collect();
    json!({"message": message, "additionalInfo": additional})
}

/// One order as CitrusAd's response examples print it: `teamId, customerId, sessionId, id,
/// orderItems, orderDate`, and in each item `regularUnitPrice, citrusDiscountAmount, gtin,
/// catalogId, quantity, substitutedFor, totalOrderItemPriceAfterDiscounts, sellerId`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EchoedOrder<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    team_id: Option<&'a Value>,
    customer_id: &'a Value,
    session_id: &'a Value,
    id: &'a Value,
    order_items: Vec<EchoedItem<'a>>,
    order_date: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EchoedItem<'a> {
    regular_unit_price: &'a Value,
    citrus_discount_amount: &'a Value,
    gtin: &'a Value,
    catalog_id: &'a Value,
    quantity: &'a Value,
    substituted_for: &'a Value,
    total_order_item_price_after_discounts: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    seller_id: Option<&'a Value>,
}

/// Echoes a checked order. The order is known to conform, so every member is there.
fn echo_order(order: &Value) -> EchoedOrder<'_> {
    let items = order["orderItems"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    EchoedOrder {
        team_id: order.get("teamId"),
        customer_id: &order["customerId"],
        session_id: &order["sessionId"],
        id: &order["id"],
        order_items: items
            .iter()
            .map(|item| EchoedItem {
                regular_unit_price: &item["regularUnitPrice"],
                citrus_discount_amount: &item["citrusDiscountAmount"],
                gtin: &item["gtin"],
                catalog_id: &item["catalogId"],
                quantity: &item["quantity"],
                substituted_for: &item["substitutedFor"],
                total_order_item_price_after_discounts: &item["totalOrderItemPriceAfterDiscounts"],
                seller_id: item.get("sellerId"),
            })
            .collect(),
        order_date: &order["orderDate"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::CONTENT_TYPE;

    /// The seed's four request bodies, from the one copy the workspace keeps of them
    /// (`crates/core/tests/seed_examples/`). The first and third parse as printed; the second
    /// and fourth are held there minimally repaired to their evident meaning (two items in one
    /// order, which the matching response example confirms), as its README says.
    pub(crate) const SINGLE_ITEM: &str =
        include_str!("../../core/tests/seed_examples/citrus-single-item.json");
    const MULTI_ITEM_REPAIRED: &str =
        include_str!("../../core/tests/seed_examples/citrus-multi-item.json");
    const MULTIPLE_ORDERS: &str =
        include_str!("../../core/tests/seed_examples/citrus-multiple-orders.json");
    const MARKETPLACE_REPAIRED: &str =
        include_str!("../../core/tests/seed_examples/citrus-marketplace.json");

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, value.parse().unwrap());
        }
        headers
    }

    fn post(body: &Value) -> Verdict {
        judge_post_orders(
            &CitrusExpectations::default(),
            &mut OrderStore::default(),
            &headers(Some("Basic some-key")),
            Some(body),
        )
    }

    fn seed_body() -> Value {
        serde_json::from_str(SINGLE_ITEM).unwrap()
    }

    #[test]
    fn every_seed_example_is_accepted_and_echoed_in_order() {
        for text in [
            SINGLE_ITEM,
            MULTI_ITEM_REPAIRED,
            MULTIPLE_ORDERS,
            MARKETPLACE_REPAIRED,
        ] {
            let body: Value = serde_json::from_str(text).unwrap();
            let verdict = post(&body);
            assert_eq!(verdict.status, StatusCode::OK, "{:?}", verdict.violations);
            // Same orders, same order, same values: the echo only reorders members.
            assert_eq!(verdict.body_value(), body);
        }
    }

    #[test]
    fn the_echo_lists_members_as_the_seed_response_does() {
        let verdict = post(&seed_body());
        let text = verdict.body.get();
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle} in {text}"))
        };
        assert!(at("\"teamId\"") < at("\"customerId\""));
        assert!(at("\"id\"") < at("\"orderItems\""));
        assert!(at("\"orderItems\"") < at("\"orderDate\""));
        assert!(at("\"regularUnitPrice\"") < at("\"gtin\""));
    }

    #[test]
    fn the_two_broken_examples_are_refused_as_printed() {
        // As printed, the multi-item example is not even JSON; its evident structure (an
        // item object standing where an order belongs) must be refused, naming the place.
        let mut body = seed_body();
        let stray_item = body["orders"][0]["orderItems"][0].clone();
        body["orders"].as_array_mut().unwrap().push(stray_item);
        let verdict = post(&body);
        assert_eq!(verdict.status, StatusCode::BAD_REQUEST);
        let v = verdict.violations.as_slice();
        assert!(
            v.contains(&"orders[1].customerId: is required".to_owned()),
            "{v:?}"
        );
        assert!(v.contains(&"orders[1].gtin: is not a field of this request".to_owned()));
    }

    #[test]
    fn every_order_field_is_refused_missing_and_mistyped() {
        let required = ["customerId", "sessionId", "orderDate", "id", "orderItems"];
        for name in required {
            let mut body = seed_body();
            body["orders"][0].as_object_mut().unwrap().remove(name);
            let verdict = post(&body);
            assert_eq!(
                verdict.violations.as_slice(),
                [format!("orders[0].{name}: is required")]
            );
            assert_eq!(
                verdict.body_value()["additionalInfo"][0]["message"],
                format!("orders[0].{name}: is required")
            );
        }
        let mistyped = [
            ("customerId", json!(17)),
            ("teamId", json!(null)),
            ("teamId", json!("")),
            ("sessionId", json!(["s"])),
            ("orderDate", json!("2021-12-02T15:00:00")),
            ("orderDate", json!("2021-12-02T15:00:00+1000")),
            ("id", json!(3)),
            ("orderItems", json!([])),
            ("orderItems", json!({})),
        ];
        for (name, value) in mistyped {
            let mut body = seed_body();
            body["orders"][0][name] = value.clone();
            let verdict = post(&body);
            assert_eq!(verdict.status, StatusCode::BAD_REQUEST, "{name}={value}");
            assert_eq!(verdict.violations.as_slice().len(), 1, "{name}={value}");
            assert!(verdict.violations.as_slice()[0].starts_with(&format!("orders[0].{name}: ")));
        }
    }

    #[test]
    fn every_item_field_is_refused_missing_and_mistyped() {
        for field in ORDER_ITEM.iter().filter(|f| f.name != "sellerId") {
            let mut body = seed_body();
            body["orders"][0]["orderItems"][0]
                .as_object_mut()
                .unwrap()
                .remove(field.name);
            let verdict = post(&body);
            assert_eq!(
                verdict.violations.as_slice(),
                [format!(
                    "orders[0].orderItems[0].{}: is required",
                    field.name
                )]
            );
        }
        let mistyped = [
            ("gtin", json!(9891998566u64)),
            ("quantity", json!(0)),
            ("quantity", json!(-3)),
            ("quantity", json!(3.0)),
            ("quantity", json!("3")),
            ("regularUnitPrice", json!("1.00")),
            ("totalOrderItemPriceAfterDiscounts", json!(null)),
            ("catalogId", json!(null)),
            ("citrusDiscountAmount", json!("0.0")),
            ("substitutedFor", json!(12)),
            ("sellerId", json!(null)),
            ("sellerId", json!(601)),
        ];
        for (name, value) in mistyped {
            let mut body = seed_body();
            body["orders"][0]["orderItems"][0][name] = value.clone();
            let verdict = post(&body);
            assert_eq!(verdict.status, StatusCode::BAD_REQUEST, "{name}={value}");
            assert_eq!(verdict.violations.as_slice().len(), 1, "{name}={value}");
            let prefix = format!("orders[0].orderItems[0].{name}: ");
            assert!(verdict.violations.as_slice()[0].starts_with(&prefix));
        }
    }

    #[test]
    fn batch_size_is_one_to_one_hundred() {
        let order = seed_body()["orders"][0].clone();
        let batch = |n: usize| json!({"orders": vec![order.clone(); n]});
        assert_eq!(post(&batch(100)).status, StatusCode::OK);
        let verdict = post(&batch(101));
        assert_eq!(verdict.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            verdict.violations.as_slice(),
            ["orders: must hold at most 100 orders"]
        );
        assert_eq!(
            post(&batch(0)).violations.as_slice(),
            ["orders: must hold at least one order"]
        );
        assert_eq!(
            post(&json!({"orders": [order], "extra": 1}))
                .violations
                .as_slice(),
            ["extra: is not a field of this request"]
        );
    }

    #[test]
    fn authorization_is_required_and_checked_in_the_chosen_form() {
        let body = seed_body();
        let mut store = OrderStore::default();
        let no_key = CitrusExpectations::default();
        for bad in [None, Some("Bearer k"), Some("Basic "), Some("basic k")] {
            let verdict = judge_post_orders(&no_key, &mut store, &headers(bad), Some(&body));
            assert_eq!(verdict.status, StatusCode::UNAUTHORIZED, "{bad:?}");
            assert_eq!(verdict.body_value()["message"], "Invalid credentials");
        }
        let encoded = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("secret-k:")
        );
        let cases = [
            (AuthForm::Raw, "Basic secret-k", StatusCode::OK),
            (AuthForm::Raw, encoded.as_str(), StatusCode::UNAUTHORIZED),
            (AuthForm::Base64, encoded.as_str(), StatusCode::OK),
            (AuthForm::Base64, "Basic secret-k", StatusCode::UNAUTHORIZED),
            (AuthForm::Either, "Basic secret-k", StatusCode::OK),
            (AuthForm::Either, encoded.as_str(), StatusCode::OK),
            (AuthForm::Either, "Basic other", StatusCode::UNAUTHORIZED),
        ];
        for (form, header, status) in cases {
            let expect = CitrusExpectations {
                api_key: Some("secret-k".into()),
                auth_form: form,
            };
            let verdict =
                judge_post_orders(&expect, &mut store, &headers(Some(header)), Some(&body));
            assert_eq!(verdict.status, status, "{form:?} {header}");
            assert!(!verdict.body.get().contains("secret-k"));
        }
    }

    #[test]
    fn stored_orders_are_retrievable_and_overwritten_by_id() {
        let expect = CitrusExpectations::default();
        let auth = headers(Some("Basic k"));
        let mut store = OrderStore::default();
        let id = "3h30e938-c158-4d78-a0af-b48bbwfrcss4";
        assert_eq!(
            judge_get_order(&expect, &store, &auth, id).status,
            StatusCode::NOT_FOUND
        );
        let mut body = seed_body();
        judge_post_orders(&expect, &mut store, &auth, Some(&body));
        let got = judge_get_order(&expect, &store, &auth, id);
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body_value(), body["orders"][0]);
        body["orders"][0]["sessionId"] = json!("another-session");
        judge_post_orders(&expect, &mut store, &auth, Some(&body));
        assert_eq!(store.len(), 1);
        let got = judge_get_order(&expect, &store, &auth, id);
        assert_eq!(got.body_value()["sessionId"], "another-session");
        assert_eq!(
            judge_get_order(&expect, &store, &headers(None), id).status,
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn a_refused_batch_stores_nothing() {
        let mut store = OrderStore::default();
        let mut body = seed_body();
        body["orders"][0]["orderItems"][0]["quantity"] = json!(0);
        judge_post_orders(
            &CitrusExpectations::default(),
            &mut store,
            &headers(Some("Basic k")),
            Some(&body),
        );
        assert!(store.is_empty());
    }

    #[test]
    fn third_o_is_parsed_strictly() {
        let good = "key=pk&catid=c&ordid=1&ordts=2021-12-02T15%3A00%3A00Z&sesid=s&cusid=u\
                    &procods=a&pris=1.00&quas=3&procods=b&pris=2.50&quas=1";
        assert_eq!(judge_third_o(good).status, StatusCode::OK);
        assert_eq!(judge_third_o(good).body_value(), json!({}));
        let cases = [
            (good.replace("&quas=1", ""), "query.quas: "),
            (good.replace("key=pk&", ""), "query.key: is required"),
            (
                good.replace("ordts=2021-12-02T15%3A00%3A00Z", "ordts=yesterday"),
                "query.ordts: ",
            ),
            (format!("{good}&ordid=2"), "query.ordid: "),
            (format!("{good}&bogus=1"), "query.bogus: "),
        ];
        for (query, expected) in cases {
            let verdict = judge_third_o(&query);
            assert_eq!(verdict.status, StatusCode::BAD_REQUEST, "{query}");
            let body = verdict.body_value();
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with(expected), "{message} vs {expected}");
        }
    }
}
