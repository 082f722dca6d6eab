#!/usr/bin/env bash
# `tokenctl list`, `audit` and `audit --check` on the same 1,000 tokens with one day of
# hourly usage, then with a year of it (about 46 thousand and 16.6 million usage rows).
# Target: a year within 1.5x of a day, and `list` under 50 ms.
#
# Needs: hyperfine, jq. Seeding the year takes several minutes and ~2 GB of disk.
# On a busy machine wall-clock times scatter; the CPU-time ratio (user + system, which
# waiting for a core does not inflate) is the steadier figure.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine jq; do
  command -v "$tool" >/dev/null || { echo "bench/history.sh needs $tool" >&2; exit 1; }
done
tokens=${TOKENS:-1000}
short=${SHORT_DAYS:-1}
long=${LONG_DAYS:-365}
runs=${RUNS:-20}
cargo build --release --quiet -p tokenctl -p xtask
# BENCH_DIR keeps the seeded databases between runs (seeding a year takes minutes); a
# database already there is used as it is.
if [[ -n ${BENCH_DIR:-} ]]; then
  dir=$BENCH_DIR
  mkdir -p "$dir"
else
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
fi
bin=target/release/tokenctl

for days in "$short" "$long"; do
  db=$dir/history-$tokens-$days.db
  [[ -e $db ]] || target/release/xtask seed "$db" "$tokens" "$days" >/dev/null
  ls -la "$db" | awk -v d="$days" '{print d " days: database size " $5 " bytes"}'
done

run() { # name, arguments after --db
  local name=$1
  shift
  local s="$bin --db $dir/history-$tokens-$short.db $*"
  local l="$bin --db $dir/history-$tokens-$long.db $*"
  # --check exits 5 when a token is flagged: that is a finding, not a failure.
  hyperfine --shell=none --ignore-failure --warmup 3 --runs "$runs" \
    --export-json "$dir/$name.json" \
    -n "$name, $short days" "$s" -n "$name, $long days" "$l" >/dev/null 2>&1
  jq -r '.results as $r | "\($r[0].command): \($r[0].mean*1000|.*100|round/100) ms (median \($r[0].median*1000|.*100|round/100)); \($r[1].command): \($r[1].mean*1000|.*100|round/100) ms (median \($r[1].median*1000|.*100|round/100)); ratio \($r[1].mean/$r[0].mean|.*100|round/100)x (of medians \($r[1].median/$r[0].median|.*100|round/100)x, of CPU time \(($r[1].user+$r[1].system)/($r[0].user+$r[0].system)|.*100|round/100)x)"' "$dir/$name.json"
}

echo "== target: $long days within 1.5x of $short, list under 50 ms"
run "list" list
run "list --json" list --json
run "audit" audit
run "audit --check" audit --check
