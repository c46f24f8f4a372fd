//! `ordersync-core`: the checkout model, validation, money, and the exact wire formats ordersync
//! speaks (CibleR order body, CitrusAd `orders[]` entry, CitrusAd front-end third-o query).
//!
//! Pure: no I/O, no async, no clock. Builds for native and `wasm32`. The browser module uses it
//! with the `serde` feature only; the relay uses all of it.

pub mod checkout;
pub mod cookie;
pub mod error;
pub mod input;
pub mod input_json;
#[cfg(feature = "serde")]
pub mod input_serde;
pub mod money;
pub mod third_o;
pub mod timestamp;
#[cfg(feature = "json")]
pub mod wire;

pub use checkout::{Checkout, FrontendCheckout, FrontendItem, LineItem};
pub use error::{FieldPath, Reason, ValidationError};
pub use input::Input;
pub use money::Money;
