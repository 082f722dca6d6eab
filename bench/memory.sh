#!/usr/bin/env bash
# Peak memory (VmHWM) of `tokenctl serve` when 10,000 distinct valid tokens are presented
# from 100,000 distinct client addresses, IPv4 and IPv6 mixed: every per-token and
# per-address table of the server at its fullest (the credential cache, the usage
# buffer between flushes, the rate limiter's cells, the /revoke throttle). The README
# states the bound this measures.
#
#   bench/memory.sh
#   TOKENS=1000 ADDRESSES=10000 bench/memory.sh   # smaller, quicker
#
# serve trusts 127.0.0.1 as its proxy, so X-Forwarded-For gives each request's client
# address. Of the seeded tokens, every tenth is of the environment `test` (denied: 403,
# still looked up, cached and counted) and the first LIMITED have a rate limit of 1/min
# (429 after their first use). bench/memory.py sends the requests (in four phases: see
# there) and reads /proc/PID/status. Needs python3 and jq.
set -euo pipefail
cd "$(dirname "$0")/.."

TOKENS=${TOKENS:-10000}
ADDRESSES=${ADDRESSES:-100000}
# More than the 65,536 addresses the /revoke throttle keeps.
REVOKE_ADDRESSES=${REVOKE_ADDRESSES:-70000}
LIMITED=${LIMITED:-500}
REVOKED=${REVOKED:-100}
for tool in python3 jq; do
  command -v "$tool" >/dev/null || { echo "bench/memory.sh needs $tool" >&2; exit 1; }
done

cargo build --release --quiet -p tokenctl -p xtask
bin=$PWD/target/release/tokenctl
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export TOKENCTL_DB=$work/tokens.db
# The secrets of throwaway tokens, in the bench's own 0700 directory, removed at exit.
SEED_SECRETS=$work/secrets target/release/xtask seed "$TOKENCTL_DB" "$TOKENS" 0 >/dev/null
"$bin" list --json | jq -r ".[:$LIMITED][].id" | while read -r id; do
  "$bin" -q limit "$id" 1/min >/dev/null
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$port" --trust-proxy 127.0.0.1/32 2>"$work/serve.log" &
pid=$!
for _ in $(seq 1 500); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.01
done

echo "== serve with $TOKENS tokens ($LIMITED rate-limited), $ADDRESSES client addresses for /auth, $REVOKE_ADDRESSES more for /revoke"
python3 bench/memory.py "$port" "$pid" "$work/secrets" "$ADDRESSES" "$REVOKE_ADDRESSES" "$REVOKED"
