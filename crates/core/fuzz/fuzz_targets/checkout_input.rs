//! `Checkout::from_input` on structure-aware inputs: arbitrary JSON-like trees, and
//! checkout-shaped objects whose values the fuzzer picks, so validation is reached in depth.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use ordersync_core::Checkout;
use ordersync_core_fuzz::{check_accepted, check_error, checkout_shaped, Tree};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let input = match u.arbitrary::<bool>() {
        Ok(true) => match checkout_shaped(&mut u) {
            Ok(input) => input,
            Err(_) => return,
        },
        _ => match Tree::arbitrary(&mut u) {
            Ok(tree) => tree.to_input(0),
            Err(_) => return,
        },
    };
    match Checkout::from_input(&input) {
        Ok(checkout) => check_accepted(&checkout),
        Err(error) => check_error(&error),
    }
});
