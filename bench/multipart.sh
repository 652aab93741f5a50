#!/usr/bin/env bash
# COS multipart upload through the official Python SDK, in one run, with ratios (issue 15):
#   - upload_file of a 1 GiB file in 16 MiB parts, 4 threads (what the SDK does above its
#     part size) vs put_object of the same file (one PUT), wall time;
#   - Complete Multipart Upload of 64 parts of 16 MiB alone (the part blobs joined into the
#     object's blob with copy_file_range, the CRC-64 combined): seconds, and GiB/s of object.
#
#   bench/multipart.sh             RUNS=3 SIZE_MIB=1024 bench/multipart.sh
#   NO_BUILD=1 HS=/path/to/hashscan bench/multipart.sh   another build, as it is
#
# Needs the SDK virtualenv the test command installs (~/.cache/hashscan-venv; scripts/sdk-tests
# creates it). Work files go to $BENCH_DIR (default /tmp/hashscan-bench), the data dir too.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
VENV=${HASHSCAN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}
if [ ! -x "$VENV/bin/python" ]; then
  echo "multipart.sh: no SDK virtualenv at $VENV; run scripts/sdk-tests once (it installs it)" >&2
  exit 2
fi

[ -n "${NO_BUILD:-}" ] || cargo build --release -p hashscan >&2
HS=${HS:-"$CARGO_TARGET_DIR/release/hashscan"}
mkdir -p "$BENCH_DIR"
BIG="$BENCH_DIR/big-${SIZE_MIB}M.bin"
[ -f "$BIG" ] || head -c "$((SIZE_MIB << 20))" /dev/urandom >"$BIG"
cat "$BIG" >/dev/null

AK=AKIDbench0000000000000000000000000000
SK=benchsecretbenchsecretbenchsecre
DATA="$BENCH_DIR/server-data"
rm -rf "$DATA"
HASHSCAN_ACCESS_KEY_ID=$AK HASHSCAN_SECRET_ACCESS_KEY=$SK HASHSCAN_LOG=warn \
  "$HS" serve --listen 127.0.0.1:0 --data-dir "$DATA" >"$BENCH_DIR/server.out" 2>"$BENCH_DIR/server.err" &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q listening "$BENCH_DIR/server.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on http:\/\/127.0.0.1://p' "$BENCH_DIR/server.out")

"$VENV/bin/python" - "$PORT" "$AK" "$SK" "$BIG" "$RUNS" <<'PY'
import logging, statistics, sys, time
from qcloud_cos import CosConfig, CosS3Client

logging.disable(logging.CRITICAL)
port, ak, sk, path, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
c = CosS3Client(CosConfig(Region="ap-guangzhou", SecretId=ak, SecretKey=sk, Scheme="http",
                          IP="127.0.0.1", Port=int(port)), retry=0)
B = "default-1250000000"
PART = 16

def timed(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t

def put():
    with open(path, "rb") as fp:
        c.put_object(Bucket=B, Key="put.bin", Body=fp)

def multipart():
    c.upload_file(Bucket=B, Key="mp.bin", LocalFilePath=path, PartSize=PART, MAXThread=4)

def complete_only():
    up = c.create_multipart_upload(Bucket=B, Key="complete.bin")["UploadId"]
    parts, n = [], 1
    with open(path, "rb") as fp:
        while True:
            chunk = fp.read(PART << 20)
            if not chunk:
                break
            r = c.upload_part(Bucket=B, Key="complete.bin", Body=chunk, PartNumber=n, UploadId=up)
            parts.append({"PartNumber": n, "ETag": r["ETag"]}); n += 1
    return timed(lambda: c.complete_multipart_upload(
        Bucket=B, Key="complete.bin", UploadId=up, MultipartUpload={"Part": parts}))

size = __import__("os").path.getsize(path)
puts = [timed(put) for _ in range(runs)]
mps = [timed(multipart) for _ in range(runs)]
completes = [complete_only() for _ in range(runs)]
p, m, cpl = statistics.median(puts), statistics.median(mps), statistics.median(completes)
print(f"object {size >> 20} MiB, parts {PART} MiB, median of {runs}")
print(f"put_object            {p:7.2f} s  {size / p / 2**20:7.0f} MiB/s")
print(f"upload_file (4 thr)   {m:7.2f} s  {size / m / 2**20:7.0f} MiB/s")
print(f"complete alone        {cpl:7.3f} s  {size / cpl / 2**30:7.2f} GiB/s of object")
print(f"\n{'ratio':34} {'value':>7}")
print(f"{'multipart wall / single PUT wall':34} {m / p:7.2f}")
PY
