#!/usr/bin/env python3
"""Retention benchmark (SQLite outbox): what a million delivered orders take on disk with and
without retention, and the relay's ingest latency while a prune of them runs.

Filling. A relay (release build) stores `--seed-orders` signed hand-offs through its real ingest
path (wrk) and delivers them to the vendor sandbox; once every one is delivered it is stopped,
and the outbox is topped up to `--orders` delivered orders by copying a row the relay itself
stored and delivered (its canonical checkout, cookie and both vendors' answers, under new order
ids), counted as the relay's writer counts it, as `memory.py` fills its million. Storing and
delivering a million orders over HTTP would take this 2-core machine much longer than a
benchmark should, and the rows would be the same.

Sizes, each after a full WAL checkpoint (`PRAGMA wal_checkpoint(TRUNCATE)`):
- without retention: the file holding the million delivered orders (the relay before retention
  kept them all, for ever);
- with retention: a relay started on a copy of that file with `--retention 1s` prunes them all
  (its pruner, in steps); the file once the pass has given the space back: what the million
  orders still cost, their remembered order ids (`ordersync_checkouts` rows without a checkout).

Ingest while pruning. wrk sends signed hand-offs at a paced rate (`--connections` connections,
each pausing about `--pace-ms` between requests) for `--seconds` to a relay on its own copy of
the million-order file: with the default retention (30 days: nothing to prune, the baseline),
and with `--retention 1s`, its pruner working through the million from its start (the run checks
from `/metrics` that pruning went on during the whole measurement); `--trials` of each,
alternated, and their medians. The vendors
are down (a closed port), as in `ingest.py`: each new order gets its first delivery attempt.

    python3 bench/retention.py [--orders 1000000] [--seconds 20] [--connections 100] [--pace-ms 50]
                               [--trials 3]
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import time

from ordersync_bench import (Processes, RelaySettings, VENDORS_DOWN_SETTINGS, closed_port_url, copy_order_up_to, fill_by_wrk,
                             log, machine_facts, metric_sum, relay_metrics, save_result, start_relay,
                             start_sandbox, stored_orders, wait_for, work_dir, wrk, write_bodies)

DESTINATIONS = ("cibler", "citrusad")
MIB = 2**20


def checkpointed_size(database) -> int:
    """The file's size once every page of its WAL is in it (the WAL then emptied)."""
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*")
               if not p.name.endswith("-serve.lock"))


def seed(workdir, database, orders: int) -> dict:
    """Stores and delivers `orders` hand-offs through a relay and the sandbox; returns timings."""
    started = time.monotonic()
    with Processes() as procs:
        sandbox = start_sandbox(procs, workdir)
        relay = start_relay(procs, workdir, RelaySettings(
            database=database, cibler_url=sandbox.url, citrus_url=sandbox.url), name="relay-seed")
        bodies = write_bodies(workdir / "seed.txt", 80_000_000, orders)
        fill_by_wrk(relay.url, bodies, orders, deadline=600)

        def all_delivered():
            metrics = relay_metrics(relay.url)
            return all(metric_sum(metrics, "ordersync_queue_depth", destination=d, state="delivered") >= orders
                       for d in DESTINATIONS)

        wait_for("every seeded order to be delivered at both vendors", all_delivered, deadline=600, pause=0.5)
        relay.terminate()
    return {"seed_orders": orders, "seed_seconds": round(time.monotonic() - started, 1)}


def relay_on_copy(procs, workdir, source, name: str, settings: dict):
    """A relay (vendors down) on its own copy of `source`."""
    database = workdir / f"{name}.db"
    shutil.copyfile(source, database)
    # The copy's gigabyte would otherwise be written back during the measured run, and the
    # relay's fsyncs would wait behind it (as bench/ingest.py settles the disk before its runs).
    os.sync()
    down = closed_port_url()
    relay = start_relay(procs, workdir, RelaySettings(
        database=database, cibler_url=down, citrus_url=down,
        settings=dict(VENDORS_DOWN_SETTINGS) | settings), name=name, deadline=600)
    return relay, database


def remove_outbox(database) -> None:
    """The file and what SQLite and the relay keep beside it (WAL, shared memory, serve lock)."""
    for path in database.parent.glob(database.name + "*"):
        path.unlink()


def pruned_total(relay) -> float:
    return metric_sum(relay_metrics(relay.url), "ordersync_orders_pruned_total")


def paced_run(relay, bodies, args) -> dict:
    run = wrk(f"{relay.url}/v1/checkouts", bodies, args.seconds, args.connections,
              pace_ms=args.pace_ms, pacing="random")
    statuses = run["statuses"]
    if set(statuses) != {"202"}:
        raise RuntimeError(f"hand-offs answered other than 202: {statuses}")
    return {"requests": run["requests"], "rps": round(run["rps"], 1), "latency_ms": run["latency_ms"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000, help="delivered orders in the outbox")
    parser.add_argument("--seed-orders", type=int, default=2_000,
                        help="orders stored and delivered through the relay before the copy")
    parser.add_argument("--seconds", type=float, default=20, help="each paced wrk run")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--pace-ms", type=int, default=50, help="mean pause per connection")
    parser.add_argument("--trials", type=int, default=3, help="paced runs of each kind, alternated")
    parser.add_argument("--prune-deadline", type=float, default=1800)
    parser.add_argument("--name", default="retention")
    args = parser.parse_args()

    workdir = work_dir(args.name)
    full = workdir / "delivered.db"
    result = {"benchmark": "retention", "machine": machine_facts(), "args": vars(args)}
    result["fill"] = seed(workdir, full, args.seed_orders)
    delivered_order = ("NOT EXISTS (SELECT 1 FROM ordersync_deliveries AS d "
                       "WHERE d.order_id = c.order_id AND d.state <> 'delivered')")
    copy_seconds = copy_order_up_to(full, args.orders, template_where=delivered_order)
    result["fill"]["copy_seconds"] = round(copy_seconds, 1)
    result["fill"]["filled_by"] = "HTTP (wrk) and delivery to the sandbox, then copies of a delivered row"
    # Every relay below runs one prune pass, at its start: the orders must be finished longer
    # ago than its one-second retention by then.
    time.sleep(2)
    without = checkpointed_size(full)
    result["without_retention"] = {"orders": args.orders, "bytes": without,
                                   "mib_per_million": round(without / MIB * 1e6 / args.orders, 1)}
    log(f"{args.orders} delivered orders, no retention: {without / MIB:.1f} MiB")

    retention_1s = {"ORDERSYNC_RETENTION": "1s", "ORDERSYNC_ORDER_ID_MEMORY": "400days",
                    "ORDERSYNC_PRUNE_INTERVAL": "10m"}
    with Processes() as procs:
        # Size with retention: a relay without load prunes the million; its file once the pass
        # has given the space back.
        pruner, database = relay_on_copy(procs, workdir, full, "relay-pruned", retention_1s)
        started = time.monotonic()
        wait_for("the pruner to remove every delivered order",
                 lambda: pruned_total(pruner) >= args.orders, deadline=args.prune_deadline, pause=0.5)
        prune_seconds = time.monotonic() - started
        sizes = []

        def stopped_shrinking():
            sizes.append(checkpointed_size(database))
            return len(sizes) > 2 and sizes[-1] == sizes[-2] == sizes[-3]

        wait_for("the file to stop shrinking", stopped_shrinking, deadline=args.prune_deadline, pause=1)
        kept = stored_orders(relay_metrics(pruner.url))
        pruner.terminate()
    with_retention = checkpointed_size(database)
    db = sqlite3.connect(database)
    (remembered,) = db.execute("SELECT COUNT(*) FROM ordersync_checkouts WHERE pruned_at IS NOT NULL").fetchone()
    db.close()
    remove_outbox(database)
    result["with_retention"] = {
        "orders_pruned": args.orders, "orders_remembered": remembered, "orders_kept": kept,
        "bytes": with_retention, "mib_per_million": round(with_retention / MIB * 1e6 / args.orders, 1),
        "prune_seconds_to_last_order": round(prune_seconds, 1),
        "orders_pruned_per_s": round(args.orders / prune_seconds)}
    log(f"with retention: {result['with_retention']}")

    bodies = write_bodies(workdir / "ingest.txt", 50_000_000,
                          int(args.seconds * args.connections * 1000 / args.pace_ms * 2) + 1000)
    runs = {"baseline": [], "while_pruning": []}
    with Processes() as procs:
        # Alternated (baseline first, then pruning first, ...) so that a change in what else
        # the shared machine runs weighs on both alike.
        for trial in range(args.trials):
            order = ["baseline", "while_pruning"] if trial % 2 == 0 else ["while_pruning", "baseline"]
            for kind in order:
                settings = retention_1s if kind == "while_pruning" else {}
                relay, copy = relay_on_copy(procs, workdir, full, f"relay-{kind}-{trial}", settings)
                load = os.getloadavg()[0]
                before = pruned_total(relay)
                run = paced_run(relay, bodies, args)
                after = pruned_total(relay)
                run.update(trial=trial, loadavg_1m_at_start=round(load, 2))
                if kind == "while_pruning":
                    # The pruner started with the relay; it must still be at work when the run
                    # ends, or part of the run measured ingest alone.
                    run.update(pruned_before_run=before, pruned_after_run=after,
                               pruning_throughout=before < after < args.orders)
                runs[kind].append(run)
                log(f"{kind}, trial {trial}: {run}")
                relay.terminate()
                remove_outbox(copy)
    for kind, kind_runs in runs.items():
        result[f"ingest_{kind}"] = {
            "trials": kind_runs,
            "median_ms": {q: round(statistics.median(r["latency_ms"][q] for r in kind_runs), 3)
                          for q in ("p50", "p99", "p99_9")},
            "rps_median": statistics.median(r["rps"] for r in kind_runs)}
    save_result(args.name, result)
    remove_outbox(full)
    for path in workdir.glob("*.txt"):
        path.unlink()

    b, p = result["ingest_baseline"], result["ingest_while_pruning"]
    print(f"size of {args.orders} delivered orders: {without / MIB:.1f} MiB without retention, "
          f"{with_retention / MIB:.1f} MiB once pruned (their {remembered} order ids remembered)")
    if not all(r["pruning_throughout"] for r in p["trials"]):
        print("note: a prune ended before its measured run did (too few orders for its length)")
    for label, x in (("baseline", b), ("while pruning", p)):
        m = x["median_ms"]
        print(f"ingest {label}, median of {args.trials}: p50 {m['p50']} ms, p99 {m['p99']} ms, "
              f"p99.9 {m['p99_9']} ms at {x['rps_median']} rps")


if __name__ == "__main__":
    main()
