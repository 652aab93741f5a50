#!/usr/bin/env bash
# The COS object API against the standard tools, in one run, with ratios (issue 3):
#   - PUT of a 1 GiB object (curl -T, signed URL) vs `openssl dgst -md5` of the same file;
#   - GET of it (curl to /dev/null) vs curl from nginx serving the same file;
#   - 8 concurrent 256 MiB uploads: the server's peak RSS.
#
#   bench/object-api.sh            RUNS=5 SIZE_MIB=1024 bench/object-api.sh
#   NO_BUILD=1 HS=/path/to/hashscan bench/object-api.sh   another build, as it is (A/B runs)
#
# Installs curl, nginx, openssl and hyperfine from Debian's packages if missing. Work files
# go to $BENCH_DIR (default /tmp/hashscan-bench); the data dir lives there too, so the PUT
# writes to the same disk the source file is on.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-1024}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}

need=()
for pair in curl:curl nginx:nginx openssl:openssl hyperfine:hyperfine; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

[ -n "${NO_BUILD:-}" ] || cargo build --release -p hashscan >&2
HS=${HS:-"$CARGO_TARGET_DIR/release/hashscan"}
mkdir -p "$BENCH_DIR"
BIG="$BENCH_DIR/big-${SIZE_MIB}M.bin"
[ -f "$BIG" ] || head -c "$((SIZE_MIB << 20))" /dev/urandom >"$BIG"
MID="$BENCH_DIR/mid-256M.bin"
[ -f "$MID" ] || head -c "$((256 << 20))" /dev/urandom >"$MID"
cat "$BIG" "$MID" >/dev/null

AK=AKIDbench0000000000000000000000000000
SK=benchsecretbenchsecretbenchsecre
DATA="$BENCH_DIR/server-data"
rm -rf "$DATA"
HASHSCAN_ACCESS_KEY_ID=$AK HASHSCAN_SECRET_ACCESS_KEY=$SK HASHSCAN_LOG=warn \
  "$HS" serve --listen 127.0.0.1:0 --data-dir "$DATA" >"$BENCH_DIR/server.out" 2>"$BENCH_DIR/server.err" &
SERVER=$!
NGINX_DIR="$BENCH_DIR/nginx"
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  [ -f "$NGINX_DIR/nginx.pid" ] && kill "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null || true
  # The uploads are gigabytes: leave the inputs, not the server's copies.
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q listening "$BENCH_DIR/server.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's/^listening on //p' "$BENCH_DIR/server.out")

# Presigned URL for METHOD PATH (COS q-sign, nothing but the path signed).
presign() {
  python3 - "$1" "$2" "$AK" "$SK" <<'PY'
import hashlib, hmac, sys, time
method, path, ak, sk = sys.argv[1:]
now = int(time.time())
kt = f"{now - 60};{now + 3600}"
sign_key = hmac.new(sk.encode(), kt.encode(), hashlib.sha1).hexdigest()
http_string = f"{method.lower()}\n{path}\n\n\n"
sts = f"sha1\n{kt}\n{hashlib.sha1(http_string.encode()).hexdigest()}\n"
sig = hmac.new(sign_key.encode(), sts.encode(), hashlib.sha1).hexdigest()
print(f"{path}?q-sign-algorithm=sha1&q-ak={ak}&q-sign-time={kt}&q-key-time={kt}"
      f"&q-header-list=&q-url-param-list=&q-signature={sig}")
PY
}
PUT_URL="$BASE$(presign PUT /default-1250000000/big.bin)"
GET_URL="$BASE$(presign GET /default-1250000000/big.bin)"

# nginx serving the same directory on another port.
mkdir -p "$NGINX_DIR"
NGINX_PORT=$((20000 + RANDOM % 20000))
cat >"$NGINX_DIR/nginx.conf" <<EOF
daemon on; worker_processes 1; pid $NGINX_DIR/nginx.pid; error_log $NGINX_DIR/error.log;
events { worker_connections 64; }
http { access_log off; sendfile on; server { listen 127.0.0.1:$NGINX_PORT; root $BENCH_DIR; } }
EOF
"$NGINX" -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR"

JSON="$BENCH_DIR/object-api.json"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$JSON" \
  -n openssl-md5 "openssl dgst -md5 $BIG" \
  -n hashscan-put "curl -sf -o /dev/null -T $BIG '$PUT_URL'" \
  -n hashscan-get "curl -sf -o /dev/null '$GET_URL'" \
  -n nginx-get "curl -sf -o /dev/null http://127.0.0.1:$NGINX_PORT/$(basename "$BIG")" \
  >&2

# Eight concurrent 256 MiB uploads; the server's peak RSS.
pids=()
for i in $(seq 8); do
  curl -sf -o /dev/null -T "$MID" "$BASE$(presign PUT "/default-1250000000/mid-$i.bin")" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
HWM_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
# Check that what was stored is what was sent.
WANT=$(md5sum "$MID" | cut -d' ' -f1)
GOT=$(curl -sf -I "$BASE$(presign HEAD /default-1250000000/mid-8.bin)" | tr -d '\r' | sed -n 's/^ETag: "\(.*\)"/\1/p')
[ "$WANT" = "$GOT" ] || { echo "stored object differs: $GOT != $WANT" >&2; exit 1; }

python3 - "$JSON" "$HWM_KB" "$SIZE_MIB" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
hwm_kb, size = int(sys.argv[2]), int(sys.argv[3])
med = lambda n: res[n]["median"]
print(f"\n{'command':16} {'median s':>9} {'MB/s':>8}")
for n, r in res.items():
    print(f"{n:16} {r['median']:9.3f} {size * 1.048576 / r['median']:8.0f}")
checks = [
    ("PUT speed / openssl md5 speed", med("openssl-md5") / med("hashscan-put"), ">=", 0.85),
    ("GET speed / nginx GET speed", med("nginx-get") / med("hashscan-get"), ">=", 0.7),
    ("peak RSS MiB, 8 x 256 MiB PUT", hwm_kb / 1024, "<=", 160),
]
print(f"\n{'ratio':32} {'value':>7}  target")
for name, v, op, t in checks:
    ok = v >= t if op == ">=" else v <= t
    print(f"{name:32} {v:7.2f}  {op} {t}  {'PASS' if ok else 'FAIL'}")
PY
