#!/usr/bin/env python3
"""Crash suite: kill -9 the relay at random moments under continuous load, with the sandbox
vendors injecting 30% faults (10% 500s, 5% 429 with Retry-After, 5% 429 without, 10% dropped
connections), restart it each time, and at the end check that every checkout that got a 2xx
was delivered to both vendors. Reports lost orders per destination (goal 0) and repeated
deliveries per destination (at-least-once allows them; the rate is reported).

Load: `--clients` threads post signed hand-offs with consecutive order ids, as fast as the
relay answers. A client whose request fails without an answer (the relay was killed) sends
the same order again until it gets one, as the browser module's queue does; a 200 then means
the first attempt had been stored. Only orders answered 202 or 200 count as accepted.

    python3 bench/crash.py [--kills 20] [--clients 4]
"""

import argparse
import random
import threading
import time

from ordersync_bench import (Processes, RelaySettings, deliveries_in_journal, http, journal_violations,
                             log, machine_facts, metric_sum, relay_metrics, sandbox_journal,
                             save_result, signed_handoff, start_relay, start_sandbox, wait_drained,
                             work_dir)

FAULTS = ["--error-rate", "0.10", "--rate-limit-rate", "0.05", "--bare-rate-limit-rate", "0.05",
          "--drop-rate", "0.10", "--retry-after-secs", "1", "--seed", "20261122"]

# Short timings so retries and lease recovery happen within the run (the logic is the same).
RELAY_TIMINGS = {
    "ORDERSYNC_RETRY_BUDGET": "1h",
    "ORDERSYNC_BACKOFF_BASE": "50ms",
    "ORDERSYNC_BACKOFF_CAP": "1s",
    "ORDERSYNC_BATCH_LINGER": "100ms",
    "ORDERSYNC_POLL_INTERVAL": "200ms",
    "ORDERSYNC_LEASE_DURATION": "5s",
    "ORDERSYNC_VENDOR_TIMEOUT": "2s",
}


class Load:
    """Client threads posting hand-offs until stopped; records each order's final answer."""

    def __init__(self, url: str, clients: int, first_id: int):
        self.url = url
        self.accepted: set[str] = set()
        self.refused: dict[str, int] = {}
        self.unanswered_attempts = 0
        self.repeats_answered_200 = 0
        self._lock = threading.Lock()
        self._next_id = first_id
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def start(self):
        for t in self._threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join()

    def _take_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def _client(self):
        while not self._stop.is_set():
            order_id = self._take_id()
            body = signed_handoff(order_id)
            first_try = True
            # Until answered; once stopping, an order already sent is still finished, so that
            # a 202 is never left unrecorded.
            while True:
                reply = http("POST", f"{self.url}/v1/checkouts", body, timeout=10)
                if reply.status:
                    break
                with self._lock:
                    self.unanswered_attempts += 1
                first_try = False
                time.sleep(0.05)
            with self._lock:
                if reply.status in (200, 202):
                    self.accepted.add(str(order_id))
                    if reply.status == 200 and not first_try:
                        self.repeats_answered_200 += 1
                else:
                    self.refused[str(reply.status)] = self.refused.get(str(reply.status), 0) + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--min-gap", type=float, default=0.3, help="least seconds between kills")
    parser.add_argument("--max-gap", type=float, default=2.5, help="most seconds between kills")
    parser.add_argument("--drain-deadline", type=float, default=600)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--name", default="crash")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    workdir = work_dir(args.name)
    result = {"benchmark": "crash", "machine": machine_facts(), "args": vars(args),
              "sandbox_faults": FAULTS, "relay_timings": RELAY_TIMINGS}
    with Processes() as procs:
        sandbox = start_sandbox(procs, workdir, *FAULTS)
        settings = RelaySettings(database=workdir / "outbox.db", cibler_url=sandbox.url,
                                 citrus_url=sandbox.url, settings=RELAY_TIMINGS)
        relay = start_relay(procs, workdir, settings, name="relay-0")
        load = Load(relay.url, args.clients, first_id=70_000_000)
        load.start()
        restarts = []
        started = time.monotonic()
        for kill in range(1, args.kills + 1):
            time.sleep(rng.uniform(args.min_gap, args.max_gap))
            relay.kill9()
            down_at = time.monotonic()
            relay = start_relay(procs, workdir, settings, name=f"relay-{kill}")
            restarts.append(round(time.monotonic() - down_at, 3))
            log(f"kill -9 #{kill}: back in {restarts[-1]}s; {len(load.accepted)} accepted so far")
        time.sleep(rng.uniform(args.min_gap, args.max_gap))
        load.stop()
        load_seconds = time.monotonic() - started
        log(f"load stopped: {len(load.accepted)} accepted; waiting for every delivery")
        drained = wait_drained(relay.url, args.drain_deadline)
        metrics = relay_metrics(relay.url)
        journal = sandbox_journal(sandbox.url)

    delivered = deliveries_in_journal(journal)
    faults = {}
    for entry in journal:
        if entry.get("fault"):
            faults[entry["fault"]] = faults.get(entry["fault"], 0) + 1
    per_destination = {}
    for destination, counts in delivered.items():
        lost = sorted(load.accepted - counts.keys())
        repeated = sum(n - 1 for n in counts.values())
        per_destination[destination] = {
            "delivered_distinct": len(counts.keys() & load.accepted),
            "lost": len(lost),
            "lost_examples": lost[:10],
            "repeat_deliveries": repeated,
            "orders_delivered_more_than_once": sum(1 for n in counts.values() if n > 1),
            "repeat_rate": round(repeated / max(1, len(counts)), 5),
            "dead": metric_sum(metrics, "ordersync_queue_depth", destination=destination, state="dead"),
        }
    result.update({
        "kills": args.kills,
        "load_seconds": round(load_seconds, 1),
        "accepted": len(load.accepted),
        "refused": load.refused,
        "unanswered_attempts": load.unanswered_attempts,
        "repeats_answered_200_after_a_crash": load.repeats_answered_200,
        "restart_seconds": {"mean": round(sum(restarts) / len(restarts), 3), "max": max(restarts)},
        "drain_seconds_after_load": drained,
        "vendor_requests": len(journal),
        "injected_faults": faults,
        "violations": journal_violations(journal)[:20],
        "destinations": per_destination,
    })
    save_result(args.name, result)
    print(f"{args.kills} kill -9 in {load_seconds:.0f}s under load; {len(load.accepted)} checkouts accepted "
          f"(2xx); {load.unanswered_attempts} requests cut by a kill; faults injected {faults}")
    for destination, r in per_destination.items():
        print(f"{destination:>9}: lost {r['lost']}, repeat deliveries {r['repeat_deliveries']} "
              f"({r['repeat_rate']:.3%} of delivered orders), dead {r['dead']:.0f}")
    print(f"violations {len(result['violations'])}; drained {drained}s after the load stopped")
    if any(r["lost"] or r["dead"] for r in per_destination.values()) or result["violations"]:
        raise SystemExit("LOST, DEAD OR MALFORMED DELIVERIES")


if __name__ == "__main__":
    main()
