#!/usr/bin/env bash
# File detection through the Alibaba Sas dialect, in one run, with ratios (issue 6):
#   - GetFileDetectResult with 100 hashes under load: CONCURRENCY connections of
#     `hashscan-loadgen` (crates/loadgen; it signs every request with V2, since a signed
#     request's nonce cannot be replayed) for DURATION seconds; p50/p99 latency, requests/s;
#   - upload-to-verdict of a 10 MiB file (CreateFileDetectUploadUrl, form upload,
#     CreateFileDetect, polling GetFileDetectResult every 5 ms) against `hashscan scan` of the
#     same file, median of RUNS.
#
#   bench/detect.sh          (CONCURRENCY=8 DURATION=10 RUNS=5 bench/detect.sh)
#
# Needs python3 with `requests` (the SDK tests' virtualenv has it). Work files in $BENCH_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
CONCURRENCY=${CONCURRENCY:-8}
DURATION=${DURATION:-10}
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}
VENV=${HASHSCAN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-venv}
PY=python3
[ -x "$VENV/bin/python" ] && PY="$VENV/bin/python"

[ -n "${NO_BUILD:-}" ] || cargo build --release -p hashscan -p hashscan-loadgen >&2
HS=${HS:-"$CARGO_TARGET_DIR/release/hashscan"}
mkdir -p "$BENCH_DIR"
FILE="$BENCH_DIR/detect-10M.bin"
[ -f "$FILE" ] || head -c $((10 << 20)) /dev/urandom >"$FILE"

AK=AKIDbench0000000000000000000000000000
SK=benchsecretbenchsecretbenchsecre
DATA="$BENCH_DIR/detect-data"
rm -rf "$DATA"
mkdir -p "$DATA"
# No per-key rate limit: the load is the point.
printf '[detect]\nrate_per_key = 0\n' >"$BENCH_DIR/detect.toml"
HASHSCAN_ACCESS_KEY_ID=$AK HASHSCAN_SECRET_ACCESS_KEY=$SK HASHSCAN_LOG=warn \
  "$HS" serve --config "$BENCH_DIR/detect.toml" --listen 127.0.0.1:0 --data-dir "$DATA/d" \
  >"$BENCH_DIR/detect-server.out" 2>"$BENCH_DIR/detect-server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q listening "$BENCH_DIR/detect-server.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on http:\/\/127.0.0.1://p' "$BENCH_DIR/detect-server.out")

"$PY" - "$PORT" "$AK" "$SK" "$FILE" "$HS" "$RUNS" "$BENCH_DIR/detect-keys.txt" \
  >"$BENCH_DIR/detect-results.txt" <<'PY'
import base64, hashlib, hmac, os, statistics, subprocess, sys, time
import urllib.parse, uuid
import requests

port, ak, sk, path, hs, runs, keys_file = sys.argv[1:]
runs = int(runs)
base = f"http://127.0.0.1:{port}/"

def enc(s):
    return urllib.parse.quote(s, safe="-_.~")

def signed(action, params):
    q = {"Action": action, "Format": "json", "Version": "2018-12-03",
         "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "SignatureNonce": uuid.uuid4().hex, "SignatureMethod": "HMAC-SHA1",
         "SignatureVersion": "1.0", "AccessKeyId": ak, **params}
    canon = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(q.items()))
    sig = hmac.new((sk + "&").encode(), ("POST&%2F&" + enc(canon)).encode(), hashlib.sha1).digest()
    q["Signature"] = base64.b64encode(sig).decode()
    return base + "?" + urllib.parse.urlencode(q)

def call(s, action, params):
    r = s.post(signed(action, params))
    if r.status_code != 200:
        raise RuntimeError(f"{action}: {r.status_code} {r.text[:300]}")
    return r.json()

def detect(s, data):
    key = hashlib.md5(data).hexdigest()
    u = call(s, "CreateFileDetectUploadUrl", {"HashKeyList.1": key, "Type": "0"})["UploadUrlList"][0]
    ctx = u["Context"]
    if not u["FileExist"]:
        r = s.post(u["PublicUrl"], data={"key": ctx["OssKey"], "policy": ctx["Policy"],
                   "OSSAccessKeyId": ctx["AccessId"], "success_action_status": "200",
                   "Signature": ctx["Signature"]}, files={"file": data})
        assert r.status_code == 200, r.text
    call(s, "CreateFileDetect", {"HashKey": key, "OssKey": ctx["OssKey"], "Type": "0"})
    while True:
        r = s.post(signed("GetFileDetectResult", {"HashKeyList.1": key, "Type": "0"}))
        if r.status_code == 200 and r.json()["ResultList"][0]["Result"] != 3:
            return r.json()["ResultList"][0]
        time.sleep(0.005)

s = requests.Session()
# 100 known hashes.
keys = []
for i in range(100):
    data = f"bench file {i} {uuid.uuid4().hex}".encode()
    keys.append(hashlib.md5(data).hexdigest())
    detect(s, data)
open(keys_file, "w").write("\n".join(keys) + "\n")

# Upload to verdict, 10 MiB, each run a fresh file (same size) so nothing is cached.
blob = open(path, "rb").read()
scan = []
for _ in range(runs):
    t = time.perf_counter(); subprocess.run([hs, "scan", path], stdout=subprocess.DEVNULL, check=False)
    scan.append(time.perf_counter() - t)
api = []
for i in range(runs):
    data = blob[:-16] + uuid.uuid4().bytes
    t = time.perf_counter(); detect(s, data); api.append(time.perf_counter() - t)
scan_s, api_s = statistics.median(scan), statistics.median(api)

print(f"scan_s {scan_s:.4f}\napi_s {api_s:.4f}")
PY

# GetFileDetectResult with the 100 keys under load: a Rust client signing every request.
"$CARGO_TARGET_DIR/release/hashscan-loadgen" sas-lookup --endpoint "http://127.0.0.1:$PORT" \
  --access-key-id "$AK" --secret-access-key "$SK" --keys "$BENCH_DIR/detect-keys.txt" \
  --concurrency "$CONCURRENCY" --duration "$DURATION" >"$BENCH_DIR/detect-load.txt"

python3 - "$BENCH_DIR/detect-results.txt" "$BENCH_DIR/detect-load.txt" "$CONCURRENCY" <<'PY'
import sys
r = {}
for path in sys.argv[1:3]:
    r.update((k, float(v)) for k, v in (l.split() for l in open(path).read().splitlines()))
conc = int(sys.argv[3])
rows = [
    ("GetFileDetectResult x100: p99 ms", r["p99_ms"], "<=", 20),
    ("  p50 ms", r["p50_ms"], "", 0),
    ("  requests/s (%d connections)" % conc, r["requests_per_s"], "", 0),
    ("  failed requests", r["errors"], "<=", 0),
    ("hashscan scan 10 MiB s", r["scan_s"], "", 0),
    ("upload-to-verdict 10 MiB s", r["api_s"], "", 0),
    ("upload-to-verdict / hashscan scan", r["api_s"] / r["scan_s"], "<=", 1.2),
]
print(f"\n{'measure':42} {'value':>9}  target")
for name, v, op, target in rows:
    if not op:
        print(f"{name:42} {v:9.3f}  (reported)")
        continue
    ok = v <= target
    print(f"{name:42} {v:9.3f}  {op} {target}  {'PASS' if ok else 'FAIL'}")
PY
