#!/usr/bin/env bash
# Regenerates every relay, reliability and fuzzing figure of BENCHMARKS.md in one run, on this
# machine, and prints them as Markdown (bench/report.py). Run it on a quiet machine: the
# figures recorded so far were measured while other engineers compiled on the same 2 cores.
#
#   bash bench/run-all.sh            # full run (about an hour on 2 cores)
#   QUICK=1 bash bench/run-all.sh    # shorter runs, same steps (about 30 minutes)
#
# Results: target/bench-results/<UTC timestamp>/*.json, plus report.md there.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh bench
bash scripts/setup.sh postgres
echo "[run-all] building the relay (release) and the ceiling server" >&2
cargo build --release --locked -p ordersync-relay -p ordersync-sandbox
(cd bench/ceiling && cargo build --release --locked --target-dir ../../target/bench-ceiling)

stamp=$(date -u +%Y%m%dT%H%MZ)
export ORDERSYNC_BENCH_RESULTS="target/bench-results/$stamp"
mkdir -p "$ORDERSYNC_BENCH_RESULTS"
echo "[run-all] results in $ORDERSYNC_BENCH_RESULTS; load average now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# max_orders: distinct orders per body file, enough for every request at saturation to be a
# new order (and every server is driven by a file of that size: see bench/ingest.py).
if [ -n "${QUICK:-}" ]; then
  duration=10; max_orders=600000; orders=20000; depths=1000,20000,1000000; kills=20; fuzz_s=20
  st_s=30; pg_duration=5; retention_orders=200000; import_lines=200000
else
  duration=20; max_orders=1200000; orders=100000; depths=1000,100000,1000000; kills=30
  fuzz_s=120; st_s=120; pg_duration=15; retention_orders=1000000; import_lines=1000000
fi

status=0
run() { echo "[run-all] $*" >&2; "$@" || { echo "[run-all] FAILED: $*" >&2; status=1; }; }

ingest() { run python3 bench/ingest.py --duration "$duration" --max-orders "$max_orders" "$@"; }
ingest
ingest --relay-only --pacing fixed --name ingest-fixed
ingest --relay-only --relay-half-pace-ms 20 --name ingest-random20
ingest --relay-only --pacing fixed --relay-half-pace-ms 10 --name ingest-fixed10
ingest --vendors sandbox --name ingest-live
run python3 bench/low_rate.py
run python3 bench/write_amplification.py
run python3 bench/delivery.py --orders "$orders"
tail_vendor=(--orders 10000 --latency-ms 5 --slow-share 0.01 --slow-ms 200)
run python3 bench/delivery.py "${tail_vendor[@]}" --name delivery-tail
run python3 bench/delivery.py "${tail_vendor[@]}" --name delivery-tail-c4 --citrus-concurrency 4
run python3 bench/memory.py --depths "$depths"
run python3 bench/retention.py --orders "$retention_orders"
run python3 bench/postgres/retention_size.py --orders "$retention_orders"
run python3 bench/import.py --lines "$import_lines" --postgres
run python3 bench/crash.py --kills "$kills"
run python3 bench/outage.py --vendor citrusad
run python3 bench/outage.py --vendor cibler
run python3 bench/postgres/throughput.py --duration "$pg_duration" --orders 3000 --latency-ms 0,50 \
  --instances 1,2,3
run bash bench/fuzz.sh "$fuzz_s"
run python3 bench/schemathesis_run.py --max-time "$st_s"

python3 bench/report.py "$ORDERSYNC_BENCH_RESULTS" | tee "$ORDERSYNC_BENCH_RESULTS/report.md"
exit $status
