#!/usr/bin/env bash
# Profiles torrow-hooks during the loadgen scenario "POST → wappi" and prints where the time goes.
#   benches/profile.sh [SECONDS_PER_SCENARIO]      (default 10; needs perf, python3)
# Builds loadgen with frame pointers (in target/profiling, so the normal build is untouched), runs
# it, and records the torrow-hooks child with perf while that scenario runs.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-10}
export CARGO_TARGET_DIR=target/profiling RUSTFLAGS="-C force-frame-pointers=yes"
cargo build --release --example loadgen
out=$(mktemp -d)
target/profiling/release/examples/loadgen --seconds "$S" >"$out/loadgen.txt" 2>&1 &
loadgen=$!
for _ in $(seq 1 600); do grep -q "hooks: pid" "$out/loadgen.txt" && break; sleep 0.1; done
pid=$(awk '/hooks: pid/ {print $3}' "$out/loadgen.txt")
# After the hooks child starts: 1 s warm-up, then GET check, /preview and log, S seconds each.
sleep $((1 + 3 * S + 1))
perf record -e cpu-clock -F 1999 -g -p "$pid" -o "$out/perf.data" -- sleep $((S - 2)) 2>/dev/null
wait "$loadgen"
grep '^|' "$out/loadgen.txt"
echo
perf script -i "$out/perf.data" 2>/dev/null | python3 benches/perf_breakdown.py
echo "perf data: $out/perf.data"
