#!/usr/bin/env python3
"""Delivery benchmark: how fast the relay empties a stored queue into the vendors.

1. Fill: a relay whose vendors are down (a loopback port nothing listens on) and whose retry
   budget is tiny takes N checkouts over HTTP (wrk, unsigned hand-offs); each gets one failed
   attempt per destination and goes `dead`, so the queue holds N orders and no timer.
2. `ordersync-relay dead-letters retry --all`: the operator's command makes all N due at once.
3. Drain: the relay restarts with its default delivery settings (batch 100, linger 200 ms,
   8 parallel CibleR requests, 1 CitrusAd batch in flight; `--citrus-concurrency` sets the
   last, to compare) against the sandbox, and /metrics is polled until no order
   waits. Reported: drain time and orders/s per destination, the CitrusAd batch sizes the
   sandbox received, contract violations (goal 0), and the relay's peak RSS while draining.

The sandbox (a local process) shares the two cores with the relay: real vendors would not.
It answers at once unless told otherwise: `--latency-ms` delays every vendor answer, and
`--slow-share` makes that share of the orders (every 1/share-th order id) answer `--slow-ms`
later still, as a real vendor's tail does (a CitrusAd batch holding one is slow too).

    python3 bench/delivery.py [--orders 100000]
    python3 bench/delivery.py --orders 10000 --latency-ms 5 --slow-share 0.01 --slow-ms 200 \
        --name delivery-tail
"""

import argparse
import statistics
import time

from ordersync_bench import (MemorySampler, Processes, RelaySettings, closed_port_url,
                             deliveries_in_journal, fill_by_wrk, journal_violations, log,
                             machine_facts, metric_sum, relay_metrics, relay_operator,
                             sandbox_journal, save_result, start_relay, start_sandbox,
                             wait_drained, work_dir, write_bodies)


def vendor_behaviour(args, first_id):
    """The sandbox flags for `--latency-ms` and `--slow-share`: the slow orders are every
    (1/share)-th id from `first_id`, named on the command line."""
    flags = ["--latency-ms", str(args.latency_ms)]
    if args.slow_share > 0:
        step = max(1, round(1 / args.slow_share))
        slow = [str(first_id + i) for i in range(0, args.orders, step)]
        flags += ["--slow-order-ms", str(args.slow_ms), "--slow-order", ",".join(slow)]
    return flags


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--fill-deadline", type=float, default=1800, help="seconds allowed to fill")
    parser.add_argument("--drain-deadline", type=float, default=1800, help="seconds allowed to drain")
    parser.add_argument("--name", default="delivery")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every vendor answer")
    parser.add_argument("--slow-share", type=float, default=0.0,
                        help="share of the orders whose answers come --slow-ms later")
    parser.add_argument("--slow-ms", type=int, default=200)
    parser.add_argument("--citrus-concurrency", type=int, default=None,
                        help="CitrusAd batches in flight while draining (default: the relay's)")
    args = parser.parse_args()

    workdir = work_dir(args.name)
    database = workdir / "outbox.db"
    result = {"benchmark": "delivery", "machine": machine_facts(), "args": vars(args)}

    with Processes() as procs:
        down = closed_port_url()
        filler = start_relay(procs, workdir, RelaySettings(
            database=database, cibler_url=down, citrus_url=down, accept_unsigned=True,
            # Circuit off while filling: every order must get its one failed attempt and go
            # dead, so that the operator's retry below makes all of them due at once.
            settings={"ORDERSYNC_RETRY_BUDGET": "1ms", "ORDERSYNC_BATCH_LINGER": "50ms",
                      "ORDERSYNC_CIRCUIT_THRESHOLD": "0"}),
            name="relay-fill")
        first_id = 50_000_000
        bodies = write_bodies(workdir / "orders.txt", first_id, args.orders, signed=False)
        started = time.monotonic()
        accepted = fill_by_wrk(filler.url, bodies, args.orders, args.fill_deadline)
        fill_s = time.monotonic() - started
        log(f"stored {accepted:.0f} orders in {fill_s:.0f}s; waiting for them to go dead")
        wait_drained(filler.url, deadline=600)
        metrics = relay_metrics(filler.url)
        dead = {d: metric_sum(metrics, "ordersync_queue_depth", destination=d, state="dead")
                for d in ("cibler", "citrusad")}
        filler.terminate()
        retried = relay_operator(database, "dead-letters", "retry", "--all")
        log(f"dead before retry {dead}; operator: {retried.stdout.strip() or retried.stderr.strip()}")
        result["fill"] = {"accepted": accepted, "seconds": round(fill_s, 1), "dead_before_retry": dead}

        sandbox = start_sandbox(procs, workdir, *vendor_behaviour(args, first_id))
        samples = []
        with_drain_start = time.monotonic()
        drain_settings = ({} if args.citrus_concurrency is None
                          else {"ORDERSYNC_CITRUS_CONCURRENCY": str(args.citrus_concurrency)})
        relay = start_relay(procs, workdir, RelaySettings(
            database=database, cibler_url=sandbox.url, citrus_url=sandbox.url,
            settings=drain_settings), name="relay-drain")
        with MemorySampler(relay) as memory:
            drained = wait_drained(
                relay.url, deadline=args.drain_deadline,
                on_sample=lambda t, m: samples.append(
                    (round(t, 1), metric_sum(m, "ordersync_queue_depth", destination="cibler", state="pending")
                     + metric_sum(m, "ordersync_queue_depth", destination="cibler", state="retrying"),
                     metric_sum(m, "ordersync_queue_depth", destination="citrusad", state="pending")
                     + metric_sum(m, "ordersync_queue_depth", destination="citrusad", state="retrying"))))
        startup_s = round(time.monotonic() - with_drain_start - max(drained.values()), 2)
        metrics = relay_metrics(relay.url)
        log("drained; reading the sandbox journal")
        journal = sandbox_journal(sandbox.url)

    batches = [len(e["body"].get("orders", [])) for e in journal
               if e["path"] == "/v1/orders" and e["method"] == "POST" and (e.get("status") or 0) == 200]
    delivered = deliveries_in_journal(journal)
    orders = int(accepted)
    result["drain"] = {
        "seconds": drained,
        "orders_per_second": {d: round(orders / s, 1) if s else None for d, s in drained.items()},
        "relay_start_seconds": startup_s,
        "cibler_requests": sum(1 for e in journal if e["path"].startswith("/api/campaignBehaviors/")),
        "citrus_batches": len(batches),
        "citrus_batch_fill": {
            "mean": round(statistics.mean(batches), 2) if batches else 0,
            "min": min(batches, default=0),
            "max": max(batches, default=0),
            "full_batches_share": round(sum(1 for b in batches if b == 100) / len(batches), 4) if batches else 0,
        },
        "distinct_delivered": {d: len(ids) for d, ids in delivered.items()},
        "repeats": {d: sum(n - 1 for n in ids.values()) for d, ids in delivered.items()},
        "violations": journal_violations(journal)[:20],
        "dead_after": {d: metric_sum(metrics, "ordersync_queue_depth", destination=d, state="dead")
                       for d in ("cibler", "citrusad")},
        "peak_rss_mib": round(memory.peak_kib / 1024, 1),
        "depth_samples": samples[:: max(1, len(samples) // 40)],
    }
    save_result(args.name, result)
    d = result["drain"]
    print(f"fill: {orders} orders in {result['fill']['seconds']}s")
    print(f"drain: cibler {drained['cibler']}s ({d['orders_per_second']['cibler']} orders/s), "
          f"citrusad {drained['citrusad']}s ({d['orders_per_second']['citrusad']} orders/s)")
    print(f"citrus batches: {d['citrus_batches']}, fill mean {d['citrus_batch_fill']['mean']}, "
          f"full {d['citrus_batch_fill']['full_batches_share']:.1%}; violations {len(d['violations'])}; "
          f"delivered {d['distinct_delivered']}; repeats {d['repeats']}; peak RSS {d['peak_rss_mib']} MiB")
    if len(d["violations"]) or any(n != orders for n in d["distinct_delivered"].values()):
        raise SystemExit("delivery incomplete or the sandbox saw contract violations")


if __name__ == "__main__":
    main()
