#!/usr/bin/env python3
"""schemathesis against the relay's own `/openapi.json`: generated and mutated requests to
every documented operation, checking that no answer is a 5xx and that every answer matches
the document (status code, content type, headers, body schema).

The relay runs from the release build with `--accept-unsigned` (so generated checkouts can
also be accepted, not only refused for want of a signature), against a sandbox, with the
per-client rate limit raised (one client sends everything). The stateful phase follows the
document's link from a hand-off's answer to its order's status. The result counts the
generated checkouts the relay stored: the document describes every checkout field with its
limits, so that generated requests reach storage and are not all refused.

    python3 bench/schemathesis_run.py [--max-time 60] [--phases examples,coverage,fuzzing,stateful]
"""

import argparse
import re
import subprocess

from ordersync_bench import (ROOT, Processes, RelaySettings, log, machine_facts, metric_sum,
                             relay_metrics, save_result, start_relay, start_sandbox, work_dir)

SCHEMATHESIS = ROOT / "target/bench-venv/bin/schemathesis"
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-time", type=int, default=60, help="seconds for the whole run")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--name", default="schemathesis")
    args = parser.parse_args()
    if not SCHEMATHESIS.exists():
        raise SystemExit("schemathesis missing: run 'bash scripts/setup.sh bench'")

    workdir = work_dir(args.name)
    with Processes() as procs:
        sandbox = start_sandbox(procs, workdir)
        relay = start_relay(procs, workdir, RelaySettings(
            database=workdir / "outbox.db", cibler_url=sandbox.url, citrus_url=sandbox.url,
            accept_unsigned=True, settings={"ORDERSYNC_CITRUS_CATALOG_ID": "catalog-default"}))
        argv = [str(SCHEMATHESIS), "run", f"{relay.url}/openapi.json", "--checks", CHECKS,
                "--phases", args.phases, "--max-time", str(args.max_time), "--workers", "2",
                "--continue-on-failure", "--request-timeout", "10", "--no-color",
                "--report", "junit", "--report-dir", str(workdir / "report")]
        log(" ".join(argv))
        done = subprocess.run(argv, capture_output=True, text=True, cwd=workdir,
                              timeout=args.max_time + 300)
        output = done.stdout + done.stderr
        (workdir / "schemathesis.out").write_text(output)
        relay_alive = relay.alive()
        stored = (metric_sum(relay_metrics(relay.url), "ordersync_checkouts_accepted_total")
                  if relay_alive else None)

    print(output[-4000:])
    print(f"generated checkouts the relay stored: {stored}")
    five_xx = len(re.findall(r"Server error", output))
    cases = re.search(r"(\d+) generated(?:, (\d+) passed)?(?:, (\d+) failed)?(?:, (\d+) errored)?", output)
    generated, passed, failed, errored = (int(g) if g else 0 for g in cases.groups()) if cases else (0, 0, 0, 0)
    result = {
        "benchmark": "schemathesis",
        "machine": machine_facts(),
        "args": vars(args),
        "checks": CHECKS.split(","),
        "exit_code": done.returncode,
        "server_error_mentions": five_xx,
        "relay_survived": relay_alive,
        "checkouts_stored": stored,
        "test_cases": {"generated": generated, "passed": passed, "failed": failed, "errored": errored},
        "output": str(workdir / "schemathesis.out"),
    }
    save_result(args.name, result)
    if done.returncode != 0 or not relay_alive:
        raise SystemExit(f"schemathesis found failures (exit {done.returncode}); see {workdir / 'schemathesis.out'}")


if __name__ == "__main__":
    main()
