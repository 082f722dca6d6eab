#!/usr/bin/env bash
# `tokenctl copy` between the backends against `tokenctl backup` (SQLite's page-by-page
# online backup of the same database, the floor for reading it all), measured in the same
# run on the same seeded database: SQLite -> SQLite, SQLite -> PostgreSQL and
# PostgreSQL -> SQLite. Prints each one's time and its ratio to the backup's.
#
#   TOKENCTL_TEST_POSTGRES=postgres://USER:PASSWORD@HOST:PORT/DB bench/copy.sh
#   TOKENS=200 DAYS=60 IPS=2 bench/copy.sh
#
# The role must be allowed to create databases: the bench makes its own and drops it.
set -euo pipefail
cd "$(dirname "$0")/.."

TOKENS=${TOKENS:-100}
DAYS=${DAYS:-30}
IPS=${IPS:-2}
: "${TOKENCTL_TEST_POSTGRES:?set TOKENCTL_TEST_POSTGRES to a PostgreSQL server URL}"
command -v psql >/dev/null || { echo "bench/copy.sh needs psql" >&2; exit 1; }

cargo build --profile bench --bin tokenctl --quiet
cargo build --release -p xtask --quiet
TOKENCTL=$PWD/target/release/tokenctl

WORK=$(mktemp -d)
DBNAME=tokenctl_bench_copy_$$
PG_URL="${TOKENCTL_TEST_POSTGRES%/*}/$DBNAME"
cleanup() {
  psql -q "$TOKENCTL_TEST_POSTGRES" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql -q "$TOKENCTL_TEST_POSTGRES" -c "CREATE DATABASE $DBNAME"

SOURCE=$WORK/source.db
target/release/xtask seed "$SOURCE" "$TOKENS" "$DAYS" "$IPS" >/dev/null
rows=$(sqlite3 "$SOURCE" "SELECT count(*) FROM usage")
echo "database: $TOKENS tokens, $DAYS days, $IPS addresses each: $rows usage rows"

# Seconds that "$@" takes, to the millisecond.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}

base=$(seconds "$TOKENCTL" -q --db "$SOURCE" backup "$WORK/backup.db")
to_sqlite=$(seconds "$TOKENCTL" -q --db "$SOURCE" copy --to "$WORK/copy.db")
to_postgres=$(seconds "$TOKENCTL" -q --db "$SOURCE" copy --to "$PG_URL")
from_postgres=$(seconds "$TOKENCTL" -q --db "$PG_URL" copy --to "$WORK/back.db")

ratio() { python3 -c "print(f'{$1 / $base:.1f}x')"; }
printf '%-28s %8ss\n' "backup (baseline)" "$base"
printf '%-28s %8ss  %s\n' "copy sqlite -> sqlite" "$to_sqlite" "$(ratio "$to_sqlite")"
printf '%-28s %8ss  %s\n' "copy sqlite -> postgres" "$to_postgres" "$(ratio "$to_postgres")"
printf '%-28s %8ss  %s\n' "copy postgres -> sqlite" "$from_postgres" "$(ratio "$from_postgres")"
