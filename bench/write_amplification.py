#!/usr/bin/env python3
"""What the SQLite outbox writes per hand-off, and where: the relay under a paced load (by
default bench/ingest.py's hardest half-load shape: 390 connections each pausing exactly 10 ms,
vendors down as there), then per thread its CPU and the bytes it wrote to disk per hand-off
(`/proc/PID/task/*/io`), and the WAL read frame by frame: how many pages each group commit
wrote, and to which table or index (SQLite's `dbstat`). This is how a failed CitrusAd batch was
found to rewrite a page of the waiting index per order (BENCHMARKS.md, session 5).

    python3 bench/write_amplification.py [--connections 390] [--pace-ms 10] [--pacing fixed]
                                         [--seconds 10]
"""

import argparse
import collections
import os
import shutil
import sqlite3
import struct
from pathlib import Path

from ordersync_bench import (CpuMeter, Processes, log, machine_facts, save_result,
                             start_relay_vendors_down, work_dir, wrk, write_bodies)

WAL_HEADER = struct.Struct(">IIIIIIII")
FRAME_HEADER = struct.Struct(">IIII")
FRAME_HEADER_BYTES = 24


def written_bytes_by_thread(pid: int) -> dict[str, int]:
    """Bytes each thread (by name) has caused to be written to storage."""
    written: dict[str, int] = collections.Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        name = (task / "comm").read_text().strip()
        io = dict(line.split(": ") for line in (task / "io").read_text().splitlines())
        written[name] += int(io["write_bytes"])
    return written


def wal_frames(wal: bytes) -> tuple[int, list[tuple[int, bool]]]:
    """The page size and the frames of the WAL's current generation: (page number, whether the
    frame ends a commit). Frames left from before the WAL last started over carry other salts."""
    _magic, _version, page_size, _seq, salt1, salt2, _c1, _c2 = WAL_HEADER.unpack_from(wal)
    frames, offset = [], WAL_HEADER.size
    while offset + FRAME_HEADER_BYTES + page_size <= len(wal):
        page, size_after_commit, s1, s2 = FRAME_HEADER.unpack_from(wal, offset)
        if (s1, s2) != (salt1, salt2):
            break
        frames.append((page, size_after_commit != 0))
        offset += FRAME_HEADER_BYTES + page_size
    return page_size, frames


def pages_per_commit(copy_dir: Path) -> dict:
    """Reads a copy of the outbox and its WAL: frames per commit, by table or index."""
    page_size, frames = wal_frames((copy_dir / "outbox.db-wal").read_bytes())
    database = sqlite3.connect(copy_dir / "outbox.db")
    try:
        owner = {page: name for name, page in database.execute("SELECT name, pageno FROM dbstat")}
    except sqlite3.OperationalError:  # a Python whose SQLite lacks the dbstat table
        owner = {}
    finally:
        database.close()
    commits = sum(1 for _, ends_commit in frames if ends_commit)
    by_object = collections.Counter(owner.get(page, "(unknown page)") for page, _ in frames)
    per_commit = lambda n: round(n / max(1, commits), 2)
    return {
        "page_size": page_size,
        "commits_read": commits,
        "frames_per_commit": per_commit(len(frames)),
        "frames_per_commit_by_object": {name: per_commit(n) for name, n in by_object.most_common()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=390)
    parser.add_argument("--pace-ms", type=int, default=10)
    parser.add_argument("--pacing", choices=["random", "fixed"], default="fixed")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--name", default="write-amplification")
    args = parser.parse_args()
    workdir = work_dir(args.name)
    result = {"benchmark": "write-amplification", "machine": machine_facts(), "args": vars(args)}
    with Processes() as procs:
        relay = start_relay_vendors_down(procs, workdir)
        bodies = write_bodies(workdir / "orders.txt", 90_000_000, int(args.seconds * 40_000) + 1000)
        os.sync()  # the body file just written must not be flushed during the run
        written_before = written_bytes_by_thread(relay.pid)
        with CpuMeter(relay) as cpu:
            run = wrk(f"{relay.url}/v1/checkouts", bodies, args.seconds, args.connections,
                      pace_ms=args.pace_ms, pacing=args.pacing)
        written_after = written_bytes_by_thread(relay.pid)
        # Copied while the relay runs: on a clean stop SQLite checkpoints and removes the WAL.
        copy_dir = workdir / "copy"
        copy_dir.mkdir(exist_ok=True)
        for suffix in ("-wal", ""):
            shutil.copy(workdir / f"outbox.db{suffix}", copy_dir / f"outbox.db{suffix}")
    requests = run["requests"]
    result["load"] = run
    result["cpu"] = cpu.per_request_us(requests)
    result["written_bytes_per_request_by_thread"] = {
        name: round((written_after[name] - written_before.get(name, 0)) / max(1, requests))
        for name in sorted(written_after) if written_after[name] > written_before.get(name, 0)}
    result["wal"] = pages_per_commit(copy_dir)
    save_result(args.name, result)
    wal = result["wal"]
    log(f"{run['rps']:.0f} hand-offs/s, p99 {run['latency_ms']['p99']} ms; CPU µs per hand-off "
        f"{result['cpu']['by_thread_us']}; bytes written per hand-off "
        f"{result['written_bytes_per_request_by_thread']}; {wal['frames_per_commit']} WAL pages per "
        f"commit over {wal['commits_read']} commits: {wal['frames_per_commit_by_object']}")


if __name__ == "__main__":
    main()
