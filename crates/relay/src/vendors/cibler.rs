//! CibleR: `POST {base}/api/campaignBehaviors/order/{customerId}`, one order per request, the
//! API key inside the body (`orderContext.key`).

use ordersync_core::wire::CiblerOrder;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::Answer;
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

    pub fn settings(&self) -> &CiblerSettings {
        &self.settings
    }

    /// Sends one order (built by [`crate::delivery::build`]).
    pub async fn send(&self, order: &CiblerOrder<'_>) -> Result<Answer, reqwest::Error> {
        let body = serde_json::to_vec(order).expect("the CibleR body always serializes");
        let response = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body)
            .send()
            .await?;
        Ok(Answer::read(response).await)
    }
}
