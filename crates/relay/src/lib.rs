//! `ordersync-relay`: the server a shop runs beside its site. It verifies checkouts from the
//! browser module, stores them durably in an outbox, and delivers each to CibleR and CitrusAd
//! with retries. (The vendors' stand-in for tests and demos is its own crate and binary,
//! `ordersync-sandbox`, kept out of this one.)
//!
//! Data flows one way: `server` (hand-off) -> `acceptance` (signature, validation, plan) ->
//! `outbox` (durable) -> `delivery` (workers, retries) -> `vendors` (HTTP clients).

pub mod acceptance;
pub mod app;
pub mod client_address;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod import;
pub mod metrics;
pub mod outbox;
pub mod redact;
pub mod retention;
pub mod server;
pub mod signing;
pub mod vendors;
