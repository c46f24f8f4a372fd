#!/usr/bin/env python3
"""Ingest benchmark: signed hand-offs posted over loopback by wrk to the relay (SQLite,
durable: a 202 means committed with fsync), at saturation and at half of it, and in the same
run the machine's ceiling: a minimal axum handler that answers 202 without storing
(bench/ceiling), and two floors: the same handler answering 202 only once the body is
appended to a file and fdatasync'd, grouped (`bench/ceiling --durable`), the least any
durable server must do here; and only once it is inserted into a one-table SQLite database,
grouped (`bench/ceiling --sqlite`), the least a server storing in SQLite as the relay does
must do. Also the relay's peak resident memory, and the CPU each server
spends per request at saturation (per thread), which depends little on what else the machine
runs.

The vendors are "remote": the relay's vendor URLs point at a loopback port nothing listens on,
so each order gets its first delivery attempt (claimed, tried, rescheduled: the same outbox
writes a real delivery costs) without a vendor stand-in competing for the two cores.
`--vendors sandbox` delivers to a local sandbox instead (both then share the machine).

Saturation is the most a server answers, whatever the client's concurrency: for each server, a
short run at each connection count of `--connections` finds the count that gets the most
answers per second, and the measured run uses it. A server that makes each answer wait for an
fsync answers more the more requests share each fsync, so a single count would understate it.

    python3 bench/ingest.py [--duration 20] [--connections 32,64,128,256,512] [--vendors down|sandbox]
"""

import argparse
import dataclasses
import math
import os

from ordersync_bench import (CEILING_BIN, CpuMeter, MemorySampler, drop_bulk, fsync_floor, stored_orders, Processes, RelaySettings, closed_port_url,
                             log, machine_facts, metric_sum, relay_metrics, save_result, start_relay,
                             start_sandbox, VENDORS_DOWN_SETTINGS, work_dir, wrk, write_bodies)


# The reference servers (bench/ceiling), by result key: its flag (storing in a file of the work
# directory), and its name in the log.
REFERENCES = {
    "ceiling": (None, "ceiling"),
    "durable_floor": ("--durable", "durable floor"),
    "sqlite_floor": ("--sqlite", "SQLite floor"),
}


def start_reference(procs, workdir, key):
    """The reference server `key` of REFERENCES, and the file it stores in (or None)."""
    flag, _ = REFERENCES[key]
    argv = [str(CEILING_BIN), "127.0.0.1:0"]
    store = workdir / f"{key}.store" if flag else None
    if flag:
        argv += [flag, str(store)]
    process = procs.start(key, argv, {}, workdir / f"{key}.log")
    process.wait_announced()
    return process, store


def settle_disk():
    """Writes out every dirty page before a measured run: the body files this script just
    generated (hundreds of MB) would otherwise be flushed by the kernel during the run, and the
    server's fsyncs would wait behind that writeback (seen as 70-110 ms fsyncs in the relay)."""
    os.sync()


def sweep(url, bodies_for, counts, seconds):
    """Short wrk runs at each connection count (`bodies_for(count)`: the bodies of that run);
    returns the count that got the most answers per second, and every run's figures."""
    runs = []
    for count in counts:
        settle_disk()
        run = wrk(url, bodies_for(count), seconds, count)
        runs.append({"connections": count, "rps": round(run["rps"], 1),
                     "p99_ms": run["latency_ms"]["p99"]})
        log(f"  sweep: {count} connections, {run['rps']:.0f} rps, p99 {run['latency_ms']['p99']} ms")
    best = max(runs, key=lambda run: run["rps"])
    return best["connections"], runs


def saturate(process, bodies, duration, connections):
    """wrk at saturation against `process`, with the CPU it spent per request."""
    settle_disk()
    url = f"{process.url}/v1/checkouts"
    with CpuMeter(process) as cpu:
        result = wrk(url, bodies, duration, connections)
    result["connections"] = connections
    result["cpu"] = cpu.per_request_us(result["requests"])
    return result


def measure_reference(procs, workdir, sample, args, calibrate_s, key):
    """A reference server (REFERENCES) at saturation and at half of it, on `sample` (none of
    them reads the orders); the server is killed and its store removed afterwards."""
    name = REFERENCES[key][1]
    server, store = start_reference(procs, workdir, key)
    url = f"{server.url}/v1/checkouts"
    wrk(url, sample, min(2, args.duration), args.connections[0])  # warm-up
    connections, runs = sweep(url, lambda _: sample, args.connections, sweep_seconds(args))
    log(f"{name}: saturation, {connections} connections, {args.duration}s")
    saturation = saturate(server, sample, args.duration, connections)
    saturation["sweep"] = runs
    log(f"{name}: {saturation['rps']:.0f} rps, p99 {saturation['latency_ms']['p99']} ms")
    half = paced_run(url, sample, saturation["rps"] / 2, args.duration, calibrate_s, args.pacing)
    server.kill9()
    if store:
        for path in workdir.glob(f"{store.name}*"):
            path.unlink()
    return {"saturation": saturation, "half": half}


MAX_CONNECTIONS = 512
CALIBRATION_ROUNDS = 5


def sweep_seconds(args):
    return min(3.0, args.duration)


def connection_counts(text):
    counts = [int(count) for count in text.split(",")]
    if not counts or min(counts) < 1 or max(counts) > MAX_CONNECTIONS:
        raise argparse.ArgumentTypeError(f"connection counts between 1 and {MAX_CONNECTIONS}")
    return counts


def paced_run(url, bodies, target_rps, duration, calibrate_s, pacing, calibration_bodies=(),
              pace_ms=0):
    """wrk at about `target_rps`: each connection waits `pace` ms before each request, and the
    connection count is calibrated on short runs (a connection's cycle is the pace plus the
    answer's latency, which itself falls with the load). `calibration_bodies`: one file per
    calibration round, so no round repeats an order another already stored. `pace_ms`: the
    pause (0: chosen for about 32 connections to start with, few enough for wrk, enough to
    absorb latency); a longer pause spreads the same rate over more connections."""
    pace_ms = pace_ms or min(50, max(1, round(32_000 / target_rps)))
    connections = max(2, round(target_rps * pace_ms / 1000))
    rounds = list(calibration_bodies) or [bodies] * CALIBRATION_ROUNDS
    settle_disk()
    for round_bodies in rounds:
        probe = wrk(url, round_bodies, calibrate_s, connections, pace_ms=pace_ms, pacing=pacing)
        if probe["rps"] <= 0:
            raise RuntimeError(f"calibration got no answers: {probe}")
        ratio = target_rps / probe["rps"]
        if abs(ratio - 1) < 0.04:
            break
        # More connections also lengthen each one's cycle (the latency grows with the load):
        # aim a little past the ratio when raising, so the rounds do not stop short.
        overshoot = 1.1 if ratio > 1 else 1.0
        connections = min(MAX_CONNECTIONS, max(2, round(connections * ratio * overshoot)))
    settle_disk()
    result = wrk(url, bodies, duration, connections, pace_ms=pace_ms, pacing=pacing)
    result["connections"] = connections
    result["pace_ms"] = pace_ms
    result["pacing"] = pacing
    result["target_rps"] = round(target_rps, 1)
    result["share_of_target"] = round(result["rps"] / target_rps, 3)
    return result


def delivery_queue(url):
    """The orders stored so far, and per destination those not attempted yet (`pending`) and
    not delivered yet (`pending` + `retrying`), from the relay's /metrics."""
    metrics = relay_metrics(url)
    depth = lambda d, s: metric_sum(metrics, "ordersync_queue_depth", destination=d, state=s)
    return metric_sum(metrics, "ordersync_checkouts_accepted_total"), {
        d: {"pending": depth(d, "pending"), "waiting": depth(d, "pending") + depth(d, "retrying")}
        for d in ("cibler", "citrusad")}


def with_delivery_kept_up(relay, run):
    """`run()`'s result, plus how far delivery kept up during it (its calibration rounds
    included): per destination, the first attempts made meanwhile, as a share of the orders
    stored meanwhile. The workers share the cores with the hand-offs, and a saturated relay
    gives most of them to the hand-offs: the orders it takes then are delivered after the
    load, which the run's rate alone would hide."""
    stored_before, before = delivery_queue(relay.url)
    result = run()
    stored_after, after = delivery_queue(relay.url)
    stored = stored_after - stored_before
    attempted = {d: before[d]["pending"] + stored - after[d]["pending"] for d in before}
    result["delivery"] = {
        d: {"orders_stored": stored, "pending_before": before[d]["pending"],
            "pending_after": after[d]["pending"], "waiting_after": after[d]["waiting"],
            "first_attempts": attempted[d],
            "share_of_stored": round(attempted[d] / stored, 3) if stored else None}
        for d in before}
    return result


def half_load_on_a_fresh_queue(procs, workdir, settings, target_rps, bodies, calib_bodies,
                               calibrate_s, args):
    """The half-load run again, on a relay started on an empty outbox. The first half-load run
    follows the saturation run on the same relay, whose workers are then still making the first
    attempts that saturation left (about a million deliveries): that run measures half load and
    the recovery from a burst together. This one measures half load alone, the steady state the
    goal speaks of; both are reported."""
    fresh = dataclasses.replace(settings, database=workdir / "fresh.db", listen="")
    relay = start_relay(procs, workdir, fresh, name="relay-fresh")
    url = f"{relay.url}/v1/checkouts"
    run = with_delivery_kept_up(relay, lambda: paced_run(
        url, bodies, target_rps, args.duration, calibrate_s, args.pacing,
        calibration_bodies=calib_bodies, pace_ms=args.relay_half_pace_ms))
    log(f"relay, fresh queue: half load {run['rps']:.0f} rps, p99 {run['latency_ms']['p99']} ms")
    check_all_accepted("relay half, fresh queue", run)
    relay.terminate()
    return run


def check_all_accepted(name, result, wanted="202"):
    statuses = result["statuses"]
    other = {k: v for k, v in statuses.items() if k != wanted}
    if other or result["bodies_wrapped"]:
        log(f"WARNING {name}: answers other than {wanted}: {other}; bodies wrapped "
            f"{result['bodies_wrapped']} times (sent more requests than distinct orders)")
    return not other


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measured run")
    parser.add_argument("--connections", type=connection_counts, default=[32, 64, 128, 256, 512],
                        help="wrk connection counts tried for saturation (comma-separated)")
    parser.add_argument("--vendors", choices=["down", "sandbox"], default="down")
    parser.add_argument("--max-orders", type=int, default=200_000,
                        help="distinct signed orders generated per relay run (more: wrap to repeats); the references get a file of this many lines too")
    parser.add_argument("--calibrate-seconds", type=float, default=0,
                        help="seconds per calibration round of the half-load run (default: duration / 5, at least 2)")
    parser.add_argument("--relay-half-pace-ms", type=int, default=0,
                        help="pause of each connection in the relay's half-load run (default: about 32 "
                             "connections' worth); longer spreads the load over more connections")
    parser.add_argument("--pacing", choices=["random", "fixed"], default="random",
                        help="half-load pauses: exponential (random, Poisson arrivals while idle) "
                             "or all equal (fixed; connections then tend to move in step)")
    parser.add_argument("--relay-only", action="store_true",
                        help="measure the relay alone, without the ceiling and floors (to compare "
                             "half-load shapes of one build; the relay's share of the ceiling needs "
                             "a full run)")
    parser.add_argument("--relay-log-level", default="warn",
                        help="the relay's RUST_LOG: warn (as every recorded run: a line per refused "
                             "delivery attempt) or info (the relay's default: also a line per "
                             "accepted checkout and per delivery attempt)")
    parser.add_argument("--name", default="ingest")
    args = parser.parse_args()
    references = [] if args.relay_only else list(REFERENCES)
    calibrate_s = args.calibrate_seconds or max(2.0, args.duration / 5)

    result = {"benchmark": "ingest", "machine": machine_facts(), "args": vars(args)}
    workdir = work_dir(args.name)
    result["disk"] = fsync_floor(workdir)
    log(f"disk: {result['disk']}")

    with Processes() as procs:
        # As many lines as the relay's body files can have, not a short file reused: every
        # server is driven by the same load generator doing the same work per request, since
        # on these 2 cores wrk's cost comes out of the server's share. wrk reads each body from
        # the file as it sends it (wrk/handoff.lua). Until session 9 it first loaded the whole
        # file into a Lua table, and its garbage collector then paused for hundreds of ms: the
        # ceiling, 20 s at 512 connections on 1.7 million lines, answered 103,374 requests/s
        # with a p99.9 of 311.6 ms, against 123,854 and 18.6 ms streamed.
        sample = write_bodies(workdir / "sample.txt", 1, args.max_orders)
        for key in references:
            result[key] = measure_reference(procs, workdir, sample, args, calibrate_s, key)

        # A short probe sizes the body files: every request at saturation must be a new order.
        if args.vendors == "sandbox":
            sandbox = start_sandbox(procs, workdir)
            vendor_url = sandbox.url
        else:
            vendor_url = closed_port_url()
        relay_settings = RelaySettings(
            database=workdir / "outbox.db", cibler_url=vendor_url, citrus_url=vendor_url,
            settings=(dict(VENDORS_DOWN_SETTINGS) if args.vendors == "down" else {})
            | {"RUST_LOG": args.relay_log_level})
        relay = start_relay(procs, workdir, relay_settings)
        relay_url = f"{relay.url}/v1/checkouts"
        probe_bodies = write_bodies(workdir / "probe.txt", 10_000_000, 20_000)
        probe = wrk(relay_url, probe_bodies, min(3, args.duration), args.connections[0])
        # Generous: the short probe runs cold at the fewest connections, and a repeat (200) is
        # cheaper than a new order.
        per_sweep_run = math.ceil(probe["rps"] * sweep_seconds(args) * 4) + 5000
        sweep_bodies = {count: write_bodies(workdir / f"sweep-{count}.txt",
                                            50_000_000 + n * 10_000_000, per_sweep_run)
                        for n, count in enumerate(args.connections)}
        log("relay: finding saturation")
        connections, sweep_runs = sweep(relay_url, sweep_bodies.get, args.connections,
                                        sweep_seconds(args))
        best_rps = max(run["rps"] for run in sweep_runs)
        needed = min(args.max_orders, math.ceil(best_rps * args.duration * 1.5) + 5000)
        log(f"relay probe: {probe['rps']:.0f} rps; generating {needed} signed hand-offs per run")
        sat_bodies = write_bodies(workdir / "saturation.txt", 20_000_000, needed)
        half_bodies = write_bodies(workdir / "half.txt", 30_000_000, needed)
        per_round = math.ceil(best_rps * calibrate_s) + 500
        calib_bodies = [write_bodies(workdir / f"calibrate-{n}.txt", 40_000_000 + n * per_round, per_round)
                        for n in range(CALIBRATION_ROUNDS)]

        with MemorySampler(relay) as memory:
            log(f"relay: saturation, {connections} connections, {args.duration}s")
            relay_sat = with_delivery_kept_up(
                relay, lambda: saturate(relay, sat_bodies, args.duration, connections))
            relay_sat["sweep"] = sweep_runs
            log(f"relay: {relay_sat['rps']:.0f} rps, p99 {relay_sat['latency_ms']['p99']} ms")
            check_all_accepted("relay saturation", relay_sat)
            relay_half = with_delivery_kept_up(relay, lambda: paced_run(
                relay_url, half_bodies, relay_sat["rps"] / 2, args.duration, calibrate_s,
                args.pacing, calibration_bodies=calib_bodies, pace_ms=args.relay_half_pace_ms))
            log(f"relay: half load {relay_half['rps']:.0f} rps, p99 {relay_half['latency_ms']['p99']} ms")
            check_all_accepted("relay half", relay_half)
        metrics = relay_metrics(relay.url)
        accepted = sum(v for (n, _), v in metrics.items() if n == "ordersync_checkouts_accepted_total")
        stored = stored_orders(metrics)
        relay.terminate()
        relay_fresh = half_load_on_a_fresh_queue(procs, workdir, relay_settings, relay_sat["rps"] / 2,
                                                 half_bodies, calib_bodies, calibrate_s, args)
        result["relay"] = {
            "vendors": args.vendors,
            "saturation": relay_sat,
            "half": relay_half,
            "half_fresh_queue": relay_fresh,
            "accepted_total_metric": accepted,
            "stored_in_outbox": stored,
            "peak_rss_mib": round(memory.peak_kib / 1024, 1),
            "vm_hwm_mib": round(memory.hwm_kib / 1024, 1),
        }
        for key in references:
            result[f"relay_vs_{key}"] = round(relay_sat["rps"] / result[key]["saturation"]["rps"], 4)

    save_result(args.name, result)
    drop_bulk(workdir)
    servers = {key: result[key] for key in references} | {"relay": result["relay"]}
    for key, server in servers.items():
        for load in ("saturation", "half"):
            run = server[load]
            latency = run["latency_ms"]
            print(f"{key:13} {load:10} {run['rps']:.0f} rps p50 {latency['p50']} p99 {latency['p99']} "
                  f"p99.9 {latency['p99_9']} ms")
    for key, server in servers.items():
        tried = ", ".join(f"{r['connections']}: {r['rps']:.0f}" for r in server["saturation"]["sweep"])
        print(f"{key} sweep (connections: rps): {tried}")
    fresh = result["relay"]["half_fresh_queue"]
    print(f"relay         half, fresh queue {fresh['rps']:.0f} rps p50 {fresh['latency_ms']['p50']} "
          f"p99 {fresh['latency_ms']['p99']} p99.9 {fresh['latency_ms']['p99_9']} ms")
    for load in ("saturation", "half", "half_fresh_queue"):
        kept_up = ", ".join(f"{d} {v['first_attempts']:.0f} for {v['orders_stored']:.0f} stored "
                            f"({v['share_of_stored']:.1%}), {v['pending_after']:.0f} not attempted at the end"
                            for d, v in result["relay"][load]["delivery"].items())
        print(f"relay {load}: first delivery attempts meanwhile: {kept_up}")
    cpu = ", ".join(f"{key} {server['saturation']['cpu']['per_request_us']} us"
                    for key, server in servers.items())
    print(f"CPU per request at saturation: {cpu} {result['relay']['saturation']['cpu']['by_thread_us']}")
    print(f"disk: fdatasync p50 {result['disk']['fdatasync_ms_p50']} ms, "
          f"{result['disk']['serial_fsyncs_per_s']} serial fsyncs/s")
    ratios = "; ".join(f"relay / {key} {result[f'relay_vs_{key}']:.3f}" for key in references)
    print(f"{ratios}; relay peak RSS {result['relay']['peak_rss_mib']} MiB "
          f"(VmHWM {result['relay']['vm_hwm_mib']} MiB)")


if __name__ == "__main__":
    main()
