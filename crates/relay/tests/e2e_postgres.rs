//! Several relay instances on one PostgreSQL database, as real processes over real HTTP,
//! against a throwaway PostgreSQL server and the vendor sandbox.
//!
//! Under load (hand-offs from several client threads spread over the instances, the way a
//! load balancer would, moving on to the next instance when one does not answer), one instance
//! is killed with kill -9 mid-delivery, or stopped with SIGTERM. Every accepted checkout must
//! reach both sandbox vendors; no order may be in flight at one vendor from two instances at
//! the same time (checked on the sandbox's journal: the windows between a request's arrival
//! and its answer never overlap for one order id); repeats (at-least-once: a vendor that
//! answered just as the instance died is sent the order again by another one) are printed,
//! and bounded by what the dead instance could have had in flight.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::postgres::PgCluster;
use common::*;
use serde_json::json;

/// CibleR requests one instance sends at once (so at most this many CibleR orders can be in
/// flight when it dies).
const CIBLER_CONCURRENCY: usize = 4;
/// The most orders in one CitrusAd batch.
const CITRUS_BATCH: usize = 100;
/// CitrusAd batches one instance sends at once.
const CITRUS_CONCURRENCY: usize = 2;
/// The most CitrusAd orders one instance can have in flight.
const CITRUS_IN_FLIGHT: usize = CITRUS_BATCH * CITRUS_CONCURRENCY;
/// Time for everything to be delivered after the load: the dead instance's leases (7 s here)
/// must run out first, on a loaded 2-core machine.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(120);

/// A PostgreSQL cluster, the sandbox, and `count` relays sharing one database.
struct Fleet {
    relays: Vec<Relay>,
    sandbox: Sandbox,
    // Declared last: dropped after the relays, so they never see the database vanish.
    cluster: PgCluster,
}

impl Fleet {
    fn start(count: usize, sandbox_flags: &[&str]) -> Fleet {
        let cluster = PgCluster::start();
        cluster.psql("postgres", "CREATE DATABASE ordersync");
        let sandbox = Sandbox::start(sandbox_flags);
        let options = RelayOptions {
            database_url: Some(cluster.url("ordersync")),
            // Longer than the harness's 1 s, so a request slowed by a loaded machine is not
            // abandoned and sent again while the vendor still handles the first (that would
            // be a relay timeout, not two instances sharing an order); the lease must exceed
            // 2 × timeout + linger.
            env: vec![
                ("ORDERSYNC_VENDOR_TIMEOUT".into(), "3s".into()),
                ("ORDERSYNC_LEASE_DURATION".into(), "7s".into()),
            ],
            ..RelayOptions::default()
        }
        // Every client here is 127.0.0.1: the per-client limit would throttle the test.
        .flag("--rate-limit-per-minute", "1000000")
        .flag("--rate-limit-burst", "100000")
        .flag("--cibler-concurrency", &CIBLER_CONCURRENCY.to_string())
        .flag("--citrus-concurrency", &CITRUS_CONCURRENCY.to_string());
        // Started one after another, each running the migrations at start: the later ones
        // find the schema in place.
        let relays = (0..count)
            .map(|_| Relay::start(&sandbox, options.clone()))
            .collect();
        Fleet {
            relays,
            sandbox,
            cluster,
        }
    }

    fn urls(&self) -> Vec<String> {
        self.relays.iter().map(|r| r.checkouts_url()).collect()
    }

    /// The first instance still running, to read statuses from.
    fn survivor(&mut self) -> &Relay {
        let index = (0..self.relays.len())
            .find(|&i| self.relays[i].is_running())
            .expect("an instance still runs");
        &self.relays[index]
    }
}

/// What the clients saw.
#[derive(Default)]
struct Accepted {
    /// Order id -> the status of the answer that accepted it (202, or 200 for one already
    /// stored through another instance before a retry).
    by_order: BTreeMap<u64, u16>,
    /// Hand-offs that found an instance gone and moved on to the next one.
    failovers: usize,
    /// Hand-offs answered 5xx or 429, tried again.
    refusals: usize,
}

/// Hands `order_id` off, starting at instance `first` and moving on to the next instance when
/// one does not answer, answers 5xx or 429 (as a load balancer, or the browser's retry,
/// would), for up to [`DEADLINE`] (a database restart refuses hand-offs with 503 meanwhile).
/// Records the accepting status, or panics on a refusal.
fn hand_off_with_failover(
    urls: &[String],
    first: usize,
    order_id: u64,
    accepted: &Mutex<Accepted>,
) {
    let token = sign(&checkout(order_id), unix_now() + 600);
    let body = json!({"token": token, "cookieId": "CIB1.42.1700000000"}).to_string();
    let client = agent();
    let started = Instant::now();
    for attempt in 0.. {
        let url = &urls[(first + attempt) % urls.len()];
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .send(body.as_bytes());
        match answer.map(|r| r.status().as_u16()) {
            Ok(status @ (200 | 202)) => {
                accepted.lock().unwrap().by_order.insert(order_id, status);
                return;
            }
            Ok(status) if status == 429 || status >= 500 => {
                accepted.lock().unwrap().refusals += 1;
            }
            Ok(status) => panic!("order {order_id} refused with {status} by {url}"),
            Err(_) => accepted.lock().unwrap().failovers += 1,
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no instance accepted order {order_id}"
        );
        if (attempt + 1) % urls.len() == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `clients` threads handing off `orders` round-robin over the instances; returns their
/// handles (the caller may kill an instance while they run).
fn load(
    urls: Vec<String>,
    orders: Vec<u64>,
    clients: usize,
    accepted: Arc<Mutex<Accepted>>,
) -> Vec<std::thread::JoinHandle<()>> {
    let next = Arc::new(AtomicUsize::new(0));
    let orders = Arc::new(orders);
    let urls = Arc::new(urls);
    (0..clients)
        .map(|_| {
            let (next, orders, urls, accepted) =
                (next.clone(), orders.clone(), urls.clone(), accepted.clone());
            std::thread::spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(&order_id) = orders.get(index) else {
                    return;
                };
                hand_off_with_failover(&urls, index % urls.len(), order_id, &accepted);
            })
        })
        .collect()
}

/// One vendor request that carried an order, as the sandbox journal shows it.
#[derive(Debug, Clone)]
struct Window {
    vendor: &'static str,
    order_id: String,
    received_at: u64,
    answered_at: u64,
    status: Option<u64>,
}

/// Every answered vendor request per order (CitrusAd batches: one window per order inside).
fn windows(sandbox: &Sandbox) -> Vec<Window> {
    let mut out = Vec::new();
    for request in sandbox.requests() {
        if request["method"] != "POST" {
            continue;
        }
        let (Some(received_at), Some(answered_at)) = (
            request["receivedAtMs"].as_u64(),
            request["answeredAtMs"].as_u64(),
        ) else {
            continue; // never answered: its connection went away with a killed instance
        };
        let path = request["path"].as_str().unwrap_or_default();
        let status = request["status"].as_u64();
        let mut push = |vendor, order_id: String| {
            out.push(Window {
                vendor,
                order_id,
                received_at,
                answered_at,
                status,
            })
        };
        if path.starts_with("/api/campaignBehaviors/order/") {
            push(
                "cibler",
                request["body"]["orderInformation"]["orderId"].to_string(),
            );
        } else if path == "/v1/orders" {
            for order in request["body"]["orders"].as_array().into_iter().flatten() {
                push(
                    "citrusad",
                    order["id"].as_str().unwrap_or_default().to_owned(),
                );
            }
        }
    }
    out
}

/// Pairs of requests for one order at one vendor whose windows overlap: the order was in
/// flight twice at the same time.
fn overlaps(windows: &[Window]) -> Vec<String> {
    let mut by_order: BTreeMap<(&str, &str), Vec<&Window>> = BTreeMap::new();
    for w in windows {
        by_order
            .entry((w.vendor, w.order_id.as_str()))
            .or_default()
            .push(w);
    }
    let mut found = Vec::new();
    for ((vendor, order_id), mut list) in by_order {
        list.sort_by_key(|w| w.received_at);
        for pair in list.windows(2) {
            if pair[1].received_at < pair[0].answered_at {
                found.push(format!(
                    "{vendor} {order_id}: [{}, {}] and [{}, {}]",
                    pair[0].received_at,
                    pair[0].answered_at,
                    pair[1].received_at,
                    pair[1].answered_at
                ));
            }
        }
    }
    found
}

/// How many orders a vendor was sent successfully more than once.
fn repeats(windows: &[Window], vendor: &str) -> usize {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for w in windows
        .iter()
        .filter(|w| w.vendor == vendor && w.status == Some(200))
    {
        *counts.entry(&w.order_id).or_default() += 1;
    }
    counts.values().filter(|&&n| n > 1).count()
}

fn delivered_ids(windows: &[Window], vendor: &str) -> BTreeSet<String> {
    windows
        .iter()
        .filter(|w| w.vendor == vendor && w.status == Some(200))
        .map(|w| w.order_id.clone())
        .collect()
}

fn wait_all_delivered(sandbox: &Sandbox, wanted: &BTreeSet<String>) -> Vec<Window> {
    wait_for(
        "every accepted order at both vendors",
        DELIVERY_DEADLINE,
        || {
            let seen = windows(sandbox);
            let done = wanted.is_subset(&delivered_ids(&seen, "cibler"))
                && wanted.is_subset(&delivered_ids(&seen, "citrusad"));
            done.then_some(seen)
        },
    )
}

/// How many CibleR orders an instance's log says it delivered.
fn delivered_by(relay: &Relay) -> usize {
    relay
        .logs()
        .lines()
        .filter(|l| l.contains("delivery attempt") && l.contains("delivered"))
        .filter(|l| l.contains("cibler"))
        .count()
}

/// The checks every scenario ends with; returns (CibleR repeats, CitrusAd repeats).
fn check_delivery(fleet: &mut Fleet, accepted: &Accepted, ordered: usize) -> (usize, usize) {
    assert_eq!(
        accepted.by_order.len(),
        ordered,
        "every hand-off was accepted by some instance"
    );
    let wanted: BTreeSet<String> = accepted.by_order.keys().map(u64::to_string).collect();
    let seen = wait_all_delivered(&fleet.sandbox, &wanted);
    let overlapping = overlaps(&seen);
    assert!(
        overlapping.is_empty(),
        "orders in flight twice at the same time:\n{}",
        overlapping.join("\n")
    );
    assert_eq!(fleet.sandbox.violations(), Vec::<String>::new());
    let batches: Vec<usize> = fleet
        .sandbox
        .requests_to("/v1/orders")
        .iter()
        .filter_map(|r| r["body"]["orders"].as_array().map(Vec::len))
        .collect();
    assert!(batches.iter().all(|&n| (1..=CITRUS_BATCH).contains(&n)));
    // The shared status: any instance reports what any other delivered.
    let survivor = fleet.survivor();
    for id in wanted.iter().step_by(17) {
        survivor.wait_state(id, "cibler", "delivered");
        survivor.wait_state(id, "citrusad", "delivered");
    }
    for relay in &fleet.relays {
        relay.assert_no_secret_in_logs();
    }
    (repeats(&seen, "cibler"), repeats(&seen, "citrusad"))
}

#[test]
fn three_instances_under_load_survive_a_kill_9_mid_delivery() {
    // Slow vendors, so deliveries are in flight when the kill lands.
    let mut fleet = Fleet::start(3, &["--latency-ms", "100"]);
    let orders: Vec<u64> = (3_100_001..=3_100_240).collect();
    let accepted = Arc::new(Mutex::new(Accepted::default()));
    let started = Instant::now();
    let clients = load(fleet.urls(), orders.clone(), 6, accepted.clone());
    wait_for("deliveries under way", DEADLINE, || {
        (fleet.sandbox.cibler_delivered().len() >= 20).then_some(())
    });
    let delivered_before_kill = delivered_by(&fleet.relays[0]);
    fleet.relays[0].kill9();
    let killed_at = started.elapsed();
    for client in clients {
        client.join().expect("a client thread");
    }
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    let (cibler_repeats, citrus_repeats) = check_delivery(&mut fleet, &accepted, orders.len());
    let survivors: Vec<usize> = fleet.relays[1..].iter().map(delivered_by).collect();
    eprintln!(
        "3 instances, {} orders: instance 0 killed (kill -9) after {killed_at:?} having \
         delivered {delivered_before_kill} to CibleR; the others delivered {survivors:?}; all \
         delivered to both vendors after {:?}; {} hand-off(s) failed over; repeats \
         (at-least-once): CibleR {cibler_repeats}, CitrusAd {citrus_repeats}; no order in \
         flight twice at once",
        orders.len(),
        started.elapsed(),
        accepted.failovers,
    );
    assert!(
        survivors.iter().all(|&n| n > 0),
        "the load was shared: {survivors:?}"
    );
    assert!(cibler_repeats <= CIBLER_CONCURRENCY, "{cibler_repeats}");
    assert!(citrus_repeats <= CITRUS_IN_FLIGHT, "{citrus_repeats}");
}

#[test]
fn two_instances_share_the_load_and_a_sigterm_hands_back_unsent_rows() {
    let mut fleet = Fleet::start(2, &["--latency-ms", "100"]);
    let orders: Vec<u64> = (3_200_001..=3_200_160).collect();
    let accepted = Arc::new(Mutex::new(Accepted::default()));
    let started = Instant::now();
    let clients = load(fleet.urls(), orders.clone(), 4, accepted.clone());
    wait_for("deliveries under way", DEADLINE, || {
        (fleet.sandbox.cibler_delivered().len() >= 15).then_some(())
    });
    assert!(
        fleet.relays[1].terminate(),
        "a graceful stop exits 0:\n{}",
        fleet.relays[1].logs()
    );
    for client in clients {
        client.join().expect("a client thread");
    }
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    let (cibler_repeats, citrus_repeats) = check_delivery(&mut fleet, &accepted, orders.len());
    let stopped_logs = fleet.relays[1].logs();
    assert!(stopped_logs.contains("relay stopped"), "{stopped_logs}");
    assert!(
        !stopped_logs.contains("lease lost"),
        "a graceful stop records or hands back every row it held"
    );
    // A graceful stop finishes what it sent and records it: nothing is sent twice.
    assert_eq!((cibler_repeats, citrus_repeats), (0, 0));
    eprintln!(
        "2 instances, {} orders: instance 1 stopped with SIGTERM; delivered by each: {:?}; all \
         delivered to both vendors after {:?}; {} hand-off(s) failed over; no repeats",
        orders.len(),
        fleet.relays.iter().map(delivered_by).collect::<Vec<_>>(),
        started.elapsed(),
        accepted.failovers,
    );
}

#[test]
fn repeats_through_other_instances_are_answered_with_the_stored_order() {
    let fleet = Fleet::start(2, &[]);
    let order = checkout(3_300_001);
    let first = fleet.relays[0].hand_off(&order, None);
    assert_eq!(first.status, 202, "{}", first.text);
    let repeat = fleet.relays[1].hand_off(&order, Some("CIB1.5.6"));
    assert_eq!(repeat.status, 200, "{}", repeat.text);
    assert_eq!(repeat.body["orderId"], "3300001");
    fleet.relays[1].wait_state("3300001", "cibler", "delivered");
    fleet.relays[0].wait_state("3300001", "citrusad", "delivered");
    // Delivered once per vendor, with the first hand-off's (absent) cookie.
    let cibler = fleet.sandbox.requests_to("/api/campaignBehaviors/");
    assert_eq!(cibler.len(), 1);
    assert_eq!(cibler[0]["body"]["orderContext"]["cookieId"], "");
    assert_eq!(fleet.sandbox.citrus_delivered(), vec!["3300001".to_owned()]);
    // Counters are per instance; the queue depth is the shared database's, so every instance
    // reports the same.
    let metrics = |relay: &Relay| get(&format!("{}/metrics", relay.url)).text;
    let (first, second) = (metrics(&fleet.relays[0]), metrics(&fleet.relays[1]));
    assert!(
        first.contains("ordersync_checkouts_accepted_total 1"),
        "{first}"
    );
    assert!(
        second.contains("ordersync_checkouts_duplicate_total 1"),
        "{second}"
    );
    for text in [&first, &second] {
        for destination in ["cibler", "citrusad"] {
            let line = format!(
                r#"ordersync_queue_depth{{destination="{destination}",state="delivered"}} 1"#
            );
            assert!(text.contains(&line), "{line} in:\n{text}");
        }
    }
    // The operator commands work on the shared database from anywhere.
    let (ok, out, err) = fleet.relays[1].operator(&["dead-letters", "list"], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("no dead letters"), "{out}");
    assert!(fleet.cluster.port() > 0);
}

#[test]
fn a_database_outage_is_reported_and_ridden_out_without_losing_an_order() {
    let fleet = Fleet::start(2, &[]);
    let before: Vec<u64> = (3_400_001..=3_400_010).collect();
    for (n, id) in before.iter().enumerate() {
        let reply = fleet.relays[n % 2].hand_off(&checkout(*id), None);
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
    fleet.cluster.pause();
    for relay in &fleet.relays {
        let started = Instant::now();
        let ready = get(&format!("{}/readyz", relay.url));
        assert_eq!(ready.status, 503, "{}", ready.text);
        // Soon enough for a load balancer's health check to take the instance out.
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "/readyz took {:?}",
            started.elapsed()
        );
        assert_eq!(get(&format!("{}/healthz", relay.url)).status, 200);
        // Not stored, and said so: the browser queues it and tries again later.
        let refused = relay.hand_off(&checkout(3_400_100), None);
        assert_eq!(refused.status, 503, "{}", refused.text);
        assert!(refused.header("retry-after").is_some());
        relay.assert_no_secret_in_logs();
    }
    fleet.cluster.resume();
    let ready = |relay: &Relay| get(&format!("{}/readyz", relay.url)).status == 200;
    wait_for("both instances ready again", DEADLINE, || {
        fleet.relays.iter().all(ready).then_some(())
    });
    let after: Vec<u64> = (3_400_011..=3_400_020).chain([3_400_100]).collect();
    for (n, id) in after.iter().enumerate() {
        let reply = fleet.relays[n % 2].hand_off(&checkout(*id), None);
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
    let wanted: BTreeSet<String> = before.iter().chain(&after).map(u64::to_string).collect();
    let seen = wait_all_delivered(&fleet.sandbox, &wanted);
    assert!(overlaps(&seen).is_empty());
    assert_eq!(fleet.sandbox.violations(), Vec::<String>::new());
}

#[test]
fn postgresql_restarting_under_load_loses_nothing() {
    let mut fleet = Fleet::start(2, &[]);
    let orders: Vec<u64> = (3_500_001..=3_500_600).collect();
    let accepted = Arc::new(Mutex::new(Accepted::default()));
    let clients = load(fleet.urls(), orders.clone(), 4, accepted.clone());
    wait_for("a third of the orders accepted", DEADLINE, || {
        (accepted.lock().unwrap().by_order.len() >= orders.len() / 3).then_some(())
    });
    // A restart as an operator or a package upgrade does it, mid-load and mid-delivery.
    let before_restart = accepted.lock().unwrap().by_order.len();
    fleet.cluster.pause();
    std::thread::sleep(Duration::from_secs(1));
    fleet.cluster.resume();
    let after_restart = accepted.lock().unwrap().by_order.len();
    assert!(
        after_restart < orders.len(),
        "the restart happened under load"
    );
    eprintln!(
        "postgres restart: {before_restart} accepted before, {after_restart} when it was back"
    );
    for client in clients {
        client.join().expect("a client thread");
    }
    let accepted = Arc::try_unwrap(accepted)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap();
    eprintln!(
        "postgres restart: {} hand-offs refused and tried again, {} failovers",
        accepted.refusals, accepted.failovers
    );
    assert!(
        fleet.relays.iter_mut().all(Relay::is_running),
        "no instance exited"
    );
    let (cibler_repeats, citrus_repeats) = check_delivery(&mut fleet, &accepted, orders.len());
    eprintln!("postgres restart: repeats cibler={cibler_repeats} citrusad={citrus_repeats}");
}
