//! The SQLite outbox against real database files in temporary directories.

use std::time::Duration;

use ordersync_relay::outbox::{
    DeliveryState, Destination, InitialState, InsertOutcome, NewCheckout, Outbox, Outcome,
    SqliteOutbox,
};

const LEASE: Duration = Duration::from_secs(30);

async fn open(dir: &tempfile::TempDir) -> SqliteOutbox {
    let url = format!("sqlite://{}", dir.path().join("outbox.db").display());
    SqliteOutbox::open(&url).await.expect("open outbox")
}

fn checkout(order_id: &str, citrus: InitialState) -> NewCheckout {
    NewCheckout {
        order_id: order_id.into(),
        checkout_json: format!(r#"{{"orderId":"{order_id}"}}"#),
        cookie_id: Some("CIB1.1.2".into()),
        destinations: vec![
            (Destination::Cibler, InitialState::Pending),
            (Destination::Citrusad, citrus),
        ],
    }
}

fn state(outbox_status: &ordersync_relay::outbox::OrderStatus, d: Destination) -> DeliveryState {
    outbox_status
        .destinations
        .iter()
        .find(|s| s.destination == d)
        .unwrap()
        .state
}

#[tokio::test]
async fn durability_pragmas_are_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    assert_eq!(outbox.pragma("journal_mode").await.unwrap(), "wal");
    // 2 = FULL: each commit waits for the WAL to reach the disk.
    assert_eq!(outbox.pragma("synchronous").await.unwrap(), "2");
}

#[tokio::test]
async fn an_order_is_stored_once_and_a_repeat_sees_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    assert_eq!(
        outbox
            .insert(checkout("1", InitialState::Pending), 1_000)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    let InsertOutcome::Existing(existing) = outbox
        .insert(checkout("1", InitialState::Pending), 2_000)
        .await
        .unwrap()
    else {
        panic!("a repeat must not be stored again");
    };
    assert_eq!(existing.accepted_at_ms, 1_000);
    assert_eq!(existing.destinations.len(), 2);
    assert_eq!(existing.overall(), DeliveryState::Pending);
}

#[tokio::test]
async fn concurrent_repeats_store_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let outbox = outbox.clone();
        tasks.push(tokio::spawn(async move {
            outbox
                .insert(checkout("dup", InitialState::Pending), 5)
                .await
                .unwrap()
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        if task.await.unwrap() == InsertOutcome::Inserted {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1);
}

#[tokio::test]
async fn skipped_destinations_are_never_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    let skipped = InitialState::Skipped {
        reason: "items: must hold at least one line item for CitrusAd".into(),
    };
    outbox.insert(checkout("7", skipped), 0).await.unwrap();
    let claimed = outbox
        .claim_due(Destination::Citrusad, 10, "w", LEASE, 10)
        .await
        .unwrap();
    assert!(claimed.is_empty());
    let status = outbox.status("7").await.unwrap().unwrap();
    let citrus = status
        .destinations
        .iter()
        .find(|d| d.destination == Destination::Citrusad)
        .unwrap();
    assert_eq!(citrus.state, DeliveryState::Skipped);
    assert!(citrus.last_error.as_deref().unwrap().starts_with("items:"));
    assert_eq!(status.overall(), DeliveryState::Pending);
}

#[tokio::test]
async fn a_lease_keeps_rows_from_other_workers_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    for id in ["a", "b", "c"] {
        outbox
            .insert(checkout(id, InitialState::Pending), 0)
            .await
            .unwrap();
    }
    let first = outbox
        .claim_due(Destination::Cibler, 2, "worker-1", LEASE, 100)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].cookie_id.as_deref(), Some("CIB1.1.2"));
    assert!(first[0].checkout_json.contains(&first[0].order_id));
    let second = outbox
        .claim_due(Destination::Cibler, 10, "worker-2", LEASE, 200)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "only the unleased row");
    // Worker 1 "crashes"; once its lease runs out its rows are claimable again.
    let after_expiry = outbox
        .claim_due(Destination::Cibler, 10, "worker-3", LEASE, 100 + 30_000)
        .await
        .unwrap();
    let mut ids: Vec<_> = after_expiry.iter().map(|c| c.order_id.clone()).collect();
    ids.sort();
    let mut expected: Vec<_> = first.iter().map(|c| c.order_id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    // The crashed worker can no longer record an outcome for them.
    let stale = outbox
        .record(
            Destination::Cibler,
            &first[0].order_id,
            "worker-1",
            Outcome::Delivered {
                vendor_status: 200,
                vendor_response: None,
            },
            40_000,
        )
        .await
        .unwrap();
    assert!(!stale);
}

#[tokio::test]
async fn outcomes_move_rows_through_their_states() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    outbox
        .insert(checkout("9", InitialState::Pending), 0)
        .await
        .unwrap();

    let claimed = outbox
        .claim_due(Destination::Cibler, 1, "w", LEASE, 0)
        .await
        .unwrap();
    assert_eq!(claimed[0].attempts, 0);
    let retry = Outcome::Retry {
        next_attempt_at: 5_000,
        error: "HTTP 503".into(),
        vendor_status: Some(503),
    };
    assert!(outbox
        .record(Destination::Cibler, "9", "w", retry, 10)
        .await
        .unwrap());
    let status = outbox.status("9").await.unwrap().unwrap();
    assert_eq!(state(&status, Destination::Cibler), DeliveryState::Retrying);
    assert_eq!(status.overall(), DeliveryState::Retrying);

    // Not due before its next attempt time.
    assert!(outbox
        .claim_due(Destination::Cibler, 1, "w", LEASE, 4_999)
        .await
        .unwrap()
        .is_empty());
    let claimed = outbox
        .claim_due(Destination::Cibler, 1, "w", LEASE, 5_000)
        .await
        .unwrap();
    assert_eq!(claimed[0].attempts, 1);
    let dead = Outcome::Dead {
        error: "HTTP 400: bad".into(),
        vendor_status: Some(400),
        vendor_response: Some(r#"{"message":"bad"}"#.into()),
    };
    assert!(outbox
        .record(Destination::Cibler, "9", "w", dead, 5_100)
        .await
        .unwrap());
    let letters = outbox.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].vendor_status, Some(400));
    assert_eq!(
        letters[0].vendor_response.as_deref(),
        Some(r#"{"message":"bad"}"#)
    );
    assert_eq!(letters[0].attempts, 2);

    // The operator retries it: due at once, with a fresh budget.
    assert_eq!(outbox.retry_dead(Some("9"), None, 9_000).await.unwrap(), 1);
    assert_eq!(outbox.retry_dead(Some("9"), None, 9_000).await.unwrap(), 0);
    let claimed = outbox
        .claim_due(Destination::Cibler, 1, "w", LEASE, 9_000)
        .await
        .unwrap();
    assert_eq!(claimed[0].budget_started_at, 9_000);
    let delivered = Outcome::Delivered {
        vendor_status: 200,
        vendor_response: Some("{}".into()),
    };
    assert!(outbox
        .record(Destination::Cibler, "9", "w", delivered, 9_500)
        .await
        .unwrap());
    let status = outbox.status("9").await.unwrap().unwrap();
    let cibler = &status.destinations[0];
    assert_eq!(cibler.state, DeliveryState::Delivered);
    assert_eq!(cibler.delivered_at_ms, Some(9_500));
    assert_eq!(cibler.attempts, 3);
    assert!(outbox.dead_letters(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn release_frees_a_lease_without_counting_an_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    outbox
        .insert(checkout("r", InitialState::Pending), 0)
        .await
        .unwrap();
    outbox
        .claim_due(Destination::Cibler, 1, "w", LEASE, 0)
        .await
        .unwrap();
    outbox.release(Destination::Cibler, "r", "w").await.unwrap();
    let again = outbox
        .claim_due(Destination::Cibler, 1, "w2", LEASE, 1)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 0);
}

#[tokio::test]
async fn depth_counts_rows_by_destination_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    outbox
        .insert(checkout("1", InitialState::Pending), 0)
        .await
        .unwrap();
    let skip = InitialState::Skipped {
        reason: "no items".into(),
    };
    outbox.insert(checkout("2", skip), 0).await.unwrap();
    let depth = outbox.depth().await.unwrap();
    let count = |d, s| {
        depth
            .iter()
            .find(|r| r.destination == d && r.state == s)
            .map_or(0, |r| r.count)
    };
    assert_eq!(count(Destination::Cibler, DeliveryState::Pending), 2);
    assert_eq!(count(Destination::Citrusad, DeliveryState::Pending), 1);
    assert_eq!(count(Destination::Citrusad, DeliveryState::Skipped), 1);
}

#[tokio::test]
async fn accepted_checkouts_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    {
        let outbox = open(&dir).await;
        outbox
            .insert(checkout("keep", InitialState::Pending), 0)
            .await
            .unwrap();
        // Leased by a process that then vanishes without closing anything.
        outbox
            .claim_due(Destination::Cibler, 1, "gone", LEASE, 0)
            .await
            .unwrap();
        std::mem::forget(outbox);
    }
    let outbox = open(&dir).await;
    let status = outbox.status("keep").await.unwrap().expect("still stored");
    assert_eq!(status.destinations.len(), 2);
    let claimed = outbox
        .claim_due(
            Destination::Cibler,
            1,
            "new",
            LEASE,
            LEASE.as_millis() as i64,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the vanished process's lease expired");
}

#[tokio::test]
async fn an_unsupported_url_is_refused() {
    assert!(ordersync_relay::outbox::open("postgres://localhost/x")
        .await
        .is_err());
}

#[tokio::test]
async fn a_new_relay_frees_the_leases_of_a_crashed_one() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir).await;
    outbox
        .insert(checkout("crash", InitialState::Pending), 0)
        .await
        .unwrap();
    let now = ordersync_relay::clock::now_ms();
    let held = outbox
        .claim_due(Destination::Cibler, 1, "crashed", LEASE, now)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert!(outbox
        .claim_due(Destination::Cibler, 1, "next", LEASE, now)
        .await
        .unwrap()
        .is_empty());
    let url = format!("sqlite://{}", dir.path().join("outbox.db").display());
    let restarted = ordersync_relay::outbox::open_for_delivery(&url)
        .await
        .unwrap();
    let resumed = restarted
        .claim_due(Destination::Cibler, 1, "next", LEASE, now)
        .await
        .unwrap();
    assert_eq!(resumed.len(), 1, "due at once, not after the lease");
}
