//! CitrusAd: `POST {base}/v1/orders` with up to 100 orders, `GET {base}/v1/orders/{id}`,
//! `Authorization: Basic <key>` (raw by default, or `base64(key:)`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ordersync_core::wire::{CitrusOrder, CitrusOrders};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};

use super::{classify, classify_error, Attempt};
use crate::config::{CitrusAuthScheme, CitrusSettings};

/// The `Authorization` header value for `key`.
pub fn authorization_value(key: &str, scheme: CitrusAuthScheme) -> String {
    match scheme {
        CitrusAuthScheme::Raw => format!("Basic {key}"),
        CitrusAuthScheme::Base64 => format!("Basic {}", STANDARD.encode(format!("{key}:"))),
    }
}

/// A batch's answer: the request-level outcome and, on 2xx, the `orders` array CitrusAd
/// returned (same order as sent), when it was readable.
#[derive(Debug, Clone)]
pub struct BatchAttempt {
    pub attempt: Attempt,
    pub answered_orders: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone)]
pub struct CitrusClient {
    http: reqwest::Client,
    settings: CitrusSettings,
    authorization: HeaderValue,
}

impl CitrusClient {
    pub fn new(http: reqwest::Client, settings: CitrusSettings) -> Result<Self, InvalidKey> {
        let mut authorization = HeaderValue::from_str(&authorization_value(
            &settings.api_key,
            settings.auth_scheme,
        ))
        .map_err(|_| InvalidKey)?;
        // Keeps the header out of reqwest's and hyper's debug output.
        authorization.set_sensitive(true);
        Ok(Self {
            http,
            settings,
            authorization,
        })
    }

    pub fn settings(&self) -> &CitrusSettings {
        &self.settings
    }

    /// `POST /v1/orders` with these orders (at most 100; the caller batches).
    pub async fn send_batch(&self, orders: Vec<CitrusOrder<'_>>) -> BatchAttempt {
        let body =
            serde_json::to_vec(&CitrusOrders { orders }).expect("CitrusAd orders always serialize");
        let result = self
            .http
            .post(format!("{}/v1/orders", self.settings.base_url))
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, self.authorization.clone())
            .body(body)
            .send()
            .await;
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                return BatchAttempt {
                    attempt: classify_error(&e),
                    answered_orders: None,
                }
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let answered_orders = status
            .is_success()
            .then(|| answered_orders(&text))
            .flatten();
        BatchAttempt {
            attempt: classify(status, &headers, text),
            answered_orders,
        }
    }

    /// `GET /v1/orders/{id}`: the status and body CitrusAd answers.
    pub async fn get_order(&self, order_id: &str) -> Result<(u16, String), reqwest::Error> {
        let segment: String =
            percent_encoding::utf8_percent_encode(order_id, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        let response = self
            .http
            .get(format!("{}/v1/orders/{segment}", self.settings.base_url))
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }
}

/// The `orders` array of a 2xx answer, if the answer has one.
fn answered_orders(text: &str) -> Option<Vec<serde_json::Value>> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    match value.get("orders")? {
        serde_json::Value::Array(orders) => Some(orders.clone()),
        _ => None,
    }
}

/// The CitrusAd API key cannot go into an HTTP header (it has control characters).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("--citrus-api-key / ORDERSYNC_CITRUS_API_KEY: cannot be sent in an HTTP header")]
pub struct InvalidKey;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_forms() {
        assert_eq!(
            authorization_value("abc", CitrusAuthScheme::Raw),
            "Basic abc"
        );
        // base64("abc:") = "YWJjOg=="
        assert_eq!(
            authorization_value("abc", CitrusAuthScheme::Base64),
            "Basic YWJjOg=="
        );
    }

    #[test]
    fn answered_orders_are_read_when_present() {
        assert_eq!(
            answered_orders(r#"{"orders":[{"id":"a"},{"id":"b"}]}"#).map(|o| o.len()),
            Some(2)
        );
        assert_eq!(answered_orders("{}"), None);
        assert_eq!(answered_orders("not json"), None);
    }
}
