#!/usr/bin/env bash
# Whole-process cost of `tokenctl create` and `tokenctl list --json` on a database of
# 10,000 tokens, against the equivalent INSERT and SELECT through the sqlite3 shell on the
# same file. Target: tokenctl within 1.2x of sqlite3.
#
# The commands take turns (tokenctl, sqlite3, tokenctl, ...; RUNS rounds after 3 of
# warm-up), so that load from elsewhere on a shared machine falls on both alike; the
# medians are compared. The shell gets its SQL as an argument, so that it closes the
# database as tokenctl does (the last connection to close checkpoints the write-ahead log
# into the file and removes it) and writes JSON with -json. (With `.quit` as its last
# argument it exits without closing, leaving that work, and the log, to the next process;
# SQL read with -init runs before -json takes effect, so it was printed as plain lists.)
#
#   bench/lifecycle.sh
#   RUNS=300 BASELINE=/tmp/old/tokenctl bench/lifecycle.sh   # also an older build, in turn
#
# Needs: sqlite3, python3. Prints, per command, the median wall-clock and CPU (user +
# system) times, and their ratios to the shell's: CPU time is the less disturbed by a
# busy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-100}
for tool in sqlite3 python3; do
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

# Both sides must print the same thing: JSON rows.
[ "$(sqlite3 -json "$db" "$select" | head -c 1)" = "[" ] || {
  echo "bench/lifecycle.sh: the sqlite3 shell did not print JSON" >&2
  exit 1
}
# Runs the commands (name, then the command's words, "--" between) in turn; prints medians
# and ratios to the second command's.
alternate() {
  python3 - "$RUNS" "$@" <<'PY'
import os, statistics, sys, time
runs, words = int(sys.argv[1]), sys.argv[2:] + ["--"]
commands, current = [], []
for word in words:
    if word == "--":
        commands.append(current)
        current = []
    else:
        current.append(word)
null = os.open(os.devnull, os.O_RDWR)
quiet = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
times = {c[0]: ([], []) for c in commands}
for round in range(3 + runs):
    for name, *argv in commands:
        started = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=quiet)
        _, status, usage = os.wait4(pid, 0)
        if status != 0:
            sys.exit(f"{' '.join(argv)} failed ({status})")
        if round >= 3:
            times[name][0].append(time.perf_counter() - started)
            times[name][1].append(usage.ru_utime + usage.ru_stime)
medians = {n: (statistics.median(w), statistics.median(c)) for n, (w, c) in times.items()}
shell = commands[1][0]
for name, (wall, cpu) in medians.items():
    if name != shell:
        print(f"{name}: {wall * 1000:.2f} ms against {medians[shell][0] * 1000:.2f} ms: "
              f"{wall / medians[shell][0]:.2f}x wall clock, {cpu / medians[shell][1]:.2f}x CPU")
PY
}

baseline=()
if [ -n "${BASELINE:-}" ]; then
  baseline=(-- "baseline create" "$BASELINE" -q create --name bench --scope cases:read)
fi
echo "== tokenctl against the sqlite3 shell, medians of $RUNS runs each (target: <= 1.2x)"
alternate "tokenctl create" "$bin" -q create --name bench --scope cases:read \
  -- "sqlite3 INSERT" sqlite3 "$db" "$insert" "${baseline[@]}"
if [ -n "${BASELINE:-}" ]; then
  baseline=(-- "baseline list --json" "$BASELINE" list --json)
fi
alternate "tokenctl list --json" "$bin" list --json \
  -- "sqlite3 SELECT (json)" sqlite3 -json "$db" "$select" "${baseline[@]}"
