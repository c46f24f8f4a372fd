#!/usr/bin/env python3
"""PostgreSQL outbox benchmark: ingest and delivery throughput of one, two and three relay
instances sharing one PostgreSQL database, beside one relay on SQLite (release build).

Ingest: signed hand-offs posted over loopback by wrk, one wrk process per instance (the share
a load balancer would give each), all at once for `--duration` seconds; the vendors are
"remote" (a loopback port nothing listens on, backoff 1 h), so every order also costs its
first delivery attempt's outbox writes, as in bench/ingest.py. Accepted/s is the sum over the
instances of 202 answers per second.

Delivery: a backlog of `--orders` accepted orders (stored through the instances while the
vendors were down, then made due at once, as after an outage) drained by the instances to the
vendor sandbox with `--latency-ms` of added vendor latency per request. Orders/s per
destination = orders / time until that destination's queue is empty (read from /metrics).

PostgreSQL runs durable (fsync on, synchronous_commit on: a 202 means the commit reached the
WAL on disk, as SQLite's synchronous=FULL does), in a throwaway cluster under
target/bench-work/, on loopback, started and stopped by this script.

    python3 bench/postgres/throughput.py [--duration 15] [--connections 32] [--orders 3000]
                                         [--latency-ms 0,50] [--instances 1,2,3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ordersync_bench import (  # noqa: E402  (the shared harness lives one folder up)
    CIBLER_CUSTOMER, CIBLER_KEY, CITRUS_KEY, CITRUS_TEAM, RELAY_BIN, SIGNING_SECRET, UNLIMITED,
    Processes, base_env, closed_port_url, free_port, fsync_floor, http, log, machine_facts,
    metric_sum, queue_depth, relay_metrics, save_result, signed_handoff, start_sandbox, wait_for,
    VENDORS_DOWN_SETTINGS, work_dir, wrk, write_bodies)

# --- a throwaway PostgreSQL server ---------------------------------------------------------------


def pg_bin() -> Path:
    if os.environ.get("ORDERSYNC_PG_BIN"):
        return Path(os.environ["ORDERSYNC_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name))
    if not found:
        raise SystemExit("PostgreSQL server binaries not found: run `bash scripts/setup.sh all`")
    return found[-1].parent


class PgServer:
    """initdb + pg_ctl in `root` (as the postgres user when run as root: PostgreSQL refuses
    root), listening on 127.0.0.1 only. Durable settings are the server's defaults."""

    def __init__(self, root: Path):
        self.bin = pg_bin()
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if self.as_postgres:
            shutil.chown(root, "postgres", "postgres")

    def _server(self, program: str, *args: str) -> None:
        argv = [str(self.bin / program), *args]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def start(self) -> "PgServer":
        self._server("initdb", "-D", str(self.data), "-U", "ordersync", "--auth=trust",
                     "-E", "UTF8", "--no-locale")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# ordersync benchmark: loopback only; durability left at the defaults\n"
                       "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                       f"port = {self.port}\nmax_connections = 100\nshared_buffers = 256MB\n")
        self._server("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                     "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        try:
            self._server("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, database: str, sql: str) -> str:
        done = subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "ordersync",
             "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def settings(self) -> dict:
        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                 "shared_buffers")
        return {n: self.psql("postgres", f"SHOW {n}") for n in names}

    def url(self, database: str) -> str:
        return f"postgres://ordersync@127.0.0.1:{self.port}/{database}"


# --- one backend under test -----------------------------------------------------------------------


class Outbox:
    """A fresh outbox: a SQLite file, or a new database on the PostgreSQL server."""

    def __init__(self, backend: str, name: str, workdir: Path, pg: PgServer | None):
        self.backend = backend
        self.pg = pg
        self.name = name
        if backend == "sqlite":
            self.path = workdir / f"{name}.db"
            self.url = f"sqlite://{self.path}"
        else:
            pg.psql("postgres", f"DROP DATABASE IF EXISTS {name}")
            pg.psql("postgres", f"CREATE DATABASE {name}")
            self.url = pg.url(name)

    def make_backlog_due(self) -> int:
        """Every undelivered row due now and unleased (the vendors are back)."""
        # The same tables on both backends; no relay serves the outbox by now.
        sql = ("UPDATE ordersync_deliveries SET next_attempt_at = 0, lease_owner = NULL, lease_until = NULL "
               "WHERE state IN ('pending', 'retrying')")
        if self.backend == "sqlite":
            with sqlite3.connect(self.path) as db:
                return db.execute(sql).rowcount
        return int(self.pg.psql(self.name, f"WITH due AS ({sql} RETURNING 1) SELECT COUNT(*) FROM due"))


def start_relays(procs: Processes, workdir: Path, outbox: Outbox, count: int, vendor_url: str,
                 settings: dict, tag: str) -> list:
    """`count` relay instances on `outbox`, each on its own port."""
    relays = []
    for n in range(count):
        listen = f"127.0.0.1:{free_port()}"
        env = base_env() | {
            "ORDERSYNC_SIGNING_SECRET": SIGNING_SECRET,
            "ORDERSYNC_CIBLER_BASE_URL": vendor_url,
            "ORDERSYNC_CIBLER_CUSTOMER_ID": CIBLER_CUSTOMER,
            "ORDERSYNC_CIBLER_API_KEY": CIBLER_KEY,
            "ORDERSYNC_CIBLER_SITE_ID": "13",
            "ORDERSYNC_CIBLER_ENVIRONMENT": "Prod",
            "ORDERSYNC_CITRUS_BASE_URL": vendor_url,
            "ORDERSYNC_CITRUS_API_KEY": CITRUS_KEY,
            "ORDERSYNC_CITRUS_TEAM_ID": CITRUS_TEAM,
        } | UNLIMITED | settings
        argv = [str(RELAY_BIN), "serve", "--listen", listen, "--database-url", outbox.url]
        process = procs.start(f"{tag}-{n}", argv, env, workdir / f"{tag}-{n}.log")
        process.url = f"http://{listen}"
        relays.append(process)
    for process in relays:
        def ready(p=process):
            if not p.alive():
                raise RuntimeError(f"a relay exited at start; see {p.log_path}")
            return http("GET", f"{p.url}/healthz", timeout=2).status == 200
        wait_for("the relay to answer /healthz", ready)
    return relays


def wrk_all(relays: list, bodies: list[Path], duration: float, connections: int) -> dict:
    """One wrk per instance at once, `connections` split between them; summed."""
    results = [None] * len(relays)
    share = max(1, connections // len(relays))

    def run(i):
        results[i] = wrk(f"{relays[i].url}/v1/checkouts", bodies[i], duration, share, threads=1)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(relays))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses: dict[str, int] = {}
    for r in results:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    accepted_per_s = sum(r["statuses"].get("202", 0) for r in results) / max(1, round(duration))
    return {
        "accepted_per_s": round(accepted_per_s, 1),
        "rps": round(sum(r["rps"] for r in results), 1),
        "statuses": statuses,
        "p50_ms_max": max(r["latency_ms"]["p50"] for r in results),
        "p99_ms_max": max(r["latency_ms"]["p99"] for r in results),
        "per_instance": results,
    }


def post_each_once(url: str, first_id: int, count: int, clients: int = 16) -> None:
    """Hands off orders first_id.. first_id+count-1, each exactly once (not timed)."""
    def post(order_id: int) -> int:
        return http("POST", url, signed_handoff(order_id)).status

    with ThreadPoolExecutor(clients) as pool:
        statuses = list(pool.map(post, range(first_id, first_id + count)))
    refused = [s for s in statuses if s != 202]
    if refused:
        raise RuntimeError(f"backlog hand-offs not accepted: {sorted(set(refused))}")


def stop_all(relays: list) -> None:
    for relay in relays:
        code = relay.terminate()
        if code != 0:
            log(f"WARNING {relay.name} exited {code} after SIGTERM")


def ingest(procs, workdir, pg, backend, count, args, first_id) -> dict:
    outbox = Outbox(backend, f"ingest_{backend}_{count}", workdir, pg)
    slow = dict(VENDORS_DOWN_SETTINGS)
    relays = start_relays(procs, workdir, outbox, count, closed_port_url(), slow,
                          f"ingest-{backend}-{count}")
    # Enough distinct orders that no request at saturation repeats one (a repeat is a cheap 200).
    per_instance = args.max_orders // count
    bodies = [write_bodies(workdir / f"bodies-{backend}-{count}-{n}.txt",
                           first_id + n * per_instance, per_instance) for n in range(count)]
    wrk_all(relays, bodies, 2, args.connections)  # warm-up (its orders are repeats later: 200)
    bodies = [write_bodies(workdir / f"bodies-{backend}-{count}-{n}.txt",
                           first_id + 5_000_000 + n * per_instance, per_instance)
              for n in range(count)]
    lsn_before = pg.psql("postgres", "SELECT pg_current_wal_lsn()") if pg and backend == "postgres" else None
    result = wrk_all(relays, bodies, args.duration, args.connections)
    if lsn_before:
        wal = int(pg.psql("postgres", f"SELECT pg_current_wal_lsn() - '{lsn_before}'::pg_lsn"))
        accepted = result["statuses"].get("202", 0)
        result["wal_bytes_per_accepted_order"] = round(wal / max(1, accepted))
    stop_all(relays)
    other = {k: v for k, v in result["statuses"].items() if k != "202"}
    if other:
        log(f"WARNING ingest {backend} x{count}: answers other than 202: {other}")
    return result


def delivery(procs, workdir, pg, backend, count, latency_ms, args, first_id) -> dict:
    outbox = Outbox(backend, f"deliver_{backend}_{count}_{latency_ms}", workdir, pg)
    slow = dict(VENDORS_DOWN_SETTINGS)
    # The backlog: orders accepted while the vendors were down.
    relays = start_relays(procs, workdir, outbox, 1, closed_port_url(), slow,
                          f"backlog-{backend}-{count}-{latency_ms}")
    post_each_once(f"{relays[0].url}/v1/checkouts", first_id, args.orders)
    stop_all(relays)
    due = outbox.make_backlog_due()
    log(f"backlog of {args.orders} orders ({due} deliveries) due now; {count} instance(s), "
        f"vendor latency {latency_ms} ms")
    sandbox = start_sandbox(procs, workdir, "--latency-ms", str(latency_ms),
                            name=f"sandbox-{backend}-{count}-{latency_ms}")
    started = time.monotonic()
    relays = start_relays(procs, workdir, outbox, count, sandbox.url, {},
                          f"deliver-{backend}-{count}-{latency_ms}")
    done_at: dict[str, float] = {}
    while len(done_at) < 2:
        depth = relay_metrics(relays[0].url)
        for destination in ("cibler", "citrusad"):
            if destination not in done_at and queue_depth(depth, destination) == 0:
                done_at[destination] = time.monotonic() - started
        if time.monotonic() - started > args.delivery_deadline:
            raise RuntimeError(f"backlog not drained in {args.delivery_deadline}s: {depth}")
        time.sleep(0.05)
    delivered = {d: metric(relays[0], "ordersync_queue_depth", destination=d, state="delivered")
                 for d in ("cibler", "citrusad")}
    dead = {d: metric(relays[0], "ordersync_queue_depth", destination=d, state="dead")
            for d in ("cibler", "citrusad")}
    stop_all(relays)
    sandbox.kill9()
    extra = {}
    if backend == "postgres":
        size = int(outbox.pg.psql(outbox.name, "SELECT pg_total_relation_size('ordersync_checkouts') "
                                              "+ pg_total_relation_size('ordersync_deliveries')"))
        extra["table_bytes_per_order"] = round(size / args.orders)
    return extra | {
        "orders": args.orders,
        "latency_ms": latency_ms,
        "seconds": {d: round(t, 2) for d, t in done_at.items()},
        "orders_per_s": {d: round(args.orders / t, 1) for d, t in done_at.items()},
        "delivered_rows": delivered,
        "dead_rows": dead,
        "note": "seconds include the instances' start-up (about 0.1-0.3 s)",
    }


def metric(relay, name: str, **labels) -> float:
    return metric_sum(relay_metrics(relay.url), name, **labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per ingest run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections in all")
    parser.add_argument("--orders", type=int, default=3000, help="backlog per delivery run")
    parser.add_argument("--latency-ms", default="0,50", help="vendor latencies for delivery")
    parser.add_argument("--instances", default="1,2,3", help="PostgreSQL instance counts")
    parser.add_argument("--max-orders", type=int, default=400_000,
                        help="distinct signed orders per ingest run (split over the instances)")
    parser.add_argument("--delivery-deadline", type=float, default=300.0)
    parser.add_argument("--skip", default="", help="comma list: ingest, delivery")
    parser.add_argument("--name", default="postgres-throughput")
    args = parser.parse_args()
    if not RELAY_BIN.exists():
        raise SystemExit(f"{RELAY_BIN} missing: cargo build --release -p ordersync-relay -p ordersync-sandbox")
    counts = [int(c) for c in args.instances.split(",")]
    latencies = [int(ms) for ms in args.latency_ms.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    setups = [("sqlite", 1)] + [("postgres", c) for c in counts]

    workdir = work_dir(args.name)
    result = {"benchmark": args.name, "machine": machine_facts(), "args": vars(args),
              "disk": fsync_floor(workdir)}
    log(f"disk: {result['disk']}")
    pg = PgServer(workdir / "pg").start()
    try:
        result["postgres"] = pg.settings()
        log(f"postgres: {result['postgres']}")
        result["ingest"], result["delivery"] = {}, {}
        with Processes() as procs:
            for i, (backend, count) in enumerate(setups):
                key = f"{backend} x{count}"
                if "ingest" not in skip:
                    log(f"ingest: {key}, {args.connections} connections, {args.duration}s")
                    r = ingest(procs, workdir, pg, backend, count, args, 100_000_000 * (i + 1))
                    result["ingest"][key] = r
                    log(f"ingest {key}: {r['accepted_per_s']} accepted/s, p99 (worst instance) "
                        f"{r['p99_ms_max']} ms, statuses {r['statuses']}")
                if "delivery" not in skip:
                    for j, latency in enumerate(latencies):
                        first = 1_000_000_000 + 10_000_000 * (i * len(latencies) + j)
                        r = delivery(procs, workdir, pg, backend, count, latency, args, first)
                        result["delivery"][f"{key} @{latency}ms"] = r
                        log(f"delivery {key} @{latency}ms: {r['orders_per_s']} orders/s "
                            f"({r['seconds']} s)")
    finally:
        pg.stop()
    save_result(args.name, result)
    print(json.dumps({"ingest": {k: (v["accepted_per_s"], v["p50_ms_max"], v["p99_ms_max"])
                                 for k, v in result["ingest"].items()},
                      "delivery": {k: v["orders_per_s"] for k, v in result["delivery"].items()}},
                     indent=1))


if __name__ == "__main__":
    main()
