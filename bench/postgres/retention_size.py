#!/usr/bin/env python3
"""Retention on the PostgreSQL outbox: what a million delivered orders take, without retention
and once a relay with `--retention 1s` has pruned them (their order ids remembered), as the
relay reports it (`ordersync_outbox_size_bytes`: its tables with their indexes and TOAST).

Filling, as `bench/retention.py` does for SQLite: a relay stores `--seed-orders` signed
hand-offs through its real ingest path (wrk) and delivers them to the vendor sandbox; then the
outbox is topped up to `--orders` by copying, in SQL, an order the relay stored and delivered
(its checkout row and both delivery rows, under new order ids).

After the prune the tables keep the pages the deleted rows held (PostgreSQL reuses them for new
rows: its files do not shrink without `VACUUM FULL`, which locks the tables). The script so
reports the size right after the pass, after a plain `VACUUM` (what autovacuum does), and after
a `VACUUM FULL` (what the remembered ids alone take).

    python3 bench/postgres/retention_size.py [--orders 1000000] [--seed-orders 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ordersync_bench import (  # noqa: E402  (the shared harness lives one folder up)
    Processes, drop_bulk, fill_by_wrk, log, machine_facts, metric_sum, relay_metrics, save_result,
    start_sandbox, wait_for, work_dir, write_bodies)
from throughput import Outbox, PgServer, start_relays  # noqa: E402

MIB = 2**20


# What the relay reports as `ordersync_outbox_size_bytes` (crates/relay/src/outbox/postgres.rs).
SIZE_SQL = ("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class AS c "
            "WHERE c.oid IN (to_regclass('ordersync_checkouts'), to_regclass('ordersync_deliveries'), "
            "to_regclass('ordersync_schema_migrations'))")


def size(pg: PgServer, database: str) -> int:
    return int(pg.psql(database, SIZE_SQL))


def copy_delivered_order_up_to(pg: PgServer, database: str, total_orders: int) -> float:
    """Tops the outbox up to `total_orders` orders by copying one the relay stored and delivered
    (its `ordersync_checkouts` row and its two `ordersync_deliveries` rows) under new order ids,
    its canonical checkout carrying the new id. One transaction. Returns seconds."""
    started = time.monotonic()
    copies = total_orders - int(pg.psql(database, "SELECT COUNT(*) FROM ordersync_checkouts"))
    template = ("(SELECT order_id FROM ordersync_deliveries GROUP BY order_id "
                "HAVING bool_and(state = 'delivered') ORDER BY order_id LIMIT 1)")
    new_id = "(900000000 + g)::text"
    pg.psql(database, f"""
        BEGIN;
        INSERT INTO ordersync_checkouts (order_id, checkout_json, cookie_id, accepted_at)
        SELECT {new_id}, replace(c.checkout_json, '"orderId":"' || c.order_id || '"',
                                 '"orderId":"' || {new_id} || '"'), c.cookie_id, c.accepted_at
        FROM ordersync_checkouts AS c, generate_series(0, {copies - 1}) AS g
        WHERE c.order_id = {template};
        INSERT INTO ordersync_deliveries (destination, order_id, state, attempts, next_attempt_at,
            budget_started_at, last_error, vendor_status, vendor_response, created_at, updated_at,
            delivered_at)
        SELECT d.destination, {new_id}, d.state, d.attempts, d.next_attempt_at, d.budget_started_at,
            d.last_error, d.vendor_status, d.vendor_response, d.created_at, d.updated_at,
            d.delivered_at
        FROM ordersync_deliveries AS d, generate_series(0, {copies - 1}) AS g
        WHERE d.order_id = {template};
        COMMIT;""")
    pg.psql(database, "VACUUM ANALYZE")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed-orders", type=int, default=2_000)
    parser.add_argument("--prune-deadline", type=float, default=3600)
    parser.add_argument("--name", default="postgres-retention")
    args = parser.parse_args()

    workdir = work_dir(args.name)
    pg = PgServer(workdir / "pg").start()
    result = {"benchmark": "postgres-retention", "machine": machine_facts(), "args": vars(args),
              "postgres": pg.settings()}
    try:
        outbox = Outbox("postgres", "retention", workdir, pg)
        with Processes() as procs:
            sandbox = start_sandbox(procs, workdir)
            (relay,) = start_relays(procs, workdir, outbox, 1, sandbox.url, {}, "relay-seed")
            bodies = write_bodies(workdir / "seed.txt", 81_000_000, args.seed_orders)
            fill_by_wrk(relay.url, bodies, args.seed_orders, deadline=600)

            def delivered():
                metrics = relay_metrics(relay.url)
                return all(metric_sum(metrics, "ordersync_queue_depth", destination=d, state="delivered")
                           >= args.seed_orders for d in ("cibler", "citrusad"))

            wait_for("every seeded order to be delivered", delivered, deadline=600, pause=0.5)
            relay.terminate()
            copy_s = copy_delivered_order_up_to(pg, outbox.name, args.orders)
            log(f"copied up to {args.orders} delivered orders in {copy_s:.1f} s")
            # The relay's one prune pass runs at its start: the orders must be finished longer
            # ago than the one-second retention by then.
            time.sleep(2)
            without = size(pg, outbox.name)
            retention = {"ORDERSYNC_RETENTION": "1s", "ORDERSYNC_ORDER_ID_MEMORY": "400days",
                         "ORDERSYNC_PRUNE_INTERVAL": "10m"}
            (relay,) = start_relays(procs, workdir, outbox, 1, sandbox.url, retention, "relay-pruning")
            started = time.monotonic()
            wait_for("every delivered order to be pruned",
                     lambda: metric_sum(relay_metrics(relay.url), "ordersync_orders_pruned_total") >= args.orders,
                     deadline=args.prune_deadline, pause=1)
            prune_s = time.monotonic() - started
            after_pass = size(pg, outbox.name)
            relay_reports = metric_sum(relay_metrics(relay.url), "ordersync_outbox_size_bytes")
            pg.psql(outbox.name, "VACUUM")
            after_vacuum = size(pg, outbox.name)
            pg.psql(outbox.name, "VACUUM FULL")
            after_full = size(pg, outbox.name)
            remembered = int(pg.psql(outbox.name,
                                     "SELECT COUNT(*) FROM ordersync_checkouts WHERE pruned_at IS NOT NULL"))
            relay.terminate()
    finally:
        pg.stop()
        drop_bulk(workdir)
    per_million = 1e6 / args.orders / MIB
    result.update(
        fill={"seed_orders": args.seed_orders, "copy_seconds": round(copy_s, 1),
              "filled_by": "HTTP (wrk) and delivery to the sandbox, then SQL copies of a delivered order"},
        without_retention={"bytes": without, "mib_per_million": round(without * per_million, 1)},
        with_retention={"orders_remembered": remembered, "prune_seconds": round(prune_s, 1),
                        "orders_pruned_per_s": round(args.orders / prune_s),
                        "bytes_after_pass": after_pass, "relay_reported_after_pass": relay_reports,
                        "bytes_after_vacuum": after_vacuum,
                        "bytes_after_vacuum_full": after_full,
                        "mib_per_million_after_vacuum_full": round(after_full * per_million, 1)})
    save_result(args.name, result)
    print(f"{args.orders} delivered orders on PostgreSQL: {without / MIB:.1f} MiB without retention; "
          f"pruned in {prune_s:.0f} s; then {after_pass / MIB:.1f} MiB, {after_vacuum / MIB:.1f} MiB after "
          f"VACUUM, {after_full / MIB:.1f} MiB after VACUUM FULL ({remembered} order ids remembered)")


if __name__ == "__main__":
    main()
