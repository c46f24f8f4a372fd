//! A per-client rate limit (GCRA via `governor`), keyed by the client's IP address: the peer's,
//! or behind a trusted reverse proxy the address it reported (see [`super::client`]).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::client::Client;
use super::error::ApiError;
use crate::client_address::UNKNOWN_CLIENT;
use crate::metrics::Metrics;

/// Shared as one `Arc<ClientRateLimit>`: the middleware's state is cloned for every request.
pub struct ClientRateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    metrics: Arc<Metrics>,
}

impl ClientRateLimit {
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32, metrics: Arc<Metrics>) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            metrics,
        }
    }

    /// `Err(seconds to wait)` when `ip` is over its quota.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets clients that are back under their quota, so the table does not grow forever.
    pub fn spawn_pruning(self: &Arc<Self>) {
        let limit = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limit.limiter.retain_recent();
                limit.limiter.shrink_to_fit();
            }
        });
    }
}

/// Middleware: 429 with `Retry-After` when the client is over its quota.
pub async fn limit(
    State(limit): State<Arc<ClientRateLimit>>,
    request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<Client>()
        .map_or(UNKNOWN_CLIENT, |client| client.0);
    match limit.check(client) {
        Ok(()) => next.run(request).await,
        Err(seconds) => {
            limit.metrics.rejected("rate_limited");
            tracing::debug!(client = %client, "client over its rate limit");
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests from this client; retry later",
            )
            .with_retry_after(seconds.max(1))
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_burst_is_told_when_to_come_back() {
        let nz = |n| NonZeroU32::new(n).unwrap();
        let limit = ClientRateLimit::new(nz(60), nz(3), Arc::new(Metrics::new()));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.check(a).is_ok());
        }
        let wait = limit.check(a).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        // Another client is not affected.
        assert!(limit.check(b).is_ok());
    }
}
