//! The JSON that leaves the relay, and parsing checkouts from JSON text.
//!
//! Money goes out as a JSON number with two decimals (`150.00`), written verbatim through
//! `serde_json::value::RawValue` so no binary float ever holds it.

pub mod checkout_json;
pub mod cibler;
pub mod citrus;
pub mod serde_input;

pub use checkout_json::{
    checkout_from_json, checkout_to_json, input_from_json, InvalidJson, JsonCheckoutError,
    MAX_JSON_DEPTH,
};
pub use cibler::{CiblerConfig, CiblerOrder};
pub use citrus::{CitrusConfig, CitrusOrder, CitrusOrders};
pub use serde_input::input_from_serde_json;

use serde::{Serialize, Serializer};

use crate::money::Money;

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.to_decimal_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}
