//! HTTP clients for the two vendors: the delivery's *send* stage. A client sends the request
//! it is given and hands back the vendor's answer as received ([`Answer`]); what the answer
//! means for the order is the *classify* stage's business ([`crate::delivery::classify`]).

pub mod cibler;
pub mod citrus;

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

pub use cibler::CiblerClient;
pub use citrus::CitrusClient;

/// A vendor's HTTP answer, unclassified.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// Reads a response through. The status decides; an unreadable answer body only loses
    /// the detail.
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// Builds the shared HTTP client: rustls, no redirects, a timeout per request.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ordersync-relay/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// rustls needs one process-wide crypto provider; ring is the one compiled in.
pub fn install_crypto_provider() {
    // Err means one is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
