#!/usr/bin/env bash
# Fuzzes ordersync-core's parsers for a fixed time each, with cargo-fuzz (libFuzzer + ASan):
#   checkout_json   wire::checkout_from_json on arbitrary bytes
#   checkout_input  Checkout::from_input on structure-aware JSON-like trees
#   cookie          cookie::cibler_id on arbitrary Cookie headers
#   money           Money::parse on arbitrary text
#   input_json      the browser's hand-written JSON reader against serde_json's (differential)
# Each target also checks properties of what it accepts (round trips, named fields): see
# crates/core/fuzz/src/lib.rs. Exits non-zero on the first crash; the input that crashed is in
# crates/core/fuzz/artifacts/<target>/.
#
#   bash bench/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address). This machine has one stable
# toolchain and cannot fetch a nightly: RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(checkout_json checkout_input cookie money input_json)
results=${ORDERSYNC_BENCH_RESULTS:-target/bench-results}
corpus_root=target/fuzz-corpus
mkdir -p "$results" "$corpus_root"
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: run 'bash scripts/setup.sh bench'" >&2; exit 2; }

(cd crates/core && cargo fuzz build -O >/dev/null 2>&1) || (cd crates/core && cargo fuzz build -O)

summary=()
status=0
for target in "${targets[@]}"; do
  corpus="$corpus_root/$target"
  mkdir -p "$corpus"
  if [ -d "crates/core/fuzz/seeds/$target" ]; then cp -n crates/core/fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true; fi
  log="$results/fuzz-$target.log"
  echo "[fuzz] $target for ${seconds}s" >&2
  set +e
  (cd crates/core && cargo fuzz run -O "$target" "../../$corpus" -- \
      -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10) >"$log" 2>&1
  code=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus_size=$(find "$corpus" -type f | wc -l)
  if [ "$code" -eq 0 ]; then outcome=ok; else outcome=crash; status=1; fi
  echo "[fuzz] $target: $outcome, ${runs:-0} runs in ${seconds}s, corpus $corpus_size inputs (log: $log)" >&2
  if [ "$outcome" = crash ]; then grep -m3 -E "panicked|ERROR|Test unit written" "$log" >&2 || true; fi
  summary+=("{\"target\":\"$target\",\"outcome\":\"$outcome\",\"runs\":${runs:-0},\"seconds\":$seconds,\"corpus\":$corpus_size}")
done

joined=$(IFS=,; echo "${summary[*]}")
printf '{"benchmark":"fuzz","date":"%s","cores":%s,"targets":[%s]}\n' \
  "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$joined" | python3 -m json.tool > "$results/fuzz.json"
echo "[fuzz] wrote $results/fuzz.json" >&2
exit $status
