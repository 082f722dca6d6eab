#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each and prints the executions per
# target. cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 unlocks them on the stable
# toolchain this project uses. A crash stops the script with libFuzzer's report and the
# input under fuzz/artifacts/; turn it into a unit test before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
build_log=$(mktemp)
if ! cargo fuzz build >"$build_log" 2>&1; then
  grep -A12 -E '^error' "$build_log" | head -60 || tail -40 "$build_log"
  echo "the fuzz targets do not build (the fuzz crate is outside the workspace: clippy does not see it)" >&2
  exit 1
fi
tail -1 "$build_log"
rm -f "$build_log"
summary=""
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  log=$(mktemp)
  if ! cargo fuzz run "$t" "fuzz/corpus/$t" fuzz/seeds/"$t" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $t FAILED" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  summary+=$(printf '%-14s %12s executions in %ss, no crashes' "$t" "$runs" "$seconds")$'\n'
  rm -f "$log"
done
printf '%s' "$summary"
