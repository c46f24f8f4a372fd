#!/usr/bin/env bash
# A quick smoke run of every relay benchmark script (bench/), so `npm test` notices when one
# breaks. Tiny sizes and short times: the figures it prints mean nothing. Uses the debug relay
# binary the tests build (set ORDERSYNC_BENCH_RELAY to use another). Exits non-zero on the first
# failure. Warm, it takes about a minute and a half on 2 cores; the first run on a new machine
# also installs the bench tools (wrk, cargo-fuzz, schemathesis) and builds the ceiling server
# and the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh bench
started=$SECONDS
step() { printf '\n==> bench smoke: %s (%ss so far)\n' "$*" "$((SECONDS - started))"; }

export ORDERSYNC_BENCH_RELAY=${ORDERSYNC_BENCH_RELAY:-$PWD/target/debug/ordersync-relay}
export ORDERSYNC_BENCH_RESULTS=target/bench-smoke-results
export ORDERSYNC_BENCH_WORK=target/bench-smoke-work
[ -x "$ORDERSYNC_BENCH_RELAY" ] || cargo build --locked -p ordersync-relay
(cd bench/ceiling && cargo build --release --locked --quiet --target-dir ../../target/bench-ceiling)

step "ingest (wrk, relay and ceiling)"
python3 bench/ingest.py --duration 1 --calibrate-seconds 1 --max-orders 5000
step "delivery"
python3 bench/delivery.py --orders 300 --fill-deadline 60 --drain-deadline 60
step "memory"
python3 bench/memory.py --depths 100,400 --settle-seconds 0.5 --sample-seconds 1
step "crash"
python3 bench/crash.py --kills 3 --min-gap 0.2 --max-gap 0.6 --clients 2 --drain-deadline 60
step "outage"
python3 bench/outage.py --vendor citrusad --scale 600 --rate 20 --before-seconds 0.5
step "fuzz"
bash bench/fuzz.sh 1
step "schemathesis"
python3 bench/schemathesis_run.py --max-time 5 --phases examples,coverage
step "report"
python3 bench/report.py "$ORDERSYNC_BENCH_RESULTS" >/dev/null
printf '\nbench smoke: every benchmark script ran (%ss)\n' "$((SECONDS - started))"
