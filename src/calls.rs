//! What JavaScript asks of Rust, on text only (the size budget: no JavaScript value crosses).
//!
//! A request is a JSON array `[op, ...args]` (`osCall` in `src/orchestrate.js` writes it with
//! `JSON.stringify`), read by the core's hand-written reader; the answer is one string, its
//! parts separated by tabs (no part holds a tab: field names and messages are fixed texts,
//! order ids pass the core's text check, which refuses control characters, and URLs are
//! percent-encoded):
//! - `["k", cookieHeader]`: the `cibler_id` value, or `""` when there is none;
//! - `["o", source, isToken, now, baseUrl, publishableKey, teamId, catalogId]`: the checkout
//!   (`source`: a token's payload text, `null` when JavaScript could not decode it, or the
//!   snapshot of a plain checkout) validated in the fields the browser reads
//!   ([`FrontendCheckout`]), then its third-o URL when `baseUrl`, `publishableKey` and
//!   `catalogId` are strings (JavaScript has checked the `citrus` options' types). Answers
//!   `!\tfield\tmessage` (refused), or `=\torderId`, followed by `\t=\turl` or
//!   `\t!\tfield\tmessage` (the URL could not be built) when the URL was asked for.
//!
//! Every message is a fixed text (no `format!`: `core::fmt` would cost the bundle kilobytes).

use ordersync_core::input_json::parse_json;
use ordersync_core::third_o::{FrontendConfig, ThirdOQuery};
use ordersync_core::{FrontendCheckout, Input};

/// Answers one request (see the module docs); `""` for anything unknown.
pub fn call(request: &str) -> String {
    let Ok(Input::Array(args)) = parse_json(request) else {
        return String::new();
    };
    let text = |index: usize| match args.get(index) {
        Some(Input::String(text)) => Some(text.as_str()),
        _ => None,
    };
    match text(0) {
        Some("k") => text(1)
            .and_then(ordersync_core::cookie::cibler_id)
            .unwrap_or_default(),
        Some("o") => {
            let source = args.get(1).unwrap_or(&Input::Null);
            let token = matches!(args.get(2), Some(Input::Bool(true)));
            let citrus = match (text(4), text(5), text(7)) {
                (Some(base_url), Some(publishable_key), Some(catalog_id)) => Some(FrontendConfig {
                    base_url,
                    publishable_key,
                    team_id: text(6),
                    catalog_id,
                }),
                _ => None,
            };
            order(source, token, text(3).unwrap_or_default(), citrus)
        }
        _ => String::new(),
    }
}

fn order(source: &Input, token: bool, now: &str, citrus: Option<FrontendConfig<'_>>) -> String {
    let source_field = if token { "token" } else { "checkout" };
    let parsed;
    let input = if token {
        match source {
            Input::String(payload) => match parse_json(payload) {
                Ok(claims) => {
                    parsed = claims;
                    &parsed
                }
                Err(_) => return refused(source_field, BAD_TOKEN),
            },
            _ => return refused(source_field, BAD_TOKEN),
        }
    } else {
        source
    };
    let checkout = match FrontendCheckout::from_input(input) {
        Ok(checkout) => checkout,
        Err(error) => {
            let field = error.field_path();
            // The checkout itself (not one of its fields) is the wrong type.
            let field = if field.is_empty() {
                source_field
            } else {
                &field
            };
            return refused(field, error.message());
        }
    };
    let mut out = String::from("=\t");
    out.push_str(&checkout.order_id);
    if let Some(config) = citrus {
        match ThirdOQuery::frontend_url(&checkout, &config, now) {
            Ok(url) => {
                out.push_str("\t=\t");
                out.push_str(&url);
            }
            Err(error) => {
                out.push('\t');
                push_refusal(&mut out, &error.field_path(), error.message());
            }
        }
    }
    out
}

const BAD_TOKEN: &str = "must be a compact JWS whose payload is JSON";

fn refused(field: &str, message: &str) -> String {
    let mut out = String::new();
    push_refusal(&mut out, field, message);
    out
}

fn push_refusal(out: &mut String, field: &str, message: &str) {
    for part in ["!\t", field, "\t", message] {
        out.push_str(part);
    }
}

#[cfg(test)]
mod tests {
    use super::call;

    const CHECKOUT: &str = r#"{"orderId":42,"customerGuid":"g","sessionId":"s","items":[{"gtin":"A&B","quantity":"2","regularUnitPrice":1.5}]}"#;

    fn order(source: &str, token: bool, citrus: &str) -> String {
        call(
            &[
                "[\"o\",",
                source,
                ",",
                &token.to_string(),
                ",\"2026-11-22T10:00:00.000Z\",",
                citrus,
                "]",
            ]
            .concat(),
        )
    }

    const CITRUS: &str = r#""https://c.example/","pk",null,"cat""#;

    #[test]
    fn reads_the_cookie() {
        assert_eq!(
            call(r#"["k","a=1; cibler_id=\"CIB1.2.3\"; b=2"]"#),
            "CIB1.2.3"
        );
        assert_eq!(call(r#"["k","a=1"]"#), "");
        assert_eq!(call(r#"["k",null]"#), "");
    }

    #[test]
    fn validates_a_plain_checkout_and_builds_its_url() {
        assert_eq!(order(CHECKOUT, false, "null,null,null,null"), "=\t42");
        assert_eq!(
            order(CHECKOUT, false, CITRUS),
            "=\t42\t=\thttps://c.example/v1/resource/third-o?key=pk&catid=cat&ordid=42\
             &ordts=2026-11-22T10%3A00%3A00.000Z&sesid=s&cusid=g&procods=A%26B&pris=1.50&quas=2"
        );
        assert_eq!(
            order(CHECKOUT, false, r#""ftp://c","pk",null,"cat""#),
            "=\t42\t!\tcitrus.baseUrl\tmust be an absolute http(s) URL"
        );
    }

    #[test]
    fn reads_a_token_payload() {
        let payload = ["\"", &CHECKOUT.replace('"', "\\\""), "\""].concat();
        assert_eq!(order(&payload, true, "null,null,null,null"), "=\t42");
        assert_eq!(
            order("\"{not json\"", true, CITRUS),
            "!\ttoken\tmust be a compact JWS whose payload is JSON"
        );
        assert_eq!(
            order("null", true, CITRUS),
            "!\ttoken\tmust be a compact JWS whose payload is JSON"
        );
    }

    #[test]
    fn names_the_refused_field() {
        assert_eq!(
            order("false", false, CITRUS),
            "!\tcheckout\tmust be an object"
        );
        assert_eq!(
            order(&CHECKOUT.replace("\"2\"", "0"), false, CITRUS),
            "!\titems[0].quantity\tmust be greater than zero"
        );
    }

    #[test]
    fn answers_nothing_to_garbage() {
        for bad in ["", "[", "{}", "[1]", r#"["x"]"#] {
            assert_eq!(call(bad), "");
        }
    }
}
