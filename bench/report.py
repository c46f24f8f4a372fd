#!/usr/bin/env python3
"""Turns one run's results (target/bench-results/<run>/*.json) into the Markdown tables of
BENCHMARKS.md's Relay, Reliability and Fuzzing sections.

    python3 bench/report.py target/bench-results/<run>
"""

import json
import sys
from pathlib import Path


def load(directory: Path, name: str):
    path = directory / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def latency_row(label, run):
    l = run["latency_ms"]
    if "share_of_target" in run:
        # A paced run: how close it came to half of the saturation it aimed at.
        label += f" ({run['share_of_target'] / 2:.0%} of saturation)"
    return f"| {label} | {run['rps']:,.0f} | {l['p50']:.2f} | {l['p99']:.2f} | {l['p99_9']:.2f} | {run.get('connections', '')} |"


# The servers of an ingest run, by result key, as the report names them.
INGEST_SERVERS = (("ceiling", "ceiling"), ("durable_floor", "durable floor"),
                  ("sqlite_floor", "SQLite floor"), ("relay", "relay"))


def saturation_runs(r):
    """(name, saturation run) of each server the ingest result holds."""
    return [(name, r[key]["saturation"]) for key, name in INGEST_SERVERS if key in r]


def cpu_sentence(r):
    """CPU per request at saturation, per server (and the relay's threads)."""
    parts = [f"{name} {run['cpu']['per_request_us']:.1f} µs" for name, run in saturation_runs(r) if "cpu" in run]
    if not parts:
        return ""
    threads = r["relay"]["saturation"].get("cpu", {}).get("by_thread_us", {})
    detail = ", ".join(f"{name} {us:.1f}" for name, us in threads.items())
    return f"CPU per request at saturation: {', '.join(parts)} (relay threads, µs: {detail}). "


def sweep_sentence(r):
    """Answers per second at each connection count tried, per server (saturation is the best)."""
    parts = []
    for name, run in saturation_runs(r):
        if run.get("sweep"):
            tried = ", ".join(f"{probe['connections']}: {probe['rps']:,.0f}" for probe in run["sweep"])
            parts.append(f"{name} ({tried})")
    if not parts:
        return ""
    return ("Saturation runs use the connection count that got the most answers per second in "
            "short runs at each count (connections: requests/s): " + "; ".join(parts) + ". ")


def ingest(r):
    out = ["### Ingest", "",
           f"Measured {r['machine']['date']}, 2 cores, load average at start {r['machine']['loadavg_at_start']}; "
           f"{r['args']['duration']:.0f} s per run; disk: fdatasync p50 {r['disk']['fdatasync_ms_p50']} ms, "
           f"p99 {r['disk']['fdatasync_ms_p99']} ms (≈ {r['disk']['serial_fsyncs_per_s']:,.0f} serial fsyncs/s).", "",
           "| server, load | requests/s | p50 ms | p99 ms | p99.9 ms | connections |",
           "|---|---:|---:|---:|---:|---:|",
           latency_row("ceiling (axum, 202, no storage), saturation", r["ceiling"]["saturation"]),
           latency_row("ceiling, half of its saturation", r["ceiling"]["half"]),
           *([latency_row("durable floor (axum, 202 after append + fdatasync, grouped), saturation",
                          r["durable_floor"]["saturation"]),
              latency_row("durable floor, half of its saturation", r["durable_floor"]["half"])]
             if "durable_floor" in r else []),
           *([latency_row("SQLite floor (axum, 202 after an INSERT into one table, WAL `synchronous=FULL`, grouped), "
                          "saturation", r["sqlite_floor"]["saturation"]),
              latency_row("SQLite floor, half of its saturation", r["sqlite_floor"]["half"])]
             if "sqlite_floor" in r else []),
           latency_row("relay (signed, SQLite, fsync per 202), saturation", r["relay"]["saturation"]),
           latency_row("relay, half of its saturation, right after it (workers catching up)", r["relay"]["half"]),
           *([latency_row("relay, half of its saturation, on an empty outbox", r["relay"]["half_fresh_queue"])]
             if "half_fresh_queue" in r["relay"] else []),
           "",
           f"Relay / ceiling: {r['relay_vs_ceiling']:.3f}"
           + (f"; relay / durable floor: {r['relay_vs_durable_floor']:.3f}" if "relay_vs_durable_floor" in r else "")
           + (f"; relay / SQLite floor: {r['relay_vs_sqlite_floor']:.3f}" if "relay_vs_sqlite_floor" in r else "")
           + ". " + sweep_sentence(r) + cpu_sentence(r) + "Non-202 answers: saturation "
           f"{ {k: v for k, v in r['relay']['saturation']['statuses'].items() if k != '202'} or 'none'}, half "
           f"{ {k: v for k, v in r['relay']['half']['statuses'].items() if k != '202'} or 'none'}. "
           f"Relay peak RSS under this load: {r['relay']['peak_rss_mib']} MiB.", ""]
    return out


def ingest_live(r):
    return [f"With live delivery to a local sandbox in the same run (`--vendors sandbox`; the sandbox's work "
            f"shares the 2 cores): relay saturation {r['relay']['saturation']['rps']:,.0f} requests/s, p99 "
            f"{r['relay']['saturation']['latency_ms']['p99']:.1f} ms; half load {r['relay']['half']['rps']:,.0f} "
            f"requests/s, p50 {r['relay']['half']['latency_ms']['p50']:.2f} ms, p99 "
            f"{r['relay']['half']['latency_ms']['p99']:.1f} ms, p99.9 {r['relay']['half']['latency_ms']['p99_9']:.1f} ms "
            f"(load average at start {r['machine']['loadavg_at_start']}).", ""]


# The half-load shapes `run-all.sh` measures besides the main run's, by result name.
HALF_LOAD_SHAPES = (("ingest-fixed", "every pause 2 ms (`--pacing fixed`)"),
                    ("ingest-random20", "exponential pauses of mean 20 ms (`--relay-half-pace-ms 20`)"),
                    ("ingest-fixed10", "every pause 10 ms (`--pacing fixed --relay-half-pace-ms 10`)"))


def half_load_cells(run):
    l = run["latency_ms"]
    return f"{run['rps']:,.0f} ({run.get('connections', '')}) | {l['p50']:.2f} / {l['p99']:.2f} / {l['p99_9']:.2f}"


def half_load_shapes(results):
    """One row per `--relay-only` run: its saturation, then half of it right after saturation
    and on an empty outbox."""
    rows = []
    for label, r in results:
        relay = r["relay"]
        saturation = relay["saturation"]
        fresh = relay.get("half_fresh_queue")
        rows.append(f"| {label} | {saturation['rps']:,.0f} ({saturation.get('cpu', {}).get('per_request_us', '')}) "
                    f"| {half_load_cells(relay['half'])} | {half_load_cells(fresh) if fresh else ' | '} |")
    return ["The other half-load shapes (each a `--relay-only` run that measured its own saturation first):", "",
            "| half-load shape | saturation requests/s (µs per request) | after: requests/s (connections) "
            "| after: p50 / p99 / p99.9 ms | empty: requests/s (connections) | empty: p50 / p99 / p99.9 ms |",
            "|---|---:|---:|---:|---:|---:|", *rows, ""]


def low_rate(r):
    l = r["relay"]["latency_ms"]
    return [f"Far below saturation (`bench/low_rate.py`, {r['machine']['date']}): {r['relay']['rps']} requests/s, "
            f"p50 {l['p50']:.2f} ms, p99 {l['p99']:.1f} ms, max {l['max']:.1f} ms; disk fdatasync p99 "
            f"{r['disk']['fdatasync_ms_p99']} ms.", ""]


def write_amplification(r):
    load, wal = r["load"], r["wal"]
    by_object = ", ".join(f"{name} {n}" for name, n in wal["frames_per_commit_by_object"].items())
    return [f"Write amplification (`bench/write_amplification.py`, {r['machine']['date']}, "
            f"{r['args']['connections']} connections pausing {r['args']['pace_ms']} ms): "
            f"{load['rps']:.0f} hand-offs/s, p99 {load['latency_ms']['p99']:.1f} ms; CPU µs per hand-off "
            f"{r['cpu']['by_thread_us']}; bytes written per hand-off "
            f"{r['written_bytes_per_request_by_thread']}; {wal['frames_per_commit']} WAL pages per "
            f"group commit ({by_object}).", ""]


def delivery(r):
    d = r["drain"]
    return ["### Delivery", "",
            f"Measured {r['machine']['date']}, 2 cores (relay and sandbox share them), load average at start "
            f"{r['machine']['loadavg_at_start']}.", "",
            "| figure | value |", "|---|---:|",
            f"| orders stored, then drained | {r['fill']['accepted']:,.0f} |",
            f"| drain time, CibleR (1 request per order, 8 in parallel) | {d['seconds']['cibler']} s "
            f"({d['orders_per_second']['cibler']:,} orders/s) |",
            f"| drain time, CitrusAd (batches) | {d['seconds']['citrusad']} s "
            f"({d['orders_per_second']['citrusad']:,} orders/s) |",
            f"| CitrusAd batches / mean fill / full (100) | {d['citrus_batches']:,} / {d['citrus_batch_fill']['mean']} / "
            f"{d['citrus_batch_fill']['full_batches_share']:.1%} |",
            f"| delivered (distinct) CibleR / CitrusAd | {d['distinct_delivered']['cibler']:,} / "
            f"{d['distinct_delivered']['citrusad']:,} |",
            f"| contract violations seen by the sandbox | {len(d['violations'])} |",
            f"| relay peak RSS while draining | {d['peak_rss_mib']} MiB |", ""]


def delivery_tail(results):
    """The drain against a sandbox with a latency tail, per CitrusAd concurrency."""
    rows = []
    for r in results:
        d = r["drain"]
        places = r["args"].get("citrus_concurrency") or "default"
        rows.append(f"| {places} | {d['seconds']['citrusad']} s ({d['orders_per_second']['citrusad']:,} orders/s) "
                    f"| {d['citrus_batch_fill']['full_batches_share']:.1%} | {d['repeats']['citrusad']} "
                    f"| {d['seconds']['cibler']} s ({d['orders_per_second']['cibler']:,} orders/s) |")
    args = results[0]["args"]
    return [f"Against a vendor with a latency tail ({args['orders']:,} orders; every answer {args['latency_ms']} ms "
            f"late, {args['slow_share']:.0%} of the orders {args['slow_ms']} ms more):", "",
            "| CitrusAd batches in flight | CitrusAd drain | full batches | CitrusAd repeats | CibleR drain |",
            "|---|---:|---:|---:|---:|", *rows, ""]


def memory(r):
    out = ["### Memory", "",
           f"Measured {r['machine']['date']}, 2 cores, load average at start {r['machine']['loadavg_at_start']}; "
           "vendors down throughout (every order stays pending/retrying).", "",
           "| queue | filled by | RSS peak | RSS mean | outbox on disk |", "|---|---|---:|---:|---:|"]
    for x in [r["idle"], *r["depths"]]:
        out.append(f"| {x['label']} ({x['waiting']:,.0f} deliveries waiting) | {x.get('filled_by', '—')} | "
                   f"{x['rss_peak_mib']} MiB | {x['rss_mean_mib']} MiB | {x['outbox_mib']} MiB |")
    return out + [""]


def retention(r):
    w, p, b, q = r["without_retention"], r["with_retention"], r["ingest_baseline"], r["ingest_while_pruning"]
    a = r["args"]
    out = ["### Retention", "",
           f"Measured {r['machine']['date']}, 2 cores, load average at start {r['machine']['loadavg_at_start']}; "
           f"{a['orders']:,} delivered orders ({r['fill']['filled_by']}).", "",
           "| outbox (SQLite) | on disk | per million delivered orders |", "|---|---:|---:|",
           f"| without retention: every delivered order kept | {w['bytes'] / 2**20:,.1f} MiB | {w['mib_per_million']:,} MiB |",
           f"| with retention, once pruned: {p['orders_remembered']:,} order ids remembered | "
           f"{p['bytes'] / 2**20:,.1f} MiB | {p['mib_per_million']:,} MiB |", "",
           f"Pruning the {a['orders']:,} took {p['prune_seconds_to_last_order']} s without load "
           f"({p['orders_pruned_per_s']:,} orders/s).", "",
           f"| ingest, {a['connections']} connections pausing ~{a['pace_ms']} ms, {a['seconds']} s, "
           f"median of {a['trials']} | requests/s | p50 | p99 | p99.9 |", "|---|---:|---:|---:|---:|"]
    for label, x in (("baseline (nothing to prune)", b), ("while pruning", q)):
        m = x["median_ms"]
        out.append(f"| {label} | {x['rps_median']:,} | {m['p50']} ms | {m['p99']} ms | {m['p99_9']} ms |")
    return out + [""]


def postgres_retention(r):
    w, p = r["without_retention"], r["with_retention"]
    mib = 2**20
    return ["### Retention on PostgreSQL", "",
            f"Measured {r['machine']['date']}, load average at start {r['machine']['loadavg_at_start']}; "
            f"{r['args']['orders']:,} delivered orders ({r['fill']['filled_by']}); pruned in {p['prune_seconds']} s "
            f"({p['orders_pruned_per_s']:,} orders/s).", "",
            "| PostgreSQL outbox (tables, indexes, TOAST) | on disk |", "|---|---:|",
            f"| without retention | {w['bytes'] / mib:,.1f} MiB ({w['mib_per_million']:,} MiB per million) |",
            f"| right after the prune | {p['bytes_after_pass'] / mib:,.1f} MiB |",
            f"| after VACUUM (what autovacuum does: the space is reusable, not returned) | {p['bytes_after_vacuum'] / mib:,.1f} MiB |",
            f"| after VACUUM FULL: {p['orders_remembered']:,} order ids remembered | {p['bytes_after_vacuum_full'] / mib:,.1f} MiB "
            f"({p['mib_per_million_after_vacuum_full']:,} MiB per million) |", ""]


def crash(r):
    out = ["### Crash (kill -9 under load)", "",
           f"Measured {r['machine']['date']}, 2 cores, load average at start {r['machine']['loadavg_at_start']}. "
           f"{r['kills']} kill -9 at random moments ({r['args']['min_gap']}–{r['args']['max_gap']} s apart) during "
           f"{r['load_seconds']} s of continuous load from {r['args']['clients']} clients; sandbox faults: "
           f"{r['injected_faults']} of {r['vendor_requests']:,} vendor requests.", "",
           "| destination | accepted (2xx) | delivered | lost | repeat deliveries (rate) | dead |",
           "|---|---:|---:|---:|---:|---:|"]
    for dest, x in r["destinations"].items():
        out.append(f"| {dest} | {r['accepted']:,} | {x['delivered_distinct']:,} | {x['lost']} | "
                   f"{x['repeat_deliveries']} ({x['repeat_rate']:.2%}) | {x['dead']:.0f} |")
    out += ["", f"Requests cut by a kill and re-sent by the client: {r['unanswered_attempts']}; of those "
                f"answered 200 (the first attempt had been stored): {r['repeats_answered_200_after_a_crash']}. "
                f"Restart to /healthz: mean {r['restart_seconds']['mean']} s, max {r['restart_seconds']['max']} s. "
                f"Contract violations: {len(r['violations'])}.", ""]
    return out


def outage(rs):
    out = ["### Vendor outage (10 minutes of simulated time)", "",
           "| vendor down | scale | accepted | lost | dead | requests to it during the outage | "
           "per simulated minute | attempts per order (mean / max; without backoff: 600) | "
           "first delivery after it (simulated) | all delivered after it (simulated) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rs:
        a = r["attempts_per_order_during_outage"]
        out.append(f"| {r['args']['vendor']} | {r['args']['scale']:.0f}× | {r['accepted']} | "
                   f"{sum(r['lost'].values())} | {sum(r['dead'].values()):.0f} | {r['requests_during_outage']:,} | "
                   f"{r['request_rate_per_simulated_minute']} | {a['mean']} / {a['max']} | "
                   f"{r['first_delivery_after_outage_simulated_seconds']} s | {r['recovery_simulated_seconds']} s |")
    r = rs[0]
    out += ["", f"Measured {r['machine']['date']}, 2 cores. Relay timings divided by the scale: {r['relay_settings']}; "
                f"checkouts keep arriving at {r['args']['rate']:.0f}/s (real) before, during and after the outage.", ""]
    return out


def postgres(r):
    ingest_rows = [f"| {name} | {run['accepted_per_s']:,.0f} | {run['p50_ms_max']} | {run['p99_ms_max']} "
                   f"| {run.get('wal_bytes_per_accepted_order', '—')} |" for name, run in r["ingest"].items()]
    delivery_rows = [f"| {name} | {run['orders_per_s']['cibler']:,} | {run['orders_per_s']['citrusad']:,} "
                     f"| {run.get('table_bytes_per_order', '—')} |" for name, run in r["delivery"].items()]
    return ["### PostgreSQL outbox", "",
            f"Measured {r['machine']['date']}; PostgreSQL {r['postgres']['server_version']}.", "",
            "| outbox × instances | accepted/s | p50 ms (worst instance) | p99 ms (worst instance) | WAL bytes per order |",
            "|---|---:|---:|---:|---:|", *ingest_rows, "",
            "| outbox × instances @ vendor latency | CibleR orders/s | CitrusAd orders/s | table bytes per order |",
            "|---|---:|---:|---:|", *delivery_rows, ""]


def fuzz(r):
    out = ["### cargo fuzz", "", f"Run {r['date']}, 2 cores.", "",
           "| target | outcome | executions | seconds | corpus |", "|---|---|---:|---:|---:|"]
    for t in r["targets"]:
        out.append(f"| {t['target']} | {t['outcome']} | {t['runs']:,} | {t['seconds']} | {t['corpus']} |")
    return out + [""]


def schemathesis(r):
    c = r["test_cases"]
    return ["### schemathesis", "",
            f"Run {r['machine']['date']}, {r['args']['max_time']} s, phases {r['args']['phases']}, checks "
            f"{', '.join(r['checks'])}: {c['generated']:,} test cases, {c['passed']:,} passed, {c['failed']} failed, "
            f"{c['errored']} errored; exit code {r['exit_code']}; relay still up: {r['relay_survived']}.", ""]


def import_(r):
    rows = [("fresh SQLite outbox, no relay serving it", r["sqlite"]),
            ("a tenth of the file, another fresh outbox", r["sqlite_tenth"]),
            ("the whole file again: every line already known", r["sqlite_again"])]
    beside = r.get("beside_serving_relay")
    if beside:
        rows.append(("beside a relay serving the outbox and delivering to the sandbox", beside["import"]))
    if r.get("postgres"):
        rows.append(("fresh PostgreSQL database", r["postgres"]))
    out = ["### Import", "",
           f"Measured {r['machine']['date']}, 2 cores, load average at start {r['machine']['loadavg_at_start']}; "
           f"{r['file']['lines']:,} lines, {r['file']['bytes'] / 2**20:,.0f} MiB.", "",
           "| import | lines | new | known | seconds | lines/s | peak RSS |", "|---|---:|---:|---:|---:|---:|---:|"]
    for label, x in rows:
        out.append(f"| {label} | {x['lines']:,} | {x['new']:,} | {x['already_known']:,} | {x['seconds']} | "
                   f"{x['lines_per_s']:,} | {x['peak_rss_mib']} MiB |")
    if beside:
        a = r["args"]
        out += ["", f"| hand-offs, {a['connections']} connections pausing ~{a['pace_ms']} ms | requests | statuses "
                    "| p50 | p99 | max |", "|---|---:|---|---:|---:|---:|"]
        for label, x in (("without an import", beside["baseline"]), ("during the import", beside["during_import"])):
            lat = x["latency_ms"]
            out.append(f"| {label} | {x['requests']:,} | {x['statuses']} | {lat['p50']} ms | {lat['p99']} ms | "
                       f"{lat['max']} ms |")
    return out + [""]


def main():
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "target/bench-results")
    sections = []
    for name, render in (("ingest", ingest), ("ingest-live", ingest_live), ("low-rate", low_rate),
                         ("write-amplification", write_amplification), ("delivery", delivery),
                         ("memory", memory), ("retention", retention), ("import", import_), ("crash", crash)):
        r = load(directory, name)
        if r:
            sections += render(r)
        if name == "ingest":
            shapes = [(label, load(directory, shape)) for shape, label in HALF_LOAD_SHAPES]
            if any(r for _, r in shapes):
                sections += half_load_shapes([(label, r) for label, r in shapes if r])
        if name == "delivery":
            tails = [r for r in (load(directory, "delivery-tail"), load(directory, "delivery-tail-c4")) if r]
            if tails:
                sections += delivery_tail(tails)
    outages = [r for r in (load(directory, "outage-citrusad"), load(directory, "outage-cibler")) if r]
    if outages:
        sections += outage(outages)
    for name, render in (("postgres-throughput", postgres), ("postgres-retention", postgres_retention),
                         ("fuzz", fuzz), ("schemathesis", schemathesis)):
        r = load(directory, name)
        if r:
            sections += render(r)
    print("\n".join(sections))


if __name__ == "__main__":
    main()
