#!/usr/bin/env bash
# Soak: DURATION seconds (default 600) of mixed load on one release server — PUTs of small
# and 8 MiB objects, COS hash jobs with AddToHeader, Alibaba detections of uploaded archives
# (nested zips), GetFileDetectResult lookups of 100 hashes, bucket listings, sync file hashes — through
# the official Python SDKs, with the server's RSS sampled every 10 s. It passes when:
#   - RSS after warm-up stays flat (the last sample at most 64 MiB above the first sample
#     after WARMUP seconds),
#   - no answer was a 5xx and the server log has no panic,
#   - every hash job submitted finished Success and every detection got a verdict.
#
#   bench/soak.sh                  (DURATION=600 WARMUP=60 CLIENTS=6 bench/soak.sh)
#
# Uses the SDK tests' virtualenv (scripts/sdk-tests installs it); work files in $BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
WARMUP=${WARMUP:-60}
CLIENTS=${CLIENTS:-6}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}
VENV=${HASHSCAN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import qcloud_cos, alibabacloud_sas20181203' 2>/dev/null; then
  echo "soak: the SDK virtualenv is missing; run scripts/sdk-tests once (it installs $VENV)" >&2
  exit 2
fi
[ -n "${NO_BUILD:-}" ] || cargo build --release -p hashscan >&2
HS=${HS:-$CARGO_TARGET_DIR/release/hashscan}
mkdir -p "$BENCH_DIR"
DATA="$BENCH_DIR/soak-data"
rm -rf "$DATA"
mkdir -p "$DATA"
AK=AKIDsoak00000000000000000000000000000
SK=soaksecretsoaksecretsoaksecretso
printf '[detect]\nrate_per_key = 0\n' >"$BENCH_DIR/soak.toml"
HASHSCAN_ACCESS_KEY_ID=$AK HASHSCAN_SECRET_ACCESS_KEY=$SK HASHSCAN_LOG=warn \
  "$HS" serve --config "$BENCH_DIR/soak.toml" --listen 127.0.0.1:0 --data-dir "$DATA/d" \
  >"$BENCH_DIR/soak-server.out" 2>"$BENCH_DIR/soak-server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q listening "$BENCH_DIR/soak-server.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on http:\/\/127.0.0.1://p' "$BENCH_DIR/soak-server.out")

"$VENV/bin/python" bench/soak.py --port "$PORT" --pid "$SERVER" --ak "$AK" --sk "$SK" \
  --duration "$DURATION" --warmup "$WARMUP" --clients "$CLIENTS" \
  --server-log "$BENCH_DIR/soak-server.err"
