#!/usr/bin/env python3
"""Import benchmark: `ordersync-relay import` of a year of a large shop's orders (release build).

A JSON Lines file of `--lines` checkouts (the benchmarks' checkout, one line item, a cookieId;
about 500 bytes a line) is written, then imported:

1. into a fresh SQLite outbox, no relay serving it: wall time, lines/s, and the import
   process's peak resident memory (the kernel's `ru_maxrss`, read with `wait4`);
2. the same for a tenth of the file, into another fresh outbox: the peak memory of both shows
   whether memory stays flat in the file's size (it should: the file is streamed in batches);
3. the whole file again into the outbox of (1): every line already known, nothing stored;
4. `--serving-lines` lines into the SQLite outbox of a relay that serves it and delivers the
   imported orders to the vendor sandbox meanwhile, while wrk sends the relay paced signed
   hand-offs (`--connections`, each pausing about `--pace-ms`): the import's time beside the
   relay, and the hand-offs' latency and statuses, with a baseline run of the same wrk before
   the import (the importer leaves SQLite's write lock free after each batch for as long as
   the batch held it, crates/relay/src/import/mod.rs);
5. with `--postgres`, (1) into a fresh database of a throwaway PostgreSQL cluster (durable
   defaults, as bench/postgres/throughput.py runs it).

    python3 bench/import.py [--lines 1000000] [--serving-lines 200000] [--seconds-beside 0]
                            [--connections 10] [--pace-ms 100] [--postgres]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ordersync_bench import (CIBLER_CUSTOMER, CIBLER_KEY, CITRUS_KEY, CITRUS_TEAM, COOKIE_ID, RELAY_BIN,
                             Processes, RelaySettings, base_env, checkout, closed_port_url, log,
                             machine_facts, metric_sum, relay_metrics, save_result, start_relay,
                             start_sandbox, wait_for, work_dir, wrk, write_bodies)

MIB = 2**20
FIRST_ID = 3_000_000_000


def write_lines(path: Path, first_id: int, count: int) -> int:
    """`count` import lines (checkout + cookieId), order ids from `first_id`; returns bytes."""
    template = dict(checkout(0), cookieId=COOKIE_ID)
    text = json.dumps(template, separators=(",", ":"))
    head, tail = text.split('"orderId":0', 1)
    with open(path, "w") as out:
        for order_id in range(first_id, first_id + count):
            out.write(f'{head}"orderId":{order_id}{tail}\n')
    return path.stat().st_size


def destination_env(vendor_url: str) -> dict:
    """The relay's destination settings (the import plans each order as `serve` would)."""
    return {
        "ORDERSYNC_CIBLER_BASE_URL": vendor_url,
        "ORDERSYNC_CIBLER_CUSTOMER_ID": CIBLER_CUSTOMER,
        "ORDERSYNC_CIBLER_API_KEY": CIBLER_KEY,
        "ORDERSYNC_CIBLER_SITE_ID": "13",
        "ORDERSYNC_CITRUS_BASE_URL": vendor_url,
        "ORDERSYNC_CITRUS_API_KEY": CITRUS_KEY,
        "ORDERSYNC_CITRUS_TEAM_ID": CITRUS_TEAM,
    }


def run_import(workdir: Path, name: str, lines: Path, database_url: str, vendor_url: str) -> dict:
    """`ordersync-relay import LINES --json`: its summary, wall time, lines/s and peak RSS."""
    summary_path = workdir / f"{name}.summary.json"
    argv = [str(RELAY_BIN), "import", str(lines), "--json", "--database-url", database_url,
            "--refused", str(workdir / f"{name}.refused.jsonl")]
    with open(summary_path, "w") as out, open(workdir / f"{name}.log", "w") as err:
        started = time.monotonic()
        process = subprocess.Popen(argv, env=base_env() | destination_env(vendor_url),
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"import {name} exited {process.returncode}; see {workdir / f'{name}.log'}")
    summary = json.loads(summary_path.read_text())
    result = {"lines": summary["read"], "new": summary["new"], "already_known": summary["alreadyKnown"],
              "refused": summary["refused"], "seconds": round(seconds, 2),
              "lines_per_s": round(summary["read"] / seconds),
              "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}
    log(f"{name}: {result}")
    return result


def beside_serving_relay(workdir: Path, lines: Path, args) -> dict:
    """Imports `lines` into the outbox a relay serves (delivering to the sandbox meanwhile),
    under paced hand-offs; the same wrk run first without the import as the baseline."""
    database = workdir / "serving.db"
    result = {}
    with Processes() as procs:
        sandbox = start_sandbox(procs, workdir)
        relay = start_relay(procs, workdir, RelaySettings(
            database=database, cibler_url=sandbox.url, citrus_url=sandbox.url), name="relay-serving")
        # Two sets of new orders (a body sent twice would be answered as a repeat).
        count = int(args.seconds_beside * args.connections * 1000 / args.pace_ms * 3) + 1000
        bodies = write_bodies(workdir / "handoffs.txt", 4_000_000_000, count)
        more_bodies = write_bodies(workdir / "handoffs-during.txt", 5_000_000_000, count)
        checkouts = f"{relay.url}/v1/checkouts"
        result["baseline"] = paced(wrk(checkouts, bodies, args.seconds_beside, args.connections,
                                       pace_ms=args.pace_ms, pacing="random"))
        log(f"hand-offs without an import: {result['baseline']}")
        imported = {}

        def importing():
            imported.update(run_import(workdir, "beside-relay", lines, f"sqlite://{database}", sandbox.url))

        thread = threading.Thread(target=importing)
        thread.start()
        # Hand-offs for as long as the import runs (wrk's duration is fixed: the shorter of the
        # two sets it; both are reported).
        result["during_import"] = paced(wrk(checkouts, more_bodies, args.seconds_beside, args.connections,
                                            pace_ms=args.pace_ms, pacing="random"))
        thread.join()
        result["import"] = imported
        import_done = time.monotonic()
        log(f"hand-offs during the import: {result['during_import']}")
        metrics = relay_metrics(relay.url)
        waiting = sum(metric_sum(metrics, "ordersync_queue_depth", state=s) for s in ("pending", "retrying"))
        delivered = metric_sum(metrics, "ordersync_queue_depth", destination="cibler", state="delivered")
        result["relay_after_import"] = {"waiting": waiting, "delivered_at_cibler": delivered}

        def drained():
            m = relay_metrics(relay.url)
            return sum(metric_sum(m, "ordersync_queue_depth", state=s) for s in ("pending", "retrying")) == 0

        wait_for("the relay to deliver every imported order", drained, deadline=3600, pause=1)
        result["relay_drain_seconds_after_import"] = round(time.monotonic() - import_done, 1)
        relay.terminate()
    return result


def paced(run: dict) -> dict:
    statuses = run["statuses"]
    return {"requests": run["requests"], "rps": round(run["rps"], 1), "statuses": statuses,
            "all_202": set(statuses) == {"202"}, "latency_ms": run["latency_ms"]}


def postgres_import(workdir: Path, lines: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent / "postgres"))
    from throughput import PgServer  # the throwaway cluster of bench/postgres/

    server = PgServer(workdir / "pg").start()
    try:
        server.psql("postgres", "CREATE DATABASE import_bench")
        result = run_import(workdir, "postgres", lines, server.url("import_bench"), closed_port_url())
        result["server"] = server.settings()
        return result
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--serving-lines", type=int, default=200_000,
                        help="lines imported beside a serving relay (0: skip)")
    parser.add_argument("--seconds-beside", type=float, default=0,
                        help="each paced wrk run beside the relay (0: as long as the unserved import "
                             "of --serving-lines would take, at least 5 s)")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--pace-ms", type=int, default=100, help="mean pause per connection")
    parser.add_argument("--postgres", action="store_true", help="also import into PostgreSQL")
    parser.add_argument("--name", default="import")
    args = parser.parse_args()
    if not RELAY_BIN.exists():
        raise SystemExit(f"{RELAY_BIN} not found: cargo build --release -p ordersync-relay -p ordersync-sandbox")

    workdir = work_dir(args.name)
    result = {"benchmark": "import", "machine": machine_facts(), "args": vars(args),
              "relay": str(RELAY_BIN)}
    full = workdir / "orders.jsonl"
    size = write_lines(full, FIRST_ID, args.lines)
    tenth = workdir / "orders-tenth.jsonl"
    write_lines(tenth, FIRST_ID, max(1, args.lines // 10))
    result["file"] = {"lines": args.lines, "bytes": size, "bytes_per_line": round(size / args.lines)}
    log(f"wrote {args.lines} lines, {size / MIB:.0f} MiB")

    vendors = closed_port_url()  # nothing is sent: no relay serves these outboxes
    result["sqlite"] = run_import(workdir, "sqlite", full, f"sqlite://{workdir / 'fresh.db'}", vendors)
    result["sqlite_tenth"] = run_import(workdir, "sqlite-tenth", tenth, f"sqlite://{workdir / 'tenth.db'}",
                                        vendors)
    result["sqlite_again"] = run_import(workdir, "sqlite-again", full, f"sqlite://{workdir / 'fresh.db'}",
                                        vendors)
    if result["sqlite"]["new"] != args.lines or result["sqlite_again"]["already_known"] != args.lines:
        raise RuntimeError(f"unexpected counts: {result}")
    for path in workdir.glob("*.db*"):
        path.unlink()

    if args.serving_lines:
        serving = workdir / "orders-serving.jsonl"
        write_lines(serving, FIRST_ID + args.lines, args.serving_lines)
        if not args.seconds_beside:
            args.seconds_beside = max(5.0, args.serving_lines / result["sqlite"]["lines_per_s"])
        result["beside_serving_relay"] = beside_serving_relay(workdir, serving, args)
        serving.unlink()
    if args.postgres:
        result["postgres"] = postgres_import(workdir, full)
    save_result(args.name, result)
    for path in [full, tenth, *workdir.glob("*.txt"), *workdir.glob("*.db*")]:
        path.unlink(missing_ok=True)

    s, t, a = result["sqlite"], result["sqlite_tenth"], result["sqlite_again"]
    print(f"import of {args.lines} lines ({size / MIB:.0f} MiB) into a fresh SQLite outbox: "
          f"{s['seconds']} s, {s['lines_per_s']} lines/s, peak RSS {s['peak_rss_mib']} MiB "
          f"({t['peak_rss_mib']} MiB for a tenth of the file); again, all known: {a['seconds']} s, "
          f"{a['lines_per_s']} lines/s")
    if "beside_serving_relay" in result:
        b = result["beside_serving_relay"]
        print(f"beside a serving relay: {b['import']['lines']} lines in {b['import']['seconds']} s "
              f"({b['import']['lines_per_s']} lines/s); hand-offs p50/p99/max ms "
              f"{b['baseline']['latency_ms']['p50']}/{b['baseline']['latency_ms']['p99']}/"
              f"{b['baseline']['latency_ms'].get('max')} without, "
              f"{b['during_import']['latency_ms']['p50']}/{b['during_import']['latency_ms']['p99']}/"
              f"{b['during_import']['latency_ms'].get('max')} during the import; all 202: "
              f"{b['baseline']['all_202'] and b['during_import']['all_202']}")
    if "postgres" in result:
        p = result["postgres"]
        print(f"PostgreSQL: {p['seconds']} s, {p['lines_per_s']} lines/s, peak RSS {p['peak_rss_mib']} MiB")


if __name__ == "__main__":
    main()
