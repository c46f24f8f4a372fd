//! CibleR's order tracking API: `POST /api/campaignBehaviors/order/{customerId}`.
//!
//! The seed's property table, row by row: every mandatory field present with its documented
//! type (`String`, `Integer`, `Long`, `Double`; `giftCode` and `discountAmount` may be null
//! but must be there), `cookieId` inside `orderContext` as both body examples show it.
//!
//! CibleR documents no response body. The sandbox answers `200 {"status": "OK", "orderId":
//! <orderId>}` on success, and `400 {"status": 400, "error": "Bad Request", "message",
//! "violations": [...]}` for a request that breaks the contract (`401` with the same shape
//! for a wrong key, when the sandbox was told which key to expect).

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::checks::{check_object, Field, Kind, Violations};
use super::content_type_is_json;

const ORDER: &[Field] = &[
    Field::required("orderContext", Kind::Object),
    Field::required("orderInformation", Kind::Object),
];

const ORDER_CONTEXT: &[Field] = &[
    Field::required("key", Kind::String),
    Field::required("email", Kind::String),
    Field::required("country", Kind::String),
    Field::required("environnement", Kind::String),
    Field::required("siteId", Kind::Integer),
    Field::required("customerGuid", Kind::String),
    Field::required("cookieId", Kind::String),
];

const ORDER_INFORMATION: &[Field] = &[
    Field::required("orderId", Kind::Long),
    Field::required("totalSpent", Kind::Number),
    Field::required("taxes", Kind::Number),
    Field::required("shippingCost", Kind::Number),
    Field::nullable("giftCode", Kind::String),
    Field::nullable("discountAmount", Kind::Number),
];

/// What the sandbox was told to expect of CibleR's callers.
#[derive(Debug, Clone, Default)]
pub struct CiblerExpectations {
    pub api_key: Option<String>,
    pub customer_id: Option<String>,
}

/// The verdict on one CibleR request: status, body and the violations behind it.
#[derive(Debug)]
pub struct Verdict {
    pub status: StatusCode,
    pub body: Value,
    pub violations: Violations,
}

/// Checks one order post and decides the answer.
pub fn judge_order(
    expect: &CiblerExpectations,
    customer_id: &str,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Verdict {
    let mut violations = Violations::new();
    if customer_id.is_empty() {
        violations.push("path.customerId", "must not be empty");
    }
    if let Some(expected) = &expect.customer_id {
        if customer_id != expected {
            violations.push(
                "path.customerId",
                "is not the configured CibleR customer id",
            );
        }
    }
    if !content_type_is_json(headers) {
        violations.push("header.content-type", "must be application/json");
    }
    let Some(body) = body else {
        violations.push("body", "must be a JSON object");
        return refused(StatusCode::BAD_REQUEST, violations);
    };
    check_body(body, &mut violations);
    if !violations.is_empty() {
        return refused(StatusCode::BAD_REQUEST, violations);
    }
    if let Some(expected) = &expect.api_key {
        if body["orderContext"]["key"].as_str() != Some(expected.as_str()) {
            violations.push("orderContext.key", "is not the configured CibleR API key");
            return refused(StatusCode::UNAUTHORIZED, violations);
        }
    }
    Verdict {
        status: StatusCode::OK,
        body: json!({"status": "OK", "orderId": body["orderInformation"]["orderId"]}),
        violations,
    }
}

/// The body's shape alone, against the seed's property table.
pub fn check_body(body: &Value, violations: &mut Violations) {
    let Some(order) = check_object(body, "", ORDER, violations) else {
        return;
    };
    if let Some(context) = order.get("orderContext").filter(|v| v.is_object()) {
        check_object(context, "orderContext", ORDER_CONTEXT, violations);
    }
    if let Some(information) = order.get("orderInformation").filter(|v| v.is_object()) {
        check_object(
            information,
            "orderInformation",
            ORDER_INFORMATION,
            violations,
        );
    }
}

fn refused(status: StatusCode, violations: Violations) -> Verdict {
    Verdict {
        status,
        body: error_body(
            status,
            "The order does not follow the CibleR API",
            &violations,
        ),
        violations,
    }
}

/// CibleR's error shape as the sandbox writes it (CibleR documents none).
pub fn error_body(status: StatusCode, message: &str, violations: &Violations) -> Value {
    json!({
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
        "violations": violations.as_slice(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::CONTENT_TYPE;

    /// The seed's two body examples, exactly as printed, from the one copy the workspace
    /// keeps of them (`crates/core/tests/seed_examples/`).
    const DEPOSIT: &str = include_str!("../../core/tests/seed_examples/cibler-deposit-150chf.json");
    const ACTIVATION: &str =
        include_str!("../../core/tests/seed_examples/cibler-bonus-activation-20chf.json");

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        headers
    }

    fn judge(body: &Value) -> Verdict {
        judge_order(
            &CiblerExpectations::default(),
            "42",
            &json_headers(),
            Some(body),
        )
    }

    #[test]
    fn both_seed_examples_are_accepted_as_printed() {
        for text in [DEPOSIT, ACTIVATION] {
            let body: Value = serde_json::from_str(text).unwrap();
            let verdict = judge(&body);
            assert_eq!(verdict.status, StatusCode::OK, "{:?}", verdict.violations);
            assert_eq!(verdict.body["orderId"], body["orderInformation"]["orderId"]);
        }
    }

    #[test]
    fn nullable_fields_may_be_null_but_not_absent() {
        let mut body: Value = serde_json::from_str(DEPOSIT).unwrap();
        body["orderInformation"]["giftCode"] = Value::Null;
        body["orderInformation"]["discountAmount"] = Value::Null;
        assert_eq!(judge(&body).status, StatusCode::OK);
        body["orderInformation"]
            .as_object_mut()
            .unwrap()
            .remove("giftCode");
        let verdict = judge(&body);
        assert_eq!(verdict.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            verdict.violations.as_slice(),
            ["orderInformation.giftCode: is required"]
        );
    }

    #[test]
    fn every_mandatory_field_is_refused_when_missing() {
        let seed: Value = serde_json::from_str(DEPOSIT).unwrap();
        for (section, table) in [
            ("orderContext", ORDER_CONTEXT),
            ("orderInformation", ORDER_INFORMATION),
        ] {
            for field in table {
                let mut body = seed.clone();
                body[section].as_object_mut().unwrap().remove(field.name);
                let verdict = judge(&body);
                assert_eq!(verdict.status, StatusCode::BAD_REQUEST);
                assert_eq!(
                    verdict.violations.as_slice(),
                    [format!("{section}.{}: is required", field.name)]
                );
                assert_eq!(
                    verdict.body["violations"][0],
                    verdict.violations.as_slice()[0]
                );
            }
        }
    }

    #[test]
    fn every_field_is_refused_with_the_wrong_type() {
        let seed: Value = serde_json::from_str(DEPOSIT).unwrap();
        let wrong = [
            ("orderContext", "key", json!(1)),
            ("orderContext", "email", json!(null)),
            ("orderContext", "country", json!(["CH"])),
            ("orderContext", "environnement", json!(true)),
            ("orderContext", "siteId", json!("13")),
            ("orderContext", "siteId", json!(13.5)),
            ("orderContext", "customerGuid", json!({})),
            ("orderContext", "cookieId", json!(null)),
            ("orderInformation", "orderId", json!("234567865")),
            ("orderInformation", "orderId", json!(234567865.0)),
            ("orderInformation", "totalSpent", json!("150.00")),
            ("orderInformation", "taxes", json!(null)),
            ("orderInformation", "shippingCost", json!("0")),
            ("orderInformation", "giftCode", json!(66)),
            ("orderInformation", "discountAmount", json!("30.00")),
        ];
        for (section, name, value) in wrong {
            let mut body = seed.clone();
            body[section][name] = value.clone();
            let verdict = judge(&body);
            assert_eq!(verdict.status, StatusCode::BAD_REQUEST, "{name}={value}");
            assert_eq!(verdict.violations.as_slice().len(), 1, "{name}={value}");
            assert!(
                verdict.violations.as_slice()[0].starts_with(&format!("{section}.{name}: ")),
                "{:?}",
                verdict.violations
            );
        }
    }

    #[test]
    fn cookie_id_at_the_top_level_is_not_where_the_examples_put_it() {
        let mut body: Value = serde_json::from_str(DEPOSIT).unwrap();
        let cookie = body["orderContext"]
            .as_object_mut()
            .unwrap()
            .remove("cookieId")
            .unwrap();
        body["cookieId"] = cookie;
        let verdict = judge(&body);
        assert_eq!(
            verdict.violations.as_slice(),
            [
                "cookieId: is not a field of this request",
                "orderContext.cookieId: is required",
            ]
        );
    }

    #[test]
    fn configured_key_and_customer_are_checked_exactly() {
        let body: Value = serde_json::from_str(DEPOSIT).unwrap();
        let expect = CiblerExpectations {
            api_key: Some("xxxx-xxxx-xxxx-xxxx-xxxx".into()),
            customer_id: Some("42".into()),
        };
        let ok = judge_order(&expect, "42", &json_headers(), Some(&body));
        assert_eq!(ok.status, StatusCode::OK);
        let wrong_customer = judge_order(&expect, "43", &json_headers(), Some(&body));
        assert_eq!(wrong_customer.status, StatusCode::BAD_REQUEST);
        let mut wrong_key = body.clone();
        wrong_key["orderContext"]["key"] = json!("yyyy");
        let verdict = judge_order(&expect, "42", &json_headers(), Some(&wrong_key));
        assert_eq!(verdict.status, StatusCode::UNAUTHORIZED);
        assert!(!verdict.body.to_string().contains("xxxx-xxxx"));
    }

    #[test]
    fn a_body_that_is_not_json_or_not_declared_json_is_refused() {
        let verdict = judge_order(&CiblerExpectations::default(), "42", &json_headers(), None);
        assert_eq!(verdict.status, StatusCode::BAD_REQUEST);
        let body: Value = serde_json::from_str(DEPOSIT).unwrap();
        let verdict = judge_order(
            &CiblerExpectations::default(),
            "42",
            &HeaderMap::new(),
            Some(&body),
        );
        assert_eq!(
            verdict.violations.as_slice(),
            ["header.content-type: must be application/json"]
        );
    }
}
