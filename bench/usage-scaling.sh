#!/usr/bin/env bash
# `tokenctl show` and `tokenctl audit ID` of one token as the database's total usage grows
# tenfold: 100 tokens, then 1,000 tokens, each with a year of hourly usage from two IPs
# (about 1.7 million and 17 million usage rows). Target: time grows by at most 1.5x.
#
# Needs: hyperfine, jq. Seeding the large database takes a few minutes and ~2 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine jq; do
  command -v "$tool" >/dev/null || { echo "bench/usage-scaling.sh needs $tool" >&2; exit 1; }
done
small=${SMALL_TOKENS:-100}
large=${LARGE_TOKENS:-1000}
days=${DAYS:-365}
cargo build --release --quiet -p tokenctl -p xtask
dir=${BENCH_DIR:-$(mktemp -d)}
trap 'rm -rf "$dir"' EXIT
bin=target/release/tokenctl

for n in "$small" "$large"; do
  db=$dir/usage-$n.db
  id=$(target/release/xtask seed "$db" "$n" "$days" | cut -d' ' -f1)
  echo "$id" > "$dir/id-$n"
  ls -la "$db" | awk '{print "database size: " $5 " bytes"}'
done

run() { # name, command template with DB and ID
  local name=$1 cmd=$2
  local s="${cmd//DB/$dir/usage-$small.db}"; s="${s//ID/$(cat "$dir/id-$small")}"
  local l="${cmd//DB/$dir/usage-$large.db}"; l="${l//ID/$(cat "$dir/id-$large")}"
  hyperfine --shell=none --warmup 3 --runs 30 --export-json "$dir/$name.json" \
    -n "$name, $small tokens" "$s" -n "$name, $large tokens" "$l" >/dev/null
  jq -r '.results as $r | "\(.results[0].command): \($r[0].mean*1000|.*100|round/100) ms; \($r[1].command): \($r[1].mean*1000|.*100|round/100) ms; growth \($r[1].mean/$r[0].mean|.*100|round/100)x"' "$dir/$name.json"
}

echo "== target: growth <= 1.5x for 10x the total usage"
run "show" "$bin --db DB show ID"
run "show --json" "$bin --db DB show ID --json"
run "audit ID" "$bin --db DB audit ID"
run "audit ID --json" "$bin --db DB audit ID --json"
