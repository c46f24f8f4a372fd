//! The CitrusAd front-end third-o request.

use ordersync_core::third_o::{FrontendConfig, ThirdOQuery, MAX_URL_BYTES};
use ordersync_core::wire::checkout_from_json;
use ordersync_core::{Checkout, Reason};
use serde_json::json;

const NOW: &str = "2026-11-22T12:00:00.000Z";

fn config() -> FrontendConfig<'static> {
    FrontendConfig {
        base_url: "https://integration.citrusad.com/",
        publishable_key: "pk_live 1",
        team_id: Some("team-9"),
        catalog_id: "cat-1",
    }
}

fn checkout(items: serde_json::Value) -> Checkout {
    checkout_from_json(
        &json!({
            "orderId": "A&B=1", "email": "a@b.c", "country": "FR", "customerGuid": "g",
            "sessionId": "s 1", "totalSpent": 3, "taxes": 0, "shippingCost": 0, "items": items
        })
        .to_string(),
    )
    .unwrap()
}

fn item(gtin: &str, quantity: u64, price: &str) -> serde_json::Value {
    json!({"gtin": gtin, "quantity": quantity, "regularUnitPrice": price, "totalOrderItemPriceAfterDiscounts": "0"})
}

#[test]
fn builds_the_documented_query_in_item_order() {
    let c = checkout(json!([item("7913494", 2, "1"), item("6815686", 1, "12.5")]));
    let q = ThirdOQuery::from_checkout(&c, &config(), NOW).unwrap();
    assert_eq!(
        q.to_query_string(),
        "key=pk_live%201&teaid=team-9&catid=cat-1&ordid=A%26B%3D1&ordts=2026-11-22T12%3A00%3A00.000Z\
         &sesid=s%201&cusid=g&procods=7913494&pris=1.00&quas=2&procods=6815686&pris=12.50&quas=1"
    );
    let url = q.to_url(config().base_url).unwrap();
    assert!(
        url.starts_with("https://integration.citrusad.com/v1/resource/third-o?key="),
        "{url}"
    );
}

#[test]
fn a_query_reads_back_to_the_same_parameters() {
    let c = checkout(json!([item("a b/ü", 3, "0.99"), item("x", 1, "0")]));
    let q = ThirdOQuery::from_checkout(&c, &config(), NOW).unwrap();
    assert_eq!(ThirdOQuery::parse(&q.to_query_string()).unwrap(), q);
}

#[test]
fn optional_team_and_order_date_from_the_checkout() {
    let mut c = checkout(json!([item("g", 1, "1")]));
    c.order_date = Some("2021-12-02T15:00:00+10:00".into());
    let cfg = FrontendConfig {
        team_id: None,
        ..config()
    };
    let q = ThirdOQuery::from_checkout(&c, &cfg, NOW).unwrap();
    assert_eq!(q.teaid, None);
    assert_eq!(q.ordts, "2021-12-02T15:00:00+10:00");
    assert!(!q.to_query_string().contains("teaid"));
}

#[test]
fn option_errors_name_the_option() {
    let c = checkout(json!([item("g", 1, "1")]));
    let err = |cfg: FrontendConfig<'_>| {
        ThirdOQuery::from_checkout(&c, &cfg, NOW)
            .unwrap_err()
            .field_path()
    };
    assert_eq!(
        err(FrontendConfig {
            publishable_key: "",
            ..config()
        }),
        "citrus.publishableKey"
    );
    assert_eq!(
        err(FrontendConfig {
            catalog_id: " ",
            ..config()
        }),
        "citrus.catalogId"
    );
    assert_eq!(
        err(FrontendConfig {
            team_id: Some(""),
            ..config()
        }),
        "citrus.teamId"
    );
    let q = ThirdOQuery::from_checkout(&c, &config(), NOW).unwrap();
    for bad in [
        "",
        "ftp://x",
        "https://",
        "integration.citrusad.com",
        "https://a b",
        "https://x?y",
    ] {
        assert_eq!(
            q.to_url(bad).unwrap_err().field_path(),
            "citrus.baseUrl",
            "{bad}"
        );
    }
    assert_eq!(
        ThirdOQuery::from_checkout(&c, &config(), "yesterday")
            .unwrap_err()
            .field_path(),
        "orderDate"
    );
}

#[test]
fn no_items_is_an_error_not_an_empty_report() {
    let c = checkout(json!([]));
    let e = ThirdOQuery::from_checkout(&c, &config(), NOW).unwrap_err();
    assert_eq!(
        (e.field_path().as_str(), e.reason),
        ("items", Reason::NoItems)
    );
}

#[test]
fn a_url_too_long_is_refused_not_truncated() {
    let items: Vec<_> = (0..400)
        .map(|i| item(&format!("{:0>40}", i), 1, "1"))
        .collect();
    let c = checkout(json!(items));
    let q = ThirdOQuery::from_checkout(&c, &config(), NOW).unwrap();
    assert!(q.to_query_string().len() > MAX_URL_BYTES);
    let e = q.to_url(config().base_url).unwrap_err();
    assert_eq!(
        (e.field_path().as_str(), e.reason),
        ("items", Reason::QueryTooLong)
    );
}

#[test]
fn the_strict_parser_refuses_broken_queries() {
    let ok =
        "key=k&catid=c&ordid=1&ordts=2021-12-02T15%3A00%3A00Z&sesid=s&procods=a&pris=1.00&quas=1";
    assert!(ThirdOQuery::parse(ok).is_ok());
    let refused = |q: &str| {
        let e = ThirdOQuery::parse(q).unwrap_err();
        (e.field_path(), e.reason)
    };
    assert_eq!(
        refused(&ok.replace("&quas=1", "")),
        ("quas".into(), Reason::LengthMismatch)
    );
    assert_eq!(
        refused(&format!("{ok}&pris=2.00")),
        ("pris".into(), Reason::LengthMismatch)
    );
    assert_eq!(
        refused(&ok.replace("key=k&", "")),
        ("key".into(), Reason::Missing)
    );
    assert_eq!(
        refused(&format!("{ok}&key=again")),
        ("key".into(), Reason::InvalidQuery)
    );
    assert_eq!(
        refused(&ok.replace("quas=1", "quas=0")),
        ("quas".into(), Reason::NotPositive)
    );
    assert_eq!(
        refused(&ok.replace("pris=1.00", "pris=abc")),
        ("pris".into(), Reason::NotANumber)
    );
    assert_eq!(
        refused(&ok.replace("2021-12-02T15%3A00%3A00Z", "today")),
        ("ordts".into(), Reason::InvalidTimestamp)
    );
    assert_eq!(
        refused(&format!("{ok}&extra=1")),
        ("extra".into(), Reason::UnknownField)
    );
    assert_eq!(
        refused(&ok.replace("sesid=s", "sesid=%FF")),
        ("sesid".into(), Reason::InvalidQuery)
    );
    assert_eq!(
        refused(&ok.replace("&procods=a&pris=1.00&quas=1", "")),
        ("procods".into(), Reason::Missing)
    );
}
