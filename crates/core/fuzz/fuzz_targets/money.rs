//! `Money::parse` on arbitrary text: never a panic; accepted amounts are within bounds and
//! read back equal from their own two-decimal form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordersync_core_fuzz::check_money;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_money(text);
    }
});
