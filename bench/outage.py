#!/usr/bin/env python3
"""Vendor outage: one vendor answers 503 to everything for 10 minutes of simulated time,
while checkouts keep arriving. Nothing may be lost, delivery must resume after the outage,
and backoff must not hammer the vendor: the request rate against it during the outage is
reported, in real seconds and per simulated minute.

Time is shortened by configuration only: every relay timing (backoff base and cap, retry
budget, linger, poll interval, lease, vendor timeout) is its default divided by `--scale`, and
the outage lasts 10 min / scale. The relay runs the same backoff logic it runs in production.

    python3 bench/outage.py [--vendor citrusad|cibler] [--scale 30]
"""

import argparse
import threading
import time

from ordersync_bench import (Processes, RelaySettings, deliveries_in_journal, http, journal_violations,
                             log, machine_facts, metric_sum, relay_metrics, sandbox_journal,
                             save_result, set_faults, signed_handoff, start_relay, start_sandbox,
                             wait_drained, work_dir)

# The relay's defaults (crates/relay/README.md), in milliseconds.
DEFAULTS_MS = {
    "ORDERSYNC_RETRY_BUDGET": 24 * 3600 * 1000,
    "ORDERSYNC_BACKOFF_BASE": 1000,
    "ORDERSYNC_BACKOFF_CAP": 10 * 60 * 1000,
    "ORDERSYNC_BATCH_LINGER": 200,
    "ORDERSYNC_POLL_INTERVAL": 1000,
    "ORDERSYNC_LEASE_DURATION": 60 * 1000,
    "ORDERSYNC_VENDOR_TIMEOUT": 10 * 1000,
    "ORDERSYNC_CIRCUIT_PROBE_MAX": 30 * 1000,
}
OUTAGE_MS = 10 * 60 * 1000
PATHS = {"cibler": "/api/campaignBehaviors/order/", "citrusad": "/v1/orders"}
FAULTS_ON = {"cibler": "cibler", "citrusad": "citrus"}


def scaled_settings(scale: float) -> dict:
    return {name: f"{max(1, round(ms / scale))}ms" for name, ms in DEFAULTS_MS.items()}


def send_orders(url: str, ids, rate_per_s: float, accepted: set, lock: threading.Lock):
    interval = 1 / rate_per_s
    next_at = time.monotonic()
    for order_id in ids:
        reply = http("POST", f"{url}/v1/checkouts", signed_handoff(order_id), timeout=10)
        if reply.status in (200, 202):
            with lock:
                accepted.add(str(order_id))
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vendor", choices=["citrusad", "cibler"], default="citrusad")
    parser.add_argument("--scale", type=float, default=30.0, help="simulated seconds per real second")
    parser.add_argument("--rate", type=float, default=20.0, help="checkouts per real second, throughout")
    parser.add_argument("--before-seconds", type=float, default=3.0)
    parser.add_argument("--name", default="")
    args = parser.parse_args()
    name = args.name or f"outage-{args.vendor}"

    settings = scaled_settings(args.scale)
    outage_s = OUTAGE_MS / args.scale / 1000
    workdir = work_dir(name)
    result = {"benchmark": "outage", "machine": machine_facts(), "args": vars(args),
              "relay_settings": settings, "outage_real_seconds": outage_s}
    accepted: set[str] = set()
    lock = threading.Lock()
    with Processes() as procs:
        sandbox = start_sandbox(procs, workdir)
        relay = start_relay(procs, workdir, RelaySettings(
            database=workdir / "outbox.db", cibler_url=sandbox.url, citrus_url=sandbox.url,
            settings=settings))
        total_s = args.before_seconds + outage_s + args.before_seconds
        ids = range(80_000_000, 80_000_000 + int(total_s * args.rate))
        sender = threading.Thread(target=send_orders, args=(relay.url, ids, args.rate, accepted, lock))
        sender.start()
        time.sleep(args.before_seconds)
        set_faults(sandbox.url, {"outage": True, "faultsOn": FAULTS_ON[args.vendor]})
        outage_start_ms = time.time() * 1000
        log(f"{args.vendor} down for {outage_s:.1f}s (10 simulated minutes)")
        time.sleep(outage_s)
        set_faults(sandbox.url, {"outage": False})
        outage_end_ms = time.time() * 1000
        metrics_at_end = relay_metrics(relay.url)
        log("outage over; waiting for every delivery")
        sender.join()
        recovered_start = time.monotonic()
        drained = wait_drained(relay.url, deadline=max(120, 4 * outage_s))
        recovery_s = round(time.monotonic() - recovered_start, 2)
        metrics = relay_metrics(relay.url)
        journal = sandbox_journal(sandbox.url)

    to_vendor = [e for e in journal if e["path"].startswith(PATHS[args.vendor]) and e["method"] == "POST"]
    during = [e for e in to_vendor if outage_start_ms <= e["receivedAtMs"] < outage_end_ms]
    # Requests per real second in each tenth of the outage: backoff should thin them out.
    tenths = [0] * 10
    for e in during:
        tenths[min(9, int((e["receivedAtMs"] - outage_start_ms) / (outage_end_ms - outage_start_ms) * 10))] += 1
    tenth_s = outage_s / 10
    waiting_at_end = metric_sum(metrics_at_end, "ordersync_queue_depth", destination=args.vendor,
                                state="retrying") + metric_sum(
        metrics_at_end, "ordersync_queue_depth", destination=args.vendor, state="pending")
    # Per order: how many times it was offered to the vendor during the outage (CitrusAd
    # batches carry several orders per request).
    attempts_per_order: dict[str, int] = {}
    for e in during:
        body = e.get("body") or {}
        ids_in_request = ([str(o.get("id")) for o in body.get("orders", [])] if args.vendor == "citrusad"
                          else [str(body.get("orderInformation", {}).get("orderId"))])
        for order_id in ids_in_request:
            attempts_per_order[order_id] = attempts_per_order.get(order_id, 0) + 1
    first_after = min((e["receivedAtMs"] for e in to_vendor
                       if e["receivedAtMs"] >= outage_end_ms and 200 <= (e.get("status") or 0) < 300),
                      default=None)
    first_after_s = round((first_after - outage_end_ms) / 1000, 2) if first_after else None
    delivered = deliveries_in_journal(journal)
    lost = {d: len(accepted - counts.keys()) for d, counts in delivered.items()}
    result.update({
        "accepted": len(accepted),
        "lost": lost,
        "dead": {d: metric_sum(metrics, "ordersync_queue_depth", destination=d, state="dead")
                 for d in ("cibler", "citrusad")},
        "violations": journal_violations(journal)[:20],
        "requests_during_outage": len(during),
        "request_rate_real_per_s": round(len(during) / outage_s, 2),
        "request_rate_per_simulated_minute": round(len(during) / 10, 1),
        "rate_by_tenth_real_per_s": [round(n / tenth_s, 2) for n in tenths],
        "orders_waiting_at_outage_end": waiting_at_end,
        "orders_offered_during_outage": len(attempts_per_order),
        "attempts_per_order_during_outage": {
            "mean": round(sum(attempts_per_order.values()) / max(1, len(attempts_per_order)), 2),
            "max": max(attempts_per_order.values(), default=0),
            "without_backoff_at_the_poll_interval": round(OUTAGE_MS / DEFAULTS_MS["ORDERSYNC_POLL_INTERVAL"]),
        },
        "first_delivery_after_outage_real_seconds": first_after_s,
        "first_delivery_after_outage_simulated_seconds": round(first_after_s * args.scale, 1)
        if first_after_s is not None else None,
        "recovery_real_seconds": recovery_s,
        "recovery_simulated_seconds": round(recovery_s * args.scale, 1),
        "drain_seconds": drained,
    })
    save_result(name, result)
    print(f"{args.vendor} down 10 simulated minutes ({outage_s:.1f}s real, scale {args.scale}): "
          f"{len(accepted)} checkouts accepted, lost {lost}, dead {result['dead']}")
    print(f"requests to {args.vendor} during the outage: {len(during)} "
          f"({result['request_rate_real_per_s']}/s real, {result['request_rate_per_simulated_minute']} per simulated "
          f"minute); by tenth of the outage (real /s): {result['rate_by_tenth_real_per_s']}")
    a = result["attempts_per_order_during_outage"]
    print(f"each order offered {a['mean']} times on average (max {a['max']}) during the outage; "
          f"first delivery {result['first_delivery_after_outage_simulated_seconds']}s simulated after it")
    print(f"{waiting_at_end:.0f} orders waiting at the end of the outage; all delivered "
          f"{recovery_s}s real ({result['recovery_simulated_seconds']}s simulated) after it")
    if any(lost.values()) or result["violations"] or any(result["dead"].values()):
        raise SystemExit("LOST, DEAD OR MALFORMED DELIVERIES")


if __name__ == "__main__":
    main()
