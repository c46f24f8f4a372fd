//! `ordersync`: the browser half. A shop's order-confirmation page calls `reportOrder` with the
//! checkout; the module reads the `cibler_id` cookie (with marketing consent), hands the checkout
//! to the shop's relay (`POST {relayUrl}/v1/checkouts`), and builds the CitrusAd front-end
//! third-o request, sent per the `citrus.frontend` policy.
//!
//! One concern per file:
//! - [`api`]: the exported functions (`reportOrder`, `thirdOUrl`, `readCiblerId`,
//!   `flushQueue`, and the start function `init()` runs) and their TypeScript types;
//! - [`options`]: what the page passes, read from own properties only, checked field by field;
//! - [`snapshot`]: a page value copied into plain data, then read by serde-wasm-bindgen into the
//!   core's `Input`;
//! - [`token`]: the claims of a signed checkout (compact JWS);
//! - [`cookie`], [`storage`]: `document.cookie` and `localStorage`;
//! - [`transport`]: `fetch` with a timeout, `navigator.sendBeacon`, and what an answer means;
//! - [`handoff`]: one `reportOrder` call; [`queue`]: retrying queued hand-offs, on `online`,
//!   and sending in-flight ones on `pagehide`;
//! - [`report`]: the report and flush result the page gets (serde structs);
//! - [`page`]: the few page globals web-sys binds without `catch`, bound here with it.
//!
//! Never throws, never rejects: every call on a page object goes through a binding that
//! catches (web-sys and js-sys `catch` bindings, or [`page`]'s), every value the page hands in
//! is checked before use, nothing here panics (no `unwrap`, no indexing; `panic = "abort"`
//! would end the module), and every promise resolves to a report or a result.

pub mod api;
pub mod cookie;
pub mod handoff;
pub mod options;
pub mod page;
pub mod queue;
pub mod report;
pub mod snapshot;
pub mod storage;
pub mod token;
pub mod transport;

pub use api::{flush_queue, read_cibler_id, report_order, start, third_o_url};

/// The relay's hand-off endpoint, below `relayUrl`.
pub const CHECKOUTS_PATH: &str = "/v1/checkouts";
pub use ordersync_core::third_o::THIRD_O_PATH;

// dlmalloc, Rust's default on wasm32, is a few kilobytes of the module; this free-list allocator
// is under 1 KB and ample for a few short calls per page (measured: 2.5 KB brotli less).
// SAFETY: the module runs on the page's one thread (it is not built with atomics), so nothing
// allocates concurrently.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
