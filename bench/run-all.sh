#!/usr/bin/env bash
# Regenerates every relay, reliability and fuzzing figure of BENCHMARKS.md in one run, on this
# machine, and prints them as Markdown (bench/report.py). Run it on a quiet machine: the
# figures recorded so far were measured while other engineers compiled on the same 2 cores.
#
#   bash bench/run-all.sh            # full run (about 40 minutes on 2 cores)
#   QUICK=1 bash bench/run-all.sh    # shorter runs, same steps (about 10 minutes)
#
# Results: target/bench-results/<UTC timestamp>/*.json, plus report.md there.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh bench
echo "[run-all] building the relay (release) and the ceiling server" >&2
cargo build --release --locked -p ordersync-relay
(cd bench/ceiling && cargo build --release --locked --target-dir ../../target/bench-ceiling)

stamp=$(date -u +%Y%m%dT%H%MZ)
export ORDERSYNC_BENCH_RESULTS="target/bench-results/$stamp"
mkdir -p "$ORDERSYNC_BENCH_RESULTS"
echo "[run-all] results in $ORDERSYNC_BENCH_RESULTS; load average now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

if [ -n "${QUICK:-}" ]; then
  duration=10; orders=20000; depths=1000,20000,1000000; kills=20; fuzz_s=20; st_s=30
else
  duration=30; orders=100000; depths=1000,100000,1000000; kills=30; fuzz_s=120; st_s=120
fi

status=0
run() { echo "[run-all] $*" >&2; "$@" || { echo "[run-all] FAILED: $*" >&2; status=1; }; }

run python3 bench/ingest.py --duration "$duration"
run python3 bench/ingest.py --duration "$duration" --vendors sandbox --name ingest-live
run python3 bench/low_rate.py
run python3 bench/write_amplification.py
run python3 bench/delivery.py --orders "$orders"
run python3 bench/memory.py --depths "$depths"
run python3 bench/crash.py --kills "$kills"
run python3 bench/outage.py --vendor citrusad
run python3 bench/outage.py --vendor cibler
run bash bench/fuzz.sh "$fuzz_s"
run python3 bench/schemathesis_run.py --max-time "$st_s"

python3 bench/report.py "$ORDERSYNC_BENCH_RESULTS" | tee "$ORDERSYNC_BENCH_RESULTS/report.md"
exit $status
