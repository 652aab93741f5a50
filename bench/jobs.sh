#!/usr/bin/env bash
# COS file-hash jobs against `hashscan hash`, in one run, with ratios (issue 4):
#   - submit-to-Success of one 1 GiB object vs `hashscan hash` of the same file (SHA-256);
#   - 1,000 jobs on 1 MiB objects drained vs `hashscan hash` over the same 1,000 files: the
#     jobs are queued in a paused queue, and the drain is timed from resuming it to the last
#     job's EndTime as the store recorded it (ms); end to end (8 concurrent submitters,
#     first submission to last EndTime) is printed too;
#   - GET /file_jobs/<id> under wrk (one signed request reused within its key time);
#   - GET /jobs list pages under wrk with 1,000,000 finished jobs in the store.
#
#   bench/jobs.sh            (SIZE_MIB=1024 JOBS=1000 MILLION=1000000 bench/jobs.sh)
#   ONLY_DRAIN=1 bench/jobs.sh   the 1 MiB drain alone
#   SERVE_ARGS="--workers 4" bench/jobs.sh   extra arguments to `hashscan serve`
#   NO_BUILD=1 HS=/path/to/hashscan bench/jobs.sh   another build, as it is (A/B runs)
#
# Installs wrk and curl from Debian's packages if missing. Work files in $BENCH_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
JOBS=${JOBS:-1000}
MILLION=${MILLION:-1000000}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}

need=()
for t in wrk curl; do command -v "$t" >/dev/null 2>&1 || need+=("$t"); done
if ((${#need[@]})); then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -n "${NO_BUILD:-}" ] || cargo build --release -p hashscan >&2
HS=${HS:-"$CARGO_TARGET_DIR/release/hashscan"}
mkdir -p "$BENCH_DIR"
BIG="$BENCH_DIR/big-${SIZE_MIB}M.bin"
[ -n "${ONLY_DRAIN:-}" ] || [ -f "$BIG" ] || head -c "$((SIZE_MIB << 20))" /dev/urandom >"$BIG"
SMALL="$BENCH_DIR/small-1M"
if [ ! -f "$SMALL/.done" ]; then
  mkdir -p "$SMALL"
  for i in $(seq "$JOBS"); do head -c 1048576 /dev/urandom >"$SMALL/f$i"; done
  touch "$SMALL/.done"
fi
cat "$SMALL"/f* >/dev/null

AK=AKIDbench0000000000000000000000000000
SK=benchsecretbenchsecretbenchsecre
DATA="$BENCH_DIR/jobs-data"
rm -rf "$DATA"
start_server() {
  HASHSCAN_ACCESS_KEY_ID=$AK HASHSCAN_SECRET_ACCESS_KEY=$SK HASHSCAN_LOG=warn \
    "$HS" serve --listen 127.0.0.1:0 --data-dir "$DATA" ${SERVE_ARGS:-} >"$BENCH_DIR/jobs-server.out" 2>"$BENCH_DIR/jobs-server.err" &
  SERVER=$!
  for _ in $(seq 100); do grep -q listening "$BENCH_DIR/jobs-server.out" 2>/dev/null && break; sleep 0.1; done
  BASE=$(sed -n 's/^listening on //p' "$BENCH_DIR/jobs-server.out")
}
trap 'kill $SERVER 2>/dev/null || true' EXIT
start_server

python3 - "$BASE" "$AK" "$SK" "$BIG" "$SMALL" "$JOBS" "$HS" "$DATA" "${ONLY_DRAIN:-}" >"$BENCH_DIR/jobs-results.txt" <<'PY'
import os, re, subprocess, sys, time
sys.path.insert(0, "bench")
from cos import Cos, authorization
base, ak, sk, big, small, jobs, hs, data, only_drain = sys.argv[1:]
jobs = int(jobs)
cos = Cos(ak, sk)

def call(method, path, body=b""):
    return cos.call(base, method, path, body)

def put_file(key, path):
    with open(path, "rb") as f:
        call("PUT", "/" + key, f.read())

def submit(key):
    return cos.submit_hash_job(base, key)

def wait(ids):
    cos.wait_success(base, ids, poll=0.01)

def timed(argv):
    t = time.perf_counter(); subprocess.run(argv, check=True, stdout=subprocess.DEVNULL); return time.perf_counter() - t

# 1. One 1 GiB object.
if not only_drain:
    put_file("big.bin", big)
    ref_big = min(timed([hs, "hash", "-a", "sha256", big]) for _ in range(3))
    runs = []
    for _ in range(3):
        t = time.perf_counter(); wait([submit("big.bin")]); runs.append(time.perf_counter() - t)
    job_big = sorted(runs)[1]
    print(f"big_hash_s {ref_big:.3f}\nbig_job_s {job_big:.3f}")

# 2. 1,000 jobs on 1 MiB objects.
files = sorted(os.listdir(small))
files = [f for f in files if not f.startswith(".")][:jobs]
for f in files:
    put_file("small/" + f, os.path.join(small, f))
ref_small = min(timed([hs, "hash", "-a", "sha256", *[os.path.join(small, f) for f in files]]) for _ in range(3))
queue = re.search(r"<QueueId>(\w+)</QueueId>", call("GET", "/file_queue")).group(1)
def set_queue(state):
    body = f"<Request><Name>bench</Name><State>{state}</State></Request>".encode()
    call("PUT", "/file_queue/" + queue, body)
def wait_empty():
    # Is anything of the queue still waiting or running? Polled every 50 ms: a tighter loop
    # would take CPU from the workers it measures. The end of a drain is read from the jobs'
    # own EndTime in the store (milliseconds), not from when this poll noticed it.
    while True:
        text = call("GET", f"/jobs?queueType=FileProcess&tag=FileHashCode&queueId={queue}"
                           "&states=Submitted,Running,Pause&size=1")
        if "<JobsDetail>" not in text:
            return
        time.sleep(0.05)
def last_end(ids):
    import sqlite3
    db = sqlite3.connect(f"file:{data}/hashscan.db?mode=ro", uri=True)
    marks = ",".join("?" * len(ids))
    end = db.execute(f"SELECT MAX(ended_at) FROM jobs WHERE id IN ({marks})", ids).fetchone()[0]
    db.close()
    return end / 1000.0
from concurrent.futures import ThreadPoolExecutor
drains, e2e = [], []
for _ in range(3):
    # The drain: a backlog of 1,000 queued jobs, timed from resume to the last Success.
    set_queue("Paused")
    with ThreadPoolExecutor(8) as ex:
        ids = list(ex.map(lambda f: submit("small/" + f), files))
    t = time.time()
    set_queue("Active")
    wait_empty()
    wait(ids)  # every one Success, none Failed
    drains.append(last_end(ids) - t)
    # End to end: 8 concurrent submitters while the workers run.
    t = time.time()
    with ThreadPoolExecutor(8) as ex:
        ids = list(ex.map(lambda f: submit("small/" + f), files))
    wait_empty()
    wait(ids)
    e2e.append(last_end(ids) - t)
print(f"small_hash_s {ref_small:.3f}\nsmall_jobs_s {sorted(drains)[1]:.3f}\nsmall_e2e_s {sorted(e2e)[1]:.3f}")
p = f"/{cos.bucket}/file_jobs/{ids[0]}"
print(f"get_path {p}\nget_auth {authorization(ak, sk, 'GET', p)}")
PY
cat "$BENCH_DIR/jobs-results.txt" | grep -v "^get_" >&2
if [ -n "${ONLY_DRAIN:-}" ]; then
  awk '/^small_hash_s/ {h = $2} /^small_jobs_s/ {j = $2} /^small_e2e_s/ {e = $2}
       END {printf "drain throughput / hash %.2f (>= 0.8); submit + drain / hash %.2f\n", h / j, h / e}' \
    "$BENCH_DIR/jobs-results.txt"
  exit 0
fi
GET_PATH=$(sed -n 's/^get_path //p' "$BENCH_DIR/jobs-results.txt")
GET_AUTH=$(sed -n 's/^get_auth //p' "$BENCH_DIR/jobs-results.txt")
wrk -t2 -c32 -d10s --latency -H "Authorization: $GET_AUTH" "$BASE$GET_PATH" >"$BENCH_DIR/wrk-get.txt"

# 4. A million finished jobs, then list pages.
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
python3 - "$DATA/hashscan.db" "$MILLION" <<'PY'
import json, sqlite3, sys, uuid
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
q = c.execute("SELECT id FROM queues WHERE bucket='default-1250000000' AND is_default=1").fetchone()[0]
seq = c.execute("SELECT COALESCE(MAX(seq),0) FROM jobs").fetchone()[0]
inp = json.dumps({"object": "big.bin", "region": "ap-guangzhou", "type": "SHA256", "add_to_header": False,
                  "user_data": None, "callback": None, "callback_format": None})
res = json.dumps({"digest": "0" * 64, "size": 1, "last_modified": 0, "etag": "0" * 32})
rows = ((f"f{uuid.uuid4().hex}", seq + i + 1, q, inp, res, 1_700_000_000_000 + i) for i in range(n))
c.executemany("INSERT INTO jobs (id, seq, tag, queue_id, bucket, state, input, result, progress, created_at, ended_at) "
              "VALUES (?, ?, 'FileHashCode', ?, 'default-1250000000', 'Success', ?, ?, 100, ?, 0)", rows)
c.commit()
PY
start_server
LIST_PATH="/default-1250000000/jobs"
LIST_AUTH=$(python3 bench/cos.py sign "$AK" "$SK" GET "$LIST_PATH")
wrk -t2 -c16 -d10s --latency -H "Authorization: $LIST_AUTH" \
  "$BASE$LIST_PATH?tag=FileHashCode&states=Success&size=100&queueType=FileProcess" >"$BENCH_DIR/wrk-list.txt"

python3 - "$BENCH_DIR/jobs-results.txt" "$BENCH_DIR/wrk-get.txt" "$BENCH_DIR/wrk-list.txt" <<'PY'
import re, sys
r = dict(l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines())
f = {k: float(v) for k, v in r.items() if k.endswith("_s")}
def wrk(path):
    t = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0
g_rps, g_p99, g_bad = wrk(sys.argv[2]); l_rps, l_p99, l_bad = wrk(sys.argv[3])
rows = [
    ("1 GiB: submit-to-Success / hashscan hash", f["big_job_s"] / f["big_hash_s"], "<=", 1.15),
    ("1,000 x 1 MiB: drain throughput / hash", f["small_hash_s"] / f["small_jobs_s"], ">=", 0.8),
    ("  (submit + drain, 8 clients) / hash", f["small_hash_s"] / f["small_e2e_s"], "", 0),
    ("GET /file_jobs/<id> req/s", g_rps, ">=", 5000),
    ("GET /file_jobs/<id> p99 ms", g_p99, "<=", 10),
    ("GET /jobs (1M jobs) p99 ms", l_p99, "<=", 50),
    ("non-2xx answers under wrk", g_bad + l_bad, "<=", 0),
]
print(f"\n{'measure':42} {'value':>9}  target")
for name, v, op, t in rows:
    if not op:
        print(f"{name:42} {v:9.2f}  (reported)")
        continue
    ok = v <= t if op == "<=" else v >= t
    print(f"{name:42} {v:9.2f}  {op} {t}  {'PASS' if ok else 'FAIL'}")
print(f"(GET /jobs with 1M jobs: {l_rps:.0f} req/s; raw: {f})")
PY
