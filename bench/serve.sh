#!/usr/bin/env bash
# Throughput and p99 latency of `tokenctl serve` /auth against nginx answering `return 200;`.
#
# Both servers are pinned to the same one CPU (taskset -c 0) and wrk to another (-c 1);
# runs alternate (nginx, serve, nginx, serve, ...) so that background load hits both.
# Keep-alive, one valid token, usage recording on (as always in serve). Each set of
# connections (32, then 256) gets its own rounds and its own verdict against the
# targets: throughput >= 0.90x nginx's, p99 <= 1.5x nginx's. Each run also reports the
# server's CPU time per request (all its threads): on a machine shared with other work,
# a server that runs two threads gets a larger share of the CPU than nginx's one
# process, and that ratio is the steadier one.
#
#   bench/serve.sh              # 3 rounds of 10 s each, at 32 and at 256 connections
#   ROUNDS=5 DURATION=20s CONNECTION_SETS="64" bench/serve.sh
#   BASELINE=/tmp/old/tokenctl bench/serve.sh   # also an older build, in the same rounds
#   HYPER_FLOOR=1 bench/serve.sh   # also examples/hyper_floor.rs: tokio and hyper set up as
#                                  # serve sets them up, answering an empty 200 and nothing
#                                  # else (the floor of serve's HTTP stack)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
# CONNECTIONS=N alone measures that one set.
CONNECTION_SETS=${CONNECTION_SETS:-${CONNECTIONS:-32 256}}
MIN_RATIO=0.90
MAX_P99_RATIO=1.5
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
if [ -n "${HYPER_FLOOR:-}" ]; then
  cargo build --release --quiet --example hyper_floor
fi

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
NGINX_PID=$!
PIDS+=($NGINX_PID)

SERVE_PORT=$(free_port)
taskset -c "$SERVER_CPU" "$TOKENCTL" -q serve --listen "127.0.0.1:$SERVE_PORT" 2>"$WORK/serve.log" &
SERVE_PID=$!
PIDS+=($SERVE_PID)
wait_port "$NGINX_PORT"
wait_port "$SERVE_PORT"
if [ -n "${BASELINE:-}" ]; then
  BASE_PORT=$(free_port)
  taskset -c "$SERVER_CPU" "$BASELINE" -q serve --listen "127.0.0.1:$BASE_PORT" 2>"$WORK/baseline.log" &
  BASE_PID=$!
  PIDS+=($BASE_PID)
  wait_port "$BASE_PORT"
fi

if [ -n "${HYPER_FLOOR:-}" ]; then
  FLOOR_PORT=$(free_port)
  taskset -c "$SERVER_CPU" target/release/examples/hyper_floor "127.0.0.1:$FLOOR_PORT" &
  FLOOR_PID=$!
  PIDS+=($FLOOR_PID)
  wait_port "$FLOOR_PORT"
fi

# nginx answers in its worker process.
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)

HEADERS=(-H "Authorization: Bearer $TOKEN" -H "X-Original-Method: GET" -H "X-Original-URI: /api/cases/12")
[ "$(curl -s -o /dev/null -w '%{http_code}' "${HEADERS[@]}" "http://127.0.0.1:$SERVE_PORT/auth")" = 200 ] || {
  echo "serve does not allow the bench token" >&2
  exit 1
}

# Nanoseconds on a CPU, all threads of process $1 together.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }

# "req/s p99-ms cpu-µs-per-request" of a run at $1 connections against URL $2, served
# by process $3: wrk --latency's "Requests/sec" and 99% latency, and the CPU time the
# server took meanwhile divided by the requests wrk completed.
run() {
  local before after
  before=$(cpu_ns "$3")
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$1" -d"$DURATION" --latency "${HEADERS[@]}" "$2" >"$WORK/wrk.out"
  after=$(cpu_ns "$3")
  awk -v cpu_ns="$before $after" '
    /Requests\/sec/ { rps = $2 }
    /requests in/ { requests = $1 }
    $1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
                  ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
    /Non-2xx/ { bad = $NF }
    END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 }
          split(cpu_ns, c, " ")
          printf "%.0f %.3f %.2f\n", rps, ms, (c[2] - c[1]) / 1000 / requests }' "$WORK/wrk.out"
}
warm() {
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$1" -d2s "${HEADERS[@]}" "$2" >/dev/null
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# The median of one column (1: req/s, 2: p99, 3: CPU µs per request) of run's lines.
column() { printf '%s\n' "${@:2}" | cut -d' ' -f"$1" | median; }

# Rounds at $1 connections, alternating the servers; then medians, ratios and verdicts.
measure() {
  local conns=$1 round r
  local nginx_results=() serve_results=() base_results=() floor_results=()
  # Warm all up (page cache, connection pools, the credential cache), then alternate.
  warm "$conns" "http://127.0.0.1:$NGINX_PORT/"
  warm "$conns" "http://127.0.0.1:$SERVE_PORT/auth"
  [ -z "${BASELINE:-}" ] || warm "$conns" "http://127.0.0.1:$BASE_PORT/auth"
  [ -z "${HYPER_FLOOR:-}" ] || warm "$conns" "http://127.0.0.1:$FLOOR_PORT/auth"
  echo
  echo "$conns keep-alive connections"
  printf '%-6s %-8s %12s %10s %12s\n' round server 'req/s' 'p99 ms' 'CPU us/req'
  for round in $(seq 1 "$ROUNDS"); do
    r=$(run "$conns" "http://127.0.0.1:$NGINX_PORT/" "$NGINX_WORKER")
    nginx_results+=("$r")
    printf '%-6s %-8s %12s %10s %12s\n' "$round" nginx $r
    r=$(run "$conns" "http://127.0.0.1:$SERVE_PORT/auth" "$SERVE_PID")
    serve_results+=("$r")
    printf '%-6s %-8s %12s %10s %12s\n' "$round" tokenctl $r
    if [ -n "${BASELINE:-}" ]; then
      r=$(run "$conns" "http://127.0.0.1:$BASE_PORT/auth" "$BASE_PID")
      base_results+=("$r")
      printf '%-6s %-8s %12s %10s %12s\n' "$round" baseline $r
    fi
    if [ -n "${HYPER_FLOOR:-}" ]; then
      r=$(run "$conns" "http://127.0.0.1:$FLOOR_PORT/auth" "$FLOOR_PID")
      floor_results+=("$r")
      printf '%-6s %-8s %12s %10s %12s\n' "$round" floor $r
    fi
  done
  local nginx_rps nginx_p99 nginx_cpu serve_rps serve_p99 serve_cpu
  nginx_rps=$(column 1 "${nginx_results[@]}")
  nginx_p99=$(column 2 "${nginx_results[@]}")
  nginx_cpu=$(column 3 "${nginx_results[@]}")
  serve_rps=$(column 1 "${serve_results[@]}")
  serve_p99=$(column 2 "${serve_results[@]}")
  serve_cpu=$(column 3 "${serve_results[@]}")
  echo "median of $ROUNDS rounds, $DURATION each, $conns keep-alive connections, servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
  printf 'nginx return 200:      %10.0f req/s   p99 %.3f ms   CPU %.2f us/req\n' "$nginx_rps" "$nginx_p99" "$nginx_cpu"
  printf 'tokenctl serve /auth:  %10.0f req/s   p99 %.3f ms   CPU %.2f us/req\n' "$serve_rps" "$serve_p99" "$serve_cpu"
  verdict "throughput ratio:" "$serve_rps" "$nginx_rps" ">=" "$MIN_RATIO"
  verdict "p99 ratio:" "$serve_p99" "$nginx_p99" "<=" "$MAX_P99_RATIO"
  # nginx's CPU time per request over serve's: the throughput ratio each would reach
  # with the CPU to itself.
  verdict "CPU time ratio:" "$nginx_cpu" "$serve_cpu" ">=" "$MIN_RATIO"
  if [ -n "${BASELINE:-}" ]; then
    local base_rps base_p99 paired i
    base_rps=$(column 1 "${base_results[@]}")
    base_p99=$(column 2 "${base_results[@]}")
    printf 'baseline serve /auth:  %10.0f req/s   p99 %.3f ms\n' "$base_rps" "$base_p99"
    awk -v s="$serve_rps" -v b="$base_rps" 'BEGIN { printf "this build / baseline: %10.2f\n", s / b }'
    # Paired: each round's two runs are seconds apart, so background load hits both alike.
    paired=$(for i in "${!serve_results[@]}"; do
      awk -v s="${serve_results[$i]%% *}" -v b="${base_results[$i]%% *}" 'BEGIN { print s / b }'
    done | median)
    printf 'median of per-round ratios: %5.2f\n' "$paired"
  fi
  if [ -n "${HYPER_FLOOR:-}" ]; then
    local floor_rps floor_p99 floor_cpu
    floor_rps=$(column 1 "${floor_results[@]}")
    floor_p99=$(column 2 "${floor_results[@]}")
    floor_cpu=$(column 3 "${floor_results[@]}")
    printf 'hyper floor (200):     %10.0f req/s   p99 %.3f ms   CPU %.2f us/req\n' "$floor_rps" "$floor_p99" "$floor_cpu"
    verdict "floor / nginx:" "$floor_rps" "$nginx_rps" ">=" "$MIN_RATIO"
    verdict "floor CPU ratio:" "$nginx_cpu" "$floor_cpu" ">=" "$MIN_RATIO"
    awk -v s="$serve_rps" -v f="$floor_rps" -v sc="$serve_cpu" -v fc="$floor_cpu" 'BEGIN {
      printf "serve / floor:         %5.2f in throughput, %5.2f in CPU per request\n", s / f, fc / sc }'
  fi
}

# "<label> <a / b> (target <op> <bound>): met|missed"
verdict() {
  awk -v label="$1" -v a="$2" -v b="$3" -v op="$4" -v bound="$5" 'BEGIN {
    ratio = a / b
    met = (op == ">=") ? (ratio >= bound) : (ratio <= bound)
    printf "%-22s %5.2f  (target %s %.2f): %s\n", label, ratio, op, bound, met ? "met" : "missed"
  }'
}

for conns in $CONNECTION_SETS; do
  measure "$conns"
done

# Stop serve (SIGTERM commits the buffered usage) and check that it was recorded.
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || true
RECORDED=$("$TOKENCTL" show "$ID" --json | grep -o '"requests_24h": *[0-9]*' | head -1 | grep -o '[0-9]*$')
echo
echo "uses recorded by serve: $RECORDED"
