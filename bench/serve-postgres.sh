#!/usr/bin/env bash
# `tokenctl serve` /auth on PostgreSQL against `serve` on SQLite, same load, same token.
#
# Both servers are pinned to one CPU (taskset -c 0) and wrk to another (-c 1); the
# PostgreSQL server itself is not pinned. Runs alternate (sqlite, postgres, ...) so that
# background load hits both; prints each round and the median ratio.
#
#   TOKENCTL_TEST_POSTGRES=postgres://USER:PASSWORD@HOST:PORT/DB bench/serve-postgres.sh
#   ROUNDS=5 DURATION=10s bench/serve-postgres.sh
#
# The role must be allowed to create databases: the bench makes its own and drops it.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
: "${TOKENCTL_TEST_POSTGRES:?set TOKENCTL_TEST_POSTGRES to a PostgreSQL server URL}"
for tool in wrk taskset psql; do
  command -v "$tool" >/dev/null || { echo "bench/serve-postgres.sh needs $tool" >&2; exit 1; }
done

cargo build --profile bench --bin tokenctl --quiet
TOKENCTL=$PWD/target/release/tokenctl

WORK=$(mktemp -d)
DBNAME=tokenctl_bench_serve_$$
# Without TLS, as the figures in the README were measured (prefer, the default, encrypts
# when the server offers it).
PG_URL="${TOKENCTL_TEST_POSTGRES%/*}/$DBNAME?sslmode=disable"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$TOKENCTL_TEST_POSTGRES" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql -q "$TOKENCTL_TEST_POSTGRES" -c "CREATE DATABASE $DBNAME"

# One token, the same secret in both databases: created on SQLite, then its hash copied.
SQLITE_DB=$WORK/tokens.db
TOKEN=$(TOKENCTL_DB=$SQLITE_DB "$TOKENCTL" create --name bench --scope cases:read --expires 1d 2>/dev/null)
TOKENCTL_DB=$PG_URL "$TOKENCTL" init >/dev/null 2>&1
row=$(sqlite3 "$SQLITE_DB" "SELECT id, hex(hash), hint, created_at, expires_at FROM tokens")
IFS='|' read -r id hash hint created expires <<<"$row"
psql -q "$PG_URL" -c "INSERT INTO tokenctl.tokens (id, hash, hint, name, env, scopes, created_at, created_by, expires_at)
  VALUES ('$id', decode('$hash', 'hex'), '$hint', 'bench', 'live', 'cases:read', $created, 'bench', $expires)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 500); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.01
  done
  echo "nothing listens on port $1" >&2
  exit 1
}
# Starts serve on database $1 at port $2 (not in a subshell: the trap must see its pid).
start() {
  TOKENCTL_DB=$1 taskset -c 0 "$TOKENCTL" -q serve --listen "127.0.0.1:$2" >/dev/null 2>>"$WORK/serve.log" &
  PIDS+=($!)
  wait_port "$2"
}
SQLITE_PORT=$(free_port)
PG_PORT=$(free_port)
start "$SQLITE_DB" "$SQLITE_PORT"
start "$PG_URL" "$PG_PORT"

HEADERS=(-H "Authorization: Bearer $TOKEN" -H "X-Original-Method: GET" -H "X-Original-URI: /api/cases/12")
run() {
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "${HEADERS[@]}" "http://127.0.0.1:$1/auth" |
    awk '/Requests\/sec/ { rps = $2 }
         /Non-2xx/ { bad = $NF }
         END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 }
               printf "%.0f\n", rps }'
}
run "$SQLITE_PORT" >/dev/null
run "$PG_PORT" >/dev/null

printf '%-6s %12s %12s %7s\n' round 'sqlite/s' 'postgres/s' ratio
RATIOS=()
for round in $(seq 1 "$ROUNDS"); do
  s=$(run "$SQLITE_PORT")
  p=$(run "$PG_PORT")
  r=$(awk -v p="$p" -v s="$s" 'BEGIN { printf "%.2f", p / s }')
  RATIOS+=("$r")
  printf '%-6s %12s %12s %7s\n' "$round" "$s" "$p" "$r"
done
median=$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "postgres/sqlite median ratio: $median"
