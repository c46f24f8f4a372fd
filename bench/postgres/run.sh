#!/usr/bin/env bash
# The PostgreSQL outbox benchmark (BENCHMARKS.md, "PostgreSQL outbox"): installs what it needs
# (wrk, Debian's postgresql), builds the relay in release mode, then runs throughput.py with
# the arguments given (see `python3 bench/postgres/throughput.py --help`).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh bench
bash scripts/setup.sh postgres
cargo build --release --locked -p ordersync-relay -p ordersync-sandbox
exec python3 bench/postgres/throughput.py "$@"
