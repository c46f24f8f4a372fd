//! CibleR: `POST {base}/api/campaignBehaviors/order/{customerId}`, one order per request, the
//! API key inside the body (`orderContext.key`).

use ordersync_core::wire::CiblerOrder;
use ordersync_core::Checkout;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::{classify, classify_error, Attempt};
use crate::config::CiblerSettings;

#[derive(Debug, Clone)]
pub struct CiblerClient {
    http: reqwest::Client,
    url: String,
    settings: CiblerSettings,
}

impl CiblerClient {
    pub fn new(http: reqwest::Client, settings: CiblerSettings) -> Self {
        let url = format!(
            "{}{}",
            settings.base_url,
            CiblerOrder::path(&settings.customer_id)
        );
        Self {
            http,
            url,
            settings,
        }
    }

    /// Sends one order. A checkout CibleR cannot take (order id not a Long) is `NotSent`;
    /// acceptance refuses those, so it only happens to rows stored by an older configuration.
    pub async fn send(&self, checkout: &Checkout, cookie_id: Option<&str>) -> Attempt {
        let order = match CiblerOrder::new(checkout, &self.settings.order, cookie_id) {
            Ok(order) => order,
            Err(e) => {
                return Attempt::NotSent {
                    reason: format!("not sent: {e}"),
                }
            }
        };
        let body = serde_json::to_vec(&order).expect("the CibleR body always serializes");
        let result = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body)
            .send()
            .await;
        match result {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                // The status decides; an unreadable answer body only loses the detail.
                let text = response.text().await.unwrap_or_default();
                classify(status, &headers, text)
            }
            Err(e) => classify_error(&e),
        }
    }
}
