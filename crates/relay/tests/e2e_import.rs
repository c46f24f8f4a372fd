//! `ordersync-relay import` end to end: a real relay process serving its outbox (SQLite, then
//! PostgreSQL), the vendor sandbox, and the import command run as the operator runs it, beside
//! the serving relay.
//!
//! The file: 10,000 orders, among them malformed lines, invalid checkouts, repeats of orders
//! the relay delivered before, and repeats within the file. The vendors must receive exactly
//! the new valid orders, once each; the summary's counts are exact; the refusals file holds
//! each refused line with its line number, field and reason; a dry run stores nothing; a second
//! run of the same file sends nothing. Hand-offs keep being accepted while the import runs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use common::postgres::PgCluster;
use common::*;
use serde_json::{json, Value};

/// Orders the relay delivered before the import (the file repeats each of them).
const DELIVERED_BEFORE: std::ops::Range<u64> = 500_001..500_051;
/// Hand-offs posted while the import runs.
const DURING_IMPORT: std::ops::Range<u64> = 700_001..700_101;

/// The relay's destination settings, as the operator's environment holds them for `serve`.
fn relay_environment(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        ("ORDERSYNC_CIBLER_BASE_URL", sandbox.url.clone()),
        ("ORDERSYNC_CIBLER_CUSTOMER_ID", CIBLER_CUSTOMER.into()),
        ("ORDERSYNC_CIBLER_API_KEY", CIBLER_KEY.into()),
        ("ORDERSYNC_CIBLER_SITE_ID", "13".into()),
        ("ORDERSYNC_CITRUS_BASE_URL", sandbox.url.clone()),
        ("ORDERSYNC_CITRUS_API_KEY", CITRUS_KEY.into()),
        ("ORDERSYNC_CITRUS_TEAM_ID", CITRUS_TEAM.into()),
    ]
}

/// What `ordersync-relay import` did: its exit code and output.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn summary(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("a JSON summary ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `ordersync-relay import ARGS --database-url URL` in `dir` with `env`, feeding `stdin`.
fn import(
    database_url: &str,
    args: &[&str],
    env: &[(&'static str, String)],
    dir: &Path,
    stdin: Option<&[u8]>,
) -> Run {
    let mut child = Command::new(BINARY)
        .arg("import")
        .args(args)
        .args(["--database-url", database_url])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ordersync-relay import");
    if let Some(bytes) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A valid line: the checkout, with `cookieId` when `cookie` is given.
fn order_line(order_id: u64, cookie: Option<&str>) -> String {
    let mut line = checkout(order_id);
    if let Some(cookie) = cookie {
        line["cookieId"] = json!(cookie);
    }
    line.to_string()
}

/// The import file, and what a first import of it must do.
struct ImportFile {
    lines: Vec<String>,
    /// Order ids a first import stores, each once.
    new: BTreeSet<String>,
    /// Lines known already: repeats of delivered orders, and of orders earlier in the file.
    already_known: u64,
    /// Refused line numbers, with the field named (`None`: the line as a whole).
    refused: BTreeMap<u64, Option<&'static str>>,
}

impl ImportFile {
    /// `orders` lines (plus one blank line, skipped), of every kind.
    fn build(orders: u64) -> ImportFile {
        let mut file = ImportFile {
            lines: Vec::new(),
            new: BTreeSet::new(),
            already_known: 0,
            refused: BTreeMap::new(),
        };
        let mut delivered_before = DELIVERED_BEFORE;
        for i in 0..orders {
            let id = 600_000 + i;
            let (line, refused_field) = match i {
                _ if i % 500 == 7 => (order_line(id, None)[..40].to_owned(), Some(None)),
                _ if i % 500 == 123 => {
                    let mut line = checkout(id);
                    line["items"][0]["quantity"] = json!(0);
                    (line.to_string(), Some(Some("items[0].quantity")))
                }
                _ if i % 1000 == 321 => {
                    let mut line = checkout(id);
                    line["orderId"] = json!(format!("A-{id}"));
                    (line.to_string(), Some(Some("orderId")))
                }
                _ if i % 1000 == 654 => {
                    let mut line = checkout(id);
                    line.as_object_mut().unwrap().remove("email");
                    (line.to_string(), Some(Some("email")))
                }
                _ if i % 2000 == 999 => ("[1,2]".to_owned(), Some(None)),
                _ if i % 200 == 50 && !delivered_before.is_empty() => {
                    let repeat = delivered_before.next().unwrap();
                    file.already_known += 1;
                    (order_line(repeat, Some("CIB1.repeat")), None)
                }
                _ if i % 1000 == 777 => {
                    // The order of the line before, again (a shop's export listing it twice).
                    file.already_known += 1;
                    (order_line(id - 1, None), None)
                }
                _ => {
                    file.new.insert(id.to_string());
                    let cookie = format!("CIB1.{id}.1700000000");
                    (order_line(id, (i % 2 == 0).then_some(&cookie)), None)
                }
            };
            if i == orders / 2 {
                file.lines.push(String::new());
            }
            file.lines.push(line);
            if let Some(field) = refused_field {
                file.refused.insert(file.lines.len() as u64, field);
            }
        }
        file
    }

    fn text(&self) -> String {
        self.lines.join("\n") + "\n"
    }

    fn records(&self) -> u64 {
        self.lines.iter().filter(|l| !l.is_empty()).count() as u64
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn queue(relay: &Relay, destination: &str, state: &str) -> f64 {
    let metrics = get(&format!("{}/metrics", relay.url)).text;
    metric(
        &metrics,
        &format!("ordersync_queue_depth{{destination=\"{destination}\",state=\"{state}\"}}"),
    )
}

/// Waits until no order waits at either vendor and `delivered` are delivered at each.
fn wait_delivered(relay: &Relay, delivered: usize) {
    wait_for(
        &format!("{delivered} orders delivered at both vendors"),
        std::time::Duration::from_secs(300),
        || {
            ["cibler", "citrusad"]
                .iter()
                .all(|d| {
                    queue(relay, d, "pending") + queue(relay, d, "retrying") == 0.0
                        && queue(relay, d, "delivered") == delivered as f64
                })
                .then_some(())
        },
    );
}

/// How many times each order id was delivered.
fn times_delivered(delivered: Vec<String>) -> BTreeMap<String, usize> {
    let mut times = BTreeMap::new();
    for order_id in delivered {
        *times
            .entry(order_id.trim_matches('"').to_owned())
            .or_default() += 1;
    }
    times
}

fn reconcile(database_url: Option<String>) {
    let sandbox = Sandbox::start(&[]);
    let relay = Relay::start(
        &sandbox,
        RelayOptions {
            database_url,
            ..RelayOptions::default()
        }
        // All the hand-offs come from this one test: the per-client limit is not under test.
        .flag("--rate-limit-burst", "1000"),
    );
    let env = relay_environment(&sandbox);
    for order_id in DELIVERED_BEFORE {
        assert_eq!(relay.hand_off(&checkout(order_id), None).status, 202);
    }
    wait_delivered(&relay, DELIVERED_BEFORE.count());

    let file = ImportFile::build(10_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders-2026.jsonl");
    std::fs::write(&input, file.text()).unwrap();
    let input_arg = input.to_str().unwrap();
    let expected = |new: u64, already_known: u64| {
        json!({
            "read": file.records(),
            "new": new,
            "alreadyKnown": already_known,
            "refused": file.refused.len(),
        })
    };
    let counts = |summary: &Value| {
        json!({
            "read": summary["read"],
            "new": summary["new"],
            "alreadyKnown": summary["alreadyKnown"],
            "refused": summary["refused"],
        })
    };

    // A dry run counts what an import would do, and stores nothing.
    let dry = import(
        &relay.database_url(),
        &[input_arg, "--dry-run", "--json"],
        &env,
        dir.path(),
        None,
    );
    assert_eq!(dry.code, Some(2), "some lines are refused: {}", dry.stderr);
    let summary = dry.summary();
    assert_eq!(summary["dryRun"], true);
    assert_eq!(
        counts(&summary),
        expected(file.new.len() as u64, file.already_known)
    );
    let first_new = file.new.iter().next().unwrap();
    assert_eq!(
        relay.status(first_new).status,
        404,
        "a dry run stores nothing"
    );
    assert_eq!(queue(&relay, "cibler", "pending"), 0.0);

    // The import, while shoppers' hand-offs keep arriving.
    let (run, hand_offs) = std::thread::scope(|scope| {
        let importing = scope.spawn(|| {
            import(
                &relay.database_url(),
                &[input_arg, "--json"],
                &env,
                dir.path(),
                None,
            )
        });
        let hand_offs: Vec<u16> = DURING_IMPORT
            .map(|order_id| relay.hand_off(&checkout(order_id), None).status)
            .collect();
        (importing.join().unwrap(), hand_offs)
    });
    assert!(
        hand_offs.iter().all(|status| *status == 202),
        "every hand-off during the import accepted: {hand_offs:?}"
    );
    assert_eq!(run.code, Some(2), "some lines are refused: {}", run.stderr);
    let summary = run.summary();
    assert_eq!(
        counts(&summary),
        expected(file.new.len() as u64, file.already_known)
    );
    assert_eq!(summary["dryRun"], false);

    // The refusals: next to the input, one line each, in order, with field and reason.
    let refused_path = dir.path().join("orders-2026.refused.jsonl");
    assert_eq!(
        summary["refusedFile"],
        refused_path.to_str().unwrap(),
        "{summary:#}"
    );
    let refusals: Vec<Value> = std::fs::read_to_string(&refused_path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let numbers: Vec<u64> = refusals
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, file.refused.keys().copied().collect::<Vec<_>>());
    for refusal in &refusals {
        let number = refusal["line"].as_u64().unwrap();
        assert_eq!(
            refusal["field"].as_str(),
            file.refused[&number],
            "{refusal}"
        );
        assert_eq!(
            refusal["text"],
            file.lines[number as usize - 1],
            "{refusal}"
        );
        assert!(!refusal["reason"].as_str().unwrap().is_empty(), "{refusal}");
    }
    assert!(run.stderr.contains("refused"), "{}", run.stderr);

    // The vendors get every new order once, and the hand-offs; nothing else.
    let total = DELIVERED_BEFORE.count() + file.new.len() + DURING_IMPORT.count();
    wait_delivered(&relay, total);
    let mut expected_ids: BTreeSet<String> = file.new.clone();
    expected_ids.extend(DELIVERED_BEFORE.map(|id| id.to_string()));
    expected_ids.extend(DURING_IMPORT.map(|id| id.to_string()));
    for (vendor, delivered) in [
        ("CibleR", sandbox.cibler_delivered()),
        ("CitrusAd", sandbox.citrus_delivered()),
    ] {
        let times = times_delivered(delivered);
        assert_eq!(
            times.keys().cloned().collect::<BTreeSet<_>>(),
            expected_ids,
            "{vendor} received exactly the new orders"
        );
        let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{vendor} got orders twice: {twice:?}");
    }
    assert!(
        sandbox.violations().is_empty(),
        "{:?}",
        sandbox.violations()
    );
    // The cookie the shop stored with an order is delivered with it.
    let with_cookie = sandbox
        .requests_to("/api/campaignBehaviors/order/")
        .into_iter()
        .find(|r| r["body"]["orderInformation"]["orderId"] == json!(600_000));
    assert!(
        with_cookie.is_some_and(|r| r.to_string().contains("CIB1.600000.1700000000")),
        "the imported cookieId reaches CibleR"
    );

    // The same file again: every valid order is known now; nothing is stored or sent.
    let journal_before = sandbox.requests().len();
    let again = import(
        &relay.database_url(),
        &[input_arg, "--json"],
        &env,
        dir.path(),
        None,
    );
    assert_eq!(again.code, Some(2), "{}", again.stderr);
    assert_eq!(
        counts(&again.summary()),
        expected(0, file.new.len() as u64 + file.already_known)
    );
    std::thread::sleep(std::time::Duration::from_secs(1)); // ten poll intervals
    for destination in ["cibler", "citrusad"] {
        assert_eq!(queue(&relay, destination, "pending"), 0.0);
        assert_eq!(queue(&relay, destination, "delivered"), total as f64);
    }
    assert_eq!(
        sandbox.requests().len(),
        journal_before,
        "nothing sent again"
    );
    relay.assert_no_secret_in_logs();
}

#[test]
fn sqlite_an_import_beside_the_serving_relay_sends_each_new_order_once() {
    reconcile(None);
}

#[test]
fn postgres_an_import_sends_each_new_order_once() {
    let database = PgCluster::shared().database("import");
    reconcile(Some(database.url()));
}

/// Standard input (`-`), a clean file (exit 0, an empty refusals file), and where the
/// refusals go by default: the current directory for standard input.
#[test]
fn standard_input_and_the_default_refusals_file() {
    let sandbox = Sandbox::start(&[]);
    let env = relay_environment(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("outbox.db").display());
    let clean = format!(
        "{}\n{}\n",
        order_line(1, None),
        order_line(2, Some("CIB1.2"))
    );
    let from_stdin = |text: &str, env: &[(&'static str, String)]| {
        import(
            &database_url,
            &["-"],
            env,
            dir.path(),
            Some(text.as_bytes()),
        )
    };
    let run = from_stdin(&clean, &env);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("imported: -\n"), "{}", run.stdout);
    let new = run
        .stdout
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("new"))
        .and_then(|rest| rest.split_whitespace().next());
    assert_eq!(new, Some("2"), "{}", run.stdout);
    let refused = dir.path().join("ordersync-import.refused.jsonl");
    assert_eq!(std::fs::read_to_string(&refused).unwrap(), "");

    let broken = format!("{}\n{{\"orderId\":\n", order_line(3, None));
    let run = from_stdin(&broken, &env);
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    let refusal: Value =
        serde_json::from_str(std::fs::read_to_string(&refused).unwrap().trim()).unwrap();
    assert_eq!(refusal["line"], 2);
    assert_eq!(refusal["code"], "invalid_json");
    assert!(run.stderr.contains("line 2: refused"), "{}", run.stderr);

    // Without the relay's destination settings nothing could be planned: refused at once.
    let run = from_stdin(&clean, &[]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("no destination is configured"),
        "{}",
        run.stderr
    );
}

/// Orders delivered and pruned at the retention are remembered (`--order-id-memory`): an import
/// of them counts them as already known and sends nothing again; the new ones in the same file
/// are delivered once.
#[test]
fn pruned_orders_remembered_by_the_relay_are_not_sent_again() {
    let sandbox = Sandbox::start(&[]);
    let relay = Relay::start(
        &sandbox,
        RelayOptions::default()
            .flag("--retention", "1s")
            .flag("--order-id-memory", "1h")
            .flag("--prune-interval", "200ms"),
    );
    let pruned = 810_001..810_006;
    for order_id in pruned.clone() {
        assert_eq!(relay.hand_off(&checkout(order_id), None).status, 202);
    }
    for order_id in pruned.clone() {
        wait_for(&format!("order {order_id} to be pruned"), DEADLINE, || {
            let reply = relay.status(&order_id.to_string());
            (reply.status == 200 && reply.body["pruned"].is_object()).then_some(())
        });
    }
    let new = 820_001..820_004;
    let lines: Vec<String> = pruned
        .clone()
        .chain(new.clone())
        .map(|order_id| order_line(order_id, None))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let run = import(
        &relay.database_url(),
        &["-", "--json"],
        &relay_environment(&sandbox),
        dir.path(),
        Some((lines.join("\n") + "\n").as_bytes()),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.summary();
    assert_eq!(
        (&summary["new"], &summary["alreadyKnown"]),
        (&json!(3), &json!(5)),
        "{summary:#}"
    );
    let expected: BTreeMap<String, usize> = pruned
        .chain(new)
        .map(|order_id| (order_id.to_string(), 1))
        .collect();
    // Read from the sandbox's journal: the new orders are pruned too, a second after delivery.
    wait_for("the new orders delivered at both vendors", DEADLINE, || {
        let cibler = times_delivered(sandbox.cibler_delivered());
        let citrus = times_delivered(sandbox.citrus_delivered());
        (cibler.len() == expected.len() && citrus.len() == expected.len()).then_some(())
    });
    // Ten poll intervals more: nothing else arrives.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(times_delivered(sandbox.cibler_delivered()), expected);
    assert_eq!(times_delivered(sandbox.citrus_delivered()), expected);
}
