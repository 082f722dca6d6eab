#!/usr/bin/env bash
# `create` and `list --json` on PostgreSQL against the same commands on SQLite, on the
# same 1,000 tokens (seeded on SQLite, moved with `copy --to`), with hyperfine.
#
#   TOKENCTL_TEST_POSTGRES=postgres://USER:PASSWORD@HOST:PORT/DB bench/postgres-commands.sh
#
# The role must be allowed to create databases: the bench makes its own and drops it.
# Set SSLMODE=prefer to measure with TLS (the default of a real deployment).
set -euo pipefail
cd "$(dirname "$0")/.."

TOKENS=${TOKENS:-1000}
RUNS=${RUNS:-20}
: "${TOKENCTL_TEST_POSTGRES:?set TOKENCTL_TEST_POSTGRES to a PostgreSQL server URL}"
for tool in hyperfine psql jq; do
  command -v "$tool" >/dev/null || { echo "bench/postgres-commands.sh needs $tool" >&2; exit 1; }
done

cargo build --release --quiet -p tokenctl -p xtask
bin=$PWD/target/release/tokenctl
work=$(mktemp -d)
dbname=tokenctl_bench_commands_$$
pg="${TOKENCTL_TEST_POSTGRES%/*}/$dbname?sslmode=${SSLMODE:-disable}"
cleanup() {
  psql -q "$TOKENCTL_TEST_POSTGRES" -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$TOKENCTL_TEST_POSTGRES" -c "CREATE DATABASE $dbname"
target/release/xtask seed "$work/seed.db" "$TOKENS" 1 >/dev/null
"$bin" --db "$work/seed.db" copy --to "$pg" >/dev/null
cp "$work/seed.db" "$work/sqlite.db"

# Each `create` adds a token: both databases grow alike, by a few dozen over 1,000.
hyperfine --shell=none --warmup 3 --runs "$RUNS" --export-json "$work/create.json" \
  -n "create, SQLite" "$bin --db $work/sqlite.db create --name bench --scope cases:read --expires 1d" \
  -n "create, PostgreSQL" "$bin --db $pg create --name bench --scope cases:read --expires 1d" \
  >/dev/null 2>&1
hyperfine --shell=none --warmup 3 --runs "$RUNS" --export-json "$work/list.json" \
  -n "list --json, SQLite" "$bin --db $work/sqlite.db list --json" \
  -n "list --json, PostgreSQL" "$bin --db $pg list --json" >/dev/null 2>&1
for f in create list; do
  jq -r '.results as $r | "\($r[0].command): \($r[0].median*1000|.*100|round/100) ms; \($r[1].command): \($r[1].median*1000|.*100|round/100) ms (medians); ratio \($r[1].median/$r[0].median|.*100|round/100)x"' "$work/$f.json"
done
