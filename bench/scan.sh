#!/usr/bin/env bash
# Benchmark for `tokenctl scan` (issue 6): a generated tree of about 4,000 text files and
# 100 MB, with a few real tokens and many look-alikes, searched by `tokenctl scan` and by
# `grep -rEo` with the token pattern, in the same hyperfine run.
#
#   bench/scan.sh [FILES] [MEGABYTES]      (defaults: 4000 100)
#
# Then the same for history: a generated repository of 3,000 commits (about 9,000 blobs,
# 110 MB unpacked), `tokenctl scan --git` against `git log --all -p | grep -Eo`.
#
# Needs hyperfine, python3 and git. Everything it makes lives in a temporary directory
# that is removed at the end; nothing is written to the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

files=${1:-4000}
megabytes=${2:-100}
work=$(mktemp -d "${TMPDIR:-/tmp}/tokenctl-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin=$PWD/target/release/tokenctl
export TOKENCTL_DB=$work/tokens.db

# A few real tokens: two active, one revoked.
tokens=()
for name in "Mailchimp sync" "importer" "old connector"; do
  tokens+=("$("$bin" create --name "$name" --scope cases:read 2>/dev/null)")
done
"$bin" -q revoke "old connector" --yes --reason bench

python3 - "$work/tree" "$files" "$megabytes" "${tokens[@]}" <<'PY'
import os, random, sys

root, files, megabytes, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rng = random.Random(6)
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
words = ("the token user name config value request response error cache session "
         "invoice contact case document import export mailchimp hubspot account "
         "client server update delete create status result message").split()

def ident():
    return "_".join(rng.choice(words) for _ in range(rng.randint(1, 3)))

def look_alike():
    # Right shape, wrong checksum (a random check is right once in 62^6).
    return "tok_live_" + "".join(rng.choice(B62) for _ in range(36))

def line():
    kind = rng.random()
    if kind < 0.35:
        return f"    let {ident()} = {ident()}.get(\"{ident()}\").unwrap_or({rng.randint(0, 9999)});"
    if kind < 0.55:
        return (f'{{"id": {rng.randint(1, 10**6)}, "name": "{ident()}", '
                f'"created_at": "2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00Z", '
                f'"ok": {rng.choice(["true", "false"])}}}')
    if kind < 0.75:
        return " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))) + "."
    if kind < 0.85:
        return f"{rng.getrandbits(160):040x} {ident()} {rng.getrandbits(128):032x}"
    if kind < 0.95:
        return "".join(rng.choice(B62 + "+/") for _ in range(76))
    if kind < 0.999:
        return f"# {ident()} {rng.randint(0, 10**9)}"
    return f"{ident().upper()}={look_alike()}"

target = megabytes * 1024 * 1024 // files
dirs = [os.path.join(root, *(f"d{rng.randint(0, 9)}" for _ in range(rng.randint(0, 3))))
        for _ in range(200)]
placed = {rng.randrange(files): t for t in tokens}
for i in range(files):
    d = rng.choice(dirs)
    os.makedirs(d, exist_ok=True)
    out, size = [], 0
    while size < target:
        l = line()
        out.append(l)
        size += len(l) + 1
    if i in placed:
        out.insert(rng.randrange(len(out)), f'TOKEN="{placed[i]}"')
    name = f"f{i}." + rng.choice(["rs", "json", "txt", "log", "env", "md"])
    with open(os.path.join(d, name), "w") as f:
        f.write("\n".join(out) + "\n")
PY

tree=$work/tree
echo "tree: $(find "$tree" -type f | wc -l) files, $(du -sm --apparent-size "$tree" | cut -f1) MB"
echo "tokenctl scan finds:"
"$bin" scan "$tree" || true
pattern='[a-z]{2,8}_[a-z][a-z0-9]{1,7}_[0-9A-Za-z]{36}'
echo "grep -rEo finds $(LC_ALL=C grep -rEo "$pattern" "$tree" | wc -l) shape matches (no checksum check)"

# Exit 1 means 'active token found': expected, hence -i.
hyperfine --warmup 1 -i --export-markdown "$work/results.md" \
  -n "tokenctl scan" "$bin scan $tree" \
  -n "grep -rEo (LC_ALL=C)" "LC_ALL=C grep -rEo '$pattern' $tree"
cat "$work/results.md"

# History: one token committed early and deleted later.
repo=$work/repo
git init -q "$repo"
python3 - "${tokens[0]}" <<'PY' | git -C "$repo" fast-import --quiet
import random, sys
token = sys.argv[1]
rng = random.Random(1)
words = "alpha beta gamma delta token user config value request response".split()
files = [f"src/m{i // 50}/f{i}.rs" for i in range(1500)]
contents, mark = {}, 0
def blob(text):
    global mark
    mark += 1
    data = text.encode()
    sys.stdout.write(f"blob\nmark :{mark}\ndata {len(data)}\n{text}\n")
    return mark
for c in range(3000):
    changes = []
    for k in range(300 if c == 0 else rng.randint(1, 5)):
        f = files[k * 5] if c == 0 else rng.choice(files)
        lines = contents.get(f) or [" ".join(rng.choices(words, k=10)) for _ in range(200)]
        i = rng.randrange(len(lines))
        lines[i] = " ".join(rng.choices(words, k=10)) + f" {rng.getrandbits(64):x}"
        if c == 100 and k == 0:
            lines[i] = f'const TOKEN: &str = "{token}";'
        if c == 200 and k == 0:
            lines = [l for l in lines if "TOKEN" not in l]
            f = changes_f
        contents[f] = lines
        changes.append((f, blob("\n".join(lines) + "\n")))
        if c == 100 and k == 0:
            changes_f = f
    msg = f"commit {c}"
    sys.stdout.write(f"commit refs/heads/main\ncommitter T <t@example.com> {1600000000 + c * 60} +0000\n"
                     f"data {len(msg)}\n{msg}\n")
    for f, m in changes:
        sys.stdout.write(f"M 100644 :{m} {f}\n")
    sys.stdout.write("\n")
PY
git -C "$repo" gc -q
echo "repository: $(git -C "$repo" rev-list --all | wc -l) commits, $(git -C "$repo" rev-list --objects --all --filter=object:type=blob --filter-provided-objects | wc -l) blobs"
"$bin" scan --git "$repo" || true
hyperfine --warmup 1 -i --export-markdown "$work/history.md" \
  -n "tokenctl scan --git" "$bin scan --git $repo" \
  -n "git log --all -p | grep -Eo" "git -C $repo log --all -p | LC_ALL=C grep -Eo '$pattern'"
cat "$work/history.md"
