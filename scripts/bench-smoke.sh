#!/usr/bin/env bash
# A quick smoke run of every relay benchmark script (bench/), so `npm test` notices when one
# breaks. Tiny sizes and short times: the figures it prints mean nothing. Uses the debug relay
# binary the tests build (set ORDERSYNC_BENCH_RELAY to use another). Runs every script, prints
# 'bench-smoke: N passed, N failed' and exits non-zero if any failed. Warm, it takes about a minute and a half on 2 cores; the first run on a new machine
# also installs the bench tools (wrk, cargo-fuzz, schemathesis) and builds the ceiling server
# and the fuzz targets, and PostgreSQL for bench/postgres/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh bench
bash scripts/setup.sh postgres
started=$SECONDS
passed=0
failures=()
# Runs one script; a failure is counted and reported, and the next script still runs.
run() {
  local name=$1
  shift
  printf '\n==> bench smoke: %s (%ss so far)\n' "$name" "$((SECONDS - started))"
  if "$@" >"$ORDERSYNC_BENCH_RESULTS/smoke-$name.log" 2>&1; then
    passed=$((passed + 1))
  else
    failures+=("$name")
    echo "FAILED: $name; its output:" >&2
    tail -30 "$ORDERSYNC_BENCH_RESULTS/smoke-$name.log" >&2
  fi
}

export ORDERSYNC_BENCH_RELAY=${ORDERSYNC_BENCH_RELAY:-$PWD/target/debug/ordersync-relay}
export ORDERSYNC_BENCH_RESULTS=target/bench-smoke-results
export ORDERSYNC_BENCH_WORK=target/bench-smoke-work
cargo build --locked -p ordersync-relay -p ordersync-sandbox
(cd bench/ceiling && cargo build --release --locked --quiet --target-dir ../../target/bench-ceiling)
mkdir -p "$ORDERSYNC_BENCH_RESULTS"

run "ingest" python3 bench/ingest.py --duration 1 --calibrate-seconds 1 --max-orders 5000
run "low-rate" python3 bench/low_rate.py --seconds 1
run "write-amplification" python3 bench/write_amplification.py --seconds 1 --connections 20
run "delivery" python3 bench/delivery.py --orders 300 --fill-deadline 60 --drain-deadline 60
run "memory" python3 bench/memory.py --depths 100,400 --settle-seconds 0.5 --sample-seconds 1
run "retention" python3 bench/retention.py --orders 3000 --seed-orders 100 --seconds 1 --connections 10 --pace-ms 20 --trials 1
run "import" python3 bench/import.py --lines 3000 --serving-lines 1000 --seconds-beside 1 --postgres
run "crash" python3 bench/crash.py --kills 3 --min-gap 0.2 --max-gap 0.6 --clients 2 --drain-deadline 60
run "outage" python3 bench/outage.py --vendor citrusad --scale 600 --rate 20 --before-seconds 0.5
run "postgres-retention" python3 bench/postgres/retention_size.py --orders 3000 --seed-orders 100
run "postgres" python3 bench/postgres/throughput.py --duration 2 --orders 200 --latency-ms 0 --instances 1 --max-orders 20000
run "fuzz" bash bench/fuzz.sh 1
run "schemathesis" python3 bench/schemathesis_run.py --max-time 5 --phases examples,coverage
run "report" python3 bench/report.py "$ORDERSYNC_BENCH_RESULTS"
printf '\nbench smoke (%ss): %s\n' "$((SECONDS - started))" "${failures[*]:-no failure}"
echo "bench-smoke: $passed passed, ${#failures[@]} failed"
[ ${#failures[@]} -eq 0 ]
