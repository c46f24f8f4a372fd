#!/usr/bin/env python3
"""Memory benchmark: the relay's resident memory as its queue grows (1k, 100k, 1M pending).

The vendors are down for the whole run (a loopback port nothing listens on), with the relay's
default retry settings, so every accepted order stays pending or retrying, as in a real outage.

- 1k and 100k: filled over HTTP (wrk, unsigned hand-offs, `--accept-unsigned`) at full speed.
- 1M: filling a million over HTTP takes this machine longer than a benchmark run should (the
  relay commits each checkout with an fsync). By default the relay is stopped and the outbox
  is topped up to 1M by copying a row the relay itself stored (same canonical checkout JSON,
  new order ids, the same row the relay makes, counted as the relay counts it, in one
  transaction), then the relay is restarted on it. `--million-by http` fills over HTTP instead, up to `--http-deadline`.

At each depth the relay settles, then VmRSS is sampled for a while (it keeps retrying the
queue meanwhile); the peak and mean are reported, with the outbox file's size.

    python3 bench/memory.py [--million-by copy|http] [--sample-seconds 15]
"""

import argparse
import statistics
import time

from ordersync_bench import (Processes, RelaySettings, closed_port_url, copy_order_up_to, fill_by_wrk, log,
                             machine_facts, queue_depth, stored_orders, relay_metrics, save_result,
                             start_relay, work_dir, write_bodies)


def sample_rss(process, seconds: float, interval: float = 0.25) -> dict:
    readings = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        readings.append(process.memory_kib().get("VmRSS", 0))
        time.sleep(interval)
    return {"rss_peak_mib": round(max(readings) / 1024, 1),
            "rss_mean_mib": round(statistics.mean(readings) / 1024, 1),
            "vm_hwm_mib": round(process.memory_kib().get("VmHWM", 0) / 1024, 1)}


def measure(relay, database, label, settle_s, sample_s) -> dict:
    time.sleep(settle_s)
    reading = sample_rss(relay, sample_s)
    metrics = relay_metrics(relay.url)
    reading.update(
        label=label,
        waiting=queue_depth(metrics),
        waiting_by_destination={d: queue_depth(metrics, d) for d in ("cibler", "citrusad")},
        stored=stored_orders(metrics),
        outbox_mib=round(sum(p.stat().st_size for p in database.parent.glob(database.name + "*")) / 2**20, 1),
    )
    log(f"{label}: {reading}")
    return reading


def copy_rows_up_to(database, total_orders: int) -> float:
    """Tops the outbox up to `total_orders` orders by copying one the relay stored, each copy
    waiting for its first attempt at every destination (`copy_order_up_to`). Returns seconds."""
    now_ms = int(time.time() * 1000)
    waiting = {"state": "pending", "attempts": 0, "next_attempt_at": now_ms, "budget_started_at": now_ms,
               "created_at": now_ms, "updated_at": now_ms, "last_error": None, "vendor_status": None,
               "vendor_response": None, "delivered_at": None, "lease_owner": None, "lease_until": None}
    return copy_order_up_to(database, total_orders, checkout_overrides={"accepted_at": now_ms},
                            delivery_overrides=waiting)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", default="1000,100000,1000000")
    parser.add_argument("--million-by", choices=["copy", "http"], default="copy")
    parser.add_argument("--http-deadline", type=float, default=1800,
                        help="seconds allowed per HTTP fill stage")
    parser.add_argument("--settle-seconds", type=float, default=5)
    parser.add_argument("--sample-seconds", type=float, default=15)
    parser.add_argument("--name", default="memory")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]

    workdir = work_dir(args.name)
    database = workdir / "outbox.db"
    down = closed_port_url()
    settings = RelaySettings(database=database, cibler_url=down, citrus_url=down, accept_unsigned=True)
    result = {"benchmark": "memory", "machine": machine_facts(), "args": vars(args), "depths": []}

    with Processes() as procs:
        relay = start_relay(procs, workdir, settings)
        result["idle"] = measure(relay, database, "empty queue", 1, min(5, args.sample_seconds))
        filled = 0
        for depth in depths:
            by_copy = depth >= 1_000_000 and args.million_by == "copy"
            started = time.monotonic()
            if by_copy:
                relay.terminate()
                copy_s = copy_rows_up_to(database, depth)
                log(f"copied rows up to {depth} orders in {copy_s:.1f}s; restarting the relay")
                restart = time.monotonic()
                relay = start_relay(procs, workdir, settings, name="relay-1m", deadline=600)
                restart_s = round(time.monotonic() - restart, 2)
                how = {"filled_by": "copy of a relay-stored row", "copy_seconds": round(copy_s, 1),
                       "restart_seconds": restart_s}
            else:
                bodies = write_bodies(workdir / f"orders-{depth}.txt", 60_000_000 + filled, depth - filled,
                                      signed=False)
                reached = fill_by_wrk(relay.url, bodies, depth, args.http_deadline)
                how = {"filled_by": "HTTP (wrk)", "fill_seconds": round(time.monotonic() - started, 1),
                       "reached": reached}
            filled = depth
            reading = measure(relay, database, f"{depth} orders", args.settle_seconds, args.sample_seconds)
            reading.update(how)
            result["depths"].append(reading)
            save_result(args.name, result)

    for r in [result["idle"], *result["depths"]]:
        print(f"{r['label']:>16}: waiting {r['waiting']:>9.0f}  RSS peak {r['rss_peak_mib']:>6} MiB  "
              f"mean {r['rss_mean_mib']:>6} MiB  outbox {r['outbox_mib']} MiB")


if __name__ == "__main__":
    main()
