//! `cookie::cibler_id` on arbitrary `Cookie` headers: never a panic, and a value it returns is
//! non-empty, trimmed and free of control characters (it goes into CibleR's JSON body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordersync_core::cookie::cibler_id;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    if let Some(value) = cibler_id(&header) {
        assert!(!value.is_empty());
        assert_eq!(value.trim(), value);
        assert!(!value.chars().any(char::is_control), "{value:?}");
    }
});
