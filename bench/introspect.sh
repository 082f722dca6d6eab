#!/usr/bin/env bash
# Throughput of `tokenctl serve` /introspect against /auth of the same server, same load.
#
# One serve pinned to one CPU (taskset -c 0), wrk on another (-c 1); runs alternate
# (/auth, /introspect, /auth, ...) so that background load hits both. Keep-alive, usage
# recording on (as always in serve). /auth asks about one valid token; /introspect has a
# caller token with tokenctl:read ask about that same token (two verifications per
# request: the caller's, then the token's). The secrets reach wrk through the
# environment only.
#
#   bench/introspect.sh              # 3 rounds of 10 s each
#   ROUNDS=5 DURATION=20s CONNECTIONS=64 bench/introspect.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

for tool in wrk taskset curl; do
  command -v "$tool" >/dev/null || {
    echo "bench/introspect.sh needs $tool (apt-get install wrk util-linux curl)" >&2
    exit 1
  }
done

cargo build --release --quiet
TOKENCTL=$PWD/target/release/tokenctl

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export TOKENCTL_DB=$WORK/tokens.db
TOKEN=$("$TOKENCTL" create --name bench --scope cases:read --expires 1d 2>/dev/null)
CALLER=$("$TOKENCTL" create --name resource-server --scope tokenctl:read --expires 1d 2>/dev/null)
export TOKEN CALLER

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 500); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.01
  done
  echo "nothing listens on port $1" >&2
  exit 1
}

PORT=$(free_port)
taskset -c "$SERVER_CPU" "$TOKENCTL" -q serve --listen "127.0.0.1:$PORT" 2>"$WORK/serve.log" &
SERVE_PID=$!
PIDS+=($SERVE_PID)
wait_port "$PORT"

# The same request every time, built from the environment (no secret in a file).
cat > "$WORK/auth.lua" <<'LUA'
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["X-Original-Method"] = "GET"
wrk.headers["X-Original-URI"] = "/api/cases/12"
LUA
cat > "$WORK/introspect.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CALLER")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=" .. os.getenv("TOKEN") .. "&token_type_hint=access_token"
LUA

BASE=http://127.0.0.1:$PORT
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'X-Original-URI: /api/cases/12' "$BASE/auth")" = 200 ] || {
  echo "serve does not allow the bench token" >&2
  exit 1
}
curl -s -H "Authorization: Bearer $CALLER" --data-urlencode "token=$TOKEN" "$BASE/introspect" |
  grep -q '"active":true' || {
  echo "/introspect does not find the bench token active" >&2
  exit 1
}

# serve's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVE_PID/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# "Requests/sec: N", the 99% latency in milliseconds (wrk --latency), and serve's CPU
# time per request in microseconds: on a machine shared with other work, throughput
# follows the load of the moment, CPU time per request much less.
run() {
  local before after
  before=$(cpu_ticks)
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/$1.lua" "$BASE/$1" >"$WORK/wrk.out"
  after=$(cpu_ticks)
  awk -v ticks=$((after - before)) -v tick_us="$TICK_US" '
         / requests in / { n = $1 }
         /Requests\/sec/ { rps = $2 }
         $1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
                       ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
         /Non-2xx/ { bad = $NF }
         END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 }
               printf "%.0f %.3f %.1f\n", rps, ms, ticks * tick_us / n }' "$WORK/wrk.out"
}

# Warm up (page cache, the verifiers' caches), then alternate.
for endpoint in auth introspect; do
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/$endpoint.lua" "$BASE/$endpoint" >/dev/null
done

printf '%-6s %-11s %12s %10s %12s\n' round endpoint 'req/s' 'p99 ms' 'CPU us/req'
AUTH_RESULTS=()
INTROSPECT_RESULTS=()
for round in $(seq 1 "$ROUNDS"); do
  r=$(run auth)
  AUTH_RESULTS+=("$r")
  printf '%-6s %-11s %12s %10s %12s\n' "$round" /auth $r
  r=$(run introspect)
  INTROSPECT_RESULTS+=("$r")
  printf '%-6s %-11s %12s %10s %12s\n' "$round" /introspect $r
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
AUTH_RPS=$(printf '%s\n' "${AUTH_RESULTS[@]}" | cut -d' ' -f1 | median)
AUTH_P99=$(printf '%s\n' "${AUTH_RESULTS[@]}" | cut -d' ' -f2 | median)
INTRO_RPS=$(printf '%s\n' "${INTROSPECT_RESULTS[@]}" | cut -d' ' -f1 | median)
INTRO_P99=$(printf '%s\n' "${INTROSPECT_RESULTS[@]}" | cut -d' ' -f2 | median)
AUTH_CPU=$(printf '%s\n' "${AUTH_RESULTS[@]}" | cut -d' ' -f3 | median)
INTRO_CPU=$(printf '%s\n' "${INTROSPECT_RESULTS[@]}" | cut -d' ' -f3 | median)
PAIRED=$(for i in "${!AUTH_RESULTS[@]}"; do
  awk -v s="${INTROSPECT_RESULTS[$i]%% *}" -v b="${AUTH_RESULTS[$i]%% *}" 'BEGIN { print s / b }'
done | median)

echo
echo "median of $ROUNDS rounds, $DURATION each, $CONNECTIONS keep-alive connections, serve on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
printf 'serve /auth:        %10.0f req/s   p99 %.3f ms   %.1f CPU us/req\n' "$AUTH_RPS" "$AUTH_P99" "$AUTH_CPU"
printf 'serve /introspect:  %10.0f req/s   p99 %.3f ms   %.1f CPU us/req\n' "$INTRO_RPS" "$INTRO_P99" "$INTRO_CPU"
awk -v s="$INTRO_RPS" -v b="$AUTH_RPS" 'BEGIN { printf "ratio:              %10.2f  (target >= 0.80)\n", s / b }'
printf 'median of per-round ratios: %.2f\n' "$PAIRED"
# The throughput one CPU allows each endpoint, from its CPU time per request: steadier
# than req/s when other work shares the machine.
awk -v s="$INTRO_CPU" -v b="$AUTH_CPU" 'BEGIN { printf "ratio by CPU time:  %10.2f  (/auth CPU per request / /introspect CPU per request)\n", b / s }'
