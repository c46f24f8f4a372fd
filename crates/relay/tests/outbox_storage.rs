//! The outbox storage suite, run against both backends: real SQLite files in temporary
//! directories, and a real PostgreSQL server (one throwaway cluster per test binary, a fresh
//! database per test). Each case below is written once, against the `Outbox` trait, and
//! instantiated for each backend by `storage_suite!`; what only one backend has (SQLite's
//! pragmas, its one serving process and its in-process leases; PostgreSQL's migrations and live
//! leases) follows.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::postgres::{PgCluster, PgDatabase};
use ordersync_relay::outbox::{
    self, DeliveryState, Destination, GroupCommit, InitialState, InsertOutcome, NewCheckout,
    OrderStatus, Outbox, Outcome, PostgresOutbox, SqliteOutbox, StorageError,
};

const LEASE: Duration = Duration::from_secs(30);

/// An empty outbox of one backend: its URL, and what keeps it alive until the test ends.
struct Fresh {
    url: String,
    _keep: Keep,
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Database(#[allow(dead_code)] PgDatabase<'static>),
}

impl Fresh {
    fn sqlite() -> Fresh {
        let dir = tempfile::tempdir().expect("a temp dir");
        Fresh {
            url: format!("sqlite://{}", dir.path().join("outbox.db").display()),
            _keep: Keep::Dir(dir),
        }
    }

    fn postgres() -> Fresh {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("outbox_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let database = PgCluster::shared().database(&name);
        Fresh {
            url: database.url(),
            _keep: Keep::Database(database),
        }
    }

    /// Opens the outbox as an operator command would (a new connection pool each time, like
    /// another process or relay instance).
    async fn open(&self) -> Arc<dyn Outbox> {
        outbox::open(&self.url).await.expect("open the outbox")
    }

    /// `n` relay instances serving the outbox at once, as far as the backend allows: each its
    /// own pool on PostgreSQL; on SQLite, whose file one relay process serves (its leases live
    /// in that process), the same instance `n` times.
    async fn serving_instances(&self, n: usize) -> Vec<Arc<dyn Outbox>> {
        let mut instances = Vec::with_capacity(n);
        for _ in 0..n {
            instances.push(match (&self._keep, instances.first()) {
                (Keep::Dir(_), Some(first)) => Arc::clone(first),
                _ => self.open().await,
            });
        }
        instances
    }
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

fn state(status: &OrderStatus, d: Destination) -> DeliveryState {
    status
        .destinations
        .iter()
        .find(|s| s.destination == d)
        .unwrap()
        .state
}

/// The outbox's non-zero depth rows, sorted.
async fn depth_of(outbox: &Arc<dyn Outbox>) -> Vec<(Destination, DeliveryState, u64)> {
    let mut rows: Vec<_> = outbox
        .depth()
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.count > 0)
        .map(|row| (row.destination, row.state, row.count))
        .collect();
    rows.sort_by_key(|(destination, state, _)| (*destination, state.as_str()));
    rows
}

fn delivered() -> Outcome {
    Outcome::Delivered {
        vendor_status: 200,
        vendor_response: Some("{}".into()),
    }
}

/// The cases, each written once against the trait.
mod cases {
    use super::*;

    pub async fn an_order_is_stored_once_and_a_repeat_sees_its_state(fresh: Fresh) {
        let outbox = fresh.open().await;
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
        assert!(outbox.status("unknown").await.unwrap().is_none());
    }

    /// 16 concurrent inserts of one order id through 4 separate connection pools (as from
    /// several relay instances): exactly one is stored, the others see it.
    pub async fn concurrent_repeats_store_one_row(fresh: Fresh) {
        let mut pools = Vec::new();
        for _ in 0..4 {
            pools.push(fresh.open().await);
        }
        let mut tasks = Vec::new();
        for n in 0..16 {
            let outbox = pools[n % pools.len()].clone();
            tasks.push(tokio::spawn(async move {
                outbox
                    .insert(checkout("dup", InitialState::Pending), 5)
                    .await
                    .unwrap()
            }));
        }
        let mut inserted = 0;
        for task in tasks {
            match task.await.unwrap() {
                InsertOutcome::Inserted => inserted += 1,
                InsertOutcome::Existing(status) => assert_eq!(status.destinations.len(), 2),
                InsertOutcome::Pruned(pruned) => panic!("nothing was pruned: {pruned:?}"),
            }
        }
        assert_eq!(inserted, 1);
        let depth = pools[0].depth().await.unwrap();
        assert_eq!(depth.iter().map(|r| r.count).sum::<u64>(), 2);
    }

    pub async fn skipped_destinations_are_never_claimed(fresh: Fresh) {
        let outbox = fresh.open().await;
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

    pub async fn a_lease_keeps_rows_from_other_workers_until_it_expires(fresh: Fresh) {
        let outbox = fresh.open().await;
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
                delivered(),
                40_000,
            )
            .await
            .unwrap();
        assert!(!stale);
        // Its release cannot free the new holder's lease either (worker 3 holds it until
        // 60_100; worker 2's lease, taken at 200, ended at 30_200).
        outbox
            .release(Destination::Cibler, &first[0].order_id, "worker-1")
            .await
            .unwrap();
        assert!(outbox
            .claim_due(Destination::Cibler, 10, "worker-4", LEASE, 30_150)
            .await
            .unwrap()
            .is_empty());
    }

    pub async fn outcomes_move_rows_through_their_states(fresh: Fresh) {
        let outbox = fresh.open().await;
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
            vendor_response: None,
        };
        assert!(outbox
            .record(Destination::Cibler, "9", "w", retry, 10)
            .await
            .unwrap());
        let status = outbox.status("9").await.unwrap().unwrap();
        assert_eq!(state(&status, Destination::Cibler), DeliveryState::Retrying);
        assert_eq!(status.overall(), DeliveryState::Retrying);
        assert_eq!(status.destinations[0].next_attempt_at_ms, Some(5_000));
        assert_eq!(
            status.destinations[0].last_error.as_deref(),
            Some("HTTP 503")
        );

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
        assert_eq!(letters[0].updated_at_ms, 5_100);

        // The operator retries it: due at once, with a fresh budget.
        assert_eq!(outbox.retry_dead(Some("9"), None, 9_000).await.unwrap(), 1);
        assert_eq!(outbox.retry_dead(Some("9"), None, 9_000).await.unwrap(), 0);
        let claimed = outbox
            .claim_due(Destination::Cibler, 1, "w", LEASE, 9_000)
            .await
            .unwrap();
        assert_eq!(claimed[0].budget_started_at, 9_000);
        assert!(outbox
            .record(Destination::Cibler, "9", "w", delivered(), 9_500)
            .await
            .unwrap());
        let status = outbox.status("9").await.unwrap().unwrap();
        let cibler = &status.destinations[0];
        assert_eq!(cibler.state, DeliveryState::Delivered);
        assert_eq!(cibler.delivered_at_ms, Some(9_500));
        assert_eq!(cibler.next_attempt_at_ms, None);
        assert_eq!(cibler.attempts, 3);
        // The earlier failure stays readable after the success.
        assert_eq!(cibler.last_error.as_deref(), Some("HTTP 400: bad"));
        assert!(outbox.dead_letters(10).await.unwrap().is_empty());
    }

    pub async fn retrying_dead_letters_can_be_narrowed(fresh: Fresh) {
        let outbox = fresh.open().await;
        for id in ["d1", "d2"] {
            outbox
                .insert(checkout(id, InitialState::Pending), 0)
                .await
                .unwrap();
        }
        for destination in Destination::ALL {
            let claimed = outbox
                .claim_due(destination, 10, "w", LEASE, 0)
                .await
                .unwrap();
            for row in claimed {
                let dead = Outcome::Dead {
                    error: "HTTP 401".into(),
                    vendor_status: Some(401),
                    vendor_response: None,
                };
                assert!(outbox
                    .record(destination, &row.order_id, "w", dead, 1)
                    .await
                    .unwrap());
            }
        }
        assert_eq!(outbox.dead_letters(10).await.unwrap().len(), 4);
        assert_eq!(outbox.dead_letters(3).await.unwrap().len(), 3);
        let retried = outbox
            .retry_dead(Some("d1"), Some(Destination::Citrusad), 2)
            .await
            .unwrap();
        assert_eq!(retried, 1);
        let retried = outbox
            .retry_dead(None, Some(Destination::Cibler), 2)
            .await
            .unwrap();
        assert_eq!(retried, 2);
        assert_eq!(outbox.retry_dead(None, None, 2).await.unwrap(), 1);
        assert!(outbox.dead_letters(10).await.unwrap().is_empty());
    }

    /// A batch's outcomes are recorded together; a row whose lease was lost is left alone.
    pub async fn a_batch_of_outcomes_is_recorded_at_once(fresh: Fresh) {
        let outbox = fresh.open().await;
        for id in ["x1", "x2", "x3"] {
            outbox
                .insert(checkout(id, InitialState::Pending), 0)
                .await
                .unwrap();
        }
        let claimed = outbox
            .claim_due(Destination::Citrusad, 3, "batcher", LEASE, 0)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 3);
        // x2's lease runs out and another worker takes it.
        outbox
            .release(Destination::Citrusad, "x2", "batcher")
            .await
            .unwrap();
        let stolen = outbox
            .claim_due(Destination::Citrusad, 1, "other", LEASE, 1)
            .await
            .unwrap();
        assert_eq!(stolen[0].order_id, "x2");
        let retry = Outcome::Retry {
            next_attempt_at: 9_000,
            error: "CitrusAd's answer did not include this order".into(),
            vendor_status: Some(200),
            vendor_response: None,
        };
        let held = outbox
            .record_all(
                Destination::Citrusad,
                "batcher",
                vec![
                    ("x1".into(), delivered()),
                    ("x2".into(), delivered()),
                    ("x3".into(), retry),
                ],
                2,
            )
            .await
            .unwrap();
        assert_eq!(held, [true, false, true]);
        let citrus = |id: &'static str| {
            let outbox = outbox.clone();
            async move {
                let status = outbox.status(id).await.unwrap().unwrap();
                state(&status, Destination::Citrusad)
            }
        };
        assert_eq!(citrus("x1").await, DeliveryState::Delivered);
        assert_eq!(
            citrus("x2").await,
            DeliveryState::Pending,
            "still the other's"
        );
        assert_eq!(citrus("x3").await, DeliveryState::Retrying);
        assert!(outbox
            .record_all(Destination::Citrusad, "batcher", Vec::new(), 3)
            .await
            .unwrap()
            .is_empty());
    }

    pub async fn release_frees_a_lease_without_counting_an_attempt(fresh: Fresh) {
        let outbox = fresh.open().await;
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

    fn retry_at(next_attempt_at: i64) -> Outcome {
        Outcome::Retry {
            next_attempt_at,
            error: "503".into(),
            vendor_status: Some(503),
            vendor_response: None,
        }
    }

    /// Two orders retrying later (at 50,000 and 40,000) and one delivered.
    async fn two_waiting_one_delivered(outbox: &Arc<dyn Outbox>) {
        for id in ["late", "sooner", "done"] {
            outbox
                .insert(checkout(id, InitialState::Pending), 0)
                .await
                .unwrap();
        }
        let claimed = outbox
            .claim_due(Destination::Cibler, 10, "w", LEASE, 0)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 3);
        let outcomes = vec![
            ("late".to_owned(), retry_at(50_000)),
            ("sooner".to_owned(), retry_at(40_000)),
            ("done".to_owned(), delivered()),
        ];
        let held = outbox
            .record_all(Destination::Cibler, "w", outcomes, 1)
            .await
            .unwrap();
        assert_eq!(held, [true, true, true]);
    }

    pub async fn a_probe_takes_the_waiting_row_due_first_before_its_time(fresh: Fresh) {
        let outbox = fresh.open().await;
        two_waiting_one_delivered(&outbox).await;
        assert!(outbox
            .claim_due(Destination::Cibler, 10, "w", LEASE, 2)
            .await
            .unwrap()
            .is_empty());
        let probe = outbox
            .claim_probe(Destination::Cibler, "w", LEASE, 2)
            .await
            .unwrap()
            .expect("a probe row");
        assert_eq!(probe.order_id, "sooner");
        assert_eq!(probe.attempts, 1);
        // Leased now: the next probe takes the other one, then there is none.
        let next = outbox
            .claim_probe(Destination::Cibler, "w2", LEASE, 3)
            .await
            .unwrap()
            .expect("another probe row");
        assert_eq!(next.order_id, "late");
        assert!(outbox
            .claim_probe(Destination::Cibler, "w3", LEASE, 4)
            .await
            .unwrap()
            .is_none());
        // Nothing waits for CitrusAd: all three are due there (pending), and only one is taken.
        let citrus = outbox
            .claim_probe(Destination::Citrusad, "w", LEASE, 5)
            .await
            .unwrap();
        assert!(citrus.is_some());
    }

    pub async fn retry_now_makes_every_waiting_row_due_and_keeps_its_attempts(fresh: Fresh) {
        let outbox = fresh.open().await;
        two_waiting_one_delivered(&outbox).await;
        assert_eq!(outbox.retry_now(Destination::Cibler, 10).await.unwrap(), 2);
        let due = outbox
            .claim_due(Destination::Cibler, 10, "w", LEASE, 10)
            .await
            .unwrap();
        let mut ids: Vec<_> = due.iter().map(|d| d.order_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["late", "sooner"]);
        assert!(due.iter().all(|d| d.attempts == 1));
        // Leased rows (in flight) and other destinations are left alone.
        assert_eq!(outbox.retry_now(Destination::Cibler, 11).await.unwrap(), 0);
        let status = outbox.status("done").await.unwrap().unwrap();
        assert_eq!(
            state(&status, Destination::Cibler),
            DeliveryState::Delivered
        );
    }

    pub async fn depth_counts_rows_by_destination_and_state(fresh: Fresh) {
        let outbox = fresh.open().await;
        outbox
            .insert(checkout("1", InitialState::Pending), 0)
            .await
            .unwrap();
        let skip = InitialState::Skipped {
            reason: "no items".into(),
        };
        outbox.insert(checkout("2", skip), 0).await.unwrap();
        assert_eq!(
            depth_of(&outbox).await,
            [
                (Destination::Cibler, DeliveryState::Pending, 2),
                (Destination::Citrusad, DeliveryState::Pending, 1),
                (Destination::Citrusad, DeliveryState::Skipped, 1),
            ]
        );
        // Every move between states moves the counts with it.
        let claimed = outbox
            .claim_due(Destination::Cibler, 2, "w", LEASE, 1)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        let retry = Outcome::Retry {
            next_attempt_at: 5,
            error: "HTTP 503".into(),
            vendor_status: Some(503),
            vendor_response: None,
        };
        let dead = Outcome::Dead {
            error: "HTTP 400".into(),
            vendor_status: Some(400),
            vendor_response: None,
        };
        for (order_id, outcome) in [("1", retry.clone()), ("2", dead)] {
            assert!(outbox
                .record(Destination::Cibler, order_id, "w", outcome, 2)
                .await
                .unwrap());
        }
        let again = outbox
            .claim_due(Destination::Cibler, 2, "w", LEASE, 5)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        // Retrying again leaves the counts as they are.
        assert!(outbox
            .record(Destination::Cibler, "1", "w", retry, 6)
            .await
            .unwrap());
        assert_eq!(
            depth_of(&outbox).await,
            [
                (Destination::Cibler, DeliveryState::Dead, 1),
                (Destination::Cibler, DeliveryState::Retrying, 1),
                (Destination::Citrusad, DeliveryState::Pending, 1),
                (Destination::Citrusad, DeliveryState::Skipped, 1),
            ]
        );
        assert_eq!(outbox.retry_dead(None, None, 7).await.unwrap(), 1);
        let delivered_now = outbox
            .claim_due(Destination::Citrusad, 1, "w", LEASE, 8)
            .await
            .unwrap();
        assert_eq!(delivered_now.len(), 1);
        assert!(outbox
            .record(Destination::Citrusad, "1", "w", delivered(), 9)
            .await
            .unwrap());
        assert_eq!(
            depth_of(&outbox).await,
            [
                (Destination::Cibler, DeliveryState::Pending, 1),
                (Destination::Cibler, DeliveryState::Retrying, 1),
                (Destination::Citrusad, DeliveryState::Delivered, 1),
                (Destination::Citrusad, DeliveryState::Skipped, 1),
            ]
        );
    }

    pub async fn accepted_checkouts_survive_reopening(fresh: Fresh) {
        {
            let outbox = fresh.open().await;
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
        let outbox = fresh.open().await;
        let status = outbox.status("keep").await.unwrap().expect("still stored");
        assert_eq!(status.destinations.len(), 2);
        let at_once = outbox
            .claim_due(Destination::Cibler, 1, "new", LEASE, 1)
            .await
            .unwrap();
        // The lease is in the row, on either backend: it binds every process until it runs out
        // (a SQLite relay that starts serving the file frees it at once:
        // `a_new_relay_starts_with_the_leases_of_a_crashed_one_free`).
        assert!(at_once.is_empty(), "the vanished process's lease holds");
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

    /// Due rows come out oldest due first, whoever stored them.
    pub async fn claims_take_the_oldest_due_rows_first(fresh: Fresh) {
        let outbox = fresh.open().await;
        for (id, at) in [("late", 300), ("early", 100), ("middle", 200)] {
            outbox
                .insert(checkout(id, InitialState::Pending), at)
                .await
                .unwrap();
        }
        let claimed = outbox
            .claim_due(Destination::Citrusad, 10, "w", LEASE, 1_000)
            .await
            .unwrap();
        let ids: Vec<_> = claimed.iter().map(|c| c.order_id.as_str()).collect();
        assert_eq!(ids, ["early", "middle", "late"]);
    }

    /// A CitrusAd batch fills from every instance's checkouts: orders stored through three
    /// instances come out as one batch of 100, then the remaining 50.
    pub async fn batches_fill_from_checkouts_of_every_instance(fresh: Fresh) {
        let instances = fresh.serving_instances(3).await;
        for n in 0..150 {
            instances[n % 3]
                .insert(checkout(&format!("b{n:03}"), InitialState::Pending), 0)
                .await
                .unwrap();
        }
        let first = instances[1]
            .claim_due(Destination::Citrusad, 100, "w1", LEASE, 1)
            .await
            .unwrap();
        let second = instances[2]
            .claim_due(Destination::Citrusad, 100, "w2", LEASE, 1)
            .await
            .unwrap();
        assert_eq!((first.len(), second.len()), (100, 50));
        let all: BTreeSet<_> = first.iter().chain(&second).map(|c| &c.order_id).collect();
        assert_eq!(all.len(), 150);
    }

    /// Six workers on three instances claim, "send" and record 120 rows at once: every row is
    /// delivered, and none is held by two workers at the same time (each row is claimed once,
    /// since every outcome is recorded before its lease could expire).
    pub async fn concurrent_workers_never_share_a_row(fresh: Fresh) {
        let pools = fresh.serving_instances(3).await;
        for n in 0..120 {
            pools[0]
                .insert(checkout(&format!("c{n:03}"), InitialState::Pending), 0)
                .await
                .unwrap();
        }
        let mut workers = Vec::new();
        for w in 0..6 {
            let outbox = pools[w % 3].clone();
            workers.push(tokio::spawn(async move {
                let owner = format!("worker-{w}");
                let mut mine = Vec::new();
                loop {
                    let claimed = outbox
                        .claim_due(Destination::Cibler, 7, &owner, LEASE, 10)
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    for row in claimed {
                        tokio::task::yield_now().await;
                        let recorded = outbox
                            .record(Destination::Cibler, &row.order_id, &owner, delivered(), 20)
                            .await
                            .unwrap();
                        assert!(recorded, "{owner} lost its lease on {}", row.order_id);
                        mine.push(row.order_id);
                    }
                }
            }));
        }
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        let unique: BTreeSet<_> = all.iter().collect();
        assert_eq!(all.len(), 120, "each row claimed exactly once");
        assert_eq!(unique.len(), 120);
    }

    // Retention: pruning, the order ids remembered after it, discarding dead letters.

    /// Claims every due row of `destination` (up to 1,000) and records `outcome` for each;
    /// returns their order ids, in the order claimed.
    pub async fn settle_all(
        outbox: &Arc<dyn Outbox>,
        destination: Destination,
        outcome: Outcome,
        now: i64,
    ) -> Vec<String> {
        let claimed = outbox
            .claim_due(destination, 1_000, "w", LEASE, now)
            .await
            .unwrap();
        for row in &claimed {
            assert!(outbox
                .record(destination, &row.order_id, "w", outcome.clone(), now)
                .await
                .unwrap());
        }
        claimed.into_iter().map(|row| row.order_id).collect()
    }

    pub fn dead() -> Outcome {
        Outcome::Dead {
            error: "HTTP 400: refused".into(),
            vendor_status: Some(400),
            vendor_response: Some("{}".into()),
        }
    }

    fn retrying() -> Outcome {
        Outcome::Retry {
            next_attempt_at: 50_000,
            error: "HTTP 503".into(),
            vendor_status: Some(503),
            vendor_response: None,
        }
    }

    /// Orders in every state, finished at 100 or later: `done` (delivered at both), `one`
    /// (delivered at CibleR, CitrusAd skipped), `waiting` (retrying at CibleR), `dead` (dead at
    /// CibleR), `pending` (never attempted at CibleR), `recent` (delivered at both at 5,000);
    /// every CitrusAd delivery at 100.
    async fn orders_in_every_state(outbox: &Arc<dyn Outbox>) {
        let skipped = InitialState::Skipped {
            reason: "items: must hold at least one line item for CitrusAd".into(),
        };
        outbox
            .insert(checkout("done", InitialState::Pending), 10)
            .await
            .unwrap();
        outbox.insert(checkout("one", skipped), 10).await.unwrap();
        outbox
            .insert(checkout("waiting", InitialState::Pending), 20)
            .await
            .unwrap();
        outbox
            .insert(checkout("dead", InitialState::Pending), 20)
            .await
            .unwrap();
        settle_all(outbox, Destination::Citrusad, delivered(), 100).await;
        let claimed = outbox
            .claim_due(Destination::Cibler, 10, "w", LEASE, 100)
            .await
            .unwrap();
        for row in claimed {
            let outcome = match row.order_id.as_str() {
                "waiting" => retrying(),
                "dead" => dead(),
                _ => delivered(),
            };
            assert!(outbox
                .record(Destination::Cibler, &row.order_id, "w", outcome, 100)
                .await
                .unwrap());
        }
        outbox
            .insert(checkout("recent", InitialState::Pending), 4_000)
            .await
            .unwrap();
        settle_all(outbox, Destination::Cibler, delivered(), 5_000).await;
        settle_all(outbox, Destination::Citrusad, delivered(), 5_000).await;
        // Stored last, so that nothing above attempts its CibleR delivery.
        outbox
            .insert(checkout("pending", InitialState::Pending), 30)
            .await
            .unwrap();
        settle_all(outbox, Destination::Citrusad, delivered(), 100).await;
    }

    /// Finished orders go at the retention; waiting, dead and recent ones stay; a repeat of a
    /// pruned order is remembered, not stored again; the counts follow.
    pub async fn finished_orders_are_pruned_and_their_ids_remembered(fresh: Fresh) {
        let outbox = fresh.open().await;
        orders_in_every_state(&outbox).await;
        let before = depth_of(&outbox).await;
        let batch = outbox.prune_finished(1_000, 100, 2_000).await.unwrap();
        assert_eq!(batch.removed, 2, "done and one");
        assert!(!batch.more);
        for gone in ["done", "one"] {
            assert!(outbox.status(gone).await.unwrap().is_none(), "{gone}");
        }
        let remembered = outbox.pruned("done").await.unwrap().expect("remembered");
        assert_eq!(remembered.accepted_at_ms, 10);
        assert_eq!(remembered.delivered_at_ms, Some(100));
        assert_eq!(remembered.pruned_at_ms, 2_000);
        for kept in ["waiting", "dead", "pending", "recent"] {
            assert!(outbox.status(kept).await.unwrap().is_some(), "{kept}");
            assert!(outbox.pruned(kept).await.unwrap().is_none(), "{kept}");
        }
        assert_eq!(
            state(
                &outbox.status("waiting").await.unwrap().unwrap(),
                Destination::Cibler
            ),
            DeliveryState::Retrying
        );
        assert_eq!(outbox.dead_letters(10).await.unwrap().len(), 1);
        // The counts lost exactly the pruned rows: two delivered at CibleR, one delivered and
        // one skipped at CitrusAd.
        let mut expected = before.clone();
        for (destination, state, n) in &mut expected {
            *n -= match (*destination, *state) {
                (Destination::Cibler, DeliveryState::Delivered) => 2,
                (Destination::Citrusad, DeliveryState::Delivered) => 1,
                (Destination::Citrusad, DeliveryState::Skipped) => 1,
                _ => 0,
            };
        }
        expected.retain(|(_, _, n)| *n > 0);
        assert_eq!(depth_of(&outbox).await, expected);
        // A repeat hand-off of a pruned order is remembered: nothing stored, nothing due.
        let InsertOutcome::Pruned(repeat) = outbox
            .insert(checkout("done", InitialState::Pending), 3_000)
            .await
            .unwrap()
        else {
            panic!("a pruned order must be remembered");
        };
        assert_eq!(repeat, remembered);
        assert!(outbox.status("done").await.unwrap().is_none());
        let due = outbox
            .claim_due(Destination::Citrusad, 100, "w2", LEASE, 60_000)
            .await
            .unwrap();
        assert!(due.iter().all(|row| row.order_id != "done"), "{due:?}");
        // A pass later with nothing old enough left changes nothing.
        assert_eq!(
            outbox
                .prune_finished(1_000, 100, 4_000)
                .await
                .unwrap()
                .removed,
            0
        );
        // Later, the recent order is old enough too; the others still stay.
        assert_eq!(
            outbox
                .prune_finished(6_000, 100, 7_000)
                .await
                .unwrap()
                .removed,
            1
        );
        assert!(outbox.status("waiting").await.unwrap().is_some());
        assert!(outbox.status("dead").await.unwrap().is_some());
    }

    /// Pruning goes in steps of the size asked, and says when more may be waiting.
    pub async fn pruning_goes_in_small_steps(fresh: Fresh) {
        let outbox = fresh.open().await;
        for n in 0..5 {
            outbox
                .insert(checkout(&format!("s{n}"), InitialState::Pending), n)
                .await
                .unwrap();
        }
        settle_all(&outbox, Destination::Cibler, delivered(), 100).await;
        settle_all(&outbox, Destination::Citrusad, delivered(), 100).await;
        let mut steps = Vec::new();
        loop {
            let batch = outbox.prune_finished(1_000, 2, 2_000).await.unwrap();
            steps.push(batch.removed);
            if !batch.more {
                break;
            }
            assert!(steps.len() < 10, "{steps:?}");
        }
        assert_eq!(steps.iter().sum::<u64>(), 5, "{steps:?}");
        assert!(steps.iter().all(|removed| *removed <= 2), "{steps:?}");
        assert!(depth_of(&outbox).await.is_empty());
    }

    /// A discarded dead letter is never sent: it becomes skipped with the reason, and its order
    /// is pruned at the retention (counted from the discard) and remembered like a delivered
    /// one.
    pub async fn discarded_dead_letters_are_pruned_and_remembered(fresh: Fresh) {
        let outbox = fresh.open().await;
        for id in ["x1", "x2"] {
            outbox
                .insert(checkout(id, InitialState::Pending), 0)
                .await
                .unwrap();
        }
        settle_all(&outbox, Destination::Cibler, dead(), 10).await;
        settle_all(&outbox, Destination::Citrusad, delivered(), 10).await;
        assert_eq!(
            outbox
                .prune_finished(1_000, 100, 1_000)
                .await
                .unwrap()
                .removed,
            0
        );
        let discarded = outbox
            .discard_dead(Some("x1"), Some(Destination::Citrusad), 500)
            .await
            .unwrap();
        assert_eq!(discarded, 0, "x1 is not dead at CitrusAd");
        assert_eq!(outbox.discard_dead(Some("x1"), None, 500).await.unwrap(), 1);
        let status = outbox.status("x1").await.unwrap().unwrap();
        let cibler = &status.destinations[0];
        assert_eq!(cibler.state, DeliveryState::Skipped);
        assert_eq!(
            cibler.last_error.as_deref(),
            Some("discarded by an operator after: HTTP 400: refused")
        );
        assert_eq!(
            outbox.dead_letters(10).await.unwrap().len(),
            1,
            "x2 stays dead"
        );
        assert!(outbox.retry_dead(Some("x1"), None, 600).await.unwrap() == 0);
        assert!(outbox
            .claim_due(Destination::Cibler, 10, "w", LEASE, 600)
            .await
            .unwrap()
            .is_empty());
        // Finished at the discard (500): not yet pruned with a cutoff before it.
        assert_eq!(
            outbox.prune_finished(400, 100, 700).await.unwrap().removed,
            0
        );
        assert_eq!(
            outbox.prune_finished(500, 100, 700).await.unwrap().removed,
            1
        );
        let remembered = outbox.pruned("x1").await.unwrap().unwrap();
        assert_eq!(
            remembered.delivered_at_ms,
            Some(10),
            "CitrusAd delivered it"
        );
        assert!(matches!(
            outbox
                .insert(checkout("x1", InitialState::Pending), 800)
                .await
                .unwrap(),
            InsertOutcome::Pruned(_)
        ));
        // Every dead letter at once; x2 is then finished too.
        assert_eq!(outbox.discard_dead(None, None, 900).await.unwrap(), 1);
        assert!(outbox.dead_letters(10).await.unwrap().is_empty());
        assert_eq!(
            outbox
                .prune_finished(900, 100, 1_000)
                .await
                .unwrap()
                .removed,
            1
        );
        assert!(depth_of(&outbox).await.is_empty());
    }

    /// Order ids are forgotten at the memory (from acceptance): a forgotten one is a new order
    /// again; a remembered one is not.
    pub async fn remembered_order_ids_are_forgotten_after_the_memory(fresh: Fresh) {
        let outbox = fresh.open().await;
        outbox
            .insert(checkout("old", InitialState::Pending), 0)
            .await
            .unwrap();
        outbox
            .insert(checkout("new", InitialState::Pending), 500)
            .await
            .unwrap();
        settle_all(&outbox, Destination::Cibler, delivered(), 600).await;
        settle_all(&outbox, Destination::Citrusad, delivered(), 600).await;
        assert_eq!(
            outbox
                .prune_finished(1_000, 100, 1_000)
                .await
                .unwrap()
                .removed,
            2
        );
        let batch = outbox.forget_pruned(100, 10).await.unwrap();
        assert_eq!(batch.removed, 1);
        assert!(!batch.more);
        assert!(outbox.pruned("old").await.unwrap().is_none());
        assert_eq!(
            outbox
                .insert(checkout("old", InitialState::Pending), 2_000)
                .await
                .unwrap(),
            InsertOutcome::Inserted,
            "forgotten: a new order"
        );
        assert!(matches!(
            outbox
                .insert(checkout("new", InitialState::Pending), 2_000)
                .await
                .unwrap(),
            InsertOutcome::Pruned(_)
        ));
        assert_eq!(outbox.forget_pruned(100, 10).await.unwrap().removed, 0);
    }

    /// An import's batch: every order id stored once (the first of a repeat within the batch),
    /// one stored before or pruned and remembered known and left alone; the queue depth counts
    /// exactly what was stored; a second run of the same batch stores nothing.
    pub async fn an_import_batch_stores_each_new_order_once(fresh: Fresh) {
        let outbox = fresh.open().await;
        for order_id in ["gone", "kept"] {
            outbox
                .insert(checkout(order_id, InitialState::Pending), 100)
                .await
                .unwrap();
        }
        settle_all(&outbox, Destination::Cibler, delivered(), 200).await;
        settle_all(&outbox, Destination::Citrusad, delivered(), 200).await;
        assert_eq!(
            outbox.prune_finished(300, 1, 300).await.unwrap().removed,
            1,
            "one order per batch: the older, `gone`, is pruned and remembered"
        );
        let skipped = InitialState::Skipped {
            reason: "items: must hold at least one line item for CitrusAd".into(),
        };
        let mut first = checkout("b", InitialState::Pending);
        first.checkout_json = r#"{"orderId":"b","first":true}"#.into();
        let batch = vec![
            first,
            checkout("gone", InitialState::Pending),
            checkout("c", InitialState::Pending),
            checkout("b", InitialState::Pending),
            checkout("kept", InitialState::Pending),
            checkout("d", skipped),
        ];
        let outcomes = outbox.insert_batch(batch.clone(), 5_000).await.unwrap();
        use outbox::Imported::{AlreadyKnown, New};
        assert_eq!(
            outcomes,
            [New, AlreadyKnown, New, AlreadyKnown, AlreadyKnown, New]
        );
        let b = outbox.status("b").await.unwrap().unwrap();
        assert_eq!(b.accepted_at_ms, 5_000);
        assert_eq!(b.overall(), DeliveryState::Pending);
        let claimed = outbox
            .claim_due(Destination::Cibler, 10, "w", LEASE, 6_000)
            .await
            .unwrap();
        let b_claimed = claimed.iter().find(|c| c.order_id == "b").unwrap();
        assert!(
            b_claimed.checkout_json.contains("first"),
            "the first checkout of a repeated id is the one stored"
        );
        let d = outbox.status("d").await.unwrap().unwrap();
        assert_eq!(state(&d, Destination::Citrusad), DeliveryState::Skipped);
        // `gone` and `kept` are as they were: both delivered, one pruned since.
        assert!(outbox.status("gone").await.unwrap().is_none());
        assert!(outbox.pruned("gone").await.unwrap().is_some());
        let kept = outbox.status("kept").await.unwrap().unwrap();
        assert_eq!(kept.accepted_at_ms, 100);
        assert_eq!(kept.overall(), DeliveryState::Delivered);
        let expected_depth = vec![
            (Destination::Cibler, DeliveryState::Delivered, 1),
            (Destination::Cibler, DeliveryState::Pending, 3),
            (Destination::Citrusad, DeliveryState::Delivered, 1),
            (Destination::Citrusad, DeliveryState::Pending, 2),
            (Destination::Citrusad, DeliveryState::Skipped, 1),
        ];
        assert_eq!(depth_of(&outbox).await, expected_depth);
        let again = outbox.insert_batch(batch, 9_000).await.unwrap();
        assert!(again.iter().all(|o| *o == AlreadyKnown), "{again:?}");
        assert_eq!(depth_of(&outbox).await, expected_depth);
        assert_eq!(
            outbox
                .known(&["b".into(), "gone".into(), "kept".into(), "zz".into()])
                .await
                .unwrap(),
            [true, true, true, false]
        );
    }

    pub async fn the_size_on_disk_is_known(fresh: Fresh) {
        let outbox = fresh.open().await;
        outbox
            .insert(checkout("s", InitialState::Pending), 0)
            .await
            .unwrap();
        let bytes = outbox.size_on_disk().await.unwrap();
        assert!(bytes >= 4096, "{bytes}");
    }
}

/// Instantiates every case for one backend, as `#[tokio::test]`s in a module of its name.
/// (`$cases` names the module the cases are in.)
macro_rules! storage_suite {
    ($backend:ident, $fresh:expr, $cases:ident, [$($case:ident),+ $(,)?]) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $cases::$case($fresh()).await;
                }
            )+
        }
    };
}

/// The cases of module `cases` (or of another, `in MODULE: SQLITE_NAME, POSTGRES_NAME; ...`),
/// on both backends.
macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        both_backends!(in cases: sqlite, postgres; $($case),+);
    };
    (in $cases:ident: $sqlite:ident, $postgres:ident; $($case:ident),+ $(,)?) => {
        storage_suite!($sqlite, Fresh::sqlite, $cases, [$($case),+]);
        storage_suite!($postgres, Fresh::postgres, $cases, [$($case),+]);
    };
}

both_backends!(
    an_order_is_stored_once_and_a_repeat_sees_its_state,
    concurrent_repeats_store_one_row,
    skipped_destinations_are_never_claimed,
    a_lease_keeps_rows_from_other_workers_until_it_expires,
    outcomes_move_rows_through_their_states,
    retrying_dead_letters_can_be_narrowed,
    a_batch_of_outcomes_is_recorded_at_once,
    release_frees_a_lease_without_counting_an_attempt,
    depth_counts_rows_by_destination_and_state,
    accepted_checkouts_survive_reopening,
    claims_take_the_oldest_due_rows_first,
    batches_fill_from_checkouts_of_every_instance,
    concurrent_workers_never_share_a_row,
    a_probe_takes_the_waiting_row_due_first_before_its_time,
    retry_now_makes_every_waiting_row_due_and_keeps_its_attempts,
    finished_orders_are_pruned_and_their_ids_remembered,
    pruning_goes_in_small_steps,
    discarded_dead_letters_are_pruned_and_remembered,
    remembered_order_ids_are_forgotten_after_the_memory,
    the_size_on_disk_is_known,
    an_import_batch_stores_each_new_order_once,
);

#[tokio::test]
async fn an_unsupported_url_is_refused_without_echoing_it() {
    let Err(error) = outbox::open("mysql://root:hunter2@db/x").await else {
        panic!("mysql is not a backend");
    };
    assert!(matches!(error, StorageError::UnsupportedUrl(_)));
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

/// The console's reads ([`outbox::console`]), on both backends: recent deliveries per
/// destination, the latest orders and a search by order id, and orders per minute.
mod console_cases {
    use super::*;
    use ordersync_relay::outbox::console::{minute_of, DAY_MS, HOUR_MS, MINUTE_MS};
    use ordersync_relay::outbox::{DeliveredRecently, MinuteActivity};

    /// "Now" for these cases: half a minute into a minute, a hundred days after the epoch.
    const NOW: i64 = 100 * DAY_MS + 30_000;

    /// Claims every due row of `destination` at `at`, checks they are `expected`, and records
    /// `outcome` for each.
    async fn attempt(
        outbox: &Arc<dyn Outbox>,
        destination: Destination,
        at: i64,
        expected: &[&str],
        outcome: Outcome,
    ) {
        let settled = cases::settle_all(outbox, destination, outcome, at).await;
        assert_eq!(settled, expected, "{destination} at {at}");
    }

    /// OLD-1 delivered everywhere two hours ago; A-1 delivered everywhere 9 and 8 minutes ago;
    /// A-2 delivered to CibleR, dead at CitrusAd; B-1 for CibleR only (CitrusAd skipped),
    /// delivered a minute ago; B-2 just accepted.
    async fn orders_of_the_last_hours(outbox: &Arc<dyn Outbox>) {
        async fn accept(outbox: &Arc<dyn Outbox>, id: &str, citrus: InitialState, at: i64) {
            outbox.insert(checkout(id, citrus), at).await.unwrap();
        }
        let skipped = || InitialState::Skipped {
            reason: "no line items".into(),
        };
        let (cibler, citrus) = (Destination::Cibler, Destination::Citrusad);
        accept(outbox, "OLD-1", InitialState::Pending, NOW - 3 * HOUR_MS).await;
        attempt(outbox, cibler, NOW - 2 * HOUR_MS, &["OLD-1"], delivered()).await;
        attempt(outbox, citrus, NOW - 2 * HOUR_MS, &["OLD-1"], delivered()).await;
        accept(outbox, "A-1", InitialState::Pending, NOW - 10 * MINUTE_MS).await;
        attempt(outbox, cibler, NOW - 9 * MINUTE_MS, &["A-1"], delivered()).await;
        attempt(outbox, citrus, NOW - 8 * MINUTE_MS, &["A-1"], delivered()).await;
        accept(outbox, "A-2", InitialState::Pending, NOW - 5 * MINUTE_MS).await;
        attempt(outbox, cibler, NOW - 4 * MINUTE_MS, &["A-2"], delivered()).await;
        attempt(outbox, citrus, NOW - 4 * MINUTE_MS, &["A-2"], cases::dead()).await;
        accept(outbox, "B-1", skipped(), NOW - 2 * MINUTE_MS).await;
        attempt(outbox, cibler, NOW - MINUTE_MS, &["B-1"], delivered()).await;
        accept(outbox, "B-2", InitialState::Pending, NOW - MINUTE_MS).await;
    }

    pub async fn deliveries_are_counted_per_destination_over_the_hour_and_the_day(fresh: Fresh) {
        let outbox = fresh.open().await;
        let nothing: Vec<DeliveredRecently> = Destination::ALL
            .into_iter()
            .map(DeliveredRecently::none)
            .collect();
        assert_eq!(outbox.delivered_recently(NOW).await.unwrap(), nothing);
        orders_of_the_last_hours(&outbox).await;
        let counted = |destination, last_hour, last_day| DeliveredRecently {
            destination,
            last_hour,
            last_day,
        };
        assert_eq!(
            outbox.delivered_recently(NOW).await.unwrap(),
            [
                counted(Destination::Cibler, 3, 4),
                counted(Destination::Citrusad, 1, 2)
            ]
        );
        // A day later, only what was delivered since.
        assert_eq!(
            outbox
                .delivered_recently(NOW + DAY_MS - 90 * MINUTE_MS)
                .await
                .unwrap(),
            [
                counted(Destination::Cibler, 0, 3),
                counted(Destination::Citrusad, 0, 1)
            ]
        );
    }

    pub async fn the_latest_orders_come_newest_first_and_a_search_narrows_them(fresh: Fresh) {
        let outbox = fresh.open().await;
        assert!(outbox.latest_orders(10, None).await.unwrap().is_empty());
        orders_of_the_last_hours(&outbox).await;
        let ids = |orders: Vec<OrderStatus>| -> Vec<String> {
            orders.into_iter().map(|o| o.order_id).collect()
        };
        assert_eq!(
            ids(outbox.latest_orders(10, None).await.unwrap()),
            ["B-2", "B-1", "A-2", "A-1", "OLD-1"]
        );
        assert_eq!(
            ids(outbox.latest_orders(2, None).await.unwrap()),
            ["B-2", "B-1"]
        );
        assert_eq!(
            ids(outbox.latest_orders(10, Some("A-")).await.unwrap()),
            ["A-2", "A-1"]
        );
        assert_eq!(
            ids(outbox.latest_orders(10, Some("B-1")).await.unwrap()),
            ["B-1"]
        );
        assert_eq!(
            ids(outbox.latest_orders(10, Some("")).await.unwrap()),
            ["B-2", "B-1", "A-2", "A-1", "OLD-1"]
        );
        assert!(outbox
            .latest_orders(10, Some("Z"))
            .await
            .unwrap()
            .is_empty());
        assert!(outbox
            .latest_orders(10, Some("A-2x"))
            .await
            .unwrap()
            .is_empty());
        // Each order as its status reads it: every destination's state, attempts and error.
        let latest = outbox.latest_orders(10, Some("A-2")).await.unwrap();
        assert_eq!(latest, [outbox.status("A-2").await.unwrap().unwrap()]);
        let a2 = &latest[0];
        assert_eq!(a2.accepted_at_ms, NOW - 5 * MINUTE_MS);
        assert_eq!(state(a2, Destination::Cibler), DeliveryState::Delivered);
        let citrus = a2
            .destinations
            .iter()
            .find(|d| d.destination == Destination::Citrusad)
            .unwrap();
        assert_eq!(
            (citrus.state, citrus.attempts, citrus.last_error.as_deref()),
            (DeliveryState::Dead, 1, Some("HTTP 400: refused"))
        );
    }

    pub async fn orders_are_counted_per_minute_when_accepted_and_when_delivered(fresh: Fresh) {
        let outbox = fresh.open().await;
        assert!(outbox.activity(NOW - HOUR_MS).await.unwrap().is_empty());
        orders_of_the_last_hours(&outbox).await;
        let minute = |ago: i64, accepted, delivered| MinuteActivity {
            minute_ms: minute_of(NOW - ago * MINUTE_MS),
            accepted,
            delivered,
        };
        // OLD-1 is older than the hour; A-2 is not delivered (dead at CitrusAd), B-2 not yet;
        // A-1 counts when its last destination was delivered; B-1 when CibleR was (CitrusAd
        // skipped).
        assert_eq!(
            outbox.activity(NOW - HOUR_MS).await.unwrap(),
            [
                minute(10, 1, 0),
                minute(8, 0, 1),
                minute(5, 1, 0),
                minute(2, 1, 0),
                minute(1, 1, 1),
            ]
        );
        assert_eq!(
            outbox.activity(NOW - 4 * HOUR_MS).await.unwrap()[..2],
            [minute(3 * 60, 1, 0), minute(2 * 60, 0, 1)]
        );
    }
}

both_backends!(
    in console_cases: sqlite_console, postgres_console;
    deliveries_are_counted_per_destination_over_the_hour_and_the_day,
    the_latest_orders_come_newest_first_and_a_search_narrows_them,
    orders_are_counted_per_minute_when_accepted_and_when_delivered,
);

/// The PostgreSQL schema as the relay created it before retention (its migration 1, which
/// stays as released).
const POSTGRES_SCHEMA_BEFORE_RETENTION: &str = "
CREATE TABLE ordersync_checkouts (order_id TEXT PRIMARY KEY, checkout_json TEXT NOT NULL,
    cookie_id TEXT, accepted_at BIGINT NOT NULL);
CREATE TABLE ordersync_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    destination TEXT NOT NULL CHECK (destination IN ('cibler', 'citrusad')),
    order_id TEXT NOT NULL REFERENCES ordersync_checkouts (order_id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'delivered', 'dead', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at BIGINT NOT NULL,
    budget_started_at BIGINT NOT NULL, lease_owner TEXT, lease_until BIGINT, last_error TEXT,
    vendor_status INTEGER, vendor_response TEXT, created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL, delivered_at BIGINT, PRIMARY KEY (destination, order_id));
CREATE INDEX ordersync_deliveries_due ON ordersync_deliveries (destination, next_attempt_at, id)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX ordersync_deliveries_by_order ON ordersync_deliveries (order_id);
CREATE INDEX ordersync_deliveries_dead ON ordersync_deliveries (updated_at, order_id)
    WHERE state = 'dead';
";

/// Delivery errors as relays before structured errors wrote them, the vendor's answer inside
/// the error text (`HTTP 400: <answer>`): written through the outbox, which stores any text.
mod errors_written_with_answers {
    use super::*;
    use ordersync_relay::outbox::DeadLetterAction;

    pub const ORDERS: [&str; 5] = ["refused", "exhausted", "discarded", "retrying", "timeout"];

    pub async fn write(outbox: &dyn Outbox) {
        for id in ORDERS {
            outbox
                .insert(checkout(id, InitialState::Pending), 0)
                .await
                .unwrap();
        }
        let claimed = outbox
            .claim_due(Destination::Cibler, 10, "old", LEASE, 0)
            .await
            .unwrap();
        assert_eq!(claimed.len(), ORDERS.len());
        let dead = |error: &str, status: u16, answer: Option<&str>| Outcome::Dead {
            error: error.into(),
            vendor_status: Some(status),
            vendor_response: answer.map(Into::into),
        };
        let retry = |error: &str, status: Option<u16>| Outcome::Retry {
            next_attempt_at: 50_000,
            error: error.into(),
            vendor_status: status,
            vendor_response: None,
        };
        let outcomes = [
            dead(
                r#"HTTP 400: {"email":"a@b.c"}"#,
                400,
                Some(r#"{"email":"a@b.c","field":"email"}"#),
            ),
            dead(
                "retry budget exhausted after 3 attempts; last: HTTP 503: down for maintenance",
                503,
                None,
            ),
            dead(
                "retry budget exhausted after 3 attempts; last: HTTP 502: bad gateway",
                502,
                None,
            ),
            retry("HTTP 429: slow down", Some(429)),
            retry("timeout", None),
        ];
        for (id, outcome) in ORDERS.into_iter().zip(outcomes) {
            assert!(outbox
                .record(Destination::Cibler, id, "old", outcome, 10)
                .await
                .unwrap());
        }
        DeadLetterAction::Discard
            .apply(outbox, Some("discarded"), Some(Destination::Cibler), 20)
            .await
            .unwrap();
    }

    /// After the migration: each error says what happened up to the status, and the answer is
    /// the vendor's response (a refusal's full one kept as it was).
    pub async fn assert_cut(outbox: &dyn Outbox) {
        let mut errors = Vec::new();
        for id in ORDERS {
            let status = outbox.status(id).await.unwrap().unwrap();
            errors.push(status.destinations[0].last_error.clone().unwrap());
        }
        assert_eq!(
            errors,
            [
                "HTTP 400",
                "retry budget exhausted after 3 attempts; last: HTTP 503",
                "discarded by an operator after: retry budget exhausted after 3 attempts; \
                 last: HTTP 502",
                "HTTP 429",
                "timeout",
            ]
        );
        // The retrying order's answer was kept too: it shows once the order is dead.
        let claimed = outbox
            .claim_due(Destination::Cibler, 10, "new", LEASE, 50_000)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2, "the two retrying orders");
        let dead = Outcome::Dead {
            error: "HTTP 400".into(),
            vendor_status: Some(400),
            vendor_response: None,
        };
        assert!(outbox
            .record(Destination::Cibler, "retrying", "new", dead, 50_001)
            .await
            .unwrap());
        let answers: Vec<_> = outbox
            .dead_letters(10)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.order_id, d.error.unwrap(), d.vendor_response))
            .collect();
        let answer = |id: &str, error: &str, response: &str| {
            (id.to_owned(), error.to_owned(), Some(response.to_owned()))
        };
        assert_eq!(
            BTreeSet::from_iter(answers),
            BTreeSet::from([
                answer(
                    "refused",
                    "HTTP 400",
                    r#"{"email":"a@b.c","field":"email"}"#
                ),
                answer(
                    "exhausted",
                    "retry budget exhausted after 3 attempts; last: HTTP 503",
                    "down for maintenance"
                ),
                answer("retrying", "HTTP 400", "slow down"),
            ])
        );
    }
}

/// SQLite only: durability settings, and a restarted relay (the only process on its file)
/// frees a crashed predecessor's leases at once.
mod sqlite_only {
    use super::*;

    /// A file written by the previous version (one wide row per order, `delivery_counts`,
    /// `pruned_orders`, `user_version` 1), made by its own code (`tests/fixtures/`): a relay
    /// serving it finds every order, delivery, error, vendor answer, time and remembered id in
    /// the shared tables, and delivers what was waiting.
    #[tokio::test]
    async fn a_file_of_the_previous_version_is_migrated_with_nothing_lost() {
        use serde_json::Value;
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures.join("outbox-v1.expected.json")).unwrap(),
        )
        .unwrap();
        let fresh = Fresh::sqlite();
        let path = std::path::PathBuf::from(fresh.url.trim_start_matches("sqlite://"));
        std::fs::copy(fixtures.join("outbox-v1.sqlite"), &path).unwrap();
        assert_eq!(common::sqlite_pragma(&path, "user_version"), 1);
        let outbox = outbox::open_for_delivery(&fresh.url).await.unwrap();
        assert_eq!(common::sqlite_pragma(&path, "user_version"), 2);

        // Every column of every order, where the shared tables keep it.
        let migrated = rusqlite::Connection::open(&path).unwrap();
        let orders = expected["orders"].as_array().unwrap();
        for order in orders {
            let id = order["order_id"].as_str().unwrap();
            let checkout: (String, Option<String>, i64) = migrated
                .query_row(
                    "SELECT checkout_json, cookie_id, accepted_at FROM ordersync_checkouts \
                     WHERE order_id = ?1 AND pruned_at IS NULL",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .unwrap();
            assert_eq!(Value::from(checkout.0), order["checkout_json"], "{id}");
            assert_eq!(Value::from(checkout.1), order["cookie_id"], "{id}");
            assert_eq!(Value::from(checkout.2), order["accepted_at"], "{id}");
            for d in Destination::ALL {
                let columns = [
                    "state",
                    "attempts",
                    "next_attempt_at",
                    "budget_started_at",
                    "last_error",
                    "vendor_status",
                    "vendor_response",
                    "updated_at",
                    "delivered_at",
                ];
                let stored: Vec<Value> = migrated
                    .query_row(
                        &format!(
                            "SELECT {}, created_at, lease_owner FROM ordersync_deliveries \
                             WHERE destination = ?1 AND order_id = ?2",
                            columns.join(", ")
                        ),
                        [d.as_str(), id],
                        |row| {
                            (0..columns.len() + 2)
                                .map(|i| {
                                    Ok(match row.get_ref(i)? {
                                        rusqlite::types::ValueRef::Null => Value::Null,
                                        rusqlite::types::ValueRef::Integer(n) => Value::from(n),
                                        other => Value::from(other.as_str()?),
                                    })
                                })
                                .collect()
                        },
                    )
                    .unwrap();
                for (column, value) in columns.iter().zip(&stored) {
                    assert_eq!(value, &order[format!("{d}_{column}")], "{id} {d} {column}");
                }
                assert_eq!(
                    stored[columns.len()],
                    order["accepted_at"],
                    "{id} {d} created"
                );
                assert_eq!(stored[columns.len() + 1], Value::Null, "{id} {d} lease");
            }
        }
        let deliveries: i64 = migrated
            .query_row("SELECT COUNT(*) FROM ordersync_deliveries", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(deliveries as usize, orders.len() * Destination::ALL.len());

        // The remembered ids still answer as pruned, and a repeat of one is not stored again.
        for remembered in expected["pruned_orders"].as_array().unwrap() {
            let id = remembered["order_id"].as_str().unwrap();
            let pruned = outbox.pruned(id).await.unwrap().expect("remembered");
            assert_eq!(
                Value::from(pruned.accepted_at_ms),
                remembered["accepted_at"]
            );
            assert_eq!(
                Value::from(pruned.delivered_at_ms),
                remembered["delivered_at"]
            );
            assert_eq!(Value::from(pruned.pruned_at_ms), remembered["pruned_at"]);
            assert!(matches!(
                outbox
                    .insert(checkout(id, InitialState::Pending), 1)
                    .await
                    .unwrap(),
                InsertOutcome::Pruned(_)
            ));
        }

        // The queue depth counted from the rows is the one the previous version kept.
        let mut kept: Vec<(Destination, DeliveryState, u64)> = expected["delivery_counts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["n"].as_u64().unwrap() > 0)
            .map(|row| {
                let destination = Destination::ALL
                    .into_iter()
                    .find(|d| d.as_str() == row["destination"])
                    .unwrap();
                let state = DeliveryState::ALL
                    .into_iter()
                    .find(|s| s.as_str() == row["state"])
                    .unwrap();
                (destination, state, row["n"].as_u64().unwrap())
            })
            .collect();
        kept.sort_by_key(|(destination, state, _)| (*destination, state.as_str()));
        assert_eq!(depth_of(&outbox).await, kept);

        // What was waiting is claimed, first due first, with its checkout and its budget.
        for d in Destination::ALL {
            let mut waiting: Vec<&Value> = orders
                .iter()
                .filter(|o| {
                    matches!(
                        o[format!("{d}_state")].as_str(),
                        Some("pending" | "retrying")
                    )
                })
                .collect();
            waiting.sort_by_key(|o| o[format!("{d}_next_attempt_at")].as_i64());
            let claimed = outbox
                .claim(d, 1_000, "after-migration", LEASE, 1, i64::MAX)
                .await
                .unwrap();
            let claimed_ids: Vec<&str> = claimed.iter().map(|c| c.order_id.as_str()).collect();
            let waiting_ids: Vec<&str> = waiting
                .iter()
                .map(|o| o["order_id"].as_str().unwrap())
                .collect();
            assert_eq!(claimed_ids, waiting_ids, "{d}");
            for (claim, order) in claimed.iter().zip(&waiting) {
                assert_eq!(
                    Value::from(claim.checkout_json.clone()),
                    order["checkout_json"]
                );
                assert_eq!(Value::from(claim.cookie_id.clone()), order["cookie_id"]);
                assert_eq!(
                    Value::from(claim.attempts),
                    order[format!("{d}_attempts")],
                    "{d}"
                );
                assert_eq!(
                    Value::from(claim.budget_started_at),
                    order[format!("{d}_budget_started_at")]
                );
            }
        }
        let dead = outbox.dead_letters(100).await.unwrap();
        assert_eq!(
            dead.len(),
            kept.iter()
                .filter(|(_, state, _)| *state == DeliveryState::Dead)
                .map(|(_, _, n)| *n as usize)
                .sum::<usize>()
        );
    }

    /// A file whose errors hold the vendor's answer (written before structured errors, at
    /// `user_version` 0; this version marks its files 2): cut once, when the file is opened.
    #[tokio::test]
    async fn errors_holding_the_vendors_answer_are_cut_when_the_file_opens() {
        let fresh = Fresh::sqlite();
        let path = std::path::PathBuf::from(fresh.url.trim_start_matches("sqlite://"));
        {
            let outbox = SqliteOutbox::open(&fresh.url).await.unwrap();
            assert_eq!(common::sqlite_pragma(&path, "user_version"), 2);
            errors_written_with_answers::write(&outbox).await;
            outbox.close().await;
        }
        std::thread::sleep(Duration::from_millis(200));
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch("PRAGMA user_version = 0").unwrap();
        drop(connection);
        let outbox = SqliteOutbox::open(&fresh.url).await.unwrap();
        assert_eq!(common::sqlite_pragma(&path, "user_version"), 2);
        errors_written_with_answers::assert_cut(&outbox).await;
    }

    #[tokio::test]
    async fn durability_pragmas_are_in_force() {
        let fresh = Fresh::sqlite();
        let outbox = SqliteOutbox::open(&fresh.url).await.unwrap();
        assert_eq!(outbox.pragma("journal_mode").await.unwrap(), "wal");
        // 2 = FULL: each commit waits for the WAL to reach the disk.
        assert_eq!(outbox.pragma("synchronous").await.unwrap(), "2");
    }

    /// An import beside the serving relay (`ordersync-relay import`, its own process and
    /// writer on the same file): the relay's lease on a row it is delivering holds, its workers
    /// claim the imported rows, and the queue depth both processes keep stays exact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_import_beside_the_serving_relay_keeps_its_leases_and_counts() {
        let fresh = Fresh::sqlite();
        let serving: Arc<dyn Outbox> =
            Arc::new(SqliteOutbox::open_to_serve(&fresh.url).await.unwrap());
        serving
            .insert(checkout("in-flight", InitialState::Pending), 0)
            .await
            .unwrap();
        let leased = serving
            .claim_due(Destination::Cibler, 10, "relay", LEASE, 10)
            .await
            .unwrap();
        assert_eq!(leased.len(), 1);
        let importer = fresh.open().await;
        let imported = importer
            .insert_batch(
                vec![
                    checkout("in-flight", InitialState::Pending),
                    checkout("i1", InitialState::Pending),
                    checkout("i2", InitialState::Pending),
                ],
                20,
            )
            .await
            .unwrap();
        use outbox::Imported::{AlreadyKnown, New};
        assert_eq!(imported, [AlreadyKnown, New, New]);
        assert!(serving
            .record(Destination::Cibler, "in-flight", "relay", delivered(), 30)
            .await
            .unwrap());
        let claimed: BTreeSet<String> = serving
            .claim_due(Destination::Cibler, 10, "relay", LEASE, 40)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.order_id)
            .collect();
        assert_eq!(claimed, BTreeSet::from(["i1".into(), "i2".into()]));
        let expected = vec![
            (Destination::Cibler, DeliveryState::Delivered, 1),
            (Destination::Cibler, DeliveryState::Pending, 2),
            (Destination::Citrusad, DeliveryState::Pending, 3),
        ];
        assert_eq!(depth_of(&serving).await, expected);
        assert_eq!(depth_of(&importer).await, expected);
    }

    /// A window long enough that every write below joins the first one's group.
    const WIDE: GroupCommit = GroupCommit {
        window: Duration::from_millis(300),
        max_group: 256,
    };

    /// Starts `count` inserts at once on `outbox` (so they reach its writer together).
    async fn insert_at_once(
        outbox: &Arc<SqliteOutbox>,
        order_ids: impl Iterator<Item = String>,
    ) -> Vec<InsertOutcome> {
        let tasks: Vec<_> = order_ids
            .map(|order_id| {
                let outbox = Arc::clone(outbox);
                tokio::spawn(async move {
                    outbox
                        .insert(checkout(&order_id, InitialState::Pending), 0)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }

    #[tokio::test]
    async fn writes_arriving_together_share_one_commit() {
        let fresh = Fresh::sqlite();
        let outbox = Arc::new(SqliteOutbox::open_with(&fresh.url, WIDE).await.unwrap());
        let outcomes = insert_at_once(&outbox, (0..40).map(|i| format!("group-{i}"))).await;
        assert!(outcomes.iter().all(|o| *o == InsertOutcome::Inserted));
        let commits = outbox.group_commits();
        assert!(
            (1..=3).contains(&commits),
            "40 inserts started together took {commits} commits"
        );
        // Committed means visible to a separate reader (and on disk).
        let reopened = fresh.open().await;
        for i in 0..40 {
            assert!(reopened
                .status(&format!("group-{i}"))
                .await
                .unwrap()
                .is_some());
        }
    }

    #[tokio::test]
    async fn a_repeat_inside_one_group_sees_the_first_as_a_repeat_across_groups_would() {
        let fresh = Fresh::sqlite();
        let outbox = Arc::new(SqliteOutbox::open_with(&fresh.url, WIDE).await.unwrap());
        let outcomes = insert_at_once(&outbox, (0..12).map(|_| "same".to_owned())).await;
        assert!(outbox.group_commits() <= 3);
        let inserted = outcomes
            .iter()
            .filter(|o| **o == InsertOutcome::Inserted)
            .count();
        assert_eq!(inserted, 1, "{outcomes:?}");
        for outcome in &outcomes {
            if let InsertOutcome::Existing(status) = outcome {
                assert_eq!(status.order_id, "same");
                assert_eq!(state(status, Destination::Cibler), DeliveryState::Pending);
                assert_eq!(status.destinations.len(), 2);
            }
        }
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_and_its_group_is_still_stored() {
        let fresh = Fresh::sqlite();
        let outbox = Arc::new(SqliteOutbox::open_with(&fresh.url, WIDE).await.unwrap());
        // The same destination twice breaks the deliveries table's primary key.
        let mut broken = checkout("broken", InitialState::Pending);
        broken
            .destinations
            .push((Destination::Cibler, InitialState::Pending));
        let failing = {
            let outbox = Arc::clone(&outbox);
            tokio::spawn(async move { outbox.insert(broken, 0).await })
        };
        let others = insert_at_once(&outbox, (0..6).map(|i| format!("fine-{i}"))).await;
        assert!(failing.await.unwrap().is_err());
        assert!(others.iter().all(|o| *o == InsertOutcome::Inserted));
        let reopened = fresh.open().await;
        assert!(reopened.status("broken").await.unwrap().is_none());
        for i in 0..6 {
            assert!(reopened
                .status(&format!("fine-{i}"))
                .await
                .unwrap()
                .is_some());
        }
        // The broken checkout's first delivery row went with its transaction, and so did the
        // count of it.
        assert_eq!(
            depth_of(&reopened).await,
            [
                (Destination::Cibler, DeliveryState::Pending, 6),
                (Destination::Citrusad, DeliveryState::Pending, 6),
            ]
        );
    }

    /// Holds the database's write lock from another connection (as an operator command
    /// writing the same file would) until the returned connection rolls back.
    fn hold_write_lock(url: &str) -> rusqlite::Connection {
        let other = rusqlite::Connection::open(url.trim_start_matches("sqlite://")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        other
    }

    /// Writes that queue while the writer is busy commit together; a claim queued among
    /// hand-offs takes its leases in their group and sees only the writes queued before it. The writer is kept busy deterministically: its first write waits for a write
    /// lock another connection holds, while the rest queue behind it.
    #[tokio::test]
    async fn a_claim_queued_among_hand_offs_sees_only_what_was_committed_before_it() {
        let fresh = Fresh::sqlite();
        let outbox = Arc::new(SqliteOutbox::open_with(&fresh.url, WIDE).await.unwrap());
        insert_at_once(&outbox, ["due".to_owned()].into_iter()).await;
        let before = outbox.group_commits();
        let blocker = hold_write_lock(&fresh.url);
        let spawn_insert = |order_id: String| {
            let outbox = Arc::clone(&outbox);
            tokio::spawn(async move {
                outbox
                    .insert(checkout(&order_id, InitialState::Pending), 0)
                    .await
                    .unwrap()
            })
        };
        let waiting = spawn_insert("waiting".to_owned());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let claiming = {
            let outbox = Arc::clone(&outbox);
            tokio::spawn(async move {
                outbox
                    .claim_due(Destination::Cibler, 10, "w", LEASE, i64::MAX / 2)
                    .await
                    .unwrap()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let late: Vec<_> = (0..5).map(|i| spawn_insert(format!("late-{i}"))).collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        blocker.execute_batch("ROLLBACK").unwrap();

        assert_eq!(waiting.await.unwrap(), InsertOutcome::Inserted);
        for insert in late {
            assert_eq!(insert.await.unwrap(), InsertOutcome::Inserted);
        }
        let claimed: Vec<_> = claiming
            .await
            .unwrap()
            .into_iter()
            .map(|delivery| delivery.order_id)
            .collect();
        assert_eq!(
            claimed,
            ["due", "waiting"],
            "the claim saw what was committed before it, not the hand-offs queued after it"
        );
        // The waiting hand-off alone, then the claim and the 5 late hand-offs together.
        assert_eq!(outbox.group_commits() - before, 2);
    }

    /// A claim's lease is written into the rows it takes, as on PostgreSQL: another process on
    /// the same file (an operator's command, an import) sees the rows held and claims none of
    /// them, and only the lease's owner records an outcome.
    #[tokio::test]
    async fn a_claims_lease_is_in_the_row_for_every_process_on_the_file() {
        let fresh = Fresh::sqlite();
        let serving = outbox::open_for_delivery(&fresh.url).await.unwrap();
        serving
            .insert(checkout("held", InitialState::Pending), 0)
            .await
            .unwrap();
        let claimed = serving
            .claim_due(Destination::Cibler, 10, "relay", LEASE, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let path = fresh.url.trim_start_matches("sqlite://");
        let lease: (String, i64) = rusqlite::Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT lease_owner, lease_until FROM ordersync_deliveries \
                 WHERE destination = 'cibler' AND order_id = 'held'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(lease, ("relay".to_owned(), 10 + LEASE.as_millis() as i64));
        let other = fresh.open().await;
        assert!(other
            .claim_due(Destination::Cibler, 10, "other", LEASE, 20)
            .await
            .unwrap()
            .is_empty());
        assert!(!other
            .record(Destination::Cibler, "held", "other", delivered(), 30)
            .await
            .unwrap());
        assert!(serving
            .record(Destination::Cibler, "held", "relay", delivered(), 30)
            .await
            .unwrap());
    }

    /// The writer only appends to the WAL; a thread of its own copies it into the database
    /// file soon after commits. Fewer pages than the writer's own autocheckpoint bound are
    /// written here, so only that thread can have grown the database file.
    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer() {
        let fresh = Fresh::sqlite();
        let path = std::path::PathBuf::from(fresh.url.trim_start_matches("sqlite://"));
        let outbox = SqliteOutbox::open(&fresh.url).await.unwrap();
        let empty = std::fs::metadata(&path).unwrap().len();
        for i in 0..200 {
            outbox
                .insert(
                    checkout(&format!("checkpointed-{i}"), InitialState::Pending),
                    0,
                )
                .await
                .unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() <= empty {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file is still {empty} bytes: nothing was checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A file written by an early schema (two tables, leases in the rows, a full due index, an
    /// index by order id, depth counted by scanning) opens as the current one: its orders move
    /// into the shared tables and keep their states, and only the current tables and indexes
    /// are left.
    #[tokio::test]
    async fn a_file_of_the_previous_schema_is_brought_up_to_date() {
        let fresh = Fresh::sqlite();
        let path = fresh.url.trim_start_matches("sqlite://").to_owned();
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(PREVIOUS_SCHEMA).unwrap();
        old.execute_batch(
            "INSERT INTO checkouts VALUES ('w', '{\"orderId\":\"w\"}', NULL, 0), \
                                          ('d', '{\"orderId\":\"d\"}', 'CIB1.1.2', 0); \
             INSERT INTO deliveries (destination, order_id, state, next_attempt_at, \
               budget_started_at, lease_owner, lease_until, created_at, updated_at) VALUES \
               ('cibler', 'w', 'retrying', 10, 0, 'old-relay', 99999, 0, 0), \
               ('citrusad', 'w', 'delivered', 0, 0, NULL, NULL, 0, 0), \
               ('cibler', 'd', 'dead', 0, 0, NULL, NULL, 0, 0), \
               ('citrusad', 'd', 'pending', 0, 0, NULL, NULL, 0, 0);",
        )
        .unwrap();
        drop(old);
        let outbox = fresh.open().await;
        assert_eq!(
            depth_of(&outbox).await,
            [
                (Destination::Cibler, DeliveryState::Dead, 1),
                (Destination::Cibler, DeliveryState::Retrying, 1),
                (Destination::Citrusad, DeliveryState::Delivered, 1),
                (Destination::Citrusad, DeliveryState::Pending, 1),
            ]
        );
        // The old relay's lease in the row binds nobody now.
        let claimed = outbox
            .claim_due(Destination::Cibler, 10, "new", LEASE, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].order_id, "w");
        assert_eq!(outbox.dead_letters(10).await.unwrap().len(), 1);
        let status = outbox.status("w").await.unwrap().unwrap();
        assert_eq!(state(&status, Destination::Cibler), DeliveryState::Retrying);
        assert_eq!(
            state(&status, Destination::Citrusad),
            DeliveryState::Delivered
        );
        let reopened = rusqlite::Connection::open(&path).unwrap();
        let schema: Vec<String> = reopened
            .prepare(
                "SELECT type || ' ' || name FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            schema,
            [
                "index ordersync_checkouts_held",
                "index ordersync_checkouts_remembered",
                "index ordersync_deliveries_by_order",
                "index ordersync_deliveries_dead",
                "index ordersync_deliveries_due",
                "table ordersync_checkouts",
                "table ordersync_deliveries",
            ]
        );
        // Counted once: opening again does not count the rows a second time.
        drop(outbox);
        let again = fresh.open().await;
        assert_eq!(depth_of(&again).await.len(), 4);
        assert!(depth_of(&again).await.iter().all(|(_, _, n)| *n == 1));
    }

    /// A file of the schema before one row per order (two tables, depth counts kept by
    /// triggers): its orders move into the shared tables, the counts carry on, and the triggers
    /// are gone, so a change is counted once.
    #[tokio::test]
    async fn counts_kept_by_triggers_carry_on_without_them() {
        let fresh = Fresh::sqlite();
        let path = fresh.url.trim_start_matches("sqlite://").to_owned();
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(TRIGGER_COUNTED_SCHEMA).unwrap();
        old.execute_batch(
            "INSERT INTO checkouts VALUES ('p', '{\"orderId\":\"p\"}', NULL, 0); \
             INSERT INTO deliveries (destination, order_id, state, next_attempt_at, \
               budget_started_at, created_at, updated_at) VALUES \
               ('cibler', 'p', 'pending', 0, 0, 0, 0), ('citrusad', 'p', 'pending', 0, 0, 0, 0);",
        )
        .unwrap();
        drop(old);
        let outbox = fresh.open().await;
        assert_eq!(
            depth_of(&outbox).await,
            [
                (Destination::Cibler, DeliveryState::Pending, 1),
                (Destination::Citrusad, DeliveryState::Pending, 1),
            ]
        );
        let claimed = outbox
            .claim_due(Destination::Cibler, 1, "w", LEASE, 1)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(outbox
            .record(Destination::Cibler, "p", "w", delivered(), 2)
            .await
            .unwrap());
        assert_eq!(
            depth_of(&outbox).await,
            [
                (Destination::Cibler, DeliveryState::Delivered, 1),
                (Destination::Citrusad, DeliveryState::Pending, 1),
            ]
        );
        let reopened = rusqlite::Connection::open(&path).unwrap();
        let triggers: i64 = reopened
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(triggers, 0);
    }

    /// The schema of session 3's relay: depth counts kept by triggers.
    const TRIGGER_COUNTED_SCHEMA: &str = "
        CREATE TABLE checkouts (order_id TEXT PRIMARY KEY NOT NULL, checkout_json TEXT NOT NULL,
            cookie_id TEXT, accepted_at INTEGER NOT NULL);
        CREATE TABLE deliveries (destination TEXT NOT NULL,
            order_id TEXT NOT NULL REFERENCES checkouts(order_id), state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
            budget_started_at INTEGER NOT NULL, last_error TEXT, vendor_status INTEGER,
            vendor_response TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
            delivered_at INTEGER, PRIMARY KEY (destination, order_id));
        CREATE INDEX deliveries_waiting ON deliveries (destination, next_attempt_at)
            WHERE state IN ('pending', 'retrying');
        CREATE INDEX deliveries_dead ON deliveries (updated_at, order_id) WHERE state = 'dead';
        CREATE TABLE delivery_counts (destination TEXT NOT NULL, state TEXT NOT NULL,
            n INTEGER NOT NULL, PRIMARY KEY (destination, state)) WITHOUT ROWID;
        CREATE TRIGGER delivery_counted AFTER INSERT ON deliveries BEGIN
            INSERT INTO delivery_counts (destination, state, n) VALUES (NEW.destination, NEW.state, 1)
                ON CONFLICT (destination, state) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER delivery_recounted AFTER UPDATE OF state ON deliveries
            WHEN OLD.state IS NOT NEW.state BEGIN
            UPDATE delivery_counts SET n = n - 1
                WHERE destination = OLD.destination AND state = OLD.state;
            INSERT INTO delivery_counts (destination, state, n) VALUES (NEW.destination, NEW.state, 1)
                ON CONFLICT (destination, state) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER delivery_uncounted AFTER DELETE ON deliveries BEGIN
            UPDATE delivery_counts SET n = n - 1
                WHERE destination = OLD.destination AND state = OLD.state;
        END;";

    /// The schema of the relay before its leases moved into the serving process.
    const PREVIOUS_SCHEMA: &str = "
        CREATE TABLE checkouts (order_id TEXT PRIMARY KEY NOT NULL, checkout_json TEXT NOT NULL,
            cookie_id TEXT, accepted_at INTEGER NOT NULL);
        CREATE TABLE deliveries (destination TEXT NOT NULL,
            order_id TEXT NOT NULL REFERENCES checkouts(order_id), state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
            budget_started_at INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER,
            last_error TEXT, vendor_status INTEGER, vendor_response TEXT,
            created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, delivered_at INTEGER,
            PRIMARY KEY (destination, order_id));
        CREATE INDEX deliveries_due ON deliveries (destination, state, next_attempt_at);
        CREATE INDEX deliveries_by_order ON deliveries (order_id);";

    /// A checkout of about 1 KB, as a real one with a few line items.
    fn sizable_checkout(order_id: &str) -> NewCheckout {
        NewCheckout {
            checkout_json: format!(
                r#"{{"orderId":"{order_id}","pad":"{}"}}"#,
                "x".repeat(1_000)
            ),
            ..checkout(order_id, InitialState::Pending)
        }
    }

    /// A file written by the relay before retention (no auto-vacuum, no `pruned_orders`) keeps
    /// every order when a relay serves it (an operator command leaves it as it is); it is then
    /// rewritten once with incremental auto-vacuum, and the orders pruned give their space
    /// back to the filesystem: the file shrinks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_written_before_retention_gives_the_space_of_pruned_orders_back() {
        const ORDERS: usize = 3_000;
        let fresh = Fresh::sqlite();
        let path = std::path::PathBuf::from(fresh.url.trim_start_matches("sqlite://"));
        {
            let outbox: Arc<dyn Outbox> = Arc::new(SqliteOutbox::open(&fresh.url).await.unwrap());
            for n in 0..ORDERS {
                outbox
                    .insert(sizable_checkout(&format!("big{n}")), 0)
                    .await
                    .unwrap();
            }
            for destination in Destination::ALL {
                for _ in 0..ORDERS / 1_000 {
                    cases::settle_all(&outbox, destination, delivered(), 10).await;
                }
            }
            outbox
                .insert(sizable_checkout("waiting"), 20)
                .await
                .unwrap();
            // Dropped: the writer and the checkpointer close their connections.
        }
        std::thread::sleep(Duration::from_millis(200));
        common::as_written_before_retention(&path);
        let written_before = std::fs::metadata(&path).unwrap().len();
        assert!(written_before > (ORDERS * 1_000) as u64, "{written_before}");

        let operator = SqliteOutbox::open(&fresh.url).await.unwrap();
        assert_eq!(operator.pragma("auto_vacuum").await.unwrap(), "0");
        operator.close().await;
        drop(operator);

        let served = SqliteOutbox::open_to_serve(&fresh.url).await.unwrap();
        assert_eq!(
            served.pragma("auto_vacuum").await.unwrap(),
            "2",
            "incremental"
        );
        let served: Arc<dyn Outbox> = Arc::new(served);
        let n = ORDERS as u64;
        assert_eq!(
            depth_of(&served).await,
            [
                (Destination::Cibler, DeliveryState::Delivered, n),
                (Destination::Cibler, DeliveryState::Pending, 1),
                (Destination::Citrusad, DeliveryState::Delivered, n),
                (Destination::Citrusad, DeliveryState::Pending, 1),
            ]
        );
        let mut pruned = 0;
        loop {
            let step = served.prune_finished(100, 200, 1_000).await.unwrap();
            pruned += step.removed;
            if !step.more {
                break;
            }
        }
        assert_eq!(pruned, n);
        let mut free = u64::MAX;
        while free > 0 {
            free = served.reclaim_space(256).await.unwrap();
        }
        assert_eq!(common::sqlite_pragma(&path, "freelist_count"), 0);
        // The checkpointer copies the truncation into the file once the WAL is all copied:
        // here, with nothing else writing, at once; waited for, not assumed.
        let shrunk = common::wait_for("the file to shrink", common::DEADLINE, || {
            common::sqlite_pragma(&path, "wal_checkpoint(PASSIVE)");
            let size = std::fs::metadata(&path).unwrap().len();
            (size < written_before / 10).then_some(size)
        });
        assert!(shrunk > 0);
        let claimed = served
            .claim_due(Destination::Cibler, 10, "w", LEASE, 30)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].order_id, "waiting");
        assert!(served.pruned("big7").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_second_relay_cannot_serve_the_same_file() {
        let fresh = Fresh::sqlite();
        let serving = outbox::open_for_delivery(&fresh.url).await.unwrap();
        let refused = outbox::open_for_delivery(&fresh.url)
            .await
            .err()
            .expect("a second relay on the same file");
        assert!(
            matches!(refused, StorageError::AlreadyServed { .. }),
            "{refused:?}"
        );
        // Operator commands still open it beside the serving relay.
        assert!(fresh.open().await.status("none").await.unwrap().is_none());
        drop(serving);
        outbox::open_for_delivery(&fresh.url)
            .await
            .expect("served again once the first relay is gone");
    }

    #[tokio::test]
    async fn a_new_relay_starts_with_the_leases_of_a_crashed_one_free() {
        let fresh = Fresh::sqlite();
        let outbox = fresh.open().await;
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
        let restarted = outbox::open_for_delivery(&fresh.url).await.unwrap();
        let resumed = restarted
            .claim_due(Destination::Cibler, 1, "next", LEASE, now)
            .await
            .unwrap();
        assert_eq!(resumed.len(), 1, "due at once, not after the lease");
    }
}

/// One outbox model: both backends keep the same tables with the same columns, in the same
/// order, the same indexes and the same lease columns (the SQLite file and a PostgreSQL
/// database, each as this relay creates it).
#[tokio::test]
async fn the_backends_keep_the_same_tables_and_columns() {
    let sqlite = Fresh::sqlite();
    drop(sqlite.open().await);
    let file = rusqlite::Connection::open(sqlite.url.trim_start_matches("sqlite://")).unwrap();
    let names = |sql: &str| -> Vec<String> {
        file.prepare(sql)
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let tables = names(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'ordersync_%' \
         ORDER BY name",
    );
    let mut in_sqlite = Vec::new();
    for table in &tables {
        for column in names(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        )) {
            in_sqlite.push(format!("{table}.{column}"));
        }
    }
    let indexes_in_sqlite = names(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ordersync_%' \
         ORDER BY name",
    );

    let postgres = Fresh::postgres();
    drop(postgres.open().await);
    let Keep::Database(database) = &postgres._keep else {
        unreachable!()
    };
    let lines = |sql: &str| -> Vec<String> {
        database
            .psql(sql)
            .lines()
            .map(str::to_owned)
            .filter(|line| !line.is_empty())
            .collect()
    };
    let in_postgres = lines(
        "SELECT table_name || '.' || column_name FROM information_schema.columns \
         WHERE table_name LIKE 'ordersync_%' AND table_name <> 'ordersync_schema_migrations' \
         ORDER BY table_name, ordinal_position",
    );
    let indexes_in_postgres = lines(
        "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ordersync_%' \
         AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_id_key' ORDER BY indexname",
    );
    assert_eq!(in_sqlite, in_postgres);
    assert!(in_sqlite.contains(&"ordersync_deliveries.lease_until".to_owned()));
    assert_eq!(indexes_in_sqlite, indexes_in_postgres);
}

/// PostgreSQL only: migrations from several instances at once, a newer schema refused, and
/// a starting instance leaving the live leases of the others alone.
mod postgres_only {
    use super::*;

    /// A database whose errors hold the vendor's answer (written before migration 3): cut by
    /// the migration.
    #[tokio::test]
    async fn migration_3_cuts_errors_holding_the_vendors_answer() {
        let fresh = Fresh::postgres();
        let outbox = PostgresOutbox::open(&fresh.url).await.unwrap();
        errors_written_with_answers::write(&outbox).await;
        let Keep::Database(database) = &fresh._keep else {
            unreachable!()
        };
        database.psql("DELETE FROM ordersync_schema_migrations WHERE version = 3");
        assert_eq!(outbox.migrate().await.unwrap(), 1);
        errors_written_with_answers::assert_cut(&outbox).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn several_instances_starting_at_once_migrate_once() {
        let fresh = Fresh::postgres();
        let mut starts = Vec::new();
        for _ in 0..6 {
            let url = fresh.url.clone();
            starts.push(tokio::spawn(async move {
                PostgresOutbox::open(&url).await.map(|_| ())
            }));
        }
        for start in starts {
            start.await.unwrap().expect("every instance starts");
        }
        let outbox = PostgresOutbox::open(&fresh.url).await.unwrap();
        assert_eq!(outbox.schema_versions().await.unwrap(), vec![1, 2, 3]);
        assert_eq!(outbox.migrate().await.unwrap(), 0, "nothing left to apply");
        outbox
            .insert(checkout("m", InitialState::Pending), 0)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_schema_newer_than_the_relay_is_refused() {
        let fresh = Fresh::postgres();
        PostgresOutbox::open(&fresh.url).await.unwrap();
        let Keep::Database(database) = &fresh._keep else {
            unreachable!()
        };
        database.psql("INSERT INTO ordersync_schema_migrations VALUES (99, 'from the future', 0)");
        let error = PostgresOutbox::open(&fresh.url).await.unwrap_err();
        assert!(
            matches!(
                error,
                StorageError::SchemaTooNew {
                    found: 99,
                    known: 3
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("upgrade this relay"));
    }

    /// After the first start (which creates the tables), the relay's database user needs no
    /// more than SELECT, INSERT, UPDATE and DELETE (retention) on them.
    #[tokio::test]
    async fn once_migrated_the_relay_needs_only_read_and_write_privileges() {
        let fresh = Fresh::postgres();
        PostgresOutbox::open(&fresh.url).await.unwrap();
        let Keep::Database(database) = &fresh._keep else {
            unreachable!()
        };
        let role = format!("relay_rw_{}", database.name());
        database.psql(&format!(
            "CREATE ROLE {role} LOGIN; \
             REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ordersync_checkouts, \
               ordersync_deliveries, ordersync_schema_migrations TO {role}"
        ));
        let url = fresh.url.replace("://ordersync@", &format!("://{role}@"));
        let outbox = outbox::open_for_delivery(&url)
            .await
            .expect("opens unprivileged");
        outbox
            .insert(checkout("p", InitialState::Pending), 0)
            .await
            .unwrap();
        let claimed = outbox
            .claim_due(Destination::Cibler, 1, "w", LEASE, 0)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(outbox
            .record(Destination::Cibler, "p", "w", delivered(), 1)
            .await
            .unwrap());
        let citrus = outbox
            .claim_due(Destination::Citrusad, 1, "w", LEASE, 1)
            .await
            .unwrap();
        assert_eq!(citrus.len(), 1);
        assert!(outbox
            .record(Destination::Citrusad, "p", "w", delivered(), 1)
            .await
            .unwrap());
        assert_eq!(outbox.prune_finished(1, 10, 2).await.unwrap().removed, 1);
        assert_eq!(outbox.forget_pruned(1, 10).await.unwrap().removed, 1);
        assert!(outbox.size_on_disk().await.unwrap() > 0);
        database.psql(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
    }

    /// The schema of the relay before retention (migration 1, as released), with orders in
    /// every state: brought to version 2, every order is still there as it was, the waiting
    /// ones are delivered, and the delivered ones can be pruned.
    #[tokio::test]
    async fn a_database_of_the_relay_before_retention_is_migrated_keeping_every_order() {
        let fresh = Fresh::postgres();
        let Keep::Database(database) = &fresh._keep else {
            unreachable!()
        };
        database.psql(&format!(
            "CREATE TABLE ordersync_schema_migrations (version INTEGER PRIMARY KEY, \
             description TEXT NOT NULL, applied_at BIGINT NOT NULL); \
             INSERT INTO ordersync_schema_migrations VALUES (1, 'checkouts and deliveries', 0); \
             {POSTGRES_SCHEMA_BEFORE_RETENTION} \
             INSERT INTO ordersync_checkouts VALUES ('w', '{{}}', NULL, 0), ('d', '{{}}', NULL, 0); \
             INSERT INTO ordersync_deliveries (destination, order_id, state, next_attempt_at, \
               budget_started_at, created_at, updated_at, delivered_at) VALUES \
               ('cibler', 'w', 'pending', 0, 0, 0, 0, NULL), \
               ('citrusad', 'w', 'dead', 0, 0, 0, 5, NULL), \
               ('cibler', 'd', 'delivered', 0, 0, 0, 7, 7), \
               ('citrusad', 'd', 'delivered', 0, 0, 0, 8, 8);"
        ));
        let outbox = outbox::open_for_delivery(&fresh.url).await.unwrap();
        let versions: Vec<String> = database
            .psql("SELECT version FROM ordersync_schema_migrations ORDER BY 1")
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(versions, ["1", "2", "3"]);
        assert_eq!(
            depth_of(&outbox).await,
            [
                (Destination::Cibler, DeliveryState::Delivered, 1),
                (Destination::Cibler, DeliveryState::Pending, 1),
                (Destination::Citrusad, DeliveryState::Dead, 1),
                (Destination::Citrusad, DeliveryState::Delivered, 1),
            ]
        );
        let claimed = outbox
            .claim_due(Destination::Cibler, 10, "w", LEASE, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].order_id, "w");
        assert_eq!(
            outbox.prune_finished(100, 10, 200).await.unwrap().removed,
            1
        );
        assert_eq!(
            outbox.pruned("d").await.unwrap().unwrap().delivered_at_ms,
            Some(8)
        );
        assert!(outbox.status("w").await.unwrap().is_some());
        assert_eq!(outbox.dead_letters(10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_starting_instance_leaves_the_leases_of_live_ones() {
        let fresh = Fresh::postgres();
        let live = fresh.open().await;
        live.insert(checkout("held", InitialState::Pending), 0)
            .await
            .unwrap();
        let now = ordersync_relay::clock::now_ms();
        let held = live
            .claim_due(Destination::Cibler, 1, "live-instance", LEASE, now)
            .await
            .unwrap();
        assert_eq!(held.len(), 1);
        let starting = outbox::open_for_delivery(&fresh.url).await.unwrap();
        assert!(
            starting
                .claim_due(Destination::Cibler, 1, "new-instance", LEASE, now)
                .await
                .unwrap()
                .is_empty(),
            "the live instance's lease must hold"
        );
        assert!(live
            .record(
                Destination::Cibler,
                "held",
                "live-instance",
                delivered(),
                now
            )
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_without_the_password() {
        // A port nothing listens on (the cluster's port + nothing bound there is not certain,
        // so bind one and close it).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgres://relay:s3cret-pw@127.0.0.1:{port}/ordersync");
        let error = PostgresOutbox::open(&url).await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{port}/ordersync")),
            "{text}"
        );
        assert!(!text.contains("s3cret-pw"), "{text}");
    }
}
