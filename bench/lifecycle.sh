#!/usr/bin/env bash
# Whole-process cost of `tokenctl create` and `tokenctl list --json` on a database of
# 10,000 tokens, against the equivalent INSERT and SELECT through the sqlite3 shell on the
# same file, in the same hyperfine runs. Target: tokenctl within 1.2x of sqlite3.
#
# The shell reads its SQL with -init and then meets the end of its (empty) input, so it
# closes the database as tokenctl does: the last connection to close checkpoints the
# write-ahead log into the file and removes it. (With `.quit` as its last argument the
# shell exits without closing, leaving that work, and the log, to the next process.)
#
#   bench/lifecycle.sh
#   BASELINE=/tmp/old/tokenctl bench/lifecycle.sh   # also an older build, in the same runs
#
# Needs: hyperfine, sqlite3, jq (Debian packages). Prints times and ratios: of the mean
# wall-clock times, and of the mean CPU times (user + system), which a busy machine
# disturbs less.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine sqlite3 jq; do
  command -v "$tool" >/dev/null || { echo "bench/lifecycle.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet -p tokenctl -p xtask
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
db=$dir/tokens.db
target/release/xtask seed "$db" 10000 0 >/dev/null
export TOKENCTL_DB=$db
bin=target/release/tokenctl

# The same rows tokenctl writes: the token and its admin event, in one transaction.
insert="BEGIN IMMEDIATE;
INSERT INTO tokens (id, hash, hint, name, env, scopes, allowed_ips, created_at, created_by, expires_at)
  VALUES (lower(hex(randomblob(4))), randomblob(32), 'tok_live_abcd…', 'bench', 'live', 'cases:read', '',
          unixepoch(), 'bench', unixepoch() + 7776000);
INSERT INTO events (at, actor, action, token_id, details)
  VALUES (unixepoch(), 'bench', 'create', (SELECT id FROM tokens ORDER BY pk DESC LIMIT 1), '{}');
COMMIT;"
# The same rows and columns `list --json` reads (active tokens, oldest first).
select="SELECT id, name, description, env, scopes, allowed_ips, hint, created_at, created_by,
  expires_at, revoked_at, revoke_reason, rotated_from, rotated_to, last_used_at, last_used_ip
  FROM tokens WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > unixepoch())
  ORDER BY created_at, pk;"
printf '%s\n' "$insert" > "$dir/insert.sql"
printf '%s\n' "$select" > "$dir/select.sql"

baseline=()
if [ -n "${BASELINE:-}" ]; then
  baseline=(-n "baseline create" "$BASELINE -q create --name bench --scope cases:read")
fi
hyperfine --shell=none --warmup 3 --runs 40 --export-json "$dir/create.json" \
  -n "tokenctl create" "$bin -q create --name bench --scope cases:read" \
  -n "sqlite3 INSERT" "sqlite3 $db -init $dir/insert.sql" "${baseline[@]}"
if [ -n "${BASELINE:-}" ]; then
  baseline=(-n "baseline list --json" "$BASELINE list --json")
fi
hyperfine --shell=none --warmup 3 --runs 40 --export-json "$dir/list.json" \
  -n "tokenctl list --json" "$bin list --json" \
  -n "sqlite3 SELECT (json)" "sqlite3 -json $db -init $dir/select.sql" "${baseline[@]}"

# One line per command measured against the sqlite3 shell (the second result).
ratios() {
  jq -r '.results as $r | $r[1] as $s | $r[] | select(. != $s)
    | "\(.command): \(.mean*1000|.*100|round/100) ms against \($s.mean*1000|.*100|round/100) ms: \(.mean/$s.mean|.*100|round/100)x wall clock, \((.user+.system)/($s.user+$s.system)|.*100|round/100)x CPU"' "$1"
}
echo
echo "== tokenctl against the sqlite3 shell (target: <= 1.2x)"
ratios "$dir/create.json"
ratios "$dir/list.json"
