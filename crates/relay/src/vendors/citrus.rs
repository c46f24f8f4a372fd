//! CitrusAd: `POST {base}/v1/orders` with up to 100 orders, `GET {base}/v1/orders/{id}`,
//! `Authorization: Basic <key>` (raw by default, or `base64(key:)`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ordersync_core::wire::{CitrusOrder, CitrusOrders};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};

use super::Answer;
use crate::config::{CitrusAuthScheme, CitrusSettings};

/// The `Authorization` header value for `key`.
pub fn authorization_value(key: &str, scheme: CitrusAuthScheme) -> String {
    match scheme {
        CitrusAuthScheme::Raw => format!("Basic {key}"),
        CitrusAuthScheme::Base64 => format!("Basic {}", STANDARD.encode(format!("{key}:"))),
    }
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
    pub async fn send_batch(&self, orders: Vec<CitrusOrder<'_>>) -> Result<Answer, reqwest::Error> {
        let body =
            serde_json::to_vec(&CitrusOrders { orders }).expect("CitrusAd orders always serialize");
        let response = self
            .http
            .post(format!("{}/v1/orders", self.settings.base_url))
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, self.authorization.clone())
            .body(body)
            .send()
            .await?;
        Ok(Answer::read(response).await)
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
}
