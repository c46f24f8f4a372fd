//! `ordersync-relay`: the server a shop runs beside its site. It verifies checkouts from the
//! browser module, stores them durably in an outbox, and delivers each to CibleR and CitrusAd
//! with retries. It also carries a sandbox that plays both vendors for tests and demos.

pub mod sandbox;
