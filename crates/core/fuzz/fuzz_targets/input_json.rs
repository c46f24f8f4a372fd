//! The hand-written JSON reader (`input_json::parse_json`, which the browser module and the
//! relay read with) against the independent one built on serde_json
//! (`wire::input_from_serde_json`) on arbitrary text: never a panic, and the
//! same `Input` from both or a refusal from both. The proptest in `tests/input_json.rs`
//! generates JSON-shaped text; this explores whatever libFuzzer finds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordersync_core::input_json::parse_json;
use ordersync_core::wire::input_from_serde_json as input_from_json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse_json(text).ok();
    let theirs = input_from_json(text).ok();
    assert_eq!(ours, theirs, "the two JSON readers disagree on {text:?}");
});
