//! The operator's commands against a real relay's outbox: a dead letter is listed with the
//! vendor's answer, retried once the setting is fixed, and delivered; `verify` shows what
//! CitrusAd holds beside the relay's own status.

mod common;

use common::*;

#[test]
fn a_dead_letter_is_listed_retried_after_the_fix_and_delivered() {
    let sandbox = Sandbox::start(&[]);
    let broken = RelayOptions {
        env: vec![(
            "ORDERSYNC_CITRUS_API_KEY".into(),
            "revoked-citrus-key-0000".into(),
        )],
        ..RelayOptions::default()
    };
    let mut relay = Relay::start(&sandbox, broken);
    assert_eq!(relay.hand_off(&checkout(985001), None).status, 202);
    relay.wait_state("985001", "citrusad", "dead");
    relay.wait_state("985001", "cibler", "delivered");

    let (ok, listed, err) = relay.operator(&["dead-letters", "list"], &[]);
    assert!(ok, "{err}");
    assert!(listed.contains("985001"), "{listed}");
    assert!(listed.contains("citrusad"), "{listed}");
    assert!(
        listed.contains("401"),
        "the vendor's answer is kept: {listed}"
    );
    assert!(!listed.contains("revoked-citrus-key-0000"));

    // The operator fixes the key, restarts the relay, and retries the dead letter.
    relay.restart_with(RelayOptions::default());
    let (ok, out, err) = relay.operator(&["dead-letters", "retry", "985001"], &[]);
    assert!(ok, "{out}{err}");
    relay.wait_state("985001", "citrusad", "delivered");
    assert_eq!(sandbox.citrus_delivered(), vec!["985001".to_owned()]);
    // CibleR, already delivered, is not sent again.
    assert_eq!(sandbox.cibler_delivered(), vec!["985001".to_owned()]);

    let (ok, listed, err) = relay.operator(&["dead-letters", "list"], &[]);
    assert!(ok, "{err}");
    assert!(!listed.contains("985001"), "{listed}");

    let (ok, verified, err) = relay.operator(
        &["verify", "985001"],
        &[
            ("ORDERSYNC_CITRUS_BASE_URL", sandbox.url.as_str()),
            ("ORDERSYNC_CITRUS_API_KEY", CITRUS_KEY),
        ],
    );
    assert!(ok, "{verified}{err}");
    assert!(
        verified.contains("3017620422003"),
        "CitrusAd's copy: {verified}"
    );
    assert!(
        verified.contains("delivered"),
        "the relay's status: {verified}"
    );
    assert!(!verified.contains(CITRUS_KEY) && !err.contains(CITRUS_KEY));
    let asked = sandbox.requests_to("/v1/orders/985001");
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0]["headers"]["authorization"],
        format!("Basic {CITRUS_KEY}")
    );
}

/// An order that cannot be built for a vendor is never sent: here its stored checkout was
/// damaged by hand while it waited out an outage. It goes dead with the reason and no vendor
/// status or answer (it never reached a vendor), and the vendors never see it.
#[test]
fn an_order_that_cannot_be_sent_goes_dead_with_its_reason_and_no_vendor_answer() {
    let sandbox = Sandbox::start(&[]);
    sandbox.set_faults(serde_json::json!({"outage": true}));
    let mut relay = Relay::start(&sandbox, RelayOptions::default());
    assert_eq!(relay.hand_off(&checkout(985101), None).status, 202);
    relay.wait_state("985101", "cibler", "retrying");
    relay.wait_state("985101", "citrusad", "retrying");
    assert!(relay.terminate(), "a graceful stop");

    let connection = rusqlite::Connection::open(relay.database_path()).expect("the outbox");
    let damaged = connection
        .execute(
            "UPDATE ordersync_checkouts SET checkout_json = '{\"orderId\": \"985101\"' WHERE order_id = '985101'",
            [],
        )
        .expect("damage the stored checkout");
    assert_eq!(damaged, 1);
    drop(connection);

    sandbox.set_faults(serde_json::json!({}));
    sandbox.clear();
    relay.restart();
    relay.wait_state("985101", "cibler", "dead");
    relay.wait_state("985101", "citrusad", "dead");
    let status = relay.status("985101");
    for destination in ["cibler", "citrusad"] {
        let entry = destination_entry(&status.body, destination).expect("an entry");
        let error = entry["lastError"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("stored checkout unreadable"),
            "{destination}: {entry}"
        );
        assert!(
            !error.contains("HTTP"),
            "never sent: no HTTP status: {entry}"
        );
    }
    let to_vendors = sandbox.requests();
    assert!(
        !to_vendors.iter().any(|r| r.to_string().contains("985101")),
        "sent to a vendor: {to_vendors:?}"
    );

    let (ok, listed, err) = relay.operator(&["dead-letters", "list"], &[]);
    assert!(ok, "{err}");
    assert!(listed.contains("stored checkout unreadable"), "{listed}");
}
