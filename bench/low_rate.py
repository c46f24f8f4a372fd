#!/usr/bin/env python3
"""The relay's latency far below saturation: wrk with 2 connections, each waiting 100 ms
between requests (about 19 signed hand-offs per second), for 20 s. Its tail, compared with
the disk's fdatasync tail, tells whether the relay's latency comes from load or from waiting
inside the relay. Same relay settings as bench/ingest.py (vendors down, first attempt made,
then parked).

    python3 bench/low_rate.py [--seconds 20]
"""

import argparse
import os

from ordersync_bench import (Processes, fsync_floor, machine_facts, save_result,
                             start_relay_vendors_down, work_dir, wrk, write_bodies)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--name", default="low-rate")
    args = parser.parse_args()
    workdir = work_dir(args.name)
    result = {"benchmark": "low-rate", "machine": machine_facts(), "args": vars(args),
              "disk": fsync_floor(workdir)}
    with Processes() as procs:
        relay = start_relay_vendors_down(procs, workdir)
        bodies = write_bodies(workdir / "orders.txt", 1, int(args.seconds * 40) + 100)
        os.sync()  # the body file just written must not be flushed during the run
        result["relay"] = wrk(f"{relay.url}/v1/checkouts", bodies, args.seconds, 2, pace_ms=100)
    save_result(args.name, result)
    r = result["relay"]
    print(f"relay at {r['rps']} requests/s: p50 {r['latency_ms']['p50']} ms, p99 {r['latency_ms']['p99']} ms, "
          f"max {r['latency_ms']['max']} ms; disk fdatasync p99 {result['disk']['fdatasync_ms_p99']} ms")


if __name__ == "__main__":
    main()
