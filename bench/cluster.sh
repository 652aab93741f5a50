#!/usr/bin/env bash
# Several nodes on the shared stores against one embedded node, in one run, with ratios
# (issue 16), all on this machine (the nodes, PostgreSQL and Garage share its cores):
#   - 1,000 hash jobs on 1 MiB objects drained by 3 nodes on PostgreSQL + Garage vs by one
#     embedded node (SQLite + local files): a backlog queued in a paused queue, timed from
#     resuming it to the last job's end as the store recorded it;
#   - a SHA-256 job on a 1 GiB object in Garage vs `hashscan hash` of the same local file;
#   - GET /file_jobs/<id> latency under wrk at 8 connections against a node on PostgreSQL.
#
#   bench/cluster.sh            JOBS=1000 SIZE_MIB=1024 NODES=3 bench/cluster.sh
#   NO_BUILD=1 HS=/path/to/hashscan bench/cluster.sh   another build, as it is
#   SERVE_ARGS="--workers 8" bench/cluster.sh   extra arguments to the shared nodes
# Prints the CPU seconds the nodes, PostgreSQL and Garage used in each drain (stderr).
#
# Runs itself under scripts/with-services (a throwaway PostgreSQL and Garage). Installs wrk
# from Debian's packages if missing. Work files in $BENCH_DIR (default /tmp/hashscan-bench).
set -euo pipefail

cd "$(dirname "$0")/.."
if [ -z "${HASHSCAN_TEST_POSTGRES:-}" ]; then
  exec scripts/with-services "$0" "$@"
fi
JOBS=${JOBS:-1000}
SIZE_MIB=${SIZE_MIB:-1024}
NODES=${NODES:-3}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}
command -v wrk >/dev/null 2>&1 || {
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
}
[ -n "${NO_BUILD:-}" ] || cargo build --release -p hashscan >&2
HS=${HS:-"$CARGO_TARGET_DIR/release/hashscan"}
mkdir -p "$BENCH_DIR"
BIG="$BENCH_DIR/big-${SIZE_MIB}M.bin"
[ -f "$BIG" ] || head -c "$((SIZE_MIB << 20))" /dev/urandom >"$BIG"
SMALL="$BENCH_DIR/small-1M"
if [ ! -f "$SMALL/.done" ]; then
  mkdir -p "$SMALL"
  for i in $(seq "$JOBS"); do head -c 1048576 /dev/urandom >"$SMALL/f$i"; done
  touch "$SMALL/.done"
fi

AK=AKIDbench0000000000000000000000000000
SK=benchsecretbenchsecretbenchsecre
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$BENCH_DIR"/cluster-node-*
}
trap cleanup EXIT

# start_node NAME [ARGS…]: a `hashscan serve` on a free port; prints its base URL.
start_node() {
  local name=$1; shift
  local dir="$BENCH_DIR/cluster-node-$name"
  rm -rf "$dir"; mkdir -p "$dir"
  HASHSCAN_ACCESS_KEY_ID=$AK HASHSCAN_SECRET_ACCESS_KEY=$SK HASHSCAN_LOG=warn \
    "$HS" serve --listen 127.0.0.1:0 --data-dir "$dir/data" "$@" >"$dir/out" 2>"$dir/err" &
  PIDS+=($!)
  for _ in $(seq 200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
  sed -n 's/^listening on //p' "$dir/out"
}

DB="bench$(date +%s)"
"$HASHSCAN_PG_BIN/psql" -X -q -d "$HASHSCAN_TEST_POSTGRES" -c "CREATE DATABASE $DB"
META_URL="${HASHSCAN_TEST_POSTGRES%/*}/$DB"
export AWS_ENDPOINT_URL=$HASHSCAN_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=$HASHSCAN_TEST_S3_KEY_ID
export AWS_SECRET_ACCESS_KEY=$HASHSCAN_TEST_S3_SECRET AWS_REGION=$HASHSCAN_TEST_S3_REGION AWS_ALLOW_HTTP=true
SHARED=(--meta-url "$META_URL" --blobs-url "$HASHSCAN_TEST_S3/$DB")

EMBEDDED=$(start_node embedded)
CLUSTER=()
for i in $(seq "$NODES"); do CLUSTER+=("$(start_node "$i" "${SHARED[@]}" ${SERVE_ARGS:-})"); done

python3 - "$AK" "$SK" "$BIG" "$SMALL" "$JOBS" "$HS" "$BENCH_DIR/cluster-node-embedded/data" \
  "$HASHSCAN_PG_BIN/psql" "$META_URL" "$EMBEDDED" "${CLUSTER[@]}" >"$BENCH_DIR/cluster-results.txt" <<'PY'
import os, re, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, "bench")
from cos import Cos, authorization
ak, sk, big, small, jobs, hs, data, psql, meta_url, embedded, *cluster = sys.argv[1:]
jobs = int(jobs)
cos = Cos(ak, sk)
call, submit, wait = cos.call, cos.submit_hash_job, cos.wait_success

def last_end_sqlite(ids):
    import sqlite3
    db = sqlite3.connect(f"file:{data}/hashscan.db?mode=ro", uri=True)
    end = db.execute(f"SELECT MAX(ended_at) FROM jobs WHERE id IN ({','.join('?' * len(ids))})", ids).fetchone()[0]
    db.close()
    return end / 1000.0

def last_end_pg(ids):
    quoted = ",".join(f"'{i}'" for i in ids)
    out = subprocess.run([psql, "-X", "-A", "-t", "-d", meta_url, "-c",
                          f"SELECT MAX(ended_at) FROM jobs WHERE id IN ({quoted})"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip()) / 1000.0

def cpu_by_program():
    """CPU seconds used so far by the hashscan, postgres and garage processes."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"hashscan": 0.0, "postgres": 0.0, "garage": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        for name in out:
            if comm.startswith(name):
                out[name] += (int(fields[11]) + int(fields[12])) / tick
    return out

def drain(bases, last_end):
    """Median of 3 drains of `jobs` queued jobs, submitted across `bases`."""
    files = sorted(f for f in os.listdir(small) if not f.startswith("."))[:jobs]
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i_f: call(bases[i_f[0] % len(bases)], "PUT", "/small/" + i_f[1],
                                     open(os.path.join(small, i_f[1]), "rb").read()), enumerate(files)))
    queue = re.search(r"<QueueId>(\w+)</QueueId>", call(bases[0], "GET", "/file_queue")).group(1)
    def set_queue(state):
        call(bases[0], "PUT", "/file_queue/" + queue,
             f"<Request><Name>bench</Name><State>{state}</State></Request>".encode())
    runs = []
    for _ in range(3):
        set_queue("Paused")
        with ThreadPoolExecutor(8) as ex:
            ids = list(ex.map(lambda i_f: submit(bases[i_f[0] % len(bases)], "small/" + i_f[1]),
                              enumerate(files)))
        cpu = cpu_by_program()
        t = time.time()
        set_queue("Active")
        wait(bases[0], ids)
        runs.append(last_end(ids) - t)
        used = {k: v - cpu[k] for k, v in cpu_by_program().items()}
        print("cpu_s " + " ".join(f"{k}={v:.2f}" for k, v in used.items()), file=sys.stderr)
    return sorted(runs)[1], ids

embedded_s, _ = drain([embedded], last_end_sqlite)
cluster_s, ids = drain(cluster, last_end_pg)
print(f"drain_embedded_s {embedded_s:.3f}\ndrain_cluster_s {cluster_s:.3f}")

# A 1 GiB object in Garage, hashed by a job, against `hashscan hash` of the local file.
with open(big, "rb") as f:
    call(cluster[0], "PUT", "/big.bin", f.read())
def timed(argv):
    t = time.perf_counter(); subprocess.run(argv, check=True, stdout=subprocess.DEVNULL); return time.perf_counter() - t
ref = min(timed([hs, "hash", "-a", "sha256", big]) for _ in range(3))
runs = []
for _ in range(3):
    t = time.perf_counter(); wait(cluster[0], [submit(cluster[0], "big.bin")]); runs.append(time.perf_counter() - t)
print(f"big_hash_s {ref:.3f}\nbig_job_s {sorted(runs)[1]:.3f}")
p = f"/{cos.bucket}/file_jobs/{ids[0]}"
print(f"get_path {p}\nget_auth {authorization(ak, sk, 'GET', p)}")
PY
grep -v "^get_" "$BENCH_DIR/cluster-results.txt" >&2
GET_PATH=$(sed -n 's/^get_path //p' "$BENCH_DIR/cluster-results.txt")
GET_AUTH=$(sed -n 's/^get_auth //p' "$BENCH_DIR/cluster-results.txt")
wrk -t2 -c8 -d10s --latency -H "Authorization: $GET_AUTH" "${CLUSTER[0]}$GET_PATH" >"$BENCH_DIR/cluster-wrk.txt"
P99=$(awk '$1 == "99%" {print $2}' "$BENCH_DIR/cluster-wrk.txt")
RPS=$(awk '/^Requests\/sec/ {print $2}' "$BENCH_DIR/cluster-wrk.txt")
awk -v nodes="$NODES" '/^drain_embedded_s/ {e = $2} /^drain_cluster_s/ {c = $2}
     /^big_hash_s/ {h = $2} /^big_job_s/ {j = $2}
     END {
       printf "%d-node drain throughput / embedded node: %.2f (>= 0.6)\n", nodes, e / c
       printf "1 GiB job on Garage / hashscan hash of the file: %.2f (<= 1.3)\n", j / h
     }' "$BENCH_DIR/cluster-results.txt"
echo "GET /file_jobs/<id> on PostgreSQL, 8 connections: p99 $P99 (<= 15 ms), $RPS requests/s"
