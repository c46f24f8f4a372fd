//! Retention end to end, on both backends: relay processes with a retention of one second and
//! a prune pass every 200 ms (shortened by configuration; the pruning logic is the one a
//! relay runs with 30 days), the vendor sandbox, a real SQLite file or a real PostgreSQL
//! server.
//!
//! Delivered orders go; waiting (vendor down) and dead ones stay; a repeat hand-off of a pruned
//! order is answered as a known, delivered order and the sandbox journal shows it delivered
//! exactly once; `dead-letters discard` gives a dead letter up, and its order is then pruned
//! and remembered too; orders accepted afterwards are delivered as usual; `/metrics` shows the
//! outbox's size and what was pruned. And a SQLite outbox written before retention is opened,
//! migrated and pruned with nothing waiting lost.

mod common;

use common::postgres::PgCluster;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The order CitrusAd refuses (a dead letter there).
const REFUSED: u64 = 700_003;

fn with_short_retention(options: RelayOptions) -> RelayOptions {
    options
        .flag("--retention", "1s")
        .flag("--order-id-memory", "1h")
        .flag("--prune-interval", "200ms")
}

/// Waits until `GET /v1/checkouts/{order_id}` answers for a pruned order; returns its body.
fn wait_pruned(relay: &Relay, order_id: u64) -> Value {
    wait_for(&format!("order {order_id} to be pruned"), DEADLINE, || {
        let reply = relay.status(&order_id.to_string());
        (reply.status == 200 && reply.body["pruned"].is_object()).then_some(reply.body)
    })
}

fn delivered_times(delivered: &[String], order_id: u64) -> usize {
    delivered
        .iter()
        .filter(|id| id.trim_matches('"') == order_id.to_string())
        .count()
}

/// Each vendor's deliveries of `order_id`, from the sandbox journal.
fn deliveries_of(sandbox: &Sandbox, order_id: u64) -> (usize, usize) {
    (
        delivered_times(&sandbox.cibler_delivered(), order_id),
        delivered_times(&sandbox.citrus_delivered(), order_id),
    )
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

fn retention_end_to_end(database_url: Option<String>) {
    let sandbox = Sandbox::start(&["--refuse-citrus-order", &REFUSED.to_string()]);
    let relay = Relay::start(
        &sandbox,
        with_short_retention(RelayOptions {
            database_url,
            ..RelayOptions::default()
        }),
    );

    // Delivered at both: pruned once a second has passed, and remembered.
    assert_eq!(relay.hand_off(&checkout(700_001), None).status, 202);
    let pruned = wait_pruned(&relay, 700_001);
    assert_eq!(pruned["status"], "delivered", "{pruned:#}");
    assert_eq!(pruned["destinations"], json!([]), "{pruned:#}");
    assert!(pruned["pruned"]["prunedAt"].is_string(), "{pruned:#}");
    assert!(pruned["pruned"]["deliveredAt"].is_string(), "{pruned:#}");

    let (ok, verified, err) = relay.operator(&["verify", "700001"], &[]);
    assert!(ok, "{verified}{err}");
    assert!(verified.contains("pruned at"), "{verified}");

    // Dead at CitrusAd (it refuses the order): stays, however long.
    assert_eq!(relay.hand_off(&checkout(REFUSED), None).status, 202);
    relay.wait_state(&REFUSED.to_string(), "citrusad", "dead");
    relay.wait_state(&REFUSED.to_string(), "cibler", "delivered");

    // Waiting at CibleR (down): stays, however long.
    sandbox.set_faults(json!({"outage": true, "faultsOn": "cibler"}));
    assert_eq!(relay.hand_off(&checkout(700_002), None).status, 202);
    relay.wait_state("700002", "citrusad", "delivered");
    // Several prune passes, each well past the retention for what was delivered.
    std::thread::sleep(Duration::from_millis(2_500));
    let waiting = relay.state("700002", "cibler");
    assert!(
        matches!(waiting.as_deref(), Some("pending" | "retrying")),
        "{waiting:?}"
    );
    assert_eq!(
        relay.state(&REFUSED.to_string(), "citrusad").as_deref(),
        Some("dead")
    );

    // A repeat of the pruned order: known, delivered, not stored, not sent again.
    let repeat = relay.hand_off(&checkout(700_001), None);
    assert_eq!(repeat.status, 200, "{}", repeat.text);
    assert_eq!(repeat.body["status"], "delivered", "{}", repeat.text);
    assert!(repeat.body["pruned"].is_object(), "{}", repeat.text);

    // The operator gives the dead letter up: it is pruned and remembered in turn.
    let (ok, out, err) = relay.operator(&["dead-letters", "discard", &REFUSED.to_string()], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 dead deliveries discarded"), "{out}");
    let discarded = wait_pruned(&relay, REFUSED);
    assert_eq!(
        discarded["status"], "delivered",
        "CibleR had it: {discarded:#}"
    );
    let repeat = relay.hand_off(&checkout(REFUSED), None);
    assert_eq!(repeat.status, 200, "{}", repeat.text);
    let (ok, listed, err) = relay.operator(&["dead-letters", "list"], &[]);
    assert!(ok, "{err}");
    assert!(!listed.contains(&REFUSED.to_string()), "{listed}");

    // CibleR is back: the waiting order is delivered once, then pruned.
    sandbox.set_faults(json!({}));
    wait_pruned(&relay, 700_002);

    // An order accepted after all this is delivered as usual, then pruned.
    assert_eq!(relay.hand_off(&checkout(700_004), None).status, 202);
    wait_pruned(&relay, 700_004);

    // Time for a repeat to have been sent, had it been stored.
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(deliveries_of(&sandbox, 700_001), (1, 1), "700001");
    assert_eq!(deliveries_of(&sandbox, 700_002), (1, 1), "700002");
    assert_eq!(deliveries_of(&sandbox, REFUSED), (1, 0), "{REFUSED}");
    assert_eq!(deliveries_of(&sandbox, 700_004), (1, 1), "700004");
    assert!(
        sandbox.violations().is_empty(),
        "{:?}",
        sandbox.violations()
    );

    let metrics = get(&format!("{}/metrics", relay.url)).text;
    assert!(metric(&metrics, "ordersync_outbox_size_bytes") > 0.0);
    assert_eq!(metric(&metrics, "ordersync_orders_pruned_total"), 4.0);
    assert_eq!(
        metric(&metrics, "ordersync_checkouts_remembered_total"),
        2.0
    );
    for destination in ["cibler", "citrusad"] {
        for state in ["pending", "retrying", "delivered", "dead"] {
            let series =
                format!("ordersync_queue_depth{{destination=\"{destination}\",state=\"{state}\"}}");
            assert_eq!(metric(&metrics, &series), 0.0, "everything pruned");
        }
    }
    relay.assert_no_secret_in_logs();
}

#[test]
fn sqlite_delivered_orders_go_and_waiting_dead_and_repeated_ones_are_handled() {
    retention_end_to_end(None);
}

#[test]
fn postgres_delivered_orders_go_and_waiting_dead_and_repeated_ones_are_handled() {
    let cluster = PgCluster::start();
    let database = cluster.database("retention");
    retention_end_to_end(Some(database.url()));
}

/// A SQLite outbox the relay before retention wrote (orders delivered, and orders waiting for
/// CibleR, down at the time) is opened by a relay with retention: the file is switched to
/// incremental auto-vacuum, the waiting orders are delivered exactly once, and the delivered
/// ones are pruned and remembered.
#[test]
fn a_sqlite_outbox_written_before_retention_is_migrated_with_nothing_waiting_lost() {
    let sandbox = Sandbox::start(&[]);
    let mut relay = Relay::start(&sandbox, RelayOptions::default());
    for order_id in 710_001..=710_003 {
        assert_eq!(relay.hand_off(&checkout(order_id), None).status, 202);
        relay.wait_state(&order_id.to_string(), "cibler", "delivered");
        relay.wait_state(&order_id.to_string(), "citrusad", "delivered");
    }
    sandbox.set_faults(json!({"outage": true, "faultsOn": "cibler"}));
    for order_id in 710_004..=710_006 {
        assert_eq!(relay.hand_off(&checkout(order_id), None).status, 202);
        relay.wait_state(&order_id.to_string(), "citrusad", "delivered");
    }
    assert!(relay.terminate(), "graceful exit");
    let database = relay.database_path();
    as_written_before_retention(&database);

    sandbox.set_faults(json!({}));
    relay.restart_with(with_short_retention(RelayOptions::default()));
    assert_eq!(sqlite_pragma(&database, "auto_vacuum"), 2, "incremental");
    for order_id in 710_001..=710_006 {
        wait_pruned(&relay, order_id);
    }
    let repeat = relay.hand_off(&checkout(710_002), None);
    assert_eq!(repeat.status, 200, "{}", repeat.text);
    assert!(repeat.body["pruned"].is_object(), "{}", repeat.text);
    std::thread::sleep(Duration::from_millis(1_000));
    for order_id in 710_001..=710_006 {
        assert_eq!(deliveries_of(&sandbox, order_id), (1, 1), "{order_id}");
    }
    assert!(relay.logs().contains("rewriting the outbox once (VACUUM)"));
}
