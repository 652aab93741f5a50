#!/usr/bin/env bash
# Peak memory of `hashscan scan` on the nested zip of issue 13 (item 5): a ~3 MB upload of
# four nested zips whose every level expands to 250 MiB (the bottom file stored in three
# stored zips, deflated into the outer one; its bytes deflate about 64:1 so no default limit
# trips). Before the memory budget one scan of it peaked at ~1 GiB and three at once at 3 GiB.
#
# One `hashscan scan` of a directory holding COPIES copies, PARALLEL files at a time (the
# CLI scans a batch in parallel on rayon's pool; RAYON_NUM_THREADS=16 stands for 16 server
# workers taking 16 uploads at once), default rules and limits, one shared --scan-memory
# budget. Peak RSS from /usr/bin/time -v ("Maximum resident set size"); verdicts counted.
#
#   bench/scan-memory.sh      COPIES=16 PARALLEL=16 SIZE_MIB=250 SCAN_MEMORY= (the default)
#                             NO_BUILD=1 uses the release binary as it is; HS=/path/hashscan
#                             measures another build (an older one: it gets no --scan-memory)
#   MODE=server bench/scan-memory.sh
#                             the same fixture as COPIES uploads sent at once to a release
#                             `hashscan serve` (POST /v1/detections?decompress=true, signed
#                             with the COS SDK's signer from the SDK tests' virtualenv); peak
#                             RSS of the server process (VmHWM) once every verdict is in
#
# Work files in $BENCH_DIR (the fixture is built once, ~1 GiB of temporary files).
set -euo pipefail

cd "$(dirname "$0")/.."
COPIES=${COPIES:-16}
PARALLEL=${PARALLEL:-16}
SIZE_MIB=${SIZE_MIB:-250}
SCAN_MEMORY=${SCAN_MEMORY:-}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}

if [ -z "${HS:-}" ]; then
  [ "${NO_BUILD:-}" = 1 ] || cargo build --release -p hashscan >&2
  HS="$CARGO_TARGET_DIR/release/hashscan"
fi
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time, Debian package 'time')" >&2; exit 2; }
mkdir -p "$BENCH_DIR"

NESTED="$BENCH_DIR/nested-${SIZE_MIB}M.zip"
if [ ! -f "$NESTED" ]; then
  python3 - "$NESTED" "$SIZE_MIB" "$BENCH_DIR" <<'EOF'
import os, random, sys, zipfile
out, size_mib, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
size = size_mib << 20
# Every 64 KiB: 800 random bytes, then zeros. Deflate's 32 KiB window cannot reach the
# previous random run, so the whole file deflates evenly at about 64:1 (max_ratio is 100).
noise = random.Random(13).randbytes(800)
chunk = noise + bytes((64 << 10) - len(noise))
bottom = os.path.join(work, "bottom.bin")
with open(bottom, "wb") as f:
    left = size
    while left > 0:
        f.write(chunk[: min(left, len(chunk))])
        left -= len(chunk)
inner, name = bottom, "bottom.bin"
levels = []
for level in (1, 2, 3):
    path = os.path.join(work, f"l{level}.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=False) as z:
        z.write(inner, name)
    levels.append(path)
    inner, name = path, f"l{level}.zip"
with zipfile.ZipFile(out + ".tmp", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    z.write(inner, name)
os.rename(out + ".tmp", out)
for p in [bottom] + levels:
    os.remove(p)
EOF
fi

DIR="$BENCH_DIR/nested-${SIZE_MIB}M-x$COPIES"
if [ ! -f "$DIR/.done" ]; then
  rm -rf "$DIR"; mkdir -p "$DIR"
  for i in $(seq 1 "$COPIES"); do cp "$NESTED" "$DIR/upload-$i.zip"; done
  touch "$DIR/.done"
fi

if [ "${MODE:-cli}" = server ]; then
  VENV=${HASHSCAN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-venv}
  [ -x "$VENV/bin/python" ] || { echo "needs the SDK tests' virtualenv (run scripts/sdk-tests once)" >&2; exit 2; }
  AK=AKIDmem000000000000000000000000000000
  SK=memsecretmemsecretmemsecretmemsec
  DATA="$BENCH_DIR/scan-memory-data"
  rm -rf "$DATA"; mkdir -p "$DATA"
  printf '[detect]\nrate_per_key = 0\n' >"$BENCH_DIR/scan-memory.toml"
  [ -n "$SCAN_MEMORY" ] && printf 'scan_memory = %s\n' "$SCAN_MEMORY" >>"$BENCH_DIR/scan-memory.toml"
  HASHSCAN_ACCESS_KEY_ID=$AK HASHSCAN_SECRET_ACCESS_KEY=$SK HASHSCAN_LOG=warn \
    "$HS" serve --config "$BENCH_DIR/scan-memory.toml" --listen 127.0.0.1:0 --data-dir "$DATA/d" \
    >"$BENCH_DIR/scan-memory-server.out" 2>"$BENCH_DIR/scan-memory-server.err" &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true' EXIT
  for _ in $(seq 100); do grep -q listening "$BENCH_DIR/scan-memory-server.out" 2>/dev/null && break; sleep 0.1; done
  PORT=$(sed -n 's/^listening on http:\/\/127.0.0.1://p' "$BENCH_DIR/scan-memory-server.out")
  echo "hashscan serve: $HS (pid $SERVER), $COPIES uploads of $(stat -c %s "$NESTED") bytes at once"
  "$VENV/bin/python" - "$PORT" "$AK" "$SK" "$NESTED" "$COPIES" "$SERVER" <<'PY'
import collections, hashlib, sys, threading, time
import requests
from qcloud_cos import CosConfig
from qcloud_cos.cos_auth import CosS3Auth

port, ak, sk, path, copies, pid = sys.argv[1:]
conf = CosConfig(Region="local", SecretId=ak, SecretKey=sk)
base = f"http://127.0.0.1:{port}"
data = open(path, "rb").read()
s = requests.Session()
s.trust_env = False
results = []

def one(i):
    # The same file each time: every upload is its own detection, and its own scan.
    body = data
    params = {"decompress": "true"}
    r = s.post(base + "/v1/detections", params=params, data=body,
               headers={"Content-Type": "application/octet-stream",
                        "x-cos-content-sha256": hashlib.sha256(body).hexdigest()},
               auth=CosS3Auth(conf, key="/v1/detections", params=params))
    r.raise_for_status()
    did = r.json()["id"]
    while True:
        d = s.get(base + "/v1/detections/" + did, auth=CosS3Auth(conf, key="/v1/detections/" + did)).json()
        if d["state"] != "detecting":
            results.append((d.get("verdict"), d.get("notes") or d.get("error")))
            return
        time.sleep(0.2)

started = time.time()
threads = [threading.Thread(target=one, args=(i,)) for i in range(int(copies))]
for t in threads: t.start()
for t in threads: t.join()
hwm = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM:"))
print(f"all verdicts in {time.time() - started:.1f} s; server peak RSS {hwm // 1024} MiB")
print("verdicts:", dict(collections.Counter(v for v, _ in results)))
notes = [n for v, n in results if v != "clean" and n]
if notes:
    print("first note:", notes[0])
PY
  exit 0
fi

args=(scan -r)
[ -n "$SCAN_MEMORY" ] && args+=(--scan-memory "$SCAN_MEMORY")
echo "hashscan: $HS"
echo "fixture: $(stat -c %s "$NESTED") bytes, 4 nested zips, ${SIZE_MIB} MiB per level;" \
  "$COPIES copies scanned $PARALLEL at a time, scan memory ${SCAN_MEMORY:-default}"
out="$BENCH_DIR/scan-memory.out"
set +e
RAYON_NUM_THREADS=$PARALLEL /usr/bin/time -v "$HS" "${args[@]}" "$DIR" >"$out" 2>"$out.time"
status=$?
set -e
rss_kib=$(awk -F': *' '/Maximum resident set size/ {print $2}' "$out.time")
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$out.time")
echo "exit status $status, wall $wall, peak RSS $((rss_kib / 1024)) MiB"
echo "verdicts:"
grep -v '!/' "$out" | grep -E '\.zip: [a-z]+ [0-9]+' | awk '{print $2}' | sort | uniq -c
grep -m1 -E '\(' "$out" | sed 's/^/first note: /' || true
