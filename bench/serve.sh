#!/usr/bin/env bash
# Throughput of `tokenctl serve` /auth against nginx answering `return 200;`.
#
# Both servers are pinned to the same one CPU (taskset -c 0) and wrk to another (-c 1);
# runs alternate (nginx, serve, nginx, serve, ...) so that background load hits both.
# Keep-alive, one valid token, usage recording on (as always in serve).
#
#   bench/serve.sh              # 3 rounds of 10 s each
#   ROUNDS=5 DURATION=20s CONNECTIONS=64 bench/serve.sh
#   BASELINE=/tmp/old/tokenctl bench/serve.sh   # also an older build, in the same rounds
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
    echo "bench/serve.sh needs $tool (apt-get install wrk nginx-light util-linux)" >&2
    exit 1
  }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

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
ID=$("$TOKENCTL" list --json | grep -o '"id": *"[a-z0-9]*"' | head -1 | grep -o '[a-z0-9]\{8\}')

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 500); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.01
  done
  echo "nothing listens on port $1" >&2
  exit 1
}

# nginx: one worker, logging off, keep-alive without a request limit.
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat > "$WORK/nginx/nginx.conf" <<CONF
$USER_LINE
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { return 200; }
    }
}
CONF
taskset -c "$SERVER_CPU" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
  -e "$WORK/nginx/logs/error.log" -g 'daemon off;' &
PIDS+=($!)

SERVE_PORT=$(free_port)
taskset -c "$SERVER_CPU" "$TOKENCTL" -q serve --listen "127.0.0.1:$SERVE_PORT" 2>"$WORK/serve.log" &
SERVE_PID=$!
PIDS+=($SERVE_PID)
wait_port "$NGINX_PORT"
wait_port "$SERVE_PORT"
if [ -n "${BASELINE:-}" ]; then
  BASE_PORT=$(free_port)
  taskset -c "$SERVER_CPU" "$BASELINE" -q serve --listen "127.0.0.1:$BASE_PORT" 2>"$WORK/baseline.log" &
  PIDS+=($!)
  wait_port "$BASE_PORT"
fi

HEADERS=(-H "Authorization: Bearer $TOKEN" -H "X-Original-Method: GET" -H "X-Original-URI: /api/cases/12")
[ "$(curl -s -o /dev/null -w '%{http_code}' "${HEADERS[@]}" "http://127.0.0.1:$SERVE_PORT/auth")" = 200 ] || {
  echo "serve does not allow the bench token" >&2
  exit 1
}

# "Requests/sec: N" and the 99% latency in milliseconds, from wrk --latency.
run() {
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "${HEADERS[@]}" "$1" |
    awk '/Requests\/sec/ { rps = $2 }
         $1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
                       ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
         /Non-2xx/ { bad = $NF }
         END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 }
               printf "%.0f %.3f\n", rps, ms }'
}

# Warm both up (page cache, connection pools), then alternate.
taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d2s "${HEADERS[@]}" "http://127.0.0.1:$NGINX_PORT/" >/dev/null
taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d2s "${HEADERS[@]}" "http://127.0.0.1:$SERVE_PORT/auth" >/dev/null

[ -n "${BASELINE:-}" ] &&
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d2s "${HEADERS[@]}" "http://127.0.0.1:$BASE_PORT/auth" >/dev/null

printf '%-6s %-8s %12s %10s\n' round server 'req/s' 'p99 ms'
NGINX_RESULTS=()
SERVE_RESULTS=()
BASE_RESULTS=()
for round in $(seq 1 "$ROUNDS"); do
  r=$(run "http://127.0.0.1:$NGINX_PORT/")
  NGINX_RESULTS+=("$r")
  printf '%-6s %-8s %12s %10s\n' "$round" nginx $r
  r=$(run "http://127.0.0.1:$SERVE_PORT/auth")
  SERVE_RESULTS+=("$r")
  printf '%-6s %-8s %12s %10s\n' "$round" tokenctl $r
  if [ -n "${BASELINE:-}" ]; then
    r=$(run "http://127.0.0.1:$BASE_PORT/auth")
    BASE_RESULTS+=("$r")
    printf '%-6s %-8s %12s %10s\n' "$round" baseline $r
  fi
done

# Medians over the rounds.
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
NGINX_RPS=$(printf '%s\n' "${NGINX_RESULTS[@]}" | cut -d' ' -f1 | median)
NGINX_P99=$(printf '%s\n' "${NGINX_RESULTS[@]}" | cut -d' ' -f2 | median)
SERVE_RPS=$(printf '%s\n' "${SERVE_RESULTS[@]}" | cut -d' ' -f1 | median)
SERVE_P99=$(printf '%s\n' "${SERVE_RESULTS[@]}" | cut -d' ' -f2 | median)

# Stop serve (SIGTERM commits the buffered usage) and check that it was recorded.
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || true
RECORDED=$("$TOKENCTL" show "$ID" --json | grep -o '"requests_24h": *[0-9]*' | head -1 | grep -o '[0-9]*$')

echo
echo "median of $ROUNDS rounds, $DURATION each, $CONNECTIONS keep-alive connections, servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
printf 'nginx return 200:      %10.0f req/s   p99 %.3f ms\n' "$NGINX_RPS" "$NGINX_P99"
printf 'tokenctl serve /auth:  %10.0f req/s   p99 %.3f ms\n' "$SERVE_RPS" "$SERVE_P99"
awk -v s="$SERVE_RPS" -v n="$NGINX_RPS" 'BEGIN { printf "ratio:                 %10.2f  (target >= 0.70)\n", s / n }'
if [ -n "${BASELINE:-}" ]; then
  BASE_RPS=$(printf '%s\n' "${BASE_RESULTS[@]}" | cut -d' ' -f1 | median)
  BASE_P99=$(printf '%s\n' "${BASE_RESULTS[@]}" | cut -d' ' -f2 | median)
  printf 'baseline serve /auth:  %10.0f req/s   p99 %.3f ms\n' "$BASE_RPS" "$BASE_P99"
  awk -v s="$SERVE_RPS" -v b="$BASE_RPS" 'BEGIN { printf "this build / baseline: %10.2f\n", s / b }'
  # Paired: each round's two runs are seconds apart, so background load hits both alike.
  PAIRED=$(for i in "${!SERVE_RESULTS[@]}"; do
    awk -v s="${SERVE_RESULTS[$i]%% *}" -v b="${BASE_RESULTS[$i]%% *}" 'BEGIN { print s / b }'
  done | median)
  printf 'median of per-round ratios: %5.2f\n' "$PAIRED"
fi
echo "uses recorded by serve: $RECORDED"
