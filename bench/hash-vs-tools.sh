#!/usr/bin/env bash
# Times `hashscan hash` against openssl, coreutils, rhash and hashdeep on the same cached
# files in one run, and prints medians, ratios and the targets of issue 2.
#
#   bench/hash-vs-tools.sh            # 1 GiB file, 4 GiB RSS probe, 20,000 x 4 KiB tree
#   RUNS=10 SIZE_MIB=2048 bench/hash-vs-tools.sh
#
# Installs what it compares against (openssl coreutils rhash hashdeep hyperfine time) from
# Debian's packages if missing. Work files go to $BENCH_DIR (default /tmp/hashscan-bench).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-1024}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}

need=()
for pair in openssl:openssl md5sum:coreutils rhash:rhash hashdeep:hashdeep hyperfine:hyperfine /usr/bin/time:time; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release -p hashscan >&2
HS="$CARGO_TARGET_DIR/release/hashscan"
mkdir -p "$BENCH_DIR"
BIG="$BENCH_DIR/big-${SIZE_MIB}M.bin"
[ -f "$BIG" ] || head -c "$((SIZE_MIB << 20))" /dev/urandom >"$BIG"
cat "$BIG" >/dev/null # into the page cache

TREE="$BENCH_DIR/tree-20000x4k"
if [ ! -f "$TREE/.done" ]; then
  rm -rf "$TREE"
  python3 - "$TREE" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(20):
    os.makedirs(f"{root}/d{d:02}", exist_ok=True)
    for f in range(1000):
        with open(f"{root}/d{d:02}/f{f:04}", "wb") as fh:
            fh.write(os.urandom(4096))
open(f"{root}/.done", "w").close()
PY
fi
cat "$TREE"/d*/* >/dev/null

JSON="$BENCH_DIR/results.json"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$JSON" \
  -n openssl-md5 "openssl dgst -md5 $BIG" \
  -n openssl-sha1 "openssl dgst -sha1 $BIG" \
  -n openssl-sha256 "openssl dgst -sha256 $BIG" \
  -n hashscan-md5 "$HS hash -a md5 $BIG" \
  -n hashscan-sha1 "$HS hash -a sha1 $BIG" \
  -n hashscan-sha256 "$HS hash -a sha256 $BIG" \
  -n hashscan-md5+sha1+sha256 "$HS hash -a md5,sha1,sha256 $BIG" \
  -n rhash-md5+sha1+sha256 "rhash --md5 --sha1 --sha256 $BIG" \
  -n md5sum "md5sum $BIG" \
  -n sha256sum "sha256sum $BIG" \
  -n hashscan-tree "$HS hash -r -a md5,sha256 $TREE" \
  -n hashdeep-tree "hashdeep -r -c md5,sha256 $TREE" \
  -n rhash-tree "rhash -r --md5 --sha256 $TREE" \
  >&2

# Peak RSS while hashing a 4 GiB file (sparse: the read path is the same, the disk is spared).
SPARSE="$BENCH_DIR/sparse-4G.bin"
[ -f "$SPARSE" ] || truncate -s 4G "$SPARSE"
RSS_KB=$(/usr/bin/time -f %M "$HS" hash -a md5,sha1,sha256 "$SPARSE" 2>&1 >/dev/null | tail -1)

python3 - "$JSON" "$RSS_KB" "$SIZE_MIB" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
rss_kb, size = int(sys.argv[2]), int(sys.argv[3])
med = lambda n: res[n]["median"]
print(f"\n{'command':28} {'median s':>9} {'MB/s':>8}")
for n, r in res.items():
    mbps = "" if "tree" in n else f"{size * 1.048576 / r['median']:8.0f}"
    print(f"{n:28} {r['median']:9.3f} {mbps:>8}")
checks = [
    ("md5+sha1+sha256 / openssl md5", med("hashscan-md5+sha1+sha256") / med("openssl-md5"), "<=", 1.15),
    ("rhash 3 algs / hashscan 3 algs", med("rhash-md5+sha1+sha256") / med("hashscan-md5+sha1+sha256"), ">=", 1.8),
    ("hashscan md5 / openssl md5", med("hashscan-md5") / med("openssl-md5"), "<=", 1.10),
    ("hashscan sha1 / openssl sha1", med("hashscan-sha1") / med("openssl-sha1"), "<=", 1.10),
    ("hashscan sha256 / openssl sha256", med("hashscan-sha256") / med("openssl-sha256"), "<=", 1.10),
    ("hashdeep tree / hashscan tree", med("hashdeep-tree") / med("hashscan-tree"), ">", 1.0),
    ("rhash tree / hashscan tree", med("rhash-tree") / med("hashscan-tree"), ">", 1.0),
    ("peak RSS MiB, 4 GiB file", rss_kb / 1024, "<=", 64),
]
print(f"\n{'ratio':34} {'value':>7}  target")
for name, v, op, t in checks:
    ok = {"<=": v <= t, ">=": v >= t, ">": v > t}[op]
    print(f"{name:34} {v:7.2f}  {op} {t}  {'PASS' if ok else 'FAIL'}")
PY
