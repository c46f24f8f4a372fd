//! `checkout_from_json` on arbitrary bytes (the relay's path for an unsigned hand-off and a
//! token's payload): never a panic; a refusal names a field; an accepted checkout has the
//! properties of `check_accepted`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordersync_core::wire::{checkout_from_json, JsonCheckoutError};
use ordersync_core_fuzz::{check_accepted, check_error};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match checkout_from_json(text) {
        Ok(checkout) => check_accepted(&checkout),
        Err(JsonCheckoutError::Invalid(error)) => check_error(&error),
        Err(_) => {}
    }
});
