//! Middleware: who sent this request ([`crate::client_address`]: the peer, or the address a
//! trusted proxy reported), recorded once on the request for the rate limit and the logs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::client_address::{ClientAddressPolicy, UNKNOWN_CLIENT};

/// The client's address, as the rate limit keys on it and the logs record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub IpAddr);

pub async fn identify(
    State(policy): State<Arc<ClientAddressPolicy>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let address = peer.map_or(UNKNOWN_CLIENT, |peer| {
        policy.client_address(peer, request.headers())
    });
    request.extensions_mut().insert(Client(address));
    next.run(request).await
}
